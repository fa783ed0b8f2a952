#!/usr/bin/env bash
# pgoutput mode writes the plugin's events byte for byte: one workload, two
# slots created at the same position (outbox_pg and pgoutput), the plugin's
# output against the shipper's translation of pgoutput's messages
# (shipper/pgoutput_events.c, run by tests/helpers/pgoutput_decode).
#
# The workload is made of the values where the two could part: jsonb with
# escapes, unicode, exponents and trailing zeros, nesting; json with odd
# whitespace; text payloads that are, are not, or nest too deep to be JSON;
# headers that are not objects; NULL ids; int8 ids; domains; timestamps in
# other zones, BC, far future and infinite; a declared column dropped; a
# table altered mid-stream; other tables, updates, deletes, truncates,
# rolled-back subtransactions and aborted transactions.  About 10 s here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/outbox_pgoutput_identity.XXXXXX)
chmod 755 "$work"
passed=0 failed=0
cleanup() {

	"$here/../helpers/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

check() {	# check NAME EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then
		passed=$((passed + 1)); echo "ok - $1"
	else
		failed=$((failed + 1)); echo "not ok - $1"; echo "#   want: $2"; echo "#   have: $3"
	fi
}

make -s -C "$root/shipper" ../tests/helpers/pgoutput_decode
decode=$root/tests/helpers/pgoutput_decode

"$here/../helpers/pg.sh" start "$work/pg" >/dev/null
eval "$("$here/../helpers/pg.sh" env "$work/pg")"
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION outbox_pg;
CREATE TABLE other (n int);
CREATE DOMAIN agg_text AS text;
CREATE TABLE shop_outbox (
	event_id bigint, kind text, agg agg_text, agg_type text,
	body jsonb, meta json, at timestamp, dropme int);
SELECT outbox.declare_table('shop_outbox', id_column => 'event_id',
	aggregate_type_column => 'agg_type', aggregate_id_column => 'agg',
	event_type_column => 'kind', payload_column => 'body',
	headers_column => 'meta', created_at_column => 'at');
CREATE TABLE text_outbox (id text, aggregate_type text, aggregate_id text, event_type text,
	payload text, headers json, created_at timestamptz);
SELECT outbox.declare_table('text_outbox');
CREATE PUBLICATION outbox_pub FOR TABLE outbox.events, shop_outbox, text_outbox, other
	WITH (publish_via_partition_root = true);
SELECT 'plugin' FROM pg_create_logical_replication_slot('plugin_slot', 'outbox_pg');
SELECT 'pgoutput' FROM pg_create_logical_replication_slot('pgoutput_slot', 'pgoutput');
SQL

psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET TimeZone = 'America/St_Johns';
INSERT INTO other VALUES (1);
BEGIN;
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload, headers, created_at) VALUES
	('00000000-0000-0000-0000-000000000001', 'order', 'o-1', 'created',
	 '{"total": 10.50, "lines": [{"sku": "a\"b\\c", "qty": 1e3}, {"note": "tab\there\nnl \u0001 é ✓ 😀"}], "empty": {}, "e": [], "n": null, "t": true, "neg": -0.000}',
	 '{"traceparent": "00-abc-01", "k": "v w"}', '2026-11-29 12:00:00.120+05:30'),
	('00000000-0000-0000-0000-000000000002', 'order', 'o-2', 'paid', '"a lone string"', NULL, '0044-03-15 12:00:00 BC'),
	('00000000-0000-0000-0000-000000000003', 'order', 'o-3', 'x', '[1, [2, [3, {"d": "}]"}]]]', '{}', 'infinity'),
	('00000000-0000-0000-0000-000000000004', 'order', 'o-4', 'x', '12345678901234567890.123456789', NULL, '-infinity'),
	('00000000-0000-0000-0000-000000000005', 'order', 'o-5', 'x', NULL, NULL, '294276-12-31 23:59:59.999999+00'),
	('00000000-0000-0000-0000-000000000006', 'order', 'o-6', 'x', '{"a": 1}', NULL, '1900-01-01 00:00:00+00');
UPDATE outbox.events SET event_type = 'changed' WHERE aggregate_id = 'o-1';
SAVEPOINT s;
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', 'gone', 'x', '{}');
ROLLBACK TO s;
INSERT INTO other VALUES (2);
COMMIT;
BEGIN;
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', 'aborted', 'x', '{}');
ROLLBACK;
INSERT INTO shop_outbox VALUES
	(9223372036854775807, 'k', 'a-1', 'shop', '{"x": [1.0, 2]}', '{ "h" : "v" ,  "n":"2" }', '2026-01-02 03:04:05.5', 1),
	(NULL, 'k', 'a-2', 'shop', '{}', '[1, 2]', NULL, 2),
	(-1, NULL, NULL, NULL, 'null', '"str"', '1999-12-31 23:59:59.000001', 3);
