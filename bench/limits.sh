#!/usr/bin/env bash
# The pipeline's stage limits and outbox-shipper's drain, on one WAL:
#
#   bench/limits.sh [SHAPE...]       SHAPE: flat, nested (default), large
#
# For each payload shape, one fresh set of events (BENCH_EVENTS, default
# 300,000, BENCH_PER_TXN per transaction, default 10) is written once, after
# two outbox_pg slots were created, so every stage reads the same WAL:
#   walsender  pg_recvlogical --start --endpos END -f /dev/null on the first
#              slot: how fast PostgreSQL decodes and streams the events
#   broker     kcat -P -l of the same keys and values (and headers of the
#              same sizes as the shipper's) with the shipper's default
#              producer settings (shipper/kafka.c set_defaults: idempotent,
#              acks=all, lz4, linger.ms 5, murmur2_random) into a topic of
#              BENCH_PARTITIONS (default 6) partitions: how fast Kafka takes
#              them
#   drain      outbox-shipper on the second slot, from its start until the
#              slot's confirmed_flush_lsn reaches END (and, beside it, until
#              Kafka acknowledged the last event, from its /metrics, and
#              the rate from the first acknowledged event to the last,
#              without the start-up)
# and prints events/s, the CPU seconds and µs/event of each process (the
# walsender backend, the broker JVM, kcat, the shipper with librdkafka's
# threads; utime + stime from /proc), and drain / min(walsender, broker).
#
# Shapes (payload sizes as jsonb text; the exact ones are printed):
#   flat    ~150 bytes, scalars only
#   nested  ~150 bytes, an order with an array of line objects and numeric
#           prices
#   large   ~4 kB, an order with 40 line objects
#
# Environment: BENCH_EVENTS, BENCH_PER_TXN, BENCH_PARTITIONS,
# BENCH_WARMUP (records kcat writes to warm the broker's JIT up before any
# stage, default 200,000), OUTBOX_SHIPPER (the binary; default: built here
# with make -C shipper).  The plugin measured is the one installed for the
# server (pg_config), never installed by this script.
#
# The report is printed and written to bench/results/limits-DATE.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${BENCH_EVENTS:-300000}
PER_TXN=${BENCH_PER_TXN:-10}
PARTITIONS=${BENCH_PARTITIONS:-6}
WARMUP=${BENCH_WARMUP:-200000}
SHIPPER=${OUTBOX_SHIPPER:-$PWD/shipper/outbox-shipper}
CLIENTS=4
HZ=$(getconf CLK_TCK)
[ $# -gt 0 ] || set -- nested

die() { echo "limits.sh: $*" >&2; exit 1; }

for shape in "$@"; do
	case $shape in flat | nested | large) ;; *) die "unknown shape $shape (flat, nested, large)" ;; esac
done
[ $((EVENTS % (PER_TXN * CLIENTS))) -eq 0 ] \
	|| die "BENCH_EVENTS must be a multiple of $((PER_TXN * CLIENTS)) (BENCH_PER_TXN x $CLIENTS clients)"
if [ -z "${OUTBOX_SHIPPER:-}" ]; then
	make -s -C shipper >/dev/null
fi
[ -x "$SHIPPER" ] || die "no outbox-shipper at $SHIPPER"
for tool in kcat pg_recvlogical pgbench curl; do
	command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh)"
done

