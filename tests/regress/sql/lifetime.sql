-- The plugin's caches live in the decoding context, which an error in the
-- middle of a read frees without calling any plugin callback (here a
-- statement_timeout, as on outbox.slots or outbox.pending_events()).  The
-- relcache callbacks, which outlive it, must not touch them afterwards:
-- they used to, a use after free in the backend (make valgrind-check
-- shows it).
SELECT 'init' FROM pg_create_logical_replication_slot('lifetime', 'outbox_pg');
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload)
SELECT 'o', i::text, 'e', '{}' FROM generate_series(1, 100000) i;
SET statement_timeout = '20ms';
SELECT count(*) FROM pg_logical_slot_peek_changes('lifetime', NULL, NULL);
RESET statement_timeout;
-- Invalidations in this backend, with memory freed and reused.
CREATE TABLE lifetime_t (a int);
ALTER TABLE lifetime_t ADD COLUMN b text;
SELECT outbox.declare_table('lifetime_t', id_column => 'a', payload_column => 'b',
	aggregate_type_column => 'b', aggregate_id_column => 'b', event_type_column => 'b');
DROP TABLE lifetime_t;
SELECT count(*) AS events FROM pg_logical_slot_get_changes('lifetime', NULL, NULL);
SELECT pg_drop_replication_slot('lifetime');
DELETE FROM outbox.events;
