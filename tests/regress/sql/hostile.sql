-- What any role, or a bad row, can put into the stream: the plugin never
-- raises an error and never writes anything the shipper cannot take
-- (docs/format.md: id_generated, headers_invalid, rejected).
SELECT 'init' FROM pg_create_logical_replication_slot('hostile', 'outbox_pg');

-- 1. pg_logical_emit_message() is granted to PUBLIC: any role can write a
-- message with our prefix.  Only messages signed by outbox.emit() are
-- events; the rest are rejected, whatever they hold.
CREATE ROLE mallory LOGIN;
SET ROLE mallory;
SELECT 'x' FROM pg_logical_emit_message(true, 'outbox_pg', 'x');
SELECT 'x' FROM pg_logical_emit_message(true, 'outbox_pg',
	'"id":"forged","aggregate_type":"a","aggregate_id":"b","event_type":"c","payload":{},"headers":{"traceparent":"00-x"},"created_at":null');
-- A guessed MAC in front of a well-formed event.
SELECT 'x' FROM pg_logical_emit_message(true, 'outbox_pg',
	decode(repeat('00', 32), 'hex') || convert_to('"id":"forged","aggregate_type":"a","aggregate_id":"b","event_type":"c","payload":{},"headers":null,"created_at":null', 'UTF8'));
-- Neither the key nor the functions that sign are within reach.
SELECT key FROM outbox.signing_key;
SELECT outbox.emit('a', 'b', 'c', '{}');
RESET ROLE;
SELECT * FROM changes('hostile');
SELECT has_table_privilege('mallory', 'outbox.signing_key', 'SELECT') AS mallory_reads_key;

-- 2. outbox.emit() refuses headers that are not an object...
SELECT outbox.emit('a', '1', 'x', '{}', '[]');
SELECT outbox.emit('a', '1', 'x', '{}', '"traceparent"');
-- ...and its events, like publish()'s, may nest as deep as jsonb allows.
SELECT outbox.emit('deep', '1', 'x', (repeat('[', 1000) || repeat(']', 1000))::jsonb) IS NOT NULL AS emitted;
SELECT outbox.publish('deep', '2', 'x', (repeat('[', 1000) || repeat(']', 1000))::jsonb) IS NOT NULL AS published;
SELECT data::jsonb->>'aggregate_id' AS aggregate_id,
	   data::jsonb ? 'payload_invalid' AS payload_invalid,
	   data::jsonb ? 'rejected' AS rejected,
	   data::jsonb->'payload' = (repeat('[', 1000) || repeat(']', 1000))::jsonb AS same_payload
FROM changes('hostile');

-- 3. Rows with a NULL id or headers that are not an object.
CREATE TABLE loose_events (id uuid, aggregate_type text, aggregate_id text,
						   event_type text, payload text, headers jsonb);
SELECT outbox.declare_table('loose_events');
INSERT INTO loose_events VALUES
	(NULL, 'a', '1', 'null-id', '{}', NULL),
	('00000000-0000-0000-0000-000000000001', 'a', '2', 'array-headers', '{}', '[1]'),
	('00000000-0000-0000-0000-000000000002', 'a', '3', 'string-headers', '{}', '"s"'),
	('00000000-0000-0000-0000-000000000003', 'a', '4', 'ok', '{}', '{"k": "v"}'),
	(NULL, 'a', '5', 'deep-text', repeat('[', 1000) || repeat(']', 1000), NULL);
SELECT CASE WHEN length(data) < 300 THEN data
			ELSE left(data, 120) || ' ... ' || right(data, 80) END AS data
FROM changes('hostile');
CREATE TABLE json_header_events (id int, aggregate_type text, aggregate_id text,
								 event_type text, payload json, headers json);
SELECT outbox.declare_table('json_header_events');
INSERT INTO json_header_events VALUES
	(1, 'a', '1', 'scalar-headers', '{}', ' 42'),
	(2, 'a', '2', 'object-headers', '{}', ' { "k" : "v" } ');
SELECT * FROM changes('hostile');

-- 4. outbox.replay() of stored rows: the 1000-level text payload stays
-- JSON, and a NULL id gets a random one, flagged.
SELECT outbox.replay('loose_events', from_id => NULL) AS replayed;
SELECT data::jsonb->>'aggregate_id' AS aggregate_id,
	   data::jsonb->>'id_generated' AS id_generated,
	   data::jsonb ? 'payload_invalid' AS payload_invalid,
	   data::jsonb->>'headers_invalid' AS headers_invalid
FROM changes('hostile');

-- 5. Events over max-event-size are written as too_large, small fields kept.
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-000000000004', 'big', '1', 'row', jsonb_build_object('blob', repeat('x', 2000)), '2026-01-01Z'),
	   ('00000000-0000-0000-0000-000000000005', repeat('t', 1025), '2', 'row-long-type', jsonb_build_object('blob', repeat('x', 2000)), '2026-01-01Z');
