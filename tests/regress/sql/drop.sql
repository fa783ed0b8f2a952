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

-- A slot read before the extension exists, across its creation: what is
-- published once it exists is shipped (the plugin used to remember, for
-- the whole read, that outbox.tables was missing, and lost these events).
SELECT 'init' FROM pg_create_logical_replication_slot('absent', 'outbox_pg');
CREATE TABLE unrelated (a int);
INSERT INTO unrelated VALUES (1);
CREATE EXTENSION outbox_pg;
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-000000000003', 'o', '1', 'after-create', '{}', '2026-01-01Z');
SELECT outbox.emit('o', '1', 'emitted-after-create', '{}') IS NOT NULL AS emitted;
SELECT data::jsonb->>'event_type' AS event_type, data::jsonb ? 'rejected' AS rejected
FROM pg_logical_slot_get_changes('absent', NULL, NULL);
SELECT pg_drop_replication_slot('absent');
DROP TABLE unrelated;
DROP EXTENSION outbox_pg;
