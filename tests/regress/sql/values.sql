-- Every value comes out as valid, compact JSON, and never fails decoding.
SELECT 'init' FROM pg_create_logical_replication_slot('values', 'outbox_pg');

-- Unicode, quotes, backslashes and control characters in strings.
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, headers, created_at)
VALUES ('00000000-0000-0000-0000-000000000001', 'ordér', 'id "quoted" \ back', E'tab\there\nnew\u0001line',
		'{"emoji": "🚀", "cjk": "漢字", "esc": "a\"b\\c\u0007", "empty": {}, "list": []}',
		'{"x-ünïcode": "✓"}', '2026-01-02 03:04:05+00');
-- Numbers keep their digits; NULLs and JSON nulls differ.
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, headers, created_at)
VALUES ('00000000-0000-0000-0000-000000000002', 'n', '1', 'numbers',
		'[1.10, -0, 12345678901234567890123456789, 1e-7, 2.5E+3, true, false, null]',
		NULL, 'infinity');
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-000000000003', 'n', '1', 'sql-null', NULL, '-infinity');
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-000000000004', 'n', '1', 'json-null', 'null', '2026-01-01 00:00:00.000001+00');
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, created_at)
VALUES ('00000000-0000-0000-0000-000000000005', 'n', '1', 'scalar', '"just a string"', '2026-01-01Z');
SELECT * FROM changes('values');

-- Every line parses as JSON.
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload)
SELECT 'x', chr(i), chr(i), to_jsonb(chr(i)) FROM generate_series(1, 300) i;
SELECT count(*) AS events, count(DISTINCT data::jsonb->>'aggregate_id') AS distinct_ids,
	   bool_and(data::jsonb->>'aggregate_id' = data::jsonb->>'payload') AS round_trip
FROM changes('values');

-- A text payload that holds JSON is embedded as JSON, compacted; text
-- that is not JSON is shipped as a string, flagged.  A json payload is
-- compacted too.
CREATE TABLE text_outbox (
	id bigserial PRIMARY KEY,
	aggregate_type text, aggregate_id text, event_type text,
	payload text, headers json, created_at timestamp
);
SELECT outbox.declare_table('text_outbox');
INSERT INTO text_outbox (aggregate_type, aggregate_id, event_type, payload, headers, created_at) VALUES
	('t', '1', 'json-text', E'{ "a" : [ 1 ,\n 2 ], "s": "keep  spaces" }', '{ "h" : "v" }', '2026-01-02 03:04:05.5'),
	('t', '1', 'not-json', 'not {json', NULL, NULL),
	('t', '1', 'trailing-garbage', '{"a":1} x', NULL, NULL),
	('t', '1', 'empty', '', NULL, NULL),
	('t', '1', 'scalar-text', ' 42 ', NULL, NULL),
	('t', '1', 'bad-escape', '"\x"', NULL, NULL);
SELECT * FROM changes('values');

-- Nesting deeper than the plugin parses inside the walsender.
INSERT INTO text_outbox (aggregate_type, aggregate_id, event_type, payload)
VALUES ('t', '1', 'deep', repeat('[', 2000) || repeat(']', 2000));
INSERT INTO text_outbox (aggregate_type, aggregate_id, event_type, payload)
VALUES ('t', '1', 'deep-ok', repeat('[', 900) || repeat(']', 900));
SELECT data::jsonb->>'event_type' AS event_type,
	   data::jsonb->'payload_invalid' AS payload_invalid,
	   length(data::jsonb->>'payload') AS payload_length
FROM changes('values');

SELECT pg_drop_replication_slot('values');
DROP TABLE text_outbox;
