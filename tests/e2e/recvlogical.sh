#!/usr/bin/env bash
# The plugin read with plain pg_recvlogical: one JSON object per line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/outbox_recvlogical.XXXXXX)
passed=0 failed=0
cleanup() {
	"$here/../helpers/pg.sh" stop "$work/pg" || true
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

"$here/../helpers/pg.sh" start "$work/pg" >/dev/null
eval "$("$here/../helpers/pg.sh" env "$work/pg")"
psql -qX -c "CREATE EXTENSION outbox_pg" -c "CREATE TABLE other (n int)"

pg_recvlogical -d postgres --slot recv --create-slot -P outbox_pg
psql -qX <<'SQL'
INSERT INTO other VALUES (1);
BEGIN;
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload)
VALUES ('00000000-0000-0000-0000-000000000001', 'order', '1', 'created', '{"line": "a\nb"}');
SELECT outbox.emit('order', '1', 'emitted', '{"x": [1, 2]}') IS NOT NULL AS emitted;
COMMIT;
UPDATE other SET n = 2;
INSERT INTO outbox.events (id, aggregate_type, aggregate_id, event_type, payload)
VALUES ('00000000-0000-0000-0000-000000000002', 'order', '2', 'created', 'null');
SQL
endpos=$(psql -qXAt -c "SELECT pg_current_wal_insert_lsn()")

# Over the replication protocol, with an option passed through.
timeout 60 pg_recvlogical -d postgres --slot recv --start --endpos "$endpos" \
	--no-loop -o include-xid=false -f "$work/out.jsonl"

check "one line per event" 3 "$(wc -l <"$work/out.jsonl")"
check "every line is a compact JSON object" 3 \
	"$(python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    obj = json.loads(line)
    if json.dumps(obj, separators=(",", ":"), ensure_ascii=False) == line and "xid" not in obj:
        n += 1
print(n)' "$work/out.jsonl")"
check "events in commit order with transaction boundaries" \
	"created:0:False emitted:1:True created:0:True" \
	"$(python3 -c '
import json, sys
print(" ".join("%s:%d:%s" % (o["event_type"], o["seq"], o.get("last", False))
               for o in map(json.loads, open(sys.argv[1]))))' "$work/out.jsonl")"
check "the payload keeps its newline" 'a
b' "$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["payload"]["line"])' "$work/out.jsonl")"

# Bad options fail at start, naming the option.
if timeout 30 pg_recvlogical -d postgres --slot recv --start --endpos "$endpos" --no-loop \
	-o nosuch=1 -f /dev/null 2>"$work/err"; then
	check "an unknown option is refused" refused accepted
else
	check "an unknown option is refused" 1 "$(grep -c 'outbox_pg option "nosuch" is unknown' "$work/err")"
fi

# A walsender streaming across DROP EXTENSION and CREATE EXTENSION ships
# what is published afterwards (it used to remember that outbox.tables was
# gone and confirm past those events).
pg_recvlogical -d postgres --slot recv --start -f "$work/live.jsonl" &
recv_pid=$!
psql -qX -c "DROP EXTENSION outbox_pg CASCADE" -c "INSERT INTO other VALUES (3)" \
	-c "CREATE EXTENSION outbox_pg" \
	-c "SELECT outbox.publish('order', '3', 'after-recreate', '{}')" \
	-c "SELECT outbox.emit('order', '3', 'emitted-after-recreate', '{}')" >/dev/null
deadline=$((SECONDS + 60))
until [ "$(grep -c 'after-recreate' "$work/live.jsonl" 2>/dev/null)" -ge 2 ] || [ $SECONDS -ge $deadline ]; do
	sleep 0.2
done
kill -INT "$recv_pid"; wait "$recv_pid" || true
check "events published after DROP and CREATE EXTENSION reach a running walsender" \
	"after-recreate emitted-after-recreate" \
	"$(python3 -c '
import json, sys
print(" ".join(o["event_type"] for o in map(json.loads, open(sys.argv[1])) if "rejected" not in o))' "$work/live.jsonl")"

pg_recvlogical -d postgres --slot recv --drop-slot
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
