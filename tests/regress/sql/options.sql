-- Plugin options: checked at start, with errors that name the option.
SELECT 'init' FROM pg_create_logical_replication_slot('options', 'outbox_pg');
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-000000000001', 'o', '1', 'e', '{}', '2026-01-01Z');

SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'nosuch', '1');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'include-xid', 'maybe');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'include-xid', '1', 'include-xid', '0');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'format-version', '2');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'format-version', NULL);

-- Each metadata field can be left out; a bare option name means true.
SELECT data::jsonb ? 'xid' AS has_xid, data::jsonb ? 'commit_lsn' AS has_lsn,
	   data::jsonb ? 'end_lsn' AS has_end_lsn, data::jsonb ? 'commit_time' AS has_time
FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'format-version', '1');
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL,
	'include-xid', 'off', 'include-lsn', 'false', 'include-timestamp', '0');
SELECT data::jsonb ? 'xid' AS has_xid
FROM pg_logical_slot_peek_changes('options', NULL, NULL, 'include-xid', NULL,
	'include-lsn', 'no', 'include-timestamp', 'no');

SELECT pg_drop_replication_slot('options');
DELETE FROM outbox.events;
