#!/usr/bin/env bash
# A PostgreSQL that stops answering without closing anything, against a
# real PostgreSQL and a real Kafka:
#   1. the walsender frozen (SIGSTOP) under load, as a partition or a proxy
#      that stopped forwarding looks from the shipper: found within the
#      silence limit (wal_sender_timeout, set for the shipper alone in its
#      connection string), then the shipper takes the slot back once it is
#      free; nothing missing;
#   2. no false alarm: a transaction of 1.5 million rows of another table,
#      which takes the walsender longer than the silence limit to decode
#      while sending nothing, passes without a reconnect;
#   3. slot creation waiting for a running transaction: /healthz stays
#      fresh, SIGTERM ends the wait at once, and the server cancels it;
#   4. a server that accepts connections and never answers: the attempt
#      times out and is retried, /healthz stays fresh, SIGTERM is honoured.
# Runs in about 2 minutes.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
e2e_setup
emitting_writers

LIMIT_S=3
SILENT_CONNINFO="$CONNINFO options='-c wal_sender_timeout=${LIMIT_S}s'"
HTTP_PORT=$(free_port)

# Seconds, with a fraction, since the epoch.
now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
le() { [ "$(echo "$1 <= $2" | bc)" = 1 ] && echo t || echo f; }
lines() { grep -c "$1" "$WORK/$2.log"; }

# healthz_age PORT: how long ago the main loop turned, from /healthz.
healthz_age() {
	curl -s --max-time 5 "http://127.0.0.1:$1/healthz" |
		sed -n 's/^ok: the main loop turned \([0-9.]*\) s ago.*/\1/p'
}

# max_healthz_age PORT SAMPLES: the largest age over SAMPLES tenths of a
# second; 999 if /healthz did not say ok.
max_healthz_age() {
	local i age max=0
	for ((i = 0; i < $2; i++)); do
		age=$(healthz_age "$1")
		[ -n "$age" ] || age=999
		[ "$(le "$age" "$max")" = t ] || max=$age
		sleep 0.1
	done
	echo "$max"
}

