#!/usr/bin/env bash
# outbox_pg demo: a throwaway PostgreSQL with the extension, events
# published from SQL (a table row and outbox.emit()), and the stream read
# the way the shipper reads it, printed as it arrives.  Leaves nothing
# running.
#
#   scripts/demo.sh        (make demo)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
make -s
make -s install >/dev/null

work=$(mktemp -d /tmp/outbox_pg_demo.XXXXXX)
recv_pid=
cleanup() {
	[ -n "$recv_pid" ] && kill "$recv_pid" 2>/dev/null && wait "$recv_pid" 2>/dev/null
	tests/helpers/pg.sh stop "$work/pg" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

echo "== starting PostgreSQL (wal_level=logical, output_plugin_libraries includes outbox_pg)"
tests/helpers/pg.sh start "$work/pg" >/dev/null
eval "$(tests/helpers/pg.sh env "$work/pg")"
psql -qX -c "CREATE EXTENSION outbox_pg"
pg_recvlogical -d postgres --slot demo --create-slot -P outbox_pg

echo "== streaming the slot with pg_recvlogical -P outbox_pg (one JSON object per event)"
pg_recvlogical -d postgres --slot demo --start -s 1 -f - &
recv_pid=$!

echo "== publishing: an order and its lines in one transaction, a table row and outbox.emit()"
psql -qX <<'SQL'
CREATE TABLE orders (id int PRIMARY KEY, total numeric);
BEGIN;
INSERT INTO orders VALUES (42, 19.90);
SELECT outbox.publish('order', '42', 'OrderCreated', '{"id": 42, "total": 19.90}',
	'{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}') IS NOT NULL AS published;
SELECT outbox.emit('order', '42', 'OrderLineAdded', '{"sku": "A-1", "qty": 2}') IS NOT NULL AS emitted;
COMMIT;
UPDATE orders SET total = 21.00;   -- not an event: nothing is emitted
SELECT outbox.publish('customer', 'c-7', 'CustomerRegistered', '{"name": "Ada"}') IS NOT NULL AS published;
SQL

# Wait until the three events have arrived, then stop.
lsn=$(psql -qXAt -c "SELECT pg_current_wal_insert_lsn()")
deadline=$((SECONDS + 30))
until [ "$(psql -qXAt -c "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 'demo'")" = t ]; do
	[ $SECONDS -lt $deadline ] || { echo "demo: events did not arrive within 30 s" >&2; exit 1; }
	sleep 0.2
done
echo "== slot state (outbox.slots)"
psql -qX -c "SELECT slot_name, active, confirmed_flush_lsn, retained_wal_bytes, lag_bytes FROM outbox.slots"
kill "$recv_pid"; wait "$recv_pid" 2>/dev/null || true; recv_pid=
pg_recvlogical -d postgres --slot demo --drop-slot
echo "== done; everything stopped"
