-- outbox.replay() ships stored events again, with their own ids and
-- creation times, in creation order.
DELETE FROM outbox.events;
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, headers, created_at) VALUES
	('00000000-0000-0000-0000-000000000003', 'o', '1', 'third', '{"n": 3}', NULL, '2026-01-03Z'),
	('00000000-0000-0000-0000-000000000001', 'o', '1', 'first', '{"n": 1}', '{"h": "1"}', '2026-01-01Z'),
	('00000000-0000-0000-0000-000000000002', 'o', '1', 'second', '{"n": 2}', NULL, '2026-01-02Z');
-- The slot is created after the events were written.
SELECT 'init' FROM pg_create_logical_replication_slot('replay', 'outbox_pg');
SELECT count(*) AS messages FROM changes('replay');

SELECT outbox.replay();
SELECT * FROM changes('replay');
SELECT outbox.replay(since => '2026-01-02Z');
SELECT outbox.replay(since => '2026-01-01Z', until => '2026-01-02Z');
SELECT outbox.replay(from_id => '00000000-0000-0000-0000-000000000002',
					 to_id => '00000000-0000-0000-0000-000000000003');
SELECT data::jsonb->>'event_type' AS event_type, data::jsonb->'seq' AS seq
FROM changes('replay');

-- A replay is shipped only if its transaction commits.
BEGIN;
SELECT outbox.replay();
ROLLBACK;
SELECT count(*) AS messages FROM changes('replay');

-- Declared tables replay as the plugin formats their rows.
CREATE TABLE classic_outbox (
	id bigserial PRIMARY KEY, aggregate_type varchar(64), aggregate_id varchar(64),
	event_type varchar(64), payload text, created_at_datetime timestamp
);
SELECT outbox.declare_table('classic_outbox', layout => 'classic');
INSERT INTO classic_outbox (aggregate_type, aggregate_id, event_type, payload, created_at_datetime)
SELECT 'c', '1', 'e' || i, format('{"i": %s}', i), '2026-01-01'::timestamp + i * interval '1 day'
FROM generate_series(1, 12) i;
INSERT INTO classic_outbox (aggregate_type, aggregate_id, event_type, payload, created_at_datetime)
VALUES ('c', '1', 'not-json', 'oops', '2026-02-01');
SELECT data AS live FROM changes('replay') WHERE data::jsonb->>'id' IN ('2', '10', '13');
SELECT outbox.replay('classic_outbox', from_id => '2', to_id => '10');
SELECT outbox.replay('classic_outbox', from_id => '13');
SELECT data AS replayed FROM changes('replay')
WHERE data::jsonb->>'id' IN ('2', '10', '13');
-- Ids compare as the column's type: 2..10 is nine events, not 2 and 10.
SELECT outbox.replay('classic_outbox', from_id => '2', to_id => '10');
SELECT count(*) AS replayed FROM changes('replay');

-- Mistakes get clear errors.
CREATE TABLE not_outbox (id int);
SELECT outbox.replay('not_outbox');
SELECT outbox.declare_table('classic_outbox', layout => 'classic', created_at_column => '');
SELECT outbox.replay('classic_outbox', since => '2026-01-01Z');

SELECT pg_drop_replication_slot('replay');
DROP TABLE classic_outbox, not_outbox;
DELETE FROM outbox.events;