work=$(mktemp -d /tmp/outbox_pg_bench_limits.XXXXXX)
shipper_pid=
cleanup() {
	[ -z "$shipper_pid" ] || kill -KILL "$shipper_pid" 2>/dev/null || true
	tests/helpers/kafka.sh stop "$work/kafka" >/dev/null 2>&1 || true
	tests/helpers/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
tests/helpers/pg.sh start "$work/pg" "shared_buffers = 1GB" "max_wal_size = 20GB" \
	"checkpoint_timeout = 1h" "logical_decoding_work_mem = 256MB" "autovacuum = off" >/dev/null
eval "$(tests/helpers/pg.sh env "$work/pg")"
export PGDATABASE=postgres
postmaster_pid=$(head -n 1 "$work/pg/data/postmaster.pid")
brokers=$(KAFKA_EXTRA_CONFIG="num.partitions=$PARTITIONS" tests/helpers/kafka.sh start "$work/kafka")
broker_pid=$(cat "$work/kafka/pid")

sql() { psql -qXAt -v ON_ERROR_STOP=1 -c "$1"; }
sql "CREATE EXTENSION outbox_pg" >/dev/null

# CPU seconds of a live process, all its threads (utime + stime).
cpu_seconds() { awk -v hz="$HZ" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
# children_cpu_seconds, clients_running, wait_no_clients
source bench/postmaster.sh
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# The producer settings the shipper uses unless told otherwise.
PRODUCER=(-X enable.idempotence=true -X acks=all -X partitioner=murmur2_random
	-X compression.codec=lz4 -X linger.ms=5)

# A fresh broker spends its first seconds of load compiling: warm it up
# with the same client and settings before any stage is timed.
echo "== warming the broker up: $WARMUP records" >&2
awk -v n="$WARMUP" 'BEGIN { for (i = 1; i <= n; i++)
	printf "%d\t{\"order\": %d, \"lines\": [{\"sku\": \"A-1\", \"qty\": 2, \"price\": 9.95}], \"total\": 19.9}\n", i % 10000, i }' \
	>"$work/warmup.txt"
timeout 600 kcat -P -q -b "$brokers" -t bench.warmup -K $'\t' "${PRODUCER[@]}" -l "$work/warmup.txt" \
	|| die "could not warm the broker up"
rm -f "$work/warmup.txt"

# payload_sql SHAPE: a jsonb expression of the shape; "n" is a number
# different for each event, so that compression does not see one record
# repeated.
payload_sql() {
	case $1 in
	flat)
		echo "jsonb_build_object('order_id', n, 'customer_id', 12345, 'status', 'created', 'amount', 39.40, 'currency', 'EUR', 'channel', 'web', 'created_by', 'checkout-service', 'priority', 2)" ;;
	nested)
		echo "jsonb_build_object('order', n, 'lines', jsonb_build_array(jsonb_build_object('sku', 'A-1', 'qty', 2, 'price', 9.95), jsonb_build_object('sku', 'B-22', 'qty', 1, 'price', 19.50)), 'total', 39.40, 'currency', 'EUR')" ;;
	large)
		echo "jsonb_build_object('order', n, 'customer', jsonb_build_object('id', 12345, 'name', 'Ada Lovelace', 'email', 'ada@example.com'), 'lines', (SELECT jsonb_agg(jsonb_build_object('sku', 'SKU-' || lpad(l::text, 5, '0'), 'name', 'widget number ' || l, 'qty', 1 + l % 3, 'price', round((l * 1.37)::numeric, 2), 'tax', 0.2)) FROM generate_series(1, 40) l), 'total', 1234.56, 'currency', 'EUR')" ;;
	esac
}

write_events() {	# write_events SHAPE
	cat >"$work/write.sql" <<-SQL
	INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload)
	SELECT 'order_$1', (random() * 10000)::int::text, 'OrderCreated', $(payload_sql "$1")
	FROM (SELECT (random() * 1000000000)::bigint AS n FROM generate_series(1, $PER_TXN)) s;
	SQL
	pgbench -n -c "$CLIENTS" -j 2 -t $((EVENTS / PER_TXN / CLIENTS)) -f "$work/write.sql" \
		>"$work/pgbench.log" 2>&1 || { cat "$work/pgbench.log" >&2; die "pgbench failed"; }
}

