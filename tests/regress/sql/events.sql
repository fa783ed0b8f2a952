-- What one event looks like, several events in a transaction, and the
-- metadata the shipper relies on.
SELECT 'init' FROM pg_create_logical_replication_slot('events', 'outbox_pg');

INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, headers, created_at)
VALUES ('00000000-0000-0000-0000-000000000001', 'order', '42', 'created',
		'{"total": 9.50, "lines": [{"sku": "A-1", "qty": 2}]}',
		'{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}',
		'2026-01-02 03:04:05.123456+00');
SELECT * FROM changes('events');

-- Three events in one transaction: seq counts them, only the last says so.
BEGIN;
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
SELECT ('00000000-0000-0000-0000-00000000001' || i)::uuid, 'order', '7', 'step' || i,
	   jsonb_build_object('i', i), '2026-01-02 00:00:00+00'
FROM generate_series(1, 3) i;
COMMIT;
SELECT * FROM changes('events');

-- outbox.publish() returns the id it generated; created_at is now().
BEGIN;
SELECT outbox.publish('customer', 'c-1', 'registered', '{"name": "Ada"}') AS id \gset
SELECT id = :'id' AS same_id, created_at = now() AS created_now
FROM outbox.events WHERE id = :'id';
COMMIT;
SELECT * FROM masked_changes('events');

-- Transaction metadata: the xid, the commit LSN and, on the last event,
-- the end LSN, which is where the slot resumes after the transaction.
BEGIN;
SELECT outbox.publish('order', '8', 'a', '{}') IS NOT NULL AS published;
SELECT outbox.publish('order', '8', 'b', '{}') IS NOT NULL AS published;
SELECT txid_current() AS txid \gset
COMMIT;
WITH c AS (
	SELECT lsn, xid, data::jsonb AS j
	FROM pg_logical_slot_get_changes('events', NULL, NULL)
)
SELECT j->>'event_type' AS event_type,
	   (j->>'xid')::bigint = :txid AS xid_matches,
	   (j->>'commit_lsn')::pg_lsn < (j->>'end_lsn')::pg_lsn AS commit_before_end,
	   (j->>'end_lsn')::pg_lsn = lsn AS end_is_message_lsn,
	   (j->>'commit_time')::timestamptz <= now() AS committed_in_past,
	   j->'seq' AS seq, j->'last' AS last
FROM c;

-- The same from the text form: one compact line per event.
SELECT outbox.publish('order', '9', 'c', '{"k": [1, 2]}') IS NOT NULL AS published;
SELECT data !~ '\s' AS compact, data ~ '^\{"v":1,"id":' AS starts_with_version
FROM pg_logical_slot_get_changes('events', NULL, NULL);

SELECT pg_drop_replication_slot('events');
