#!/usr/bin/env bash
# What exactly reaches Kafka, byte for byte, against a real PostgreSQL and
# Kafka: with --value=envelope each record's value is the plugin's line
# unchanged (numbers such as 1.10 and integers beyond 64 bits intact), the
# key is aggregate_id, and the headers are id, event_type, aggregate_type,
# the event's headers in order, outbox_commit_lsn and outbox_seq.  Then
# PostgreSQL crashes after everything was confirmed: it sends again from the
# slot position it had saved, and the shipper skips what it had confirmed,
# so Kafka holds every event exactly once.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
e2e_setup

# A second slot sees the same events: the plugin's lines, for comparison.
psql -qXAt -c "SELECT 1 FROM pg_create_logical_replication_slot('peek', 'outbox_pg')" >/dev/null
start_shipper shipper --value=envelope -t 'fmt.{aggregate_type}'
wait_for "the shipper to stream" 30 grep -q 'streaming slot' "$WORK/shipper.log"

psql -qX >/dev/null <<'SQL'
BEGIN;
SELECT outbox.publish('order', 'o-1', 'created',
	'{"total": 1.10, "big": 123456789012345678901234567890, "e": 1E-7, "s": "tab\t\"q\" é 😀"}',
	'{"traceparent": "00-abc-01", "n": 5, "o": {"a": [1, "x"]}, "s": "é\n"}');
SELECT outbox.publish('order', 'o-1', 'paid', 'null', NULL);
SELECT outbox.publish('customer', 'c-ü', 'created', '[1, [2, [3]]]', '{}');
COMMIT;
SELECT outbox.publish('order', 'o-2', 'created', '{"deep": [[[[[[[[[[1]]]]]]]]]]}', NULL);
SQL
target=$(current_lsn)
wait_for "the slot to confirm the events" 60 confirmed_reached "$target"
check "the slot confirmed the events" 0 $?
psql -qXAt -c "SELECT data FROM pg_logical_slot_get_changes('peek', NULL, NULL)" >"$WORK/plugin.jsonl"
dump_topics "$WORK/records.jsonl" fmt.order fmt.customer

# compare.py: one line per problem, then "N records" on the last line.
cat >"$WORK/compare.py" <<'PY'
import json, sys
lines = [l.rstrip("\n") for l in open(sys.argv[1]) if l.strip()]
plugin = {json.loads(l)["id"]: l for l in lines}
records = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
problems = 0
for r in records:
    headers = r.get("headers") or []
    pairs = list(zip(headers[0::2], headers[1::2]))
    event_id = dict(pairs).get("id")
    line = plugin.get(event_id)
    if line is None:
        print("record with unknown id %r" % event_id); problems += 1; continue
    e = json.loads(line)
    if r["payload"] != line:
        print("value differs for %s:\n  %r\n  %r" % (event_id, r["payload"], line)); problems += 1
    if r["key"] != e["aggregate_id"]:
        print("key %r, want %r" % (r["key"], e["aggregate_id"])); problems += 1
    want = [("id", e["id"]), ("event_type", e["event_type"]), ("aggregate_type", e["aggregate_type"])]
    for name, value in (e["headers"] or {}).items():
        want.append((name, value if isinstance(value, str)
                     else json.dumps(value, separators=(",", ":"), ensure_ascii=False)))
    want += [("outbox_commit_lsn", e["commit_lsn"]), ("outbox_seq", str(e["seq"]))]
    if pairs != want:
        print("headers of %s:\n  %r\n  %r" % (event_id, pairs, want)); problems += 1
ids = [dict(zip(r["headers"][0::2], r["headers"][1::2]))["id"] for r in records]
if sorted(ids) != sorted(plugin):
    print("ids differ: %d records for %d events" % (len(ids), len(plugin))); problems += 1
print("%d records, %d problems" % (len(records), problems))
sys.exit(1 if problems else 0)
PY
out=$(python3 "$WORK/compare.py" "$WORK/plugin.jsonl" "$WORK/records.jsonl")
echo "$out" | sed 's/^/# /'
check "4 records: values are the plugin's lines byte for byte, exact keys and headers" \
	"4 records, 0 problems" "$(echo "$out" | tail -n 1)"
check "1.10 and a 30-digit integer survive" 1 "$(python3 -c '
import json, sys
values = [json.loads(l)["payload"] for l in open(sys.argv[1]) if l.strip()]
print(sum("\"total\":1.10" in v and "\"big\":123456789012345678901234567890" in v for v in values))' \
	"$WORK/records.jsonl")"

# Crash PostgreSQL once everything is confirmed.  It comes back with the
# slot position of its last save, which may be older; whatever it sends
# again was confirmed and must not reach Kafka twice.
psql -qX -c "SELECT outbox.publish('order', 'o-' || i, 'bulk', jsonb_build_object('i', i)) FROM generate_series(3, 200) i" >/dev/null
target=$(current_lsn)
wait_for "the slot to confirm the bulk" 60 confirmed_reached "$target"
saved_before=$(slot_confirmed)
"$PG_SH" kill "$WORK/pg"
"$PG_SH" restart "$WORK/pg" >/dev/null
echo "# slot position before the crash $saved_before, after it $(slot_confirmed)"
psql -qX -c "SELECT outbox.publish('order', 'o-' || i, 'after-crash', '{}') FROM generate_series(201, 220) i" >/dev/null
target=$(current_lsn)
wait_for "the slot to confirm after the crash" 90 confirmed_reached "$target"
check "the shipper reconnected and confirmed everything after the crash" 0 $?
check "the shipper logged the reconnect" 1 "$(grep -c 'reconnecting' "$WORK/shipper.log" | awk '{print ($1 > 0)}')"

kill -TERM "$(shipper_pid shipper)"
wait_exit shipper 60
check "SIGTERM exits 0" 0 "$EXIT_STATUS"
echo "# $(grep 'stopped:' "$WORK/shipper.log")"
psql -qXAt -c "SELECT data FROM pg_logical_slot_get_changes('peek', NULL, NULL)" >>"$WORK/plugin.jsonl"
dump_topics "$WORK/records.jsonl" fmt.order fmt.customer
out=$(python3 "$WORK/compare.py" "$WORK/plugin.jsonl" "$WORK/records.jsonl")
echo "$out" | tail -n 3 | sed 's/^/# /'
check "after the crash: 222 records, each event exactly once, all exact" \
	"222 records, 0 problems" "$(echo "$out" | tail -n 1)"
finish
