#!/usr/bin/env bash
# --format=cloudevents and cloudevents-structured against a real PostgreSQL
# and Kafka: three shippers, one per format, each on its own slot, ship the
# same events, and a consumer built on the CloudEvents Python SDK reads them
# back (tests/e2e/cloudevents_check.py): every required attribute present
# and valid per CloudEvents 1.0 and the Kafka protocol binding, and each
# record the same as the plain format's where the spec asks nothing else
# (topic, partition, key bytes, value bytes in binary mode, headers).
# Event headers posing as ce_ attributes never reach a record as such; an
# event that cannot be a CloudEvent (no event_type) goes to the dead-letter
# topic and the events after it are shipped.  36-49 s here (most of it
# Kafka's start; the SDK's venv is installed once, ~10 s).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

VENV=${XDG_CACHE_HOME:-$HOME/.cache}/outbox_pg/venv-ce
# The CloudEvents SDK and what it runs on, pinned (pip freeze of the venv).
PINS=(cloudevents==1.12.0 deprecation==2.1.0 packaging==26.4)
STRUCTURED_SOURCE='https://example.com/shop?db=postgres'

e2e_setup

installed_pins() { "$VENV/bin/pip" freeze 2>/dev/null | sort; }
wanted_pins() { printf '%s\n' "${PINS[@]}" | sort; }
if [ "$(installed_pins)" != "$(wanted_pins)" ]; then
	echo "# installing ${PINS[0]} into $VENV"
	rm -rf "$VENV"
	{ python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --no-deps "${PINS[@]}"; } >"$WORK/venv.log" 2>&1 ||
		sed 's/^/# /' "$WORK/venv.log" | tail -n 20
fi
check "the CloudEvents SDK and its dependencies at the pinned versions" \
	"$(wanted_pins | paste -sd' ')" "$(installed_pins | paste -sd' ')"

# A declared outbox table of the user's: text ids and payloads, a
# timestamp without time zone, nullable fields.
psql -qX >/dev/null <<'SQL'
SELECT pg_create_logical_replication_slot(s, 'outbox_pg') FROM unnest(ARRAY['plain', 'ce_bin', 'ce_str']) s;
CREATE TABLE app_outbox (id text PRIMARY KEY, aggregate_type text, aggregate_id text,
	event_type text, payload text, headers jsonb, created_at timestamp DEFAULT now());
SELECT outbox.declare_table('app_outbox');
SQL
start_shipper plain --slot=plain --no-create-slot -t 'plain.{aggregate_type}'
start_shipper bin --slot=ce_bin --no-create-slot -t 'bin.{aggregate_type}' --format=cloudevents \
	--on-permanent-error=dead-letter --dead-letter-topic bin.dlq
OUTBOX_FORMAT=cloudevents-structured OUTBOX_CLOUDEVENTS_SOURCE=$STRUCTURED_SOURCE \
	start_shipper str --slot=ce_str --no-create-slot -t 'str.{aggregate_type}' \
	--on-permanent-error=dead-letter --dead-letter-topic str.dlq
for name in plain bin str; do
	wait_for "the $name shipper to stream" 30 grep -q 'streaming slot' "$WORK/$name.log"
done

psql -qX >/dev/null <<'SQL'
BEGIN;
SELECT outbox.publish('order', 'o-1', 'created',
	'{"total": 1.10, "big": 123456789012345678901234567890, "s": "tab\t\"q\" é 😀"}',
	'{"traceparent": "00-abc-01", "n": 5}');
SELECT outbox.publish('order', 'o-1', 'paid', 'null', NULL);
SELECT outbox.publish('customer', 'c-ü', 'created', '[1, [2, [3]]]', '{}');
COMMIT;
-- A writer trying to forge CloudEvents attributes through headers.
SELECT outbox.publish('order', 'o-2', 'created', '{"n": 2}',
	'{"ce_id": "forged", "CE_SOURCE": "/evil", "ce_type": "evil", "ce_ext": "x",
	  "content-type": "text/evil", "Content-Type": "x", "traceparent": "00-def-01"}');
