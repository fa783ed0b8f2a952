-- 100,000 events in one transaction: memory is bounded by the reorder
-- buffer spilling to disk (logical_decoding_work_mem is 64kB in the test
-- cluster), and every event comes out once, in order.
SHOW logical_decoding_work_mem;
SELECT 'init' FROM pg_create_logical_replication_slot('bigtxn', 'outbox_pg');

INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload)
SELECT 'bulk', (i % 100)::text, 'n', jsonb_build_object('i', i)
FROM generate_series(1, 100000) i;

WITH c AS (
	SELECT row_number() OVER () - 1 AS position, data::jsonb AS j
	FROM changes('bigtxn')
)
SELECT count(*) AS events,
	   count(*) FILTER (WHERE (j->>'seq')::bigint = position) AS seq_in_order,
	   count(*) FILTER (WHERE (j->'payload'->>'i')::bigint = position + 1) AS payload_in_order,
	   count(*) FILTER (WHERE j ? 'last') AS last_markers,
	   max(position) FILTER (WHERE j ? 'last') AS last_position
FROM c;

SELECT spill_txns > 0 AS spilled FROM pg_stat_replication_slots WHERE slot_name = 'bigtxn';
SELECT pg_drop_replication_slot('bigtxn');
DELETE FROM outbox.events;