ALTER TABLE shop_outbox DROP COLUMN dropme;
ALTER TABLE shop_outbox ADD COLUMN extra text;
INSERT INTO shop_outbox VALUES (7, 'after alter', 'a-3', 'shop', '{"y": "\u00e9"}', ' {"a" : [ 1 , 2 ] } ', '2026-06-01 00:00:00', 'x');
INSERT INTO text_outbox (id, payload, headers, created_at) VALUES
	('t1', '{"valid" :  "json",  "arr": [ 1, 2 ]}', '{"h":"1"}', '2026-11-29 12:00:00+00'),
	('t2', 'not {json', '"not an object"', now()),
	('t3', repeat('[', 1001) || repeat(']', 1001), '[{"a": 1}]', now()),
	('t4', repeat('[', 1000) || repeat(']', 1000), '  {"ok": true}', now()),
	('t5', '  "padded"  ', NULL, NULL),
	('t6', E'{"ctl": "x"}\n', E'\t{}', now()),
	(NULL, '01', '{}', now());
DELETE FROM outbox.events;
TRUNCATE text_outbox;
BEGIN;
SELECT outbox.undeclare_table('text_outbox');
ALTER PUBLICATION outbox_pub DROP TABLE text_outbox;
COMMIT;
INSERT INTO text_outbox VALUES ('after undeclare', '{}', NULL, now());
SQL

# The declarations as the shipper reads them: a column name and base type
# per field ("-" and 0 where none).
psql -qXAt -v ON_ERROR_STOP=1 >"$work/input" <<'SQL'
WITH RECURSIVE base(typ, base) AS (
	SELECT oid, oid FROM pg_type WHERE typtype <> 'd'
	UNION ALL
	SELECT t.oid, b.base FROM pg_type t JOIN base b ON t.typbasetype = b.typ WHERE t.typtype = 'd'),
fields AS (
	SELECT t.relid, f.n, f.col, coalesce((SELECT b.base FROM pg_attribute a JOIN base b ON b.typ = a.atttypid
		WHERE a.attrelid = t.relid AND a.attname = f.col AND NOT a.attisdropped), 0) AS typ
	FROM outbox.tables t, LATERAL (VALUES (1, id_column), (2, aggregate_type_column),
		(3, aggregate_id_column), (4, event_type_column), (5, payload_column),
		(6, headers_column), (7, created_at_column)) AS f(n, col))
SELECT 'L ' || relid::oid || ' ' || string_agg(coalesce(col, '-') || ' ' || typ, ' ' ORDER BY n)
FROM fields GROUP BY relid;
SQL
# text_outbox was undeclared at the end, but its rows before that are events
# (the plugin reads declarations as of each change), and its later rows are
# not sent (it left the publication with the undeclaration): declare it for
# the translation as it was.
psql -qXAt -c "SELECT 'L ' || 'text_outbox'::regclass::oid || ' id 25 aggregate_type 25 aggregate_id 25 event_type 25 payload 25 headers 114 created_at 1184'" >>"$work/input"

psql -qXAt -v ON_ERROR_STOP=1 -c "SELECT data FROM pg_logical_slot_peek_changes('plugin_slot', NULL, NULL)" \
	>"$work/plugin.jsonl"
psql -qXAt -v ON_ERROR_STOP=1 \
	-c "SET DateStyle = ISO" -c "SET TimeZone = 'Asia/Kolkata'" \
	-c "SELECT 'M ' || encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes('pgoutput_slot', NULL, NULL,
		'proto_version', '1', 'publication_names', 'outbox_pub', 'messages', 'true')" >>"$work/input"

status=0
"$decode" <"$work/input" >"$work/pgoutput.jsonl" 2>"$work/decode.err" || status=$?
check "the translation reads every message" "0 " "$status $(cat "$work/decode.err")"
check "as many events as the plugin wrote" "$(wc -l <"$work/plugin.jsonl")" "$(wc -l <"$work/pgoutput.jsonl")"
check "the plugin wrote the events the workload has" 17 "$(wc -l <"$work/plugin.jsonl")"
if cmp -s "$work/plugin.jsonl" "$work/pgoutput.jsonl"; then
	check "byte for byte the plugin's events" same same
else
	check "byte for byte the plugin's events" same "$(diff "$work/plugin.jsonl" "$work/pgoutput.jsonl" | head -n 20)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
