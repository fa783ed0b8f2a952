#!/usr/bin/env bash
# The shipper against a real PostgreSQL and a real Kafka: concurrent
# writers, exact ids, keys, headers, values and per-aggregate order; then
# SIGTERM and a restart without duplicates.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
e2e_setup

start_shipper shipper
cat >"$WORK/writer.sql" <<'SQL'
\set agg random(1, 150)
\set n random(1, 2)
BEGIN;
SELECT outbox.publish(CASE WHEN :agg % 3 = 0 THEN 'customer' ELSE 'order' END, :agg::text,
	'step', jsonb_build_object('client', :client_id, 'n', 1.10, 'big', 12345678901234567890),
	jsonb_build_object('traceparent', '00-' || md5(random()::text) || '-01'))
FROM generate_series(1, :n);
COMMIT;
SQL
# 4 writers x 3400 transactions of 1 or 2 events: about 10,000 events
pgbench -n -c 4 -j 2 -t 3400 -f "$WORK/writer.sql" >"$WORK/pgbench.log" 2>&1
check "writers finished" 0 $?
target=$(current_lsn)
events=$(psql -qXAt -c "SELECT count(*) FROM outbox.events")
check "at least 10,000 events written" t "$([ "$events" -ge 10000 ] && echo t || echo f)"
wait_for "the slot to confirm every event" 120 confirmed_reached "$target"
check "the slot confirmed every event" 0 $?

dump_topics "$WORK/records.jsonl" outbox.event.order outbox.event.customer
check_verified "every event delivered once, exact keys, headers, values, per-aggregate order" \
	"$WORK/records.jsonl"
check "more than 100 aggregates" t "$(echo "$VERIFY_OUT" | head -n 1 | sed -E 's/.*aggregates=([0-9]+).*/\1/' | awk '{print ($1 > 100) ? "t" : "f"}')"

# Partitions match the Java client's default partitioner for the same key,
# so outbox_pg and Java producers keep one aggregate on one partition.
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print("%s\t%d" % (r["key"], r["partition"]))' "$WORK/records.jsonl" | sort -u >"$WORK/ours.tsv"
cut -f1 "$WORK/ours.tsv" | java -cp "$("$KAFKA_SH" classpath)" \
	"$E2E_ROOT/tests/e2e/PartitionOf.java" 3 | sort -u >"$WORK/java.tsv"
check "every key's partition is the Java client's (murmur2), for all $(wc -l <"$WORK/ours.tsv") keys" \
	"" "$(diff "$WORK/ours.tsv" "$WORK/java.tsv")"

# SIGTERM: drains, sends the final status, exits 0; a restart ships only
# what is new.
kill -TERM "$(shipper_pid shipper)"
wait_exit shipper 60
check "SIGTERM exits 0" 0 "$EXIT_STATUS"
# No event is left in the slot: the final status covered them all.  (Not
# "confirmed >= the current LSN": the server may write WAL of its own after
# the shipper's last keepalive.)
check "the final status confirmed every event" 0 \
	"$(psql -qXAt -c "SELECT count(*) FROM pg_logical_slot_peek_changes('outbox_pg', NULL, NULL)")"
start_shipper shipper2
psql -qX -c "SELECT outbox.publish('order', 'after-restart', 'step', '{}') FROM generate_series(1, 20)" >/dev/null
target=$(current_lsn)
wait_for "the restarted shipper to confirm" 60 confirmed_reached "$target"
dump_topics "$WORK/records2.jsonl" outbox.event.order outbox.event.customer
check_verified "after a restart: no duplicates, nothing missing" "$WORK/records2.jsonl"
kill -TERM "$(shipper_pid shipper2)"
wait_exit shipper2 60
check "second SIGTERM exits 0" 0 "$EXIT_STATUS"
grep -q "stopped: 20 events delivered" "$WORK/shipper2.log"
check "the restarted shipper delivered exactly the 20 new events" 0 $?
finish
