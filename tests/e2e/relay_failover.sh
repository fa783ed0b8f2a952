#!/usr/bin/env bash
# Failover on PostgreSQL 15, which does not carry logical slots to a
# standby: the documented procedure loses nothing.  A primary with a
# streaming standby; the shipper (multi-host conninfo, --no-create-slot)
# ships batch A, is down while batch B commits (and reaches the standby);
# the primary dies and the standby is promoted.  The shipper then refuses
# to start without its slot (no silent gap); the operator creates the slot
# and replays events since the last delivered commit time; every event of A
# and B is in Kafka (A's replayed ones twice, same ids).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
e2e_setup "wal_keep_size = '256MB'"
trap '"$PG_SH" stop "$WORK/standby" >/dev/null 2>&1; e2e_cleanup' EXIT

PRIMARY_PORT=$PGPORT
STANDBY=$WORK/standby
start_standby "$STANDBY"
check "a streaming standby is cloned" 0 $?
check "the standby is in recovery" t \
	"$(psql -qXAt -h "$STANDBY/sock" -p "$STANDBY_PORT" -c "SELECT pg_is_in_recovery()")"

# Both servers in one conninfo: libpq picks the one that accepts writes.
FAILOVER_CONNINFO="host=127.0.0.1,127.0.0.1 port=$PRIMARY_PORT,$STANDBY_PORT user=postgres dbname=postgres target_session_attrs=read-write"
psql -qX -c "SELECT pg_create_logical_replication_slot('outbox_pg', 'outbox_pg')" >/dev/null
HTTP_PORT=$(free_port)
start_shipper before -d "$FAILOVER_CONNINFO" --no-create-slot --http-listen "127.0.0.1:$HTTP_PORT"
wait_for "the shipper to stream" 30 grep -q 'streaming slot' "$WORK/before.log"
psql -qX -c "SELECT outbox.publish('order', (i % 7)::text, 'A', jsonb_build_object('i', i)) FROM generate_series(1, 100) i" >/dev/null
wait_for "batch A to be confirmed" 60 confirmed_reached "$(current_lsn)"
last_commit=$(metric "$HTTP_PORT" outbox_shipper_last_delivered_commit_timestamp_seconds)
check "the shipper reports the last delivered commit time" 1 "$([ -n "$last_commit" ] && echo 1)"
kill -TERM "$(shipper_pid before)"
wait_exit before 60
check "the shipper stops cleanly" 0 "$EXIT_STATUS"

# Batch B commits while no shipper runs, and reaches the standby.
psql -qX -c "SELECT outbox.publish('order', (i % 7)::text, 'B', jsonb_build_object('i', i)) FROM generate_series(1, 100) i" >/dev/null
primary_lsn=$(current_lsn)
standby_caught_up() {
	[ "$(psql -qXAt -h "$STANDBY/sock" -p "$STANDBY_PORT" -c "SELECT pg_last_wal_replay_lsn() >= '$primary_lsn'")" = t ]
}
wait_for "the standby to replay batch B" 60 standby_caught_up
check "batch B is on the standby" 0 $?

# Failover: the primary dies, the standby is promoted.
"$PG_SH" kill "$WORK/pg"
as_postgres pg_ctl -D "$STANDBY/data" promote -w >/dev/null
export PGHOST=$STANDBY/sock PGPORT=$STANDBY_PORT
check "the standby is promoted" f "$(psql -qXAt -c "SELECT pg_is_in_recovery()")"
check "PostgreSQL 15 did not carry the slot over" 0 \
	"$(psql -qXAt -c "SELECT count(*) FROM pg_replication_slots")"

out=$(timeout 60 "$SHIPPER" -d "$FAILOVER_CONNINFO" -b "$BROKERS" --no-create-slot 2>&1); status=$?; echo "$out" >"$WORK/noslot.out"
check "without its slot the shipper refuses to start (exit 1)" 1 "$status"
check "... naming the slot, on the new primary" 1 \
	"$(echo "$out" | grep -c "replication slot \"outbox_pg\" does not exist on 127.0.0.1:$STANDBY_PORT/postgres as postgres (system [0-9]*, timeline 2) HINT: .*After a failover")"

# The documented procedure: create the slot, replay since the last
# delivered commit time minus the longest transaction (here 1 minute).
psql -qX -c "SELECT pg_create_logical_replication_slot('outbox_pg', 'outbox_pg')" >/dev/null
replayed=$(psql -qXAt -c "SELECT outbox.replay(since => to_timestamp($last_commit) - interval '1 minute')")
check "replay re-emits every stored event since then (A and B)" 200 "$replayed"
start_shipper after -d "$FAILOVER_CONNINFO" --no-create-slot
wait_for "the shipper to stream from the new primary" 30 grep -q 'streaming slot' "$WORK/after.log"
wait_for "the replayed events to be confirmed" 60 confirmed_reached "$(current_lsn)"
check "confirmed on the new primary" 0 $?
dump_topics "$WORK/records.jsonl" outbox.event.order
check_verified "every event of A and B is in Kafka after the failover" "$WORK/records.jsonl" --expect-duplicates
check "batch B (never shipped before the failover) delivered exactly once" 100 \
	"$(python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    h = dict(zip(r["headers"][0::2], r["headers"][1::2]))
    n += h["event_type"] == "B"
print(n)' "$WORK/records.jsonl")"
kill -TERM "$(shipper_pid after)"
wait_exit after 60
check "the shipper stops cleanly on the new primary" 0 "$EXIT_STATUS"
finish
