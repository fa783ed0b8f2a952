-- The extension, and a helper that reads a slot without the values that
-- change from run to run (xids, LSNs, commit times).
CREATE EXTENSION outbox_pg;
SELECT extname, extversion FROM pg_extension WHERE extname = 'outbox_pg';

-- Generated ids hold the commit LSN: masked too.
CREATE FUNCTION changes(slot name) RETURNS TABLE (data text)
LANGUAGE sql AS $$
	SELECT regexp_replace(data, '"id":"[0-9A-F]+/[0-9A-F]+:([0-9]+)"', '"id":"<lsn>:\1"')
	FROM pg_logical_slot_get_changes(slot, NULL, NULL,
		'include-xid', '0', 'include-lsn', '0', 'include-timestamp', '0')
$$;

-- Events published with now() and gen_random_uuid(), with those masked.
CREATE FUNCTION masked_changes(slot name) RETURNS SETOF text
LANGUAGE sql AS $$
	SELECT regexp_replace(regexp_replace(data,
		'"id":"[0-9a-f-]{36}"', '"id":"<uuid>"'),
		'"created_at":"[^"]*"', '"created_at":"<now>"')
	FROM changes(slot)
$$;
