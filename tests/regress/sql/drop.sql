-- Dropping and re-creating the extension while an event waits in the slot:
-- PostgreSQL can no longer read the dropped outbox.tables, so outbox.events
-- is decoded with its default columns (with a warning) and nothing is lost.
SELECT 'init' FROM pg_create_logical_replication_slot('drop', 'outbox_pg');
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-000000000001', 'o', '1', 'before-drop', '{}', '2026-01-01Z');
DROP FUNCTION changes(name), masked_changes(name);
DROP EXTENSION outbox_pg;
CREATE EXTENSION outbox_pg;
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-000000000002', 'o', '1', 'recreated', '{}', '2026-01-01Z');
SELECT data FROM pg_logical_slot_get_changes('drop', NULL, NULL, 'include-xid', '0',
	'include-lsn', '0', 'include-timestamp', '0');
SELECT pg_drop_replication_slot('drop');
DROP EXTENSION outbox_pg;
