#!/usr/bin/env bash
# outbox_pg demo, end to end: a throwaway PostgreSQL with the extension, a
# real Kafka broker (KRaft), the shipper, events published from SQL (table
# rows and outbox.emit()), and the Kafka records printed as they arrive.
# Stops everything it started; can be run again at once.  Every way it can
# fail ends with a "demo: ..." line saying why, and exit status 1; every
# wait has a deadline.
#
#   scripts/demo.sh        (make demo)
#
# DEMO_INSTALL=0 uses the plugin and extension already installed instead
# of installing them (tests/e2e/demo.sh, after tests/run.sh installed them).
set -eEuo pipefail
cd "$(dirname "$0")/.."

# fail MESSAGE: the reason, last, and exit 1.
fail() {
	trap - ERR
	echo "demo: $*" >&2
	exit 1
}
# Whatever else fails under set -e says which command it was (once: in a
# command substitution the trap only exits, and the main shell says it).
trap 'status=$?; [ "$BASHPID" = $$ ] || exit $status; fail "line $LINENO: \"$BASH_COMMAND\" failed (exit $status)"' ERR

scripts/install-deps.sh
make -s
[ "${DEMO_INSTALL:-1}" = 0 ] || make -s install >/dev/null

work=$(mktemp -d /tmp/outbox_pg_demo.XXXXXX)
shipper_pid=
consumer_pid=
printed=0

