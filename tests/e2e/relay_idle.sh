#!/usr/bin/env bash
# An idle outbox while another table churns: the shipper confirms the
# server's position, so the slot retains almost no WAL (a slot nobody
# reads retains all of it).  No heartbeat table.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
e2e_setup

psql -qX -c "CREATE TABLE churn (id int PRIMARY KEY, n bigint, pad text)" \
	-c "INSERT INTO churn SELECT i, 0, repeat('x', 200) FROM generate_series(1, 1000) i" >/dev/null
psql -qXAt -c "SELECT 1 FROM pg_create_logical_replication_slot('unread', 'outbox_pg')" >/dev/null
start_shipper shipper
wait_for "the shipper to stream" 30 grep -q 'streaming slot' "$WORK/shipper.log"

cat >"$WORK/churn.sql" <<'SQL'
\set id random(1, 1000)
UPDATE churn SET n = n + 1 WHERE id = :id;
SQL
pgbench -n -c 2 -j 2 -t 20000 -f "$WORK/churn.sql" >"$WORK/pgbench.log" 2>&1
retained() {
	psql -qXAt -c "SELECT retained_wal_bytes FROM outbox.slots WHERE slot_name = '$1'"
}
# restart_lsn moves at the running-transactions records a checkpoint writes
small_retention() {
	psql -qX -c "CHECKPOINT" >/dev/null
	[ "$(retained outbox_pg)" -lt 1048576 ]
}
wait_for "the slot's retained WAL to drop under 1 MB" 60 small_retention
check "the shipper's slot retains under 1 MB" 0 $?
unread=$(retained unread)
echo "# retained: shipper's slot $(retained outbox_pg) bytes, unread slot $unread bytes"
check "the unread slot retains the churn (over 10 MB)" t "$([ "$unread" -gt 10485760 ] && echo t || echo f)"
check "the shipper shipped nothing" 0 "$(timeout 10 kcat -L -b "$BROKERS" 2>/dev/null | grep -c 'topic "outbox.event')"
psql -qXAt -c "SELECT pg_drop_replication_slot('unread')" >/dev/null
kill -TERM "$(shipper_pid shipper)"
wait_exit shipper 60
check "the shipper stops cleanly" 0 "$EXIT_STATUS"
finish
