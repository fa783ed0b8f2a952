-- outbox.emit() writes a logical decoding message, not a row, and the
-- plugin writes it exactly as it would the same event inserted as a row.
SELECT 'init' FROM pg_create_logical_replication_slot('emit', 'outbox_pg');

BEGIN;
SELECT outbox.emit('order', '42', 'created', '{"total": 9.5, "tags": ["a", "b"]}',
				   '{"traceparent": "00-abc-def-01"}') IS NOT NULL AS emitted;
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload, headers)
VALUES ('order', '42', 'created', '{"total": 9.5, "tags": ["a", "b"]}',
		'{"traceparent": "00-abc-def-01"}');
SELECT outbox.emit('order', '42', 'no-headers', 'null') IS NOT NULL AS emitted;
COMMIT;
SELECT count(*) AS rows_written FROM outbox.events WHERE event_type = 'no-headers';
SELECT * FROM masked_changes('emit');

-- Events keep their order around subtransactions: PostgreSQL queues a
-- message at its record's end, where the next record starts, and an insert
-- of another subtransaction there used to tie with it (and be decoded
-- first, half the time).
BEGIN;
SAVEPOINT a;
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload) VALUES ('o', '1', 'first', '{}');
RELEASE SAVEPOINT a;
SELECT outbox.emit('o', '1', 'second', '{}') IS NOT NULL AS emitted;
SAVEPOINT b;
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload) VALUES ('o', '1', 'third', '{}');
RELEASE SAVEPOINT b;
SAVEPOINT c;
SELECT outbox.emit('o', '1', 'fourth', '{}') IS NOT NULL AS emitted;
RELEASE SAVEPOINT c;
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload) VALUES ('o', '1', 'fifth', '{}');
COMMIT;
SELECT string_agg((data::jsonb->>'event_type') || ':' || (data::jsonb->>'seq'), ' ') AS events
FROM changes('emit');

-- The id emit() returns is the event's id.
SELECT outbox.emit('a', 'b', 'c', '{}') AS id \gset
SELECT data::jsonb->>'id' = :'id' AS same_id FROM changes('emit');

-- Every event needs its aggregate and type.
SELECT outbox.emit(NULL, '1', 'x', '{}');
SELECT outbox.emit('a', NULL, 'x', '{}');
SELECT outbox.emit('a', '1', NULL, '{}');

-- Messages with the outbox_pg prefix that outbox.emit() did not write are
-- rejected events (docs/format.md), rather than events, lost, or an error
-- that would stop the slot.
SELECT 'x' FROM pg_logical_emit_message(true, 'outbox_pg', 'not an event');
SELECT 'x' FROM pg_logical_emit_message(true, 'outbox_pg',
	'"aggregate_type":"a","id":"1","aggregate_id":"b","event_type":"c","payload":1,"headers":null,"created_at":null');
SELECT 'x' FROM pg_logical_emit_message(true, 'outbox_pg', '"id":"1"},{"x":1');
SELECT 'x' FROM pg_logical_emit_message(true, 'outbox_pg', '\x00ff41'::bytea);
SELECT 'x' FROM pg_logical_emit_message(true, 'outbox_pg', repeat('[', 5000));
-- A well-formed one is rejected too: only outbox.emit()'s are signed.
SELECT 'x' FROM pg_logical_emit_message(true, 'outbox_pg',
	'"id":"m1","aggregate_type":"a","aggregate_id":"b","event_type":"c","payload":{"p":1},"headers":null,"created_at":null');
-- Non-transactional messages and other prefixes are not events.
SELECT 'x' FROM pg_logical_emit_message(false, 'outbox_pg', 'ignored');
SELECT 'x' FROM pg_logical_emit_message(true, 'other', 'ignored');
SELECT CASE WHEN length(data) < 300 THEN data
			ELSE left(data, 120) || ' ... ' || right(data, 80) END AS data
FROM changes('emit');

SELECT pg_drop_replication_slot('emit');
