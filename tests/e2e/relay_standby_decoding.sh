#!/usr/bin/env bash
# PostgreSQL 16+ logical decoding on a standby: the shipper creates its
# slot on a hot standby (hot_standby_feedback = on, a physical slot on the
# primary) and ships what writers publish on the primary (table rows and
# outbox.emit(), 4 clients, 200 aggregates).
#   - Creating the slot waits for a running-transactions record from the
#     primary: while a transaction stays open there, it cannot finish; the
#     shipper gives up after half its --stall-timeout, says why and what
#     helps (pg_log_standby_snapshot() on the primary), and tries again.
#   - Then the standby is promoted (the primary stopped): the slot lives on
#     on the promoted server, and the shipper goes on from it without
#     creating another: nothing missing, per-aggregate order, duplicates
#     and seconds from promotion to the first delivery printed.
#
# Needs PostgreSQL 16 or later: tests/major.sh 16, 17 and 18 run it (it is
# not executable, so tests/run.sh on the default 15 does not):
#   PG_BINDIR=$(scripts/pg-major.sh fetch 16)/bin PATH=$PG_BINDIR:$PATH bash tests/e2e/relay_standby_decoding.sh
set -uo pipefail
source "$(dirname "$0")/lib.sh"
require_major 16 "logical decoding on a standby"
started_at=$SECONDS
e2e_setup
STANDBY=$WORK/standby
trap 'kill "${HOLDER_PID:-}" 2>/dev/null; "$PG_SH" stop "$STANDBY" >/dev/null 2>&1; e2e_cleanup' EXIT
PRIMARY_PORT=$PGPORT
# primary_conninfo spelt out: pg_basebackup -R writes every option its own
# libpq knows, which an older libpq loaded by the server may refuse.
start_standby "$STANDBY" standby1 "hot_standby_feedback = on" \
	"primary_conninfo = 'host=127.0.0.1 port=$PRIMARY_PORT user=postgres dbname=postgres application_name=standby1'"
check "a standby with a physical slot and hot_standby_feedback is cloned" 0 $?
STANDBY_CONNINFO="host=$STANDBY/sock port=$STANDBY_PORT user=postgres dbname=postgres"
standby() { psql_at "$STANDBY" "$@"; }
standby_replayed() { [ "$(standby -c "SELECT pg_last_wal_replay_lsn() >= '$1'")" = t ]; }

emitting_writers		# the table "emitted", the view all_events, load()

# A transaction holding an xid on the primary: no running-transactions
# record can show a consistent point while it is open.
psql -qX -c "BEGIN" -c "SELECT txid_current()" -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
HOLDER_PID=$!
holder_open() { [ "$(psql -qXAt -c "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)' AND backend_xid IS NOT NULL")" = 1 ]; }
wait_for "a transaction to stay open on the primary" 30 holder_open
wait_for "the standby to replay up to now" 30 standby_replayed "$(current_lsn)"

start_shipper shipper -d "$STANDBY_CONNINFO" --stall-timeout 10
wait_for "the shipper to give up creating the slot once" 30 \
	grep -q 'did not finish within 5 s' "$WORK/shipper.log"
check "it said what it waits for" 1 \
	"$(grep -m 1 -c "creating replication slot \"outbox_pg\" on standby $STANDBY/sock:$STANDBY_PORT/postgres as postgres: PostgreSQL waits for a running-transactions record from the primary.*pg_log_standby_snapshot().*waiting at most 5 s" "$WORK/shipper.log")"
check "it gave up after 5 s, saying why, and retries" 1 \
	"$(grep -m 1 -c 'warning: creating replication slot "outbox_pg" on .* did not finish within 5 s (half of --stall-timeout): the standby has not yet replayed a running-transactions record from its primary.*HINT: Run SELECT pg_log_standby_snapshot() on the primary.*; retrying in' "$WORK/shipper.log")"
check "the shipper keeps running meanwhile" 0 "$(kill -0 "$(shipper_pid shipper)" 2>/dev/null; echo $?)"