BEGIN;
INSERT INTO app_outbox VALUES ('a-1', 'invoice', 'i-1', 'issued', 'not {json', NULL, '2026-11-22 12:00:00.5');
INSERT INTO app_outbox VALUES ('a-2', 'invoice', '', 'issued', '{"x": 1}', '{"k": "v"}');
-- No event_type: no CloudEvent; dead-lettered, and what follows is shipped.
INSERT INTO app_outbox VALUES ('a-3', 'invoice', 'i-3', NULL, '{}', NULL);
COMMIT;
SELECT outbox.publish('order', 'o-' || i % 7, 'bulk', jsonb_build_object('i', i)) FROM generate_series(1, 40) i;
SQL
target=$(current_lsn)
for slot in plain ce_bin ce_str; do
	wait_for "slot $slot to confirm every event" 60 confirmed_reached "$target" "$slot"
	check "slot $slot confirmed every event" 0 $?
done

dump_topics "$WORK/plain.jsonl" plain.order plain.customer plain.invoice
dump_topics "$WORK/bin.jsonl" bin.order bin.customer bin.invoice
dump_topics "$WORK/str.jsonl" str.order str.customer str.invoice
psql -qXAt -c "SELECT id, (extract(epoch FROM created_at) * 1000000)::bigint FROM outbox.events" \
	>"$WORK/created_at.txt"
out=$("$VENV/bin/python" "$E2E_ROOT/tests/e2e/cloudevents_check.py" "$WORK/plain.jsonl" \
	"$WORK/bin.jsonl" "$WORK/str.jsonl" "$WORK/created_at.txt" /outbox_pg/postgres \
	"$STRUCTURED_SOURCE")
echo "$out" | tail -n 20 | sed 's/^/# /'
check "47 events, 46 CloudEvents in each mode, valid per the spec and as the plain records" \
	"47 events: 46 binary, 46 structured, 0 problems" "$(echo "$out" | tail -n 1)"

# header NAME FILE ID: the value of header NAME of the record of event ID.
header() {
	python3 -c '
import json, sys
for line in open(sys.argv[2]):
    r = json.loads(line)
    h = r["headers"]
    pairs = list(zip(h[0::2], h[1::2]))
    if dict(pairs)["id"] == sys.argv[3]:
        print(",".join(v for n, v in pairs if n == sys.argv[1]))' "$1" "$2" "$3"
}
o2=$(psql -qXAt -c "SELECT id FROM outbox.events WHERE aggregate_id = 'o-2' AND event_type = 'created'")
check "the forging row: ce_id is its own id, once" "$o2" "$(header ce_id "$WORK/bin.jsonl" "$o2")"
check "the forging row: ce_source is the shipper's" /outbox_pg/postgres "$(header ce_source "$WORK/bin.jsonl" "$o2")"
check "the forging row: ce_type is its event_type" created "$(header ce_type "$WORK/bin.jsonl" "$o2")"
check "the forging row: its CE_SOURCE, ce_ext and Content-Type headers are not shipped" ",," \
	"$(header CE_SOURCE "$WORK/bin.jsonl" "$o2"),$(header ce_ext "$WORK/bin.jsonl" "$o2"),$(header Content-Type "$WORK/bin.jsonl" "$o2")"
check "the forging row: content-type is the shipper's" application/json "$(header content-type "$WORK/bin.jsonl" "$o2")"
check "the forging row: traceparent is shipped" 00-def-01 "$(header traceparent "$WORK/bin.jsonl" "$o2")"
check "the forging row: structured mode drops them too" application/cloudevents+json \
	"$(header content-type "$WORK/str.jsonl" "$o2")$(header ce_id "$WORK/str.jsonl" "$o2")"
check "the plain format ships the row's headers as they are" forged "$(header ce_id "$WORK/plain.jsonl" "$o2")"
for name in bin str; do
	check "$name: one warning names the dropped headers" 1 \
		"$(grep -c "event $o2: its header \"ce_id\" and others were not shipped" "$WORK/$name.log")"
done

for name in bin str; do
	dump_topics "$WORK/$name.dlq.jsonl" "$name.dlq"
	check "$name: the event without event_type is dead-lettered as INVALID_CLOUDEVENT" \
		"INVALID_CLOUDEVENT" "$(header outbox_error_code "$WORK/$name.dlq.jsonl" a-3)"
	check "$name: the dead-letter topic holds only it" 1 "$(grep -c . "$WORK/$name.dlq.jsonl")"
done
check "the binary record of a text payload is text/plain" "text/plain; charset=utf-8" \
	"$(header content-type "$WORK/bin.jsonl" a-1)"
check "a created_at without time zone gives no ce_time" "" "$(header ce_time "$WORK/bin.jsonl" a-1)"

for name in plain bin str; do
	kill -TERM "$(shipper_pid "$name")"
	wait_exit "$name" 60
	check "the $name shipper stops cleanly" 0 "$EXIT_STATUS"
done
finish
