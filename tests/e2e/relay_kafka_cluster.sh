#!/usr/bin/env bash
# Broker failures in a real Kafka cluster, as users run it: 3 brokers (and
# one dedicated KRaft controller), a topic with replication factor 3 and
# min.insync.replicas=2, the shipper's defaults (idempotent, acks=all),
# writers on 200 aggregates throughout:
#   1. kill -9 of the leader of partition 0: a new leader is elected,
#      librdkafka's idempotent sequence carries over: nothing missing,
#      per-aggregate order intact; prints the recovery time.
#   2. two brokers stopped (1 in-sync replica < 2: NOT_ENOUGH_REPLICAS):
#      the shipper retries and never exits, confirms nothing from the first
#      undelivered event on, says so in /metrics and /readyz and in one log
#      line, and resumes when one broker returns; prints the recovery time.
# Runtime on the 2-core dev box: 64-72 s (the cluster starts in 10-18 s).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

TOPIC=outbox.event.order
NODES=3
WORK=$(mktemp -d /tmp/outbox_e2e.XXXXXX)
trap e2e_cleanup EXIT			# its "kafka.sh stop" stops a whole cluster
"$PG_SH" start "$WORK/pg" >/dev/null
eval "$("$PG_SH" env "$WORK/pg")"
export PGDATABASE=postgres
CONNINFO="host=$PGHOST port=$PGPORT user=postgres dbname=postgres"
started=$SECONDS
BROKERS=$("$KAFKA_SH" cluster-start "$WORK/kafka" $NODES) || exit 1
echo "# a controller and $NODES brokers ready in $((SECONDS - started)) s: $BROKERS"
"$KAFKA_SH" create-topic "$WORK/kafka" "$TOPIC" 3 min.insync.replicas=2 || exit 1
psql -qX -c "CREATE EXTENSION outbox_pg" >/dev/null