# The transaction ends; a running-transactions record now lets it finish.
kill "$HOLDER_PID" 2>/dev/null
psql -qX -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)'" >/dev/null
wait "$HOLDER_PID" 2>/dev/null
created() {
	psql -qX -c "SELECT pg_log_standby_snapshot()" >/dev/null
	grep -q 'streaming slot "outbox_pg" (created)' "$WORK/shipper.log"
}
wait_for "the slot to be created on the standby" 60 created
check "the shipper created the slot on the standby and streams" 1 \
	"$(grep -c "streaming slot \"outbox_pg\" (created) on $STANDBY/sock:$STANDBY_PORT/postgres .*timeline 1.*; decoding on a standby$" "$WORK/shipper.log")"
check "the slot is on the standby, not on the primary" "1 0" \
	"$(standby -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'outbox_pg'") $(psql -qXAt -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'outbox_pg'")"

# Writers on the primary; the shipper on the standby delivers and confirms.
load 15
wait "$LOAD_PID"
lsn=$(current_lsn)
standby_confirmed() {
	[ "$(standby -c "SELECT confirmed_flush_lsn >= '$1' FROM pg_replication_slots WHERE slot_name = 'outbox_pg'")" = t ]
}
wait_for "the standby's slot to confirm everything written" 120 standby_confirmed "$lsn"
check "the shipper on the standby confirmed everything written on the primary" 0 $?
dump_topics "$WORK/before.jsonl" outbox.event.order
check_verified "decoded on the standby: nothing missing, emitted included, exact records, per-aggregate order" \
	"$WORK/before.jsonl" --table all_events
standby_events=$(sed -nE 's/.*events=([0-9]+).*/\1/p' <<<"$VERIFY_OUT")

# Promotion: the slot survives on the promoted server.
"$PG_SH" stop "$WORK/pg"
promoted_at=$(date +%s.%N)
as_postgres pg_ctl -D "$STANDBY/data" promote -w >/dev/null
check "the standby is promoted" 0 $?
export PGHOST=$STANDBY/sock PGPORT=$STANDBY_PORT
first_lsn=$(psql -qXAt -c "SELECT outbox.publish('order', '1', 'first-after-promotion', '{}')" \
	-c "SELECT pg_current_wal_insert_lsn()" | tail -n 1)
load 5
wait_for "the shipper to deliver from the promoted server" 120 confirmed_reached "$first_lsn"
check "the shipper delivers from the promoted server" 0 $?
first_delivery=$(python3 -c "import time; print('%.1f' % (time.time() - $promoted_at))")
wait "$LOAD_PID"
wait_for "the shipper to catch up" 120 confirmed_reached "$(current_lsn)"
check "it caught up on the promoted server" 0 $?
check "the slot survived the promotion" "outbox_pg|outbox_pg" \
	"$(psql -qXAt -c "SELECT slot_name, plugin FROM pg_replication_slots WHERE slot_name = 'outbox_pg'")"
check "the same shipper process still runs" 0 "$(kill -0 "$(shipper_pid shipper)" 2>/dev/null; echo $?)"
check "it created no other slot" 1 "$(grep -c '(created)' "$WORK/shipper.log")"
check "the shipper logged no error" 0 "$(grep -c ' error: ' "$WORK/shipper.log")"
dump_topics "$WORK/records.jsonl" outbox.event.order
check_verified "across the promotion: nothing missing, emitted included, exact records, per-aggregate order" \
	"$WORK/records.jsonl" --table all_events --expect-duplicates
events=$(sed -nE 's/.*events=([0-9]+).*/\1/p' <<<"$VERIFY_OUT")
check "at least 100 aggregates" t "$(psql -qXAt -c "SELECT count(DISTINCT aggregate_id) >= 100 FROM all_events")"

kill -TERM "$(shipper_pid shipper)"
wait_exit shipper 60
check "the shipper stops cleanly" 0 "$EXIT_STATUS"
echo "# PostgreSQL $(server_major) standby decoding: events=$events (before promotion $standby_events) $(grep -oE 'missing=[0-9]+ duplicates=[0-9]+' <<<"$VERIFY_OUT") seconds_from_promotion_to_first_delivery=$first_delivery run_time=$((SECONDS - started_at))s"
finish