-- (replay(): a signed message whose size does not depend on the time)
SELECT outbox.replay(from_id => '00000000-0000-0000-0000-000000000004',
					 to_id => '00000000-0000-0000-0000-000000000004') AS replayed;
SELECT 'x' FROM pg_logical_emit_message(true, 'outbox_pg', repeat('y', 2000));
SELECT 'x' FROM pg_logical_emit_message(true, 'outbox_pg', repeat('y', 500));
SELECT regexp_replace(data, '"id":"[0-9A-F]+/[0-9A-F]+:([0-9]+)"', '"id":"<lsn>:\1"') AS data
FROM pg_logical_slot_get_changes('hostile', NULL, NULL, 'include-xid', '0',
	'include-lsn', '0', 'include-timestamp', '0', 'max-event-size', '1024');

-- A too_large event's id stays a string even when the id's text would be
-- too long to keep (8000 bits of varbit are 1 kB stored, 8 kB as text).
CREATE TABLE bit_events (id varbit, aggregate_type text, aggregate_id text,
						 event_type text, payload jsonb);
SELECT outbox.declare_table('bit_events');
INSERT INTO bit_events VALUES (repeat('1', 8000)::varbit, 'a', '1', 'long-bit-id', '{}');
SELECT regexp_replace(data, '"id":"[0-9A-F]+/[0-9A-F]+:([0-9]+)"', '"id":"<lsn>:\1"') AS data
FROM pg_logical_slot_get_changes('hostile', NULL, NULL, 'include-xid', '0',
	'include-lsn', '0', 'include-timestamp', '0', 'max-event-size', '1024');
DROP TABLE bit_events;

-- Only what is written counts: headers that are dropped (a 1000-digit
-- numeric that is not an object) and whitespace that compaction removes
-- take no room.
CREATE TABLE sized_events (id int, aggregate_type text, aggregate_id text,
						   event_type text, payload json, headers jsonb);
SELECT outbox.declare_table('sized_events');
INSERT INTO sized_events VALUES
	(1, 'a', '1', 'numeric-headers', '{}', '1e-1000'),
	(2, 'a', '2', 'spaces', ('{"k":' || repeat(' ', 1100) || '"v"}')::json, NULL);
SELECT data FROM pg_logical_slot_get_changes('hostile', NULL, NULL, 'include-xid', '0',
	'include-lsn', '0', 'include-timestamp', '0', 'max-event-size', '1024');
DROP TABLE sized_events;

-- Timestamps outside RFC 3339's years 0000 to 9999 are ISO 8601 expanded
-- years with a sign (astronomical numbering: 1 BC is 0000, 44 BC -0043).
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-000000000007', 'time', '1', 'bc', '{}', '0044-03-15 12:00:00.5+00 BC'),
	   ('00000000-0000-0000-0000-000000000008', 'time', '2', '1-bc', '{}', '0001-12-31 23:59:59.999999+00 BC'),
	   ('00000000-0000-0000-0000-000000000009', 'time', '3', 'far', '{}', '294276-12-31 23:59:59.999999+00'),
	   ('00000000-0000-0000-0000-000000000010', 'time', '4', 'ad-1', '{}', '0001-01-01 00:00:00+00');
SELECT data::jsonb->>'event_type' AS event_type, data::jsonb->>'created_at' AS created_at
FROM changes('hostile');

-- 6. Values whose JSON would pass 1 GB (an allocation's limit, an ERROR in
-- the walsender on every restart) are too_large under the default limit:
-- numerics whose text is 128 kB each, and control characters that take
-- 6 bytes each.
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload)
SELECT 'huge', '1', 'numerics', jsonb_agg('1e131071'::numeric) FROM generate_series(1, 9000);
INSERT INTO loose_events (id, aggregate_type, aggregate_id, event_type, payload)
VALUES ('00000000-0000-0000-0000-000000000006', 'huge', '2', 'control-characters', repeat(chr(1), 180000000));
SELECT data::jsonb->>'aggregate_id' AS aggregate_id, data::jsonb->>'event_type' AS event_type,
	   data::jsonb->>'rejected' AS rejected, data::jsonb->'size' AS size
FROM changes('hostile');

-- Bad option values.
SELECT data FROM pg_logical_slot_peek_changes('hostile', NULL, NULL, 'max-event-size', '1023');
SELECT data FROM pg_logical_slot_peek_changes('hostile', NULL, NULL, 'max-event-size', '1kB');

SELECT pg_drop_replication_slot('hostile');
DROP TABLE loose_events, json_header_events;
DELETE FROM outbox.events;
DROP ROLE mallory;
