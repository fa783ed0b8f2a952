#!/usr/bin/env bash
# PostgreSQL 17+ failover slots: a failover under load that the shipper
# lives through by itself.  A primary and a physical standby that
# synchronizes failover slots (sync_replication_slots), the primary
# waiting for that standby before logical walsenders send anything
# (synchronized_standby_slots).  The shipper creates its slot as a failover
# slot and streams with both servers in its connection string; the
# standby is promoted and the old primary killed while writers publish
# (table rows and outbox.emit(), 4 clients, 200 aggregates).  Checks: the
# shipper carries on from the synced slot (no slot created, no replay),
# nothing missing, emitted events included, per-aggregate order, Kafka
# holds nothing the new primary does not have; duplicates and the seconds
# from promotion to the first delivery from the new primary are printed.
# The failure modes: a slot that was not a failover slot (missing after
# promotion), a standby asked to create a slot it should synchronize, a
# synced slot on a standby, an invalidated synced slot: each refused,
# naming the fix, and no slot created.
#
# Needs PostgreSQL 17 or later: tests/major.sh 17 and 18 run it (it is not
# executable, so tests/run.sh on the default 15 does not):
#   PG_BINDIR=$(scripts/pg-major.sh fetch 17)/bin PATH=$PG_BINDIR:$PATH bash tests/e2e/relay_failover_slots.sh
set -uo pipefail
source "$(dirname "$0")/lib.sh"
require_major 17 "failover slots"
started_at=$SECONDS
e2e_setup
STANDBY=$WORK/standby
trap '"$PG_SH" stop "$STANDBY" >/dev/null 2>&1; e2e_cleanup' EXIT
PRIMARY_SOCK=$PGHOST
PRIMARY_PORT=$PGPORT
BOTH="host=$PRIMARY_SOCK,$STANDBY/sock port=$PRIMARY_PORT,__STANDBY_PORT__ user=postgres dbname=postgres target_session_attrs=read-write"

start_standby "$STANDBY" standby1 \
	"primary_conninfo = 'host=127.0.0.1 port=$PRIMARY_PORT user=postgres dbname=postgres application_name=standby1'" \
	"primary_slot_name = 'standby1'" "hot_standby_feedback = on" "sync_replication_slots = on"
check "a standby that synchronizes failover slots is cloned" 0 $?
BOTH=${BOTH/__STANDBY_PORT__/$STANDBY_PORT}
psql -qX -c "ALTER SYSTEM SET synchronized_standby_slots = 'standby1'" -c "SELECT pg_reload_conf()" >/dev/null
standby() { psql_at "$STANDBY" "$@"; }
slot_on_standby() {	# slot_on_standby SLOT COLUMN: a column of the standby's copy
	standby -c "SELECT $2 FROM pg_replication_slots WHERE slot_name = '$1'"
}
# synced_past SLOT LSN: the standby holds a persistent synced copy of SLOT
# confirmed at least up to LSN.
synced_past() {
	[ "$(slot_on_standby "$1" "synced AND NOT temporary AND confirmed_flush_lsn >= '$2'")" = t ]
}

# A failover slot that will be invalidated (WAL removed) on the primary
# and synced as invalidated, before the shipper's slot exists.
psql -qX -c "SELECT pg_create_logical_replication_slot('doomed', 'outbox_pg', false, false, true)" >/dev/null
# The standby keeps a synced slot temporary until the primary's has moved
# past a consistent point it can reach: move it along.
doomed_synced() {
	psql -qX -c "SELECT pg_replication_slot_advance('doomed', pg_current_wal_lsn())" \
		-c "SELECT pg_log_standby_snapshot()" >/dev/null
	synced_past doomed 0/0
}
wait_for "slot doomed to be synced" 60 doomed_synced
psql -qX -c "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'" -c "SELECT pg_reload_conf()" >/dev/null
for i in 1 2 3 4; do
	psql -qX -c "SELECT outbox.publish('filler', '1', 'x', '{}')" -c "SELECT pg_switch_wal()" >/dev/null
done
physical_caught_up() {
	[ "$(psql -qXAt -c "SELECT restart_lsn >= pg_current_wal_lsn() FROM pg_replication_slots WHERE slot_name = 'standby1'")" = t ]
}
wait_for "the standby to receive the switched WAL" 60 physical_caught_up
psql -qX -c "CHECKPOINT" >/dev/null
check "slot doomed is invalidated on the primary" wal_removed \
	"$(psql -qXAt -c "SELECT invalidation_reason FROM pg_replication_slots WHERE slot_name = 'doomed'")"
