#!/usr/bin/env bash
# End-to-end benchmark of outbox-shipper against a real PostgreSQL and a
# real Kafka on this machine:
#   drain    BENCH_BACKLOG events (default 500,000) written before the shipper
#            starts; time from its start until the slot confirms the last one
#   steady   BENCH_RATE events/s (default 5,000) for BENCH_SECONDS (default 30);
#            latency from each event's commit (pg_xact_commit_timestamp) to its
#            record's log-append time in Kafka, p50/p95/p99
#   CPU      in each phase, CPU seconds (utime + stime from /proc) and
#            µs per event of the shipper (librdkafka's threads included),
#            its walsender backend and the broker JVM; the shipper's peak
#            RSS (VmHWM)
#
#   bench/e2e.sh          (OUTBOX_SHIPPER=path overrides the binary)
set -euo pipefail
cd "$(dirname "$0")/.."

BACKLOG=${BENCH_BACKLOG:-500000}
RATE=${BENCH_RATE:-5000}
STEADY_SECONDS=${BENCH_SECONDS:-30}
SHIPPER=${OUTBOX_SHIPPER:-$PWD/shipper/outbox-shipper}

scripts/install-deps.sh
if [ -z "${OUTBOX_SHIPPER:-}" ]; then
	make -s && make -s install >/dev/null
fi

