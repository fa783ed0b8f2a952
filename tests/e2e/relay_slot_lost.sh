#!/usr/bin/env bash
# A slot that disappears under a running shipper (dropped by someone, or a
# failover to a server without it) is never created again by the shipper:
# a new slot would start at the current WAL position and silently lose
# every event committed since the last confirmation.  The shipper exits 1
# naming the server, its timeline and the recovery; the events written
# meanwhile stay in the table for outbox.replay().
set -uo pipefail
source "$(dirname "$0")/lib.sh"
e2e_setup

start_shipper shipper
wait_for "the shipper to stream" 30 grep -q 'streaming slot "outbox_pg" (created)' "$WORK/shipper.log"
psql -qX -c "SELECT outbox.publish('order', (i % 5)::text, 'A', '{}') FROM generate_series(1, 20) i" >/dev/null
wait_for "batch A to be confirmed" 60 confirmed_reached "$(current_lsn)"

# Someone drops the slot: its walsender is terminated first (an active
# slot cannot be dropped); the shipper may grab it again in between, so
# both are retried until the drop succeeds.
drop_slot() {
	psql -qXAt -c "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'outbox_pg' AND active" >/dev/null
	psql -qX -c "SELECT pg_drop_replication_slot('outbox_pg')" >/dev/null 2>&1
}
kill -STOP "$(shipper_pid shipper)"
wait_for "the slot to be dropped" 30 drop_slot
check "the slot is gone" 0 "$(psql -qXAt -c "SELECT count(*) FROM pg_replication_slots")"
# Events committed while there is no slot: no slot will ever decode them.
psql -qX -c "SELECT outbox.publish('order', (i % 5)::text, 'B', '{}') FROM generate_series(1, 30) i" >/dev/null
kill -CONT "$(shipper_pid shipper)"

wait_exit shipper 60
check "the shipper exits 1 instead of creating a new slot" 1 "$EXIT_STATUS"
check "no slot was created" 0 "$(psql -qXAt -c "SELECT count(*) FROM pg_replication_slots")"
sysid=$(psql -qXAt -c "SELECT system_identifier FROM pg_control_system()")
check "the error names the server, its timeline and the last confirmed position" 1 \
	"$(grep -c "error: replication slot \"outbox_pg\" does not exist on $PGHOST:$PGPORT/postgres as postgres (system $sysid, timeline 1), but this shipper streamed from it (system $sysid, timeline 1) and confirmed up to [0-9A-F]*/[0-9A-F]*: .*Not creating it" "$WORK/shipper.log")"
check "... and the recovery: create the slot, replay" 1 \
	"$(grep -c "HINT: Create the slot (SELECT pg_create_logical_replication_slot('outbox_pg', 'outbox_pg')), ship what it missed with outbox.replay(since => " "$WORK/shipper.log")"
check "the shipper did not say it created a slot a second time" 1 \
	"$(grep -c 'streaming slot "outbox_pg" (created)' "$WORK/shipper.log")"

# A new process without --create-slot does not create it either.
out=$(timeout 60 "$SHIPPER" -d "$CONNINFO" -b "$BROKERS" 2>&1); status=$?; echo "$out" >"$WORK/restart.out"
check "a restarted shipper (default --no-create-slot) exits 1" 1 "$status"
check "... saying how to create the slot" 1 \
	"$(echo "$out" | grep -c "replication slot \"outbox_pg\" does not exist on .* (system $sysid, timeline 1) HINT: Create it (SELECT pg_create_logical_replication_slot('outbox_pg', 'outbox_pg')), or start the shipper with --create-slot")"
check "still no slot" 0 "$(psql -qXAt -c "SELECT count(*) FROM pg_replication_slots")"
finish