psql -qX -c "ALTER SYSTEM RESET max_slot_wal_keep_size" -c "SELECT pg_reload_conf()" >/dev/null
invalidated_on_standby() { [ -n "$(slot_on_standby doomed invalidation_reason)" ]; }
wait_for "the standby's copy of doomed to be invalidated" 60 invalidated_on_standby
check "... and its synced copy on the standby" wal_removed "$(slot_on_standby doomed invalidation_reason)"
psql -qX -c "DELETE FROM outbox.events WHERE aggregate_type = 'filler'" >/dev/null

emitting_writers		# the table "emitted", the view all_events, load()

# The shipper creates its slot as a failover slot.
start_shipper shipper -d "$BOTH"
wait_for "the shipper to stream" 30 grep -q 'streaming slot "outbox_pg"' "$WORK/shipper.log"
check "the start line says it created a failover slot" 1 \
	"$(grep -c "streaming slot \"outbox_pg\" (created) on $PRIMARY_SOCK:.*; a failover slot$" "$WORK/shipper.log")"
check "the slot is a failover slot on the primary" t \
	"$(psql -qXAt -c "SELECT failover FROM pg_replication_slots WHERE slot_name = 'outbox_pg'")"
check "no warning about synchronized_standby_slots: it is set" 0 "$(grep -c 'synchronized_standby_slots is empty' "$WORK/shipper.log")"

# A second shipper on an ordinary slot, to its own topic: warned about it.
psql -qX -c "SELECT pg_create_logical_replication_slot('plain', 'outbox_pg')" >/dev/null
start_shipper shipper_plain -d "$BOTH" -S plain --no-create-slot -t 'plain.{aggregate_type}'
wait_for "the plain shipper to stream" 30 grep -q 'streaming slot "plain"' "$WORK/shipper_plain.log"
check "its start line says it is not a failover slot" 1 \
	"$(grep -c 'streaming slot "plain" on .*; not a failover slot$' "$WORK/shipper_plain.log")"
check "... with a warning naming the fix" 1 \
	"$(grep -c 'slot "plain" is not a failover slot: a standby promoted after a failover will not have it.*ALTER_REPLICATION_SLOT plain (FAILOVER true)' "$WORK/shipper_plain.log")"

# Refused on the standby, before any promotion.  (A shipper that tried
# to create the slot there would wait for the primary: hence the timeout.)
timeout 60 "$SHIPPER" -d "host=$STANDBY/sock port=$STANDBY_PORT user=postgres dbname=postgres" -b "$BROKERS" \
	-S fresh --create-slot >"$WORK/fresh.log" 2>&1
check "a shipper asked to create a slot on a syncing standby exits 1" 1 $?
check "... saying why and what to do" 1 \
	"$(grep -c 'replication slot "fresh" does not exist on standby .*sync_replication_slots = on): not creating it here.*HINT: Stream from the primary' "$WORK/fresh.log")"
check "... and creates nothing there" 0 "$(standby -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'fresh'")"

load 60
emitted_over() { [ "$(psql -qXAt -c "SELECT count(*) > $1 FROM emitted")" = t ]; }
wait_for "events to flow" 30 emitted_over 200
check "events flow" 0 $?
lsn=$(current_lsn)
wait_for "the shipper to confirm under load" 60 confirmed_reached "$lsn"
wait_for "the standby to sync the slot past that" 60 synced_past outbox_pg "$lsn"
check "the slot is synced on the standby under load" 0 $?
timeout 60 "$SHIPPER" -d "host=$STANDBY/sock port=$STANDBY_PORT user=postgres dbname=postgres" -b "$BROKERS" \
	>"$WORK/on-standby.log" 2>&1
check "a shipper pointed at the synced copy on the standby exits 1" 1 $?
check "... saying to point it at the primary" 1 \
	"$(grep -c 'replication slot "outbox_pg" on standby .* is a failover slot synchronized from the primary.*target_session_attrs=read-write' "$WORK/on-standby.log")"
wait_for "more writes" 60 emitted_over 1500

