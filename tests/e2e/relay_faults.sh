#!/usr/bin/env bash
# Faults under load, against a real PostgreSQL and a real Kafka:
#   - kill -9 of the shipper, 5 times, then a final run: nothing missing;
#   - the Kafka broker killed and restarted: nothing missing, and while it
#     is down the slot's confirmed position does not move;
#   - PostgreSQL restarted: the shipper reconnects, nothing missing.
# Duplicates are expected (at-least-once) and reported.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
e2e_setup

cat >"$WORK/writer.sql" <<'SQL'
\set agg random(1, 200)
SELECT outbox.publish('order', :agg::text, 'step', jsonb_build_object('client', :client_id));
SQL
load() {	# load SECONDS: ~200 events/s in the background
	pgbench -n -c 2 -j 2 -T "$1" -R 200 -f "$WORK/writer.sql" >>"$WORK/pgbench.log" 2>&1 &
	LOAD_PID=$!
}

# 1. kill -9 the shipper five times under load.
# The slot first: what is written before it exists is not in it.
start_shipper shipper0
load 12
confirmed_past() { [ "$(psql -qXAt -c "SELECT confirmed_flush_lsn > '$1' FROM pg_replication_slots WHERE slot_name = 'outbox_pg'")" = t ]; }
for i in 1 2 3 4 5; do
	wait_for "shipper $((i - 1)) to stream" 30 test "$(slot_active)" = t
	# Kill it while it is shipping: once it has confirmed something new.
	before=$(slot_confirmed)
	wait_for "shipper $((i - 1)) to confirm under load" 30 confirmed_past "$before"
	sleep 0.5
	kill -KILL "$(shipper_pid shipper$((i - 1)))"
	wait_for "the slot to be released" 30 test "$(slot_active)" = f
	start_shipper shipper$i
done
wait "$LOAD_PID"
wait_for "the last shipper to catch up" 120 confirmed_reached "$(current_lsn)"
check "after 5 kill -9: the slot caught up" 0 $?
dump_topics "$WORK/after-kills.jsonl" outbox.event.order
check_verified "after 5 kill -9: no event missing" "$WORK/after-kills.jsonl" --expect-duplicates

# 2. Kafka down under load: nothing is confirmed while it is down.
load 10
sleep 1
"$KAFKA_SH" kill "$WORK/kafka"
sleep 2						# deliveries in flight at the kill have failed by now
before=$(slot_confirmed)
sleep 3						# writes go on; the shipper reads but cannot deliver
after=$(slot_confirmed)
check "while Kafka is down the confirmed position does not move" "$before" "$after"
check "the shipper keeps running while Kafka is down" 0 "$(kill -0 "$(shipper_pid shipper5)" 2>/dev/null; echo $?)"
"$KAFKA_SH" restart "$WORK/kafka" >/dev/null
wait "$LOAD_PID"
wait_for "the shipper to catch up after Kafka came back" 120 confirmed_reached "$(current_lsn)"
check "after the broker restart: the slot caught up" 0 $?

# 3. PostgreSQL restarted under load.
load 8
sleep 2
"$PG_SH" stop "$WORK/pg"
"$PG_SH" restart "$WORK/pg"
wait "$LOAD_PID"				# its clients lost their connections: fine
load 3
wait "$LOAD_PID"
wait_for "the shipper to reconnect and catch up" 120 confirmed_reached "$(current_lsn)"
check "after the PostgreSQL restart: the slot caught up" 0 $?
grep -q "reconnecting" "$WORK/shipper5.log"
check "the shipper logged the reconnect" 0 $?

dump_topics "$WORK/final.jsonl" outbox.event.order
check_verified "after every fault: no event missing, exact records, per-aggregate order" \
	"$WORK/final.jsonl" --expect-duplicates
kill -TERM "$(shipper_pid shipper5)"
wait_exit shipper5 60
check "the surviving shipper stops cleanly" 0 "$EXIT_STATUS"
finish
