-- outbox.purge_batch(): bounded deletes of old events.
BEGIN;
CREATE EXTENSION outbox_pg;
SELECT plan(8);

INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, created_at)
SELECT 'o', i::text, 'old', now() - interval '8 days' FROM generate_series(1, 25) i;
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type)
SELECT 'o', i::text, 'new' FROM generate_series(1, 5) i;

SELECT is(outbox.purge_batch(older_than => '7 days', batch_size => 10), 10::bigint, 'first batch');
SELECT is(outbox.purge_batch(older_than => '7 days', batch_size => 10), 10::bigint, 'second batch');
SELECT is(outbox.purge_batch(older_than => '7 days', batch_size => 10), 5::bigint, 'last batch');
SELECT is(outbox.purge_batch(older_than => '7 days', batch_size => 10), 0::bigint, 'nothing left');
SELECT is((SELECT count(*) FROM outbox.events), 5::bigint, 'recent events are kept');

SELECT throws_ok($$SELECT outbox.purge_batch(batch_size => 0)$$, '22023', NULL,
				 'batch_size must be positive');
CREATE TABLE no_time (id int PRIMARY KEY, aggregate_type text, aggregate_id text,
	event_type text, payload jsonb);
SELECT outbox.declare_table('no_time');
SELECT throws_ok($$SELECT outbox.purge_batch('no_time')$$, '22023', NULL,
				 'a table without created_at cannot be purged by age');
SELECT throws_ok($$SELECT outbox.purge_batch('pg_class')$$, '22023', NULL,
				 'only outbox tables are purged');

SELECT * FROM finish();
ROLLBACK;