# 1. The walsender frozen under load.
psql -qXAt -c "SELECT 1 FROM pg_create_logical_replication_slot('outbox_pg', 'outbox_pg')" >/dev/null
start_shipper shipper -d "$SILENT_CONNINFO" --http-listen "127.0.0.1:$HTTP_PORT"
wait_for "the shipper to stream" 30 slot_is_active t
load 30
confirmed_past() { [ "$(psql -qXAt -c "SELECT confirmed_flush_lsn > '$1' FROM pg_replication_slots WHERE slot_name = 'outbox_pg'")" = t ]; }
before=$(slot_confirmed)
wait_for "the shipper to confirm under load" 30 confirmed_past "$before"
walsender=$(psql -qXAt -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'outbox_pg'")
kill -STOP "$walsender"
frozen_at=$(now)
wait_for "the shipper to find the silent link" 30 grep -q "no message from PostgreSQL for" "$WORK/shipper.log"
found=$(elapsed "$frozen_at")
echo "# silent link found after $found s (silence limit ${LIMIT_S} s)"
check "the silent link is found within the silence limit and 2 s" t "$(le "$found" $((LIMIT_S + 2)))"
# The frozen walsender still holds the slot: the shipper waits for it.
wait_for "the shipper to wait for the slot" 30 grep -q "waiting for slot" "$WORK/shipper.log"
check "the shipper waits for the frozen walsender's slot" 0 $?
kill -CONT "$walsender"
thawed_at=$(now)
wait_for "the shipper to take the slot back" 60 grep -q "is free now: taking over" "$WORK/shipper.log"
check "the shipper streams again once the slot is free" 0 $?
echo "# streaming again $(elapsed "$thawed_at") s after the walsender was thawed"
wait "$LOAD_PID"
wait_for "the shipper to catch up" 120 confirmed_reached "$(current_lsn)"
check "after the silent link: the slot caught up" 0 $?
dump_topics "$WORK/silent.jsonl" outbox.event.order
check_verified "after the silent link: no event missing, per-aggregate order" \
	"$WORK/silent.jsonl" --table all_events --expect-duplicates

# 2. A long decode is not silence.
psql -qX -c "CREATE TABLE bulk (id int, pad text)" >/dev/null
lost_before=$(lines "replication connection lost" shipper)
psql -qX -c "INSERT INTO bulk SELECT g, 'x' FROM generate_series(1, 1500000) g" >/dev/null
committed_at=$(now)
psql -qXAt -c "SELECT outbox.publish('order', 'bulk', 'after_bulk', '{}')" >/dev/null
wait_for "the event after the bulk transaction" 120 confirmed_reached "$(current_lsn)"
check "the event after the bulk transaction is delivered and confirmed" 0 $?
decoded=$(elapsed "$committed_at")
echo "# the bulk transaction took $decoded s to decode and ship past (silence limit ${LIMIT_S} s)"
check "the bulk transaction took longer than the silence limit (else this proves nothing)" \
	t "$(le $((LIMIT_S + 1)) "$decoded")"
check "no reconnect while the walsender decoded it" "$lost_before" "$(lines "replication connection lost" shipper)"
kill -TERM "$(shipper_pid shipper)"
wait_exit shipper 60
check "the shipper stops cleanly" 0 "$EXIT_STATUS"

# 3. Slot creation waits for a running transaction.
psql -qX -c "BEGIN; SELECT txid_current(); SELECT pg_sleep(120)" >/dev/null 2>&1 &
blocker=$!
wait_for "the blocking transaction" 10 test "$(psql -qXAt -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(120)%' AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()")" = 1
HTTP_PORT=$(free_port)
start_shipper creator --slot slow --http-listen "127.0.0.1:$HTTP_PORT"
wait_for "slot creation to start" 30 test "$(psql -qXAt -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'slow'")" = 1
age=$(max_healthz_age "$HTTP_PORT" 20)
echo "# while the slot is being created, the main loop turned at most $age s before a /healthz"
check "/healthz stays fresh while the slot is being created" t "$(le "$age" 1)"
kill -TERM "$(shipper_pid creator)"
stopped_at=$(now)
wait_exit creator 60
check "SIGTERM during slot creation: exit status 0" 0 "$EXIT_STATUS"
took=$(elapsed "$stopped_at")
echo "# SIGTERM during slot creation: exited after $took s"
check "SIGTERM during slot creation ends the wait within 3 s" t "$(le "$took" 3)"
wait_for "the server to cancel the creation" 10 test "$(psql -qXAt -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'slow'")" = 0
check "the cancelled creation left no slot" 0 $?
kill "$blocker" 2>/dev/null
psql -qXAt -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(120)%' AND pid <> pg_backend_pid()" >/dev/null

# 4. A server that accepts and never answers.
HOLE_PORT=$(free_port)
timeout 120 python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
held = []
while True:
    held.append(s.accept()[0])
' "$HOLE_PORT" &
hole=$!
wait_for "the black hole to listen" 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $HOLE_PORT)).close()"
HTTP_PORT=$(free_port)
start_shipper hole -d "host=127.0.0.1 port=$HOLE_PORT user=postgres dbname=postgres" \
	--http-listen "127.0.0.1:$HTTP_PORT"
wait_for "the shipper's HTTP server" 10 healthz_age "$HTTP_PORT"
age=$(max_healthz_age "$HTTP_PORT" 30)
echo "# while connecting to the black hole, the main loop turned at most $age s before a /healthz"
check "/healthz stays fresh while a connection attempt hangs" t "$(le "$age" 1)"
wait_for "the attempt to time out" 30 grep -q "no answer from 127.0.0.1:$HOLE_PORT within connect_timeout" "$WORK/hole.log"
check "a server that never answers: the attempt times out, named" 0 $?
grep -q "retrying in" "$WORK/hole.log"
check "... and is retried" 0 $?
kill -TERM "$(shipper_pid hole)"
stopped_at=$(now)
wait_exit hole 60
took=$(elapsed "$stopped_at")
echo "# SIGTERM while connecting: exited after $took s"
check "SIGTERM while connecting: exit within 3 s" t "$(le "$took" 3)"
kill "$hole" 2>/dev/null
finish