cat >"$WORK/writer.sql" <<'SQL'
\set agg random(1, 200)
SELECT outbox.publish('order', :agg::text, 'step', jsonb_build_object('client', :client_id));
SQL
load() {	# load SECONDS: ~200 events/s from 2 writers, in the background
	pgbench -n -c 2 -j 2 -T "$1" -R 200 -f "$WORK/writer.sql" >>"$WORK/pgbench.log" 2>&1 &
	LOAD_PID=$!
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
confirmed_past() {
	[ "$(psql -qXAt -c "SELECT confirmed_flush_lsn > '$1' FROM pg_replication_slots WHERE slot_name = 'outbox_pg'")" = t ]
}
leader_is_not() {	# leader_is_not NODE: partition 0 has another leader
	local leader
	leader=$("$KAFKA_SH" leader "$WORK/kafka" "$TOPIC" 0) && [ "$leader" != "$1" ] && [ "$leader" != -1 ]
}
isr_size_is() {	# isr_size_is N: every partition has N in-sync replicas
	local p isr
	for p in 0 1 2; do
		isr=$("$KAFKA_SH" isr "$WORK/kafka" "$TOPIC" "$p") || return 1
		[ "$(tr , '\n' <<<"$isr" | grep -c .)" = "$1" ] || return 1
	done
}
readyz() { curl -s --max-time 5 -w ' %{http_code}' "http://127.0.0.1:$HTTP_PORT/readyz" | tr -d '\n'; }
readyz_is() { [ "$(readyz)" = "$1" ]; }
metric_is() { [ "$(metric "$HTTP_PORT" "$1")" = "$2" ]; }
shipper_alive() { kill -0 "$(shipper_pid shipper)" 2>/dev/null; }

HTTP_PORT=$(free_port)
start_shipper shipper --http-listen "127.0.0.1:$HTTP_PORT"
wait_for "the shipper to stream" 30 slot_is_active t
wait_for "/readyz to say ready" 30 readyz_is "ready: streaming; Kafka reachable 200"
check "with 3 brokers /readyz is ready" "ready: streaming; Kafka reachable 200" "$(readyz)"
check "with 3 brokers no partition is below min.insync.replicas" 0 \
	"$(metric "$HTTP_PORT" outbox_shipper_kafka_partitions_below_min_isr)"

# 1. kill -9 the leader of partition 0 under load.
load 25
before=$(slot_confirmed)
wait_for "the shipper to confirm under load" 30 confirmed_past "$before"
sleep 3							# mid-load: records in flight on every partition
leader=$("$KAFKA_SH" leader "$WORK/kafka" "$TOPIC" 0)
led=$(for p in 0 1 2; do [ "$("$KAFKA_SH" leader "$WORK/kafka" "$TOPIC" $p)" = "$leader" ] && echo -n "$p "; done)
at_kill=$(current_lsn)
killed_at=$(now)
"$KAFKA_SH" node-kill "$WORK/kafka" "$leader"
wait_for "a new leader of partition 0" 30 leader_is_not "$leader"
check "a new leader of partition 0 was elected" 0 $?
elected_at=$(now)
wait_for "deliveries to resume past the kill" 60 confirmed_reached "$at_kill"
check "deliveries resumed after the leader's kill -9" 0 $?
resumed_at=$(now)
echo "# leader kill -9 (node $leader, leader of partitions $led): new leader in $(elapsed "$killed_at" "$elected_at") s, slot confirmed past the kill position $(elapsed "$killed_at" "$resumed_at") s after the kill"
check "the shipper kept running through the election" 0 "$(shipper_alive; echo $?)"
"$KAFKA_SH" node-restart "$WORK/kafka" "$leader" >/dev/null
wait "$LOAD_PID"
wait_for "the shipper to catch up" 60 confirmed_reached "$(current_lsn)"
check "after the leader's kill: the slot caught up" 0 $?
dump_topics "$WORK/after-kill.jsonl" "$TOPIC"
check_verified "after the leader's kill -9: no event missing, per-aggregate order intact" \
	"$WORK/after-kill.jsonl" --expect-duplicates
check "no fatal producer error (idempotent sequence carried over)" 0 \
	"$(grep -ci 'fatal' "$WORK/shipper.log")"

# 2. Two brokers stopped: one in-sync replica, min.insync.replicas 2.
wait_for "the restarted broker to rejoin every ISR" 60 isr_size_is 3
check "all 3 replicas in sync again" 0 $?
keep=$((leader % NODES + 1))	# a broker that was not killed: any would do
log_lines_before=$(grep -c . "$WORK/shipper.log")
for node in $(seq 1 $NODES); do
	[ "$node" = "$keep" ] || "$KAFKA_SH" node-stop "$WORK/kafka" "$node"
done
wait_for "every ISR to shrink to one replica" 30 isr_size_is 1
check "two brokers stopped: one replica in sync" 0 $?
# Everything before was confirmed (caught up above, nothing written since):
# the marker is the first undelivered event.
psql -qX -c "SELECT outbox.publish('order', 'marker', 'first-undelivered', '{}')" >/dev/null
after_marker=$(current_lsn)
load 15
wait_for "the metric to count 3 partitions refusing writes" 30 \
	metric_is outbox_shipper_kafka_partitions_below_min_isr 3
check "metric: 3 partitions below min.insync.replicas" 3 \
	"$(metric "$HTTP_PORT" outbox_shipper_kafka_partitions_below_min_isr)"
refused="not ready: streaming; Kafka reachable; Kafka refuses writes (NOT_ENOUGH_REPLICAS): 3 partitions below min.insync.replicas, e.g. $TOPIC [0] has 1 in-sync replica, min.insync.replicas is 2 503"
check "/readyz: 503, Kafka refuses writes" "$refused" "$(readyz)"
held=$(slot_confirmed)
sleep 8							# the writers go on; nothing may be confirmed
check "below min ISR the confirmed position does not move" "$held" "$(slot_confirmed)"
check "the shipper keeps retrying, never exits" 0 "$(shipper_alive; echo $?)"
check "one warning about it, no log storm" 1 \
	"$(tail -n +"$((log_lines_before + 1))" "$WORK/shipper.log" | grep -c 'Kafka refuses writes (NOT_ENOUGH_REPLICAS): 3 partitions')"
echo "# log lines since the brokers stopped: $(($(grep -c . "$WORK/shipper.log") - log_lines_before))"

restart_at=$(now)
"$KAFKA_SH" node-restart "$WORK/kafka" "$((keep % NODES + 1))" >/dev/null
broker_up_at=$(now)
wait_for "deliveries to resume past the marker" 60 confirmed_reached "$after_marker"
check "deliveries resumed once a broker returned" 0 $?
resumed_at=$(now)
echo "# below min ISR: a broker restarted in $(elapsed "$restart_at" "$broker_up_at") s; the slot confirmed past the first undelivered event $(elapsed "$broker_up_at" "$resumed_at") s after it was up ($(elapsed "$restart_at" "$resumed_at") s after the restart began)"
wait_for "/readyz to be ready again" 15 readyz_is "ready: streaming; Kafka reachable 200"
check "/readyz ready again" "ready: streaming; Kafka reachable 200" "$(readyz)"
check "metric: no partition below min.insync.replicas" 0 \
	"$(metric "$HTTP_PORT" outbox_shipper_kafka_partitions_below_min_isr)"
grep -q 'Kafka accepts writes again' "$WORK/shipper.log"
check "the shipper said Kafka accepts writes again" 0 $?
wait "$LOAD_PID"
wait_for "the shipper to catch up" 60 confirmed_reached "$(current_lsn)"
check "after the outage: the slot caught up" 0 $?

dump_topics "$WORK/final.jsonl" "$TOPIC"
marker_lsn=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    h = r.get("headers") or []
    h = dict(zip(h[0::2], h[1::2]))
    if r.get("key") == "marker":
        print(h["outbox_commit_lsn"])
        break' "$WORK/final.jsonl")
check "while it was undelivered, nothing past the first undelivered event was confirmed" t \
	"$(psql -qXAt -c "SELECT '$held'::pg_lsn < '${marker_lsn:-0/0}'::pg_lsn")"
check_verified "after both faults: no event missing, exact records, per-aggregate order" \
	"$WORK/final.jsonl" --expect-duplicates
kill -TERM "$(shipper_pid shipper)"
wait_exit shipper 60
check "the shipper stops cleanly" 0 "$EXIT_STATUS"
echo "# runtime $SECONDS s"
finish
