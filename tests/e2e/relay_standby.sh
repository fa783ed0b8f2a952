#!/usr/bin/env bash
# Two shippers on one slot: exactly one streams, the other waits and
# takes over when the first is killed; nothing is lost.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
e2e_setup

start_shipper first
wait_for "the first shipper to stream" 30 grep -q 'streaming slot' "$WORK/first.log"
start_shipper second
wait_for "the second shipper to wait" 30 grep -q 'waiting for slot "outbox_pg"' "$WORK/second.log"
check "the second shipper says why it waits" 1 "$(grep -c 'waiting for slot "outbox_pg": .*active for PID' "$WORK/second.log")"
check "exactly one walsender streams the slot" 1 \
	"$(psql -qXAt -c "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'outbox-shipper'")"

psql -qX -c "SELECT outbox.publish('order', (i % 10)::text, 'before', '{}') FROM generate_series(1, 50) i" >/dev/null
wait_for "the first shipper to confirm" 60 confirmed_reached "$(current_lsn)"
check "the standby shipped nothing while waiting" 0 "$(grep -c 'streaming slot' "$WORK/second.log")"

kill -KILL "$(shipper_pid first)"
wait_for "the second shipper to take over" 60 grep -q 'streaming slot' "$WORK/second.log"
check "the standby took over after the kill" 0 $?
psql -qX -c "SELECT outbox.publish('order', (i % 10)::text, 'after', '{}') FROM generate_series(1, 50) i" >/dev/null
wait_for "the second shipper to confirm" 60 confirmed_reached "$(current_lsn)"
check "the standby confirmed everything" 0 $?
dump_topics "$WORK/records.jsonl" outbox.event.order
check_verified "nothing missing across the takeover" "$WORK/records.jsonl" --expect-duplicates
kill -TERM "$(shipper_pid second)"
wait_exit second 60
check "the standby stops cleanly" 0 "$EXIT_STATUS"
finish
