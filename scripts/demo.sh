#!/usr/bin/env bash
# outbox_pg demo, end to end: a throwaway PostgreSQL with the extension, a
# real Kafka broker (KRaft), the shipper, events published from SQL (table
# rows and outbox.emit()), and the Kafka records printed as they arrive.
# Stops everything it started; can be run again at once.
#
#   scripts/demo.sh        (make demo)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
make -s
make -s install >/dev/null

work=$(mktemp -d /tmp/outbox_pg_demo.XXXXXX)
shipper_pid=
consumer_pid=
tail_pid=
cleanup() {
	set +e
	[ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
	[ -n "$consumer_pid" ] && kill -KILL "$consumer_pid" 2>/dev/null && wait "$consumer_pid" 2>/dev/null
	[ -n "$shipper_pid" ] && kill -TERM "$shipper_pid" 2>/dev/null && wait "$shipper_pid" 2>/dev/null
	tests/helpers/kafka.sh stop "$work/kafka" >/dev/null 2>&1
	tests/helpers/pg.sh stop "$work/pg" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
metrics_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# wait_records N: until the consumer has printed N records (or 30 s).
wait_records() {
	local deadline=$((SECONDS + 30))
	until [ "$(wc -l <"$work/records.txt")" -ge "$1" ]; do
		[ $SECONDS -lt $deadline ] || { cat "$work/kcat.log" "$work/shipper.log"; echo "demo: records did not arrive" >&2; exit 1; }
		sleep 0.2
	done
}

echo "== starting PostgreSQL (wal_level=logical, outbox_pg in output_plugin_libraries)"
tests/helpers/pg.sh start "$work/pg" >/dev/null
eval "$(tests/helpers/pg.sh env "$work/pg")"
psql -qX -d postgres -c "CREATE EXTENSION outbox_pg"

echo "== starting Apache Kafka (KRaft, jars from Maven Central)"
brokers=$(tests/helpers/kafka.sh start "$work/kafka")
echo "   $brokers"

echo "== creating the topics (3 partitions each) and a consumer that prints records as they arrive"
for topic in outbox.event.order outbox.event.customer; do
	tests/helpers/kafka.sh create-topic "$work/kafka" "$topic" 3 >/dev/null
done
echo "   topic | partition | key | headers | value"
kcat -C -b "$brokers" -G outbox-demo outbox.event.order outbox.event.customer -o beginning -q -u \
	-X auto.offset.reset=earliest -f '   %t | %p | %k | %h | %s\n' >"$work/records.txt" 2>"$work/kcat.log" &
consumer_pid=$!
tail -n +1 -f "$work/records.txt" --pid=$$ &
tail_pid=$!

echo "== starting outbox-shipper (metrics on 127.0.0.1:$metrics_port)"
shipper/outbox-shipper -d "host=$PGHOST port=$PGPORT user=postgres dbname=postgres" \
	-b "$brokers" --create-slot --status-interval 1 --http-listen "127.0.0.1:$metrics_port" 2>"$work/shipper.log" &
shipper_pid=$!
deadline=$((SECONDS + 30))
until grep -q 'streaming slot' "$work/shipper.log"; do
	[ $SECONDS -lt $deadline ] || { cat "$work/shipper.log"; echo "demo: the shipper did not start" >&2; exit 1; }
	sleep 0.2
done

echo "== publishing from SQL: an order with a table event and an emitted one, in one transaction"
psql -qX -d postgres <<'SQL'
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
psql -qX -d postgres <<'SQL'
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
until [ "$(psql -qXAt -d postgres -c "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots")" = t ]; do
	[ $SECONDS -lt $deadline ] || { cat "$work/shipper.log"; echo "demo: the slot was not confirmed" >&2; exit 1; }
	sleep 0.2
done
kill "$tail_pid" 2>/dev/null
echo "== the slot after delivery (outbox.slots)"
psql -qX -d postgres -c "SELECT slot_name, active, confirmed_flush_lsn, lag_bytes, pending_events FROM outbox.slots"
echo "== the shipper's /metrics (excerpt), /readyz and /healthz"
curl -s "http://127.0.0.1:$metrics_port/metrics" |
	grep -E '^outbox_shipper_(events_shipped_total|inflight_events|slot_lag_bytes|state\{state="streaming"\}|last_delivered_commit_age_seconds)' |
	sed 's/^/   /'
echo "   /readyz: $(curl -s "http://127.0.0.1:$metrics_port/readyz")"
echo "   /healthz: $(curl -s "http://127.0.0.1:$metrics_port/healthz")"

echo "== stopping"
kill -TERM "$shipper_pid"
wait "$shipper_pid" && echo "   shipper exited 0"
shipper_pid=
echo "== done; everything stopped"