# wait_flushed LSN: the walsender sends flushed WAL only, and pg_recvlogical
# stops once the server is past its endpos.
wait_flushed() {
	local deadline=$((SECONDS + 60))
	until [ "$(sql "SELECT pg_current_wal_flush_lsn() >= '$1'")" = t ]; do
		[ $SECONDS -lt $deadline ] || die "WAL not flushed up to $1 within 60 s"
		sql "SELECT pg_switch_wal()" >/dev/null
		sleep 0.1
	done
}

# stage_walsender SLOT END: sets walsender_s and walsender_cpu.  No other
# backend runs meanwhile: the walsender is the one child of the postmaster
# that exits during the stage, so the postmaster's reaped-children CPU grows
# by exactly the walsender's, read once the postmaster reaped it.
stage_walsender() {
	local slot=$1 end=$2 t0 t1 cpu0
	wait_no_clients
	cpu0=$(children_cpu_seconds "$postmaster_pid")
	t0=$(now)
	pg_recvlogical -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres --slot "$slot" \
		--start --endpos "$end" --no-loop -f /dev/null 2>>"$work/recvlogical.log" \
		|| { cat "$work/recvlogical.log" >&2; die "pg_recvlogical failed"; }
	t1=$(now)
	wait_no_clients
	walsender_cpu=$(calc '%.3f' "$(children_cpu_seconds "$postmaster_pid") - $cpu0")
	walsender_s=$(calc '%.3f' "$t1 - $t0")
	# A run that stopped early would look fast.
	[ "$(sql "SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = '$slot'")" = t ] \
		|| die "pg_recvlogical stopped before $end"
}

# stage_broker SHAPE: sets broker_s, broker_cpu (the JVM), kcat_cpu.
stage_broker() {
	local topic="limits.kcat.$1" t0 t1 cpu0 kcpu0 got
	# The shipper's values are the payloads as the plugin wrote them, jsonb's
	# text; its headers: id, aggregate_type, event_type, outbox_commit_lsn,
	# outbox_seq.  kcat sends headers of the same sizes, the same for every
	# record.
	psql -qXAt -F $'\t' -c "SELECT aggregate_id, payload::text FROM outbox.events" >"$work/records.txt"
	tests/helpers/kafka.sh create-topic "$work/kafka" "$topic" "$PARTITIONS" >/dev/null
	cpu0=$(cpu_seconds "$broker_pid")
	kcpu0=$(children_cpu_seconds $$)
	t0=$(now)
	timeout 900 kcat -P -q -b "$brokers" -t "$topic" -K $'\t' "${PRODUCER[@]}" \
		-H id=0a4f3c2e-5b6d-4e7f-8a9b-0c1d2e3f4a5b -H aggregate_type=order \
		-H event_type=OrderCreated -H outbox_commit_lsn=0/1A2B3C4D -H outbox_seq=7 \
		-l "$work/records.txt" || die "kcat failed producing to $topic"
	t1=$(now)
	broker_cpu=$(calc '%.3f' "$(cpu_seconds "$broker_pid") - $cpu0")
	kcat_cpu=$(calc '%.3f' "$(children_cpu_seconds $$) - $kcpu0")
	broker_s=$(calc '%.3f' "$t1 - $t0")
	got=$(topic_records "$topic")
	[ "$got" = "$EVENTS" ] || die "$topic holds $got records, expected $EVENTS"
	rm -f "$work/records.txt"
}

topic_records() {	# topic_records TOPIC: records in all its partitions
	local args=() p
	for ((p = 0; p < PARTITIONS; p++)); do args+=(-t "$1:$p:-1"); done
	timeout 30 kcat -Q -b "$brokers" "${args[@]}" | awk '{ s += $NF } END { print s + 0 }'
}

shipped() {	# events the shipper has had acknowledged, from its /metrics (0 before it listens)
	{ curl -s --max-time 2 "http://127.0.0.1:$1/metrics" || true; } |
		awk '/^outbox_shipper_events_shipped_total/ { s += $NF } END { print s + 0 }'
}