work=$(mktemp -d /tmp/outbox_pg_bench_e2e.XXXXXX)
shipper_pid=
cleanup() {
	[ -n "$shipper_pid" ] && kill -KILL "$shipper_pid" 2>/dev/null
	tests/helpers/kafka.sh stop "$work/kafka" >/dev/null 2>&1 || true
	tests/helpers/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

tests/helpers/pg.sh start "$work/pg" "shared_buffers = 1GB" "max_wal_size = 20GB" \
	"checkpoint_timeout = 1h" "track_commit_timestamp = on" \
	"logical_decoding_work_mem = 256MB" >/dev/null
eval "$(tests/helpers/pg.sh env "$work/pg")"
export PGDATABASE=postgres
# The settings go in the command substitution's environment: as a separate
# assignment they would never reach kafka.sh (the broker then stamped records
# with the producer's time, and the latency below measured commit -> produce
# call, without linger, the network or the broker's acknowledgement).
brokers=$(KAFKA_EXTRA_CONFIG="log.message.timestamp.type=LogAppendTime
num.partitions=6" tests/helpers/kafka.sh start "$work/kafka")
broker_pid=$(cat "$work/kafka/pid")
# The topic exists before the drain: its auto-creation on the first record
# took ~2 s of the shipper's time, which is not the shipper's to spend.
tests/helpers/kafka.sh create-topic "$work/kafka" outbox.event.order 6 \
	message.timestamp.type=LogAppendTime >/dev/null
psql -qX -c "CREATE EXTENSION outbox_pg" \
	-c "SELECT 1 FROM pg_create_logical_replication_slot('outbox_pg', 'outbox_pg')" >/dev/null

# The payload of the decoding benchmark, ~300 bytes of jsonb.
cat >"$work/payload.sql" <<'SQL'
'{"customer": {"id": 12345, "name": "Ada Lovelace", "email": "ada@example.com"}, "lines": [{"sku": "A-1", "qty": 2, "price": 9.95}, {"sku": "B-22", "qty": 1, "price": 19.5}], "total": 39.4, "currency": "EUR", "note": "leave it at the door and ring twice"}'
SQL
payload=$(cat "$work/payload.sql")

start_shipper() {
	"$SHIPPER" -d "host=$PGHOST port=$PGPORT user=postgres dbname=postgres" -b "$brokers" \
		--status-interval 1 ${BENCH_SHIPPER_FLAGS:-} 2>>"$work/shipper.log" &
	shipper_pid=$!
}
cpu_seconds() {	# user + system CPU of a process, in seconds
	awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
}
peak_rss_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
walsender_pid() { psql -qXAt -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'outbox_pg'"; }
us_per_event() { echo "$1 * 1000000 / $2" | bc -l; }	# us_per_event CPU_S EVENTS
wait_confirmed() {	# wait_confirmed LSN
	until [ "$(psql -qXAt -c "SELECT confirmed_flush_lsn >= '$1' FROM pg_replication_slots WHERE slot_name = 'outbox_pg'")" = t ]; do
		kill -0 "$shipper_pid" || { tail "$work/shipper.log"; exit 1; }
		sleep 0.05
	done
}

echo "== drain: writing $BACKLOG events (10 per transaction)"
cat >"$work/backlog.sql" <<SQL
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload)
SELECT 'order', (random() * 10000)::int::text, 'OrderCreated', $payload::jsonb
FROM generate_series(1, 10);
SQL
pgbench -n -c 4 -j 2 -t $((BACKLOG / 40)) -f "$work/backlog.sql" >"$work/pgbench-backlog.log" 2>&1
end=$(psql -qXAt -c "SELECT pg_current_wal_insert_lsn()")
events=$(psql -qXAt -c "SELECT count(*) FROM outbox.events")
broker_cpu0=$(cpu_seconds "$broker_pid")
t0=$(date +%s.%N)
start_shipper
wait_confirmed "$end"
t1=$(date +%s.%N)
drain_seconds=$(echo "$t1 - $t0" | bc -l)
drain_cpu=$(cpu_seconds "$shipper_pid")
drain_rss=$(peak_rss_kb "$shipper_pid")
# The walsender started with the shipper: all its CPU is the drain's.
walsender=$(walsender_pid)
drain_walsender_cpu=$(cpu_seconds "$walsender")
drain_broker_cpu=$(echo "$(cpu_seconds "$broker_pid") - $broker_cpu0" | bc -l)
echo "   $events events in $drain_seconds s"

echo "== steady: $RATE events/s for $STEADY_SECONDS s"
psql -qX -c "TRUNCATE outbox.events" >/dev/null
cpu_before=$(cpu_seconds "$shipper_pid")
walsender_cpu_before=$(cpu_seconds "$walsender")
broker_cpu_before=$(cpu_seconds "$broker_pid")
cat >"$work/steady.sql" <<SQL
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload)
VALUES ('order', (random() * 10000)::int::text, 'OrderCreated', $payload::jsonb);
SQL
pgbench -n -c 4 -j 2 -R "$RATE" -T "$STEADY_SECONDS" -f "$work/steady.sql" >"$work/pgbench-steady.log" 2>&1
end=$(psql -qXAt -c "SELECT pg_current_wal_insert_lsn()")
wait_confirmed "$end"
steady_cpu=$(echo "$(cpu_seconds "$shipper_pid") - $cpu_before" | bc -l)
steady_walsender_cpu=$(echo "$(cpu_seconds "$walsender") - $walsender_cpu_before" | bc -l)
steady_broker_cpu=$(echo "$(cpu_seconds "$broker_pid") - $broker_cpu_before" | bc -l)
steady_events=$(psql -qXAt -c "SELECT count(*) FROM outbox.events")
steady_rss=$(peak_rss_kb "$shipper_pid")

# Commit times from PostgreSQL, log-append times from Kafka, joined by id.
psql -qXAt -F $'\t' -c "SELECT id, floor(extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000)::bigint FROM outbox.events" \
	| sort >"$work/commits.tsv"
timeout 300 kcat -C -b "$brokers" -t outbox.event.order -o beginning -e -q -f '%h\t%T\n' \
	| sed -E 's/^id=([^,]*)[^\t]*/\1/' | sort >"$work/appends.tsv"
join -t $'\t' "$work/commits.tsv" "$work/appends.tsv" | awk -F'\t' '{print $3 - $2}' | sort -n >"$work/latency.txt"
measured=$(wc -l <"$work/latency.txt")
# Log-append time is never before the commit: a record stamped earlier means
# the topic keeps the producer's time, and this would not be commit -> Kafka.
if [ "$measured" -eq 0 ] || [ "$(head -n 1 "$work/latency.txt")" -lt 0 ]; then
	echo "e2e.sh: no latency measured, or a record stamped before its commit (the topic does not use log-append time)" >&2
	exit 1
fi
pct() { awk -v p="$1" '{a[NR]=$1} END {i = int(NR * p / 100); if (i < 1) i = 1; print a[i]}' "$work/latency.txt"; }

kill -TERM "$shipper_pid"
wait "$shipper_pid" || true
shipper_pid=

{
	echo "outbox-shipper end-to-end benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GB RAM; PostgreSQL, Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' tests/helpers/kafka/pom.xml) and the shipper on the same machine"
	echo
	printf 'drain:  %d events in %.2f s = %.0f events/s; shipper peak RSS %.1f MB\n' \
		"$events" "$drain_seconds" "$(echo "$events / $drain_seconds" | bc -l)" \
		"$(echo "$drain_rss / 1024" | bc -l)"
	printf '        CPU s (µs/event): shipper %.2f (%.2f), walsender %.2f (%.2f), broker %.2f (%.2f)\n' \
		"$drain_cpu" "$(us_per_event "$drain_cpu" "$events")" \
		"$drain_walsender_cpu" "$(us_per_event "$drain_walsender_cpu" "$events")" \
		"$drain_broker_cpu" "$(us_per_event "$drain_broker_cpu" "$events")"
	printf 'steady: %d events at %d/s target; latency commit->Kafka p50 %d ms, p95 %d ms, p99 %d ms, max %d ms (%d measured); shipper peak RSS %.1f MB\n' \
		"$steady_events" "$RATE" "$(pct 50)" "$(pct 95)" "$(pct 99)" "$(tail -n 1 "$work/latency.txt")" \
		"$measured" "$(echo "$steady_rss / 1024" | bc -l)"
	printf '        CPU s (µs/event): shipper %.2f (%.2f), walsender %.2f (%.2f), broker %.2f (%.2f)\n' \
		"$steady_cpu" "$(us_per_event "$steady_cpu" "$steady_events")" \
		"$steady_walsender_cpu" "$(us_per_event "$steady_walsender_cpu" "$steady_events")" \
		"$steady_broker_cpu" "$(us_per_event "$steady_broker_cpu" "$steady_events")"
	echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "targets: drain >= 50000 events/s, p99 <= 50 ms at 5000 events/s, RSS <= 30 MB"
} | tee "$work/result.txt"
mkdir -p bench/results
cp "$work/result.txt" "bench/results/e2e-$(date -u +%Y%m%dT%H%M).txt"
