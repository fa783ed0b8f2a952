-- Users declare their own outbox tables, with a column mapping.
SELECT 'init' FROM pg_create_logical_replication_slot('declare', 'outbox_pg');

-- Debezium's outbox layout.
CREATE TABLE outboxevent (
	id uuid NOT NULL PRIMARY KEY,
	aggregatetype varchar(255) NOT NULL,
	aggregateid varchar(255) NOT NULL,
	type varchar(255) NOT NULL,
	payload jsonb
);
SELECT outbox.declare_table('outboxevent', layout => 'debezium');
INSERT INTO outboxevent VALUES
	('00000000-0000-0000-0000-0000000000d1', 'Order', '1', 'OrderCreated', '{"id": 1}');

-- The classic polling layout: bigint ids, JSON in text, created_at_datetime.
CREATE TABLE classic_outbox (
	id bigserial PRIMARY KEY,
	aggregate_type varchar(64) NOT NULL,
	aggregate_id varchar(64) NOT NULL,
	event_type varchar(64) NOT NULL,
	payload text NOT NULL,
	created_at_datetime timestamp NOT NULL DEFAULT now()
);
SELECT outbox.declare_table('classic_outbox', layout => 'classic');
INSERT INTO classic_outbox (aggregate_type, aggregate_id, event_type, payload, created_at_datetime)
VALUES ('Invoice', 'inv-9', 'InvoiceIssued', '{"amount": 100}', '2026-03-04 05:06:07');

-- Any other layout, column by column.
CREATE TABLE my_events (
	event_id uuid PRIMARY KEY, stream text, stream_id bigint, kind text,
	body json, meta jsonb, at timestamptz, unrelated int
);
SELECT outbox.declare_table('my_events', id_column => 'event_id',
	aggregate_type_column => 'stream', aggregate_id_column => 'stream_id',
	event_type_column => 'kind', payload_column => 'body',
	headers_column => 'meta', created_at_column => 'at');
INSERT INTO my_events VALUES ('00000000-0000-0000-0000-0000000000e1', 'cart', 77, 'added',
	'{"sku" : "x"}', '{"tenant": "t1"}', '2026-05-06 07:08:09+02', 5);
SELECT * FROM changes('declare');
SELECT relid, id_column, payload_column, headers_column, created_at_column
FROM outbox.tables ORDER BY relid::text;

-- Declaring is transactional: a rolled-back declaration never applies, and
-- inside one transaction only the inserts after it are events.
CREATE TABLE later (id uuid PRIMARY KEY, aggregate_type text, aggregate_id text,
	event_type text, payload jsonb, headers jsonb, created_at timestamptz);
BEGIN;
SELECT outbox.declare_table('later');
INSERT INTO later VALUES ('00000000-0000-0000-0000-0000000000f1', 'l', '1', 'rolled-back', '{}', NULL, '2026-01-01Z');
ROLLBACK;
INSERT INTO later VALUES ('00000000-0000-0000-0000-0000000000f2', 'l', '1', 'not-declared', '{}', NULL, '2026-01-01Z');
BEGIN;
INSERT INTO later VALUES ('00000000-0000-0000-0000-0000000000f3', 'l', '1', 'before-declare', '{}', NULL, '2026-01-01Z');
SELECT outbox.declare_table('later');
INSERT INTO later VALUES ('00000000-0000-0000-0000-0000000000f4', 'l', '1', 'after-declare', '{}', NULL, '2026-01-01Z');
COMMIT;
INSERT INTO later VALUES ('00000000-0000-0000-0000-0000000000f5', 'l', '1', 'declared', '{}', NULL, '2026-01-01Z');
SELECT outbox.undeclare_table('later');
INSERT INTO later VALUES ('00000000-0000-0000-0000-0000000000f6', 'l', '1', 'undeclared', '{}', NULL, '2026-01-01Z');
SELECT outbox.undeclare_table('later');
SELECT * FROM changes('declare');

-- Mistakes get clear errors.
SELECT outbox.declare_table('later', layout => 'nosuch');
SELECT outbox.declare_table('later', payload_column => 'nosuch');
SELECT outbox.declare_table('later', headers_column => 'aggregate_id');
SELECT outbox.declare_table('my_events', layout => 'debezium');
CREATE VIEW later_view AS SELECT * FROM later;
SELECT outbox.declare_table('later_view');
SELECT outbox.declare_table('nosuch_table');

-- A dropped table's declaration goes with it.
SELECT outbox.declare_table('later');
DROP VIEW later_view;
DROP TABLE later;
SELECT count(*) AS declarations_left FROM outbox.tables WHERE relid::text = 'later';
SELECT relid FROM outbox.tables ORDER BY relid::text;

SELECT pg_drop_replication_slot('declare');
DROP TABLE outboxevent, classic_outbox, my_events;
SELECT relid FROM outbox.tables;

-- A partitioned outbox table: rows land in partitions, including ones
-- attached after the declaration.
SELECT 'init' FROM pg_create_logical_replication_slot('partitions', 'outbox_pg');
CREATE TABLE parted (id uuid, aggregate_type text, aggregate_id text, event_type text,
	payload jsonb, headers jsonb, created_at timestamptz NOT NULL)
	PARTITION BY RANGE (created_at);
CREATE TABLE parted_2026 PARTITION OF parted FOR VALUES FROM ('2026-01-01Z') TO ('2027-01-01Z');
INSERT INTO parted VALUES ('00000000-0000-0000-0000-000000000a01', 'p', '1', 'before-declare', '{}', NULL, '2026-06-01Z');
SELECT outbox.declare_table('parted');
INSERT INTO parted VALUES ('00000000-0000-0000-0000-000000000a02', 'p', '1', 'in-2026', '{}', NULL, '2026-06-01Z');
CREATE TABLE parted_2027 PARTITION OF parted FOR VALUES FROM ('2027-01-01Z') TO ('2028-01-01Z');
INSERT INTO parted VALUES ('00000000-0000-0000-0000-000000000a03', 'p', '1', 'in-2027', '{}', NULL, '2027-06-01Z');
SELECT outbox.undeclare_table('parted');
INSERT INTO parted VALUES ('00000000-0000-0000-0000-000000000a04', 'p', '1', 'undeclared', '{}', NULL, '2027-06-01Z');
SELECT * FROM changes('partitions');
SELECT pg_drop_replication_slot('partitions');
DROP TABLE parted;