# stage_drain SLOT END: sets drain_s (start to the slot confirming END),
# acked_s (start to Kafka acknowledging the last event), first_s (start to
# the first acknowledged, as /metrics shows it every ~20 ms), shipper_cpu,
# drain_walsender_cpu, drain_broker_cpu.
stage_drain() {
	local slot=$1 end=$2 t0 cpu0 port walpid deadline
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cpu0=$(cpu_seconds "$broker_pid")
	acked_s= first_s=
	t0=$(now)
	"$SHIPPER" -d "host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres" -b "$brokers" \
		--slot "$slot" --no-create-slot --status-interval 1 --http-listen "127.0.0.1:$port" \
		2>>"$work/shipper.log" &
	shipper_pid=$!
	deadline=$((SECONDS + 1800))
	while :; do
		# Acknowledged first: the shipper may confirm at once after.
		if [ -z "$acked_s" ]; then
			n=$(shipped "$port")
			[ -n "$first_s" ] || [ "$n" -eq 0 ] || first_s=$(calc '%.3f' "$(now) - $t0")
			[ "$n" -lt "$EVENTS" ] || acked_s=$(calc '%.3f' "$(now) - $t0")
		fi
		[ "$(sql "SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = '$slot'")" != t ] \
			|| break
		kill -0 "$shipper_pid" 2>/dev/null || { tail "$work/shipper.log" >&2; die "the shipper exited"; }
		[ $SECONDS -lt $deadline ] || die "the slot did not confirm $end within 1800 s"
		sleep 0.02
	done
	drain_s=$(calc '%.3f' "$(now) - $t0")
	[ -n "$acked_s" ] || acked_s=$drain_s
	[ -n "$first_s" ] || first_s=0
	shipper_cpu=$(cpu_seconds "$shipper_pid")
	drain_broker_cpu=$(calc '%.3f' "$(cpu_seconds "$broker_pid") - $cpu0")
	walpid=$(sql "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$slot'")
	drain_walsender_cpu=$(cpu_seconds "$walpid")
	kill -TERM "$shipper_pid"
	wait "$shipper_pid" || die "the shipper did not exit cleanly (log: $work/shipper.log)"
	shipper_pid=
}

rate() { calc '%.0f' "$EVENTS / $1"; }
us() { calc '%.2f' "$1 * 1000000 / $EVENTS"; }

report=$work/report.txt
{
	echo "outbox_pg pipeline limits, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "command: BENCH_EVENTS=$EVENTS BENCH_PER_TXN=$PER_TXN BENCH_PARTITIONS=$PARTITIONS bench/limits.sh $*"
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GB RAM; PostgreSQL $(sql 'SHOW server_version' | cut -d' ' -f1), Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' tests/helpers/kafka/pom.xml) (1 broker, KRaft), kcat $(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\).*/\1/p'), $("$SHIPPER" --version 2>&1 | head -n 1) at $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- shipper 2>/dev/null || echo ' (shipper/ modified)'), all on this machine"
	echo "plugin: installed outbox_pg.so sha256 $(sha256sum "$(pg_config --pkglibdir)/outbox_pg.so" | cut -c1-12)"
	echo "producer settings (kcat and the shipper): ${PRODUCER[*]}"
	echo "load average at start: $load_start"
} >"$report"

