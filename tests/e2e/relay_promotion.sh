#!/usr/bin/env bash
# A promotion the shipper lives through: an asynchronous standby that fell
# behind is promoted while the shipper runs (multi-host conninfo), and the
# slot is created on the new primary before the shipper reconnects (as
# failover automation would; the shipper itself never creates a slot after
# it has streamed).  The new timeline reuses WAL positions the shipper had
# already confirmed on the old one; events written there must still ship:
# the shipper forgets confirmations made on another timeline.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
e2e_setup "wal_keep_size = '256MB'"
trap '"$PG_SH" stop "$WORK/standby" >/dev/null 2>&1; e2e_cleanup' EXIT

STANDBY=$WORK/standby
PRIMARY_PORT=$PGPORT
start_standby "$STANDBY"
check "a streaming standby is cloned" 0 $?
standby_psql() { psql -qXAt -h "$STANDBY/sock" -p "$STANDBY_PORT" "$@"; }
# Conditions for wait_for, evaluated at every poll:
standby_replayed() { [ "$(standby_psql -c "SELECT pg_last_wal_replay_lsn() >= '$1'")" = t ]; }
no_wal_receiver() { [ "$(standby_psql -c "SELECT count(*) FROM pg_stat_wal_receiver")" = 0 ]; }
streamed_twice() { [ "$(grep -c 'streaming slot "outbox_pg"' "$WORK/shipper.log")" = 2 ]; }

CONNINFO_BOTH="host=127.0.0.1,127.0.0.1 port=$PRIMARY_PORT,$STANDBY_PORT user=postgres dbname=postgres target_session_attrs=read-write"
start_shipper shipper -d "$CONNINFO_BOTH"
wait_for "the shipper to stream" 30 grep -q 'streaming slot' "$WORK/shipper.log"
psql -qX -c "SELECT outbox.publish('order', (i % 5)::text, 'A', '{}') FROM generate_series(1, 50) i" >/dev/null
wait_for "batch A to be confirmed" 60 confirmed_reached "$(current_lsn)"
a_lsn=$(current_lsn)
wait_for "the standby to replay batch A" 60 standby_replayed "$a_lsn"

# The standby loses its primary; the primary goes on without it.
standby_psql -c "ALTER SYSTEM SET primary_conninfo = ''" -c "SELECT pg_reload_conf()" >/dev/null
wait_for "the standby's WAL receiver to stop" 30 no_wal_receiver
psql -qX -c "SELECT outbox.publish('order', (i % 5)::text, 'B', jsonb_build_object('pad', repeat('x', 2000))) FROM generate_series(1, 3000) i" >/dev/null
old_confirmed=$(current_lsn)
wait_for "batch B to be confirmed on the old primary" 60 confirmed_reached "$old_confirmed"

# Failover to the standby, which lacks batch B's WAL.  The shipper is
# paused meanwhile so that the slot exists when it reconnects.
kill -STOP "$(shipper_pid shipper)"
"$PG_SH" kill "$WORK/pg"
as_postgres pg_ctl -D "$STANDBY/data" promote -w >/dev/null
export PGHOST=$STANDBY/sock PGPORT=$STANDBY_PORT
psql -qX -c "SELECT pg_create_logical_replication_slot('outbox_pg', 'outbox_pg')" >/dev/null
kill -CONT "$(shipper_pid shipper)"
wait_for "the shipper to stream from the new primary" 60 streamed_twice
check "the shipper streams from the new primary" 0 $?
check "the shipper says the timeline changed" 1 \
	"$(grep -c 'PostgreSQL is on timeline 2, was 1 (a promotion or a restore): resuming from the slot' "$WORK/shipper.log")"
psql -qX -c "SELECT outbox.publish('order', (i % 5)::text, 'C', '{}') FROM generate_series(1, 20) i" >/dev/null
new_lsn=$(current_lsn)
check "batch C sits at positions confirmed on the old timeline" t \
	"$(psql -qXAt -c "SELECT '$new_lsn'::pg_lsn < '$old_confirmed'::pg_lsn")"
wait_for "batch C to be confirmed" 60 confirmed_reached "$new_lsn"
check "batch C is confirmed on the new primary" 0 $?
dump_topics "$WORK/records.jsonl" outbox.event.order
check "every event of batch C reached Kafka" 20 \
	"$(python3 -c '
import json, sys
ids = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    h = dict(zip(r["headers"][0::2], r["headers"][1::2]))
    if h["event_type"] == "C":
        ids.add(h["id"])
print(len(ids))' "$WORK/records.jsonl")"
check "... the ones in the new primary's table" 20 \
	"$(psql -qXAt -c "SELECT count(*) FROM outbox.events WHERE event_type = 'C'")"
kill -TERM "$(shipper_pid shipper)"
wait_exit shipper 60
check "the shipper stops cleanly" 0 "$EXIT_STATUS"
finish