# stop_process PID SIGNAL SECONDS: SIGNAL, then SIGKILL after SECONDS;
# returns the process's exit status (137 when killed).
stop_process() {
	local pid=$1 deadline=$((SECONDS + $3)) status=0
	kill "-$2" "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || kill -KILL "$pid" 2>/dev/null || true
		sleep 0.1
	done
	wait "$pid" 2>/dev/null || status=$?
	return "$status"
}
cleanup() {
	trap - ERR
	set +e
	[ -n "$consumer_pid" ] && stop_process "$consumer_pid" TERM 5
	[ -n "$shipper_pid" ] && stop_process "$shipper_pid" TERM 30
	tests/helpers/kafka.sh stop "$work/kafka" >/dev/null 2>&1
	tests/helpers/pg.sh stop "$work/pg" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
metrics_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# show_logs: what the consumer and the shipper said, before a failure.
show_logs() {
	echo "-- kcat (the consumer):"
	cat "$work/kcat.log" 2>/dev/null || true
	echo "-- the shipper:"
	cat "$work/shipper.log" 2>/dev/null || true
}

# show_new_records: prints the records the consumer has written whole
# (newline-ended) since the last call.
show_new_records() {
	local count
	count=$(wc -l <"$work/records.txt")
	[ "$count" -gt "$printed" ] || return 0
	sed -n "$((printed + 1)),${count}p" "$work/records.txt"
	printed=$count
}

# wait_records N: prints the records as they come, until there are N (or
# 30 s).
wait_records() {
	local deadline=$((SECONDS + 30))
	show_new_records
	until [ "$printed" -ge "$1" ]; do
		if ! kill -0 "$consumer_pid" 2>/dev/null; then
			show_logs
			fail "the consumer (kcat) exited (its log above)"
		fi
		if [ $SECONDS -ge $deadline ]; then
			show_logs
			fail "$1 records did not arrive within 30 s (logs above)"
		fi
		sleep 0.2
		show_new_records
	done
}

# slot_confirmed LSN: whether the slot has confirmed LSN.
slot_confirmed() {
	[ "$(psql -qXAt -d postgres -c "SELECT confirmed_flush_lsn >= '$1' FROM pg_replication_slots")" = t ]
}

echo "== starting PostgreSQL (wal_level=logical, outbox_pg in output_plugin_libraries)"
tests/helpers/pg.sh start "$work/pg" >/dev/null
eval "$(tests/helpers/pg.sh env "$work/pg")"
psql -qX -v ON_ERROR_STOP=1 -d postgres -c "CREATE EXTENSION outbox_pg"

echo "== starting Apache Kafka (KRaft, jars from Maven Central)"
brokers=$(tests/helpers/kafka.sh start "$work/kafka")
echo "   $brokers"

echo "== creating the topics (3 partitions each) and a consumer that prints records as they arrive"
for topic in outbox.event.order outbox.event.customer; do
	tests/helpers/kafka.sh create-topic "$work/kafka" "$topic" 3 >/dev/null
done
echo "   topic | partition | key | headers | value"
# The file exists before the consumer runs, for wait_records to read; the
# consumer reads from the beginning, so records produced before it has
# joined its group are not lost.
: >"$work/records.txt"
kcat -C -b "$brokers" -G outbox-demo outbox.event.order outbox.event.customer -o beginning -q -u \
	-X auto.offset.reset=earliest -f '   %t | %p | %k | %h | %s\n' >>"$work/records.txt" 2>"$work/kcat.log" &
consumer_pid=$!

echo "== starting outbox-shipper (metrics on 127.0.0.1:$metrics_port)"
shipper/outbox-shipper -d "host=$PGHOST port=$PGPORT user=postgres dbname=postgres" \
	-b "$brokers" --create-slot --status-interval 1 --http-listen "127.0.0.1:$metrics_port" 2>"$work/shipper.log" &
shipper_pid=$!
deadline=$((SECONDS + 30))
until grep -q 'streaming slot' "$work/shipper.log"; do
	kill -0 "$shipper_pid" 2>/dev/null || { show_logs; fail "the shipper exited at start (its log above)"; }
	[ $SECONDS -lt $deadline ] || { show_logs; fail "the shipper did not stream within 30 s (its log above)"; }
	sleep 0.2
done

echo "== publishing from SQL: an order with a table event and an emitted one, in one transaction"
psql -qX -v ON_ERROR_STOP=1 -d postgres <<'SQL'
CREATE TABLE orders (id int PRIMARY KEY, total numeric);
BEGIN;
INSERT INTO orders VALUES (42, 19.90);
SELECT outbox.publish('order', '42', 'OrderCreated', '{"id": 42, "total": 19.90}',
	'{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}') IS NOT NULL AS published;
SELECT outbox.emit('order', '42', 'OrderLineAdded', '{"sku": "A-1", "qty": 2}') IS NOT NULL AS emitted;
COMMIT;
UPDATE orders SET total = 21.00;   -- not an event: nothing is shipped
SQL
wait_records 2
echo "== publishing a customer event, and one in a transaction that rolls back (never shipped)"
psql -qX -v ON_ERROR_STOP=1 -d postgres <<'SQL'
SELECT outbox.publish('customer', 'c-7', 'CustomerRegistered', '{"name": "Ada"}') IS NOT NULL AS published;
BEGIN;
SELECT outbox.publish('customer', 'c-8', 'CustomerRegistered', '{"name": "Bob"}') IS NOT NULL AS published;
ROLLBACK;
SQL
wait_records 3

# The shipper confirms a position only once Kafka has acknowledged every
# event before it.
lsn=$(psql -qXAt -d postgres -c "SELECT pg_current_wal_insert_lsn()")
deadline=$((SECONDS + 30))
until slot_confirmed "$lsn"; do
	[ $SECONDS -lt $deadline ] || { show_logs; fail "the slot did not confirm $lsn within 30 s (logs above)"; }
	sleep 0.2
done
show_new_records
[ "$printed" = 3 ] || { show_logs; fail "the consumer got $printed records, not 3 (logs above)"; }
echo "== the slot after delivery (outbox.slots)"
psql -qX -d postgres -c "SELECT slot_name, active, confirmed_flush_lsn, lag_bytes, pending_events FROM outbox.slots"
echo "== the shipper's /metrics (excerpt), /readyz and /healthz"
url=http://127.0.0.1:$metrics_port
metrics=$(curl -sS --max-time 10 "$url/metrics") || fail "could not read $url/metrics (curl above)"
excerpt=$(grep -E '^outbox_shipper_(events_shipped_total|inflight_events|slot_lag_bytes|state\{state="streaming"\}|last_delivered_commit_age_seconds)' <<<"$metrics") ||
	fail "$url/metrics lacks the shipper's metrics; it says: $(head -c 300 <<<"$metrics")"
sed 's/^/   /' <<<"$excerpt"
readyz=$(curl -sS --max-time 10 "$url/readyz") || fail "could not read $url/readyz (curl above)"
healthz=$(curl -sS --max-time 10 "$url/healthz") || fail "could not read $url/healthz (curl above)"
echo "   /readyz: $readyz"
echo "   /healthz: $healthz"

echo "== stopping"
status=0
stop_process "$shipper_pid" TERM 60 || status=$?
shipper_pid=
[ "$status" = 0 ] || { show_logs; fail "the shipper exited $status on SIGTERM (its log above)"; }
echo "   shipper exited 0"
echo "== done; everything stopped"
