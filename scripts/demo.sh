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
cleanup() {
	[ -n "$consumer_pid" ] && kill "$consumer_pid" 2>/dev/null
	[ -n "$shipper_pid" ] && kill -TERM "$shipper_pid" 2>/dev/null && wait "$shipper_pid" 2>/dev/null
	tests/helpers/kafka.sh stop "$work/kafka" >/dev/null 2>&1
	tests/helpers/pg.sh stop "$work/pg" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

echo "== starting PostgreSQL (wal_level=logical, outbox_pg in output_plugin_libraries)"
tests/helpers/pg.sh start "$work/pg" >/dev/null
eval "$(tests/helpers/pg.sh env "$work/pg")"
psql -qX -d postgres -c "CREATE EXTENSION outbox_pg"

echo "== starting Apache Kafka (KRaft, jars from Maven Central)"
brokers=$(tests/helpers/kafka.sh start "$work/kafka")
echo "   $brokers"

echo "== starting outbox-shipper"
shipper/outbox-shipper -d "host=$PGHOST port=$PGPORT user=postgres dbname=postgres" \
	-b "$brokers" --status-interval 1 2>"$work/shipper.log" &
shipper_pid=$!
deadline=$((SECONDS + 30))
until grep -q 'streaming slot' "$work/shipper.log"; do
	[ $SECONDS -lt $deadline ] || { cat "$work/shipper.log"; echo "demo: the shipper did not start" >&2; exit 1; }
	sleep 0.2
done

echo "== publishing from SQL"
psql -qX -d postgres <<'SQL'
CREATE TABLE orders (id int PRIMARY KEY, total numeric);
BEGIN;
INSERT INTO orders VALUES (42, 19.90);
SELECT outbox.publish('order', '42', 'OrderCreated', '{"id": 42, "total": 19.90}',
	'{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}') IS NOT NULL AS published;
SELECT outbox.emit('order', '42', 'OrderLineAdded', '{"sku": "A-1", "qty": 2}') IS NOT NULL AS emitted;
COMMIT;
UPDATE orders SET total = 21.00;   -- not an event: nothing is shipped
SELECT outbox.publish('customer', 'c-7', 'CustomerRegistered', '{"name": "Ada"}') IS NOT NULL AS published;
SQL

# The shipper confirms a position only once Kafka has acknowledged every
# event before it: wait for that, then read the records back.
lsn=$(psql -qXAt -d postgres -c "SELECT pg_current_wal_insert_lsn()")
deadline=$((SECONDS + 30))
until [ "$(psql -qXAt -d postgres -c "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots")" = t ]; do
	[ $SECONDS -lt $deadline ] || { cat "$work/shipper.log"; echo "demo: the slot was not confirmed" >&2; exit 1; }
	sleep 0.2
done
echo "== Kafka records, read back with kcat (topic | partition | key | headers | value)"
for topic in outbox.event.order outbox.event.customer; do
	timeout 60 kcat -C -b "$brokers" -t "$topic" -o beginning -e -q \
		-f '%t | %p | %k | %h | %s\n'
done
echo "== the slot after delivery (outbox.slots)"
psql -qX -d postgres -c "SELECT slot_name, active, confirmed_flush_lsn, lag_bytes FROM outbox.slots"

echo "== stopping"
kill -TERM "$shipper_pid"
wait "$shipper_pid" && echo "   shipper exited 0"
shipper_pid=
echo "== done; everything stopped"