# Failover: the primary dies under load, the standby is promoted.
"$PG_SH" kill "$WORK/pg"
promoted_at=$(date +%s.%N)
as_postgres pg_ctl -D "$STANDBY/data" promote -w >/dev/null
check "the standby is promoted" 0 $?
wait "$LOAD_PID"				# its clients lost their connections: fine
export PGHOST=$STANDBY/sock PGPORT=$STANDBY_PORT
first_lsn=$(psql -qXAt -c "SELECT outbox.publish('order', '1', 'first-after-promotion', '{}')" \
	-c "SELECT pg_current_wal_insert_lsn()" | tail -n 1)
load 10
wait_for "the shipper to deliver from the new primary" 120 confirmed_reached "$first_lsn"
check "the shipper delivers from the new primary" 0 $?
first_delivery=$(python3 -c "import time; print('%.1f' % (time.time() - $promoted_at))")
wait "$LOAD_PID"
wait_for "the shipper to catch up on the new primary" 120 confirmed_reached "$(current_lsn)"
check "it caught up on the new primary" 0 $?

check "the same shipper process still runs" 0 "$(kill -0 "$(shipper_pid shipper)" 2>/dev/null; echo $?)"
check "it streamed again on the new primary, from the existing slot" 1 \
	"$(grep -c "streaming slot \"outbox_pg\" on $STANDBY/sock:$STANDBY_PORT/postgres as postgres (system [0-9]*, timeline 2).*; a failover slot$" "$WORK/shipper.log")"
check "it created no slot after the first" 1 "$(grep -c '(created)' "$WORK/shipper.log")"
check "it said the timeline changed" 1 \
	"$(grep -c 'PostgreSQL is on timeline 2, was 1 (a promotion or a restore)' "$WORK/shipper.log")"
check "the new primary's slot is the synced one" "t|t" \
	"$(psql -qXAt -c "SELECT synced, failover FROM pg_replication_slots WHERE slot_name = 'outbox_pg'")"
check "nothing was replayed" 0 "$(grep -c 'replay' "$WORK/shipper.log")"
check "the shipper logged no error" 0 "$(grep -c ' error: ' "$WORK/shipper.log")"

dump_topics "$WORK/records.jsonl" outbox.event.order
check_verified "across the failover: nothing missing, emitted included, exact records, per-aggregate order, nothing Kafka has that the new primary lacks" \
	"$WORK/records.jsonl" --table all_events --expect-duplicates
events=$(sed -nE 's/.*events=([0-9]+).*/\1/p' <<<"$VERIFY_OUT")
check "events were emitted on both primaries" t \
	"$(psql -qXAt -c "SELECT count(*) FILTER (WHERE at_lsn < '$first_lsn') > 500 AND count(*) FILTER (WHERE at_lsn > '$first_lsn') > 200 FROM emitted")"
check "at least 100 aggregates" t "$(psql -qXAt -c "SELECT count(DISTINCT aggregate_id) >= 100 FROM all_events")"

# The failure modes after the promotion.
wait_exit shipper_plain 60
check "the shipper of the ordinary slot exits 1 after the failover" 1 "$EXIT_STATUS"
check "... saying the slot is missing and why" 1 \
	"$(grep -c 'replication slot "plain" does not exist on .*but this shipper streamed from it.*Not creating it.*HINT: Create the slot.*On PostgreSQL 17 and later a promoted standby has the slot if it was a failover slot synchronized there before the promotion' "$WORK/shipper_plain.log")"
check "... and creates nothing" 0 "$(psql -qXAt -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'plain'")"
timeout 60 "$SHIPPER" -d "$BOTH" -b "$BROKERS" -S doomed --create-slot >"$WORK/doomed.log" 2>&1
check "a shipper on the invalidated synced slot exits 1" 1 $?
check "... saying it is invalidated and what to do" 1 \
	"$(grep -c 'replication slot "doomed" on .* is invalidated (wal_removed).*Not creating another.*HINT: Drop and create the slot, then ship what it missed with outbox.replay' "$WORK/doomed.log")"
check "... and creates nothing" "wal_removed" \
	"$(psql -qXAt -c "SELECT string_agg(invalidation_reason, ',') FROM pg_replication_slots WHERE slot_name = 'doomed'")"

kill -TERM "$(shipper_pid shipper)"
wait_exit shipper 60
check "the shipper stops cleanly" 0 "$EXIT_STATUS"
echo "# PostgreSQL $(server_major) failover: events=$events $(grep -oE 'missing=[0-9]+ duplicates=[0-9]+' <<<"$VERIFY_OUT") seconds_from_promotion_to_first_delivery=$first_delivery run_time=$((SECONDS - started_at))s"
finish
