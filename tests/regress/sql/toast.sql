-- TOASTed payloads of several MB come out whole.
SELECT 'init' FROM pg_create_logical_replication_slot('toast', 'outbox_pg');

CREATE TEMP TABLE blob AS
SELECT string_agg(md5(i::text), '') AS s FROM generate_series(1, 150000) i;
SELECT length(s) AS blob_length FROM blob;

INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload, headers)
SELECT 'big', '1', 'jsonb', jsonb_build_object('blob', s), jsonb_build_object('h', left(s, 10))
FROM blob;
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload)
SELECT 'big', '1', 'compressible', jsonb_build_object('zeros', repeat('0', 3000000))
FROM blob;
SELECT outbox.emit('big', '1', 'emitted', jsonb_build_object('blob', s)) IS NOT NULL AS emitted
FROM blob;

SELECT data::jsonb->>'event_type' AS event_type,
	   length(data) > 3000000 AS several_mb,
	   md5(coalesce(data::jsonb->'payload'->>'blob', data::jsonb->'payload'->>'zeros'))
		 = md5(coalesce(CASE WHEN data::jsonb->>'event_type' = 'compressible'
							 THEN repeat('0', 3000000) END, (SELECT s FROM blob))) AS payload_intact
FROM changes('toast');

SELECT pg_drop_replication_slot('toast');