for shape in "$@"; do
	echo "== $shape: $EVENTS events, $PER_TXN per transaction" >&2
	sql "SELECT 1 FROM pg_create_logical_replication_slot('recv_$shape', 'outbox_pg')" >/dev/null
	sql "SELECT 1 FROM pg_create_logical_replication_slot('ship_$shape', 'outbox_pg')" >/dev/null
	sql "TRUNCATE outbox.events" >/dev/null
	start=$(sql "SELECT pg_current_wal_insert_lsn()")
	t=$SECONDS
	write_events "$shape"
	end=$(sql "SELECT pg_current_wal_insert_lsn()")
	wait_flushed "$end"
	read -r n payload_bytes wal_bytes <<<"$(sql "SELECT count(*), round(avg(octet_length(payload::text))),
		pg_wal_lsn_diff('$end', '$start') FROM outbox.events" | tr '|' ' ')"
	[ "$n" = "$EVENTS" ] || die "wrote $n events, expected $EVENTS"
	echo "   written in $((SECONDS - t)) s; payload $payload_bytes bytes, $((wal_bytes / 1048576)) MB of WAL" >&2
	load_before=$(cut -d' ' -f1-3 /proc/loadavg)

	echo "   walsender: pg_recvlogical to /dev/null" >&2
	stage_walsender "recv_$shape" "$end"
	echo "   broker: kcat -P" >&2
	stage_broker "$shape"
	echo "   drain: outbox-shipper" >&2
	# As for kcat, the topic exists: its creation is not the shipper's time.
	tests/helpers/kafka.sh create-topic "$work/kafka" "outbox.event.order_$shape" "$PARTITIONS" >/dev/null
	stage_drain "ship_$shape" "$end"
	got=$(topic_records "outbox.event.order_$shape")
	[ "$got" = "$EVENTS" ] || die "outbox.event.order_$shape holds $got records, expected $EVENTS"
	load_after=$(cut -d' ' -f1-3 /proc/loadavg)
	sql "SELECT pg_drop_replication_slot('recv_$shape'), pg_drop_replication_slot('ship_$shape')" >/dev/null

	r_wal=$(rate "$walsender_s") r_broker=$(rate "$broker_s") r_drain=$(rate "$drain_s") r_acked=$(rate "$acked_s")
	limit=$((r_wal < r_broker ? r_wal : r_broker))
	{
		echo
		echo "## $shape: $EVENTS events, $PER_TXN per transaction, payload $payload_bytes bytes (jsonb text), $(calc '%.1f' "$wal_bytes / 1048576") MB of WAL, $PARTITIONS partitions; load average $load_before before, $load_after after"
		echo
		echo "| stage, same events | s | events/s | process CPU s | µs/event |"
		echo "|---|---:|---:|---|---|"
		printf '| walsender: pg_recvlogical --endpos -f /dev/null | %.2f | %s | walsender %.2f | %s |\n' \
			"$walsender_s" "$r_wal" "$walsender_cpu" "$(us "$walsender_cpu")"
		printf '| broker: kcat -P -l | %.2f | %s | broker %.2f, kcat %.2f | %s, %s |\n' \
			"$broker_s" "$r_broker" "$broker_cpu" "$kcat_cpu" "$(us "$broker_cpu")" "$(us "$kcat_cpu")"
		printf '| **drain: outbox-shipper, start to slot confirmed** | %.2f | **%s** | shipper %.2f, walsender %.2f, broker %.2f | **%s**, %s, %s |\n' \
			"$drain_s" "$r_drain" "$shipper_cpu" "$drain_walsender_cpu" "$drain_broker_cpu" \
			"$(us "$shipper_cpu")" "$(us "$drain_walsender_cpu")" "$(us "$drain_broker_cpu")"
		printf '| drain: start to Kafka acknowledging the last event | %.2f | %s | | |\n' "$acked_s" "$r_acked"
		printf '| drain: first to last event acknowledged (start-up of %.2f s left out) | %.2f | %s | | |\n' \
			"$first_s" "$(calc '%.3f' "$acked_s - $first_s")" "$(calc '%.0f' "$EVENTS / ($acked_s - $first_s + 0.001)")"
		echo
		echo "drain / min(walsender, broker) = $r_drain / $limit = $(calc '%.2f' "$r_drain / $limit") (acknowledged: $(calc '%.2f' "$r_acked / $limit")); target >= 0.80"
	} >>"$report"
done
echo >>"$report"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$report"
cat "$report"
mkdir -p bench/results
cp "$report" "bench/results/limits-$(date -u +%Y%m%dT%H%M%S).txt"
