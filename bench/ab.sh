#!/usr/bin/env bash
# Two outbox-shipper builds, A and B, draining the same WAL in turns:
#
#   bench/ab.sh BINARY_A BINARY_B [ROUNDS]      ROUNDS default 3
#
# Writes BENCH_EVENTS (default 200,000) nested events once (BENCH_PER_TXN,
# default 10, per transaction) after creating 2 x ROUNDS outbox_pg slots,
# then drains one slot per run, alternating A and B (BA in even rounds, so
# neither always runs on a warmer broker), each run from the shipper's start
# until its slot confirms the end of the WAL.  Per run: wall seconds, the
# shipper's CPU (utime + stime, every thread) in µs per event, and the
# system calls it made per event (perf stat: recvfrom, poll, sendmsg,
# write, futex).  Then the medians per build and B / A.
#
# CPU figures from a loaded machine are not comparable with others; the
# ratio of interleaved runs is what this is for.  perf (linux-perf) counts
# the system calls; without it they are left out.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 2 ] || { echo "usage: bench/ab.sh BINARY_A BINARY_B [ROUNDS]" >&2; exit 2; }
A=$(realpath "$1") B=$(realpath "$2") ROUNDS=${3:-3}
EVENTS=${BENCH_EVENTS:-200000}
PER_TXN=${BENCH_PER_TXN:-10}
CLIENTS=4
HZ=$(getconf CLK_TCK)
SYSCALLS=recvfrom,poll,sendmsg,write,futex

die() { echo "ab.sh: $*" >&2; exit 1; }
for bin in "$A" "$B"; do [ -x "$bin" ] || die "$bin is not an executable"; done
[ $((EVENTS % (PER_TXN * CLIENTS))) -eq 0 ] \
	|| die "BENCH_EVENTS must be a multiple of $((PER_TXN * CLIENTS))"
perf_events=
if perf stat -e syscalls:sys_enter_poll true >/dev/null 2>&1; then
	perf_events=$(echo "$SYSCALLS" | sed 's/\([a-z]*\)/syscalls:sys_enter_\1/g')
fi

work=$(mktemp -d /tmp/outbox_pg_bench_ab.XXXXXX)
run_pid=
cleanup() {
	[ -z "$run_pid" ] || kill -KILL "$run_pid" 2>/dev/null || true
	tests/helpers/kafka.sh stop "$work/kafka" >/dev/null 2>&1 || true
	tests/helpers/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

tests/helpers/pg.sh start "$work/pg" "shared_buffers = 512MB" "max_wal_size = 20GB" \
	"logical_decoding_work_mem = 256MB" "autovacuum = off" "max_replication_slots = 40" >/dev/null
eval "$(tests/helpers/pg.sh env "$work/pg")"
export PGDATABASE=postgres
brokers=$(KAFKA_EXTRA_CONFIG="num.partitions=6" tests/helpers/kafka.sh start "$work/kafka")

sql() { psql -qXAt -v ON_ERROR_STOP=1 -c "$1"; }
cpu_seconds() { awk -v hz="$HZ" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

sql "CREATE EXTENSION outbox_pg" >/dev/null
for ((r = 0; r < ROUNDS; r++)); do
	sql "SELECT 1 FROM pg_create_logical_replication_slot('ab_a_$r', 'outbox_pg')" >/dev/null
	sql "SELECT 1 FROM pg_create_logical_replication_slot('ab_b_$r', 'outbox_pg')" >/dev/null
done
cat >"$work/write.sql" <<SQL
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload)
SELECT 'order', (random() * 10000)::int::text, 'OrderCreated',
	jsonb_build_object('order', n, 'lines', jsonb_build_array(
		jsonb_build_object('sku', 'A-1', 'qty', 2, 'price', 9.95),
		jsonb_build_object('sku', 'B-22', 'qty', 1, 'price', 19.50)), 'total', 39.40, 'currency', 'EUR')
FROM (SELECT (random() * 1000000000)::bigint AS n FROM generate_series(1, $PER_TXN)) s;
SQL
pgbench -n -c $CLIENTS -j 2 -t $((EVENTS / PER_TXN / CLIENTS)) -f "$work/write.sql" >"$work/pgbench.log" 2>&1 \
	|| { cat "$work/pgbench.log" >&2; die "pgbench failed"; }
end=$(sql "SELECT pg_current_wal_insert_lsn()")
sql "SELECT pg_switch_wal()" >/dev/null

# drain NAME BINARY SLOT: appends "NAME WALL_S CPU_US_PER_EVENT SYSCALLS_PER_EVENT..."
# to runs.txt and prints it
drain() {
	local name=$1 bin=$2 slot=$3 t0 wall cpu pid deadline perf_out=$work/perf.$3
	local cmd=("$bin" -d "host=$PGHOST port=$PGPORT user=postgres dbname=postgres" -b "$brokers"
		--slot "$slot" --no-create-slot --status-interval 1)
	t0=$(now)
	if [ -n "$perf_events" ]; then
		perf stat -x, -o "$perf_out" -e "$perf_events" -- "${cmd[@]}" 2>>"$work/shipper.log" &
		run_pid=$!
		deadline=$((SECONDS + 10))
		until pid=$(pgrep -P "$run_pid"); do
			[ $SECONDS -lt $deadline ] || die "the shipper did not start"
			sleep 0.01
		done
	else
		"${cmd[@]}" 2>>"$work/shipper.log" &
		run_pid=$! pid=$!
	fi
	deadline=$((SECONDS + 900))
	until [ "$(sql "SELECT confirmed_flush_lsn >= '$end' FROM pg_replication_slots WHERE slot_name = '$slot'")" = t ]; do
		kill -0 "$pid" 2>/dev/null || { tail "$work/shipper.log" >&2; die "$name exited"; }
		[ $SECONDS -lt $deadline ] || die "$slot did not confirm $end within 900 s"
		sleep 0.02
	done
	wall=$(calc '%.3f' "$(now) - $t0")
	cpu=$(cpu_seconds "$pid")
	kill -TERM "$pid"
	wait "$run_pid" || die "$name did not exit cleanly (log: $work/shipper.log)"
	run_pid=
	{
		printf '%s %s %s' "$name" "$wall" "$(calc '%.2f' "$cpu * 1000000 / $EVENTS")"
		if [ -n "$perf_events" ]; then
			for s in ${SYSCALLS//,/ }; do
				printf ' %s' "$(awk -F, -v e="syscalls:sys_enter_$s" -v n="$EVENTS" '$3 == e { printf "%.3f", $1 / n }' "$perf_out")"
			done
		fi
		echo
	} | tee -a "$work/runs.txt"
}

echo "$EVENTS events, $PER_TXN per transaction, nested payload; A=$A B=$B"
echo "run wall_s cpu_us/event ${SYSCALLS//,/\/event }/event"
for ((r = 0; r < ROUNDS; r++)); do
	if ((r % 2 == 0)); then
		drain A "$A" "ab_a_$r"; drain B "$B" "ab_b_$r"
	else
		drain B "$B" "ab_b_$r"; drain A "$A" "ab_a_$r"
	fi
done
awk '
	{ n[$1]++; for (i = 2; i <= NF; i++) v[$1, i, n[$1]] = $i; nf = NF }
	function median(name, col,   k, m, a, t, j) {
		m = n[name]
		for (k = 1; k <= m; k++) a[k] = v[name, col, k]
		for (k = 1; k <= m; k++) for (j = k + 1; j <= m; j++) if (a[j] < a[k]) { t = a[k]; a[k] = a[j]; a[j] = t }
		return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	END {
		split("wall_s cpu_us/event '"${SYSCALLS//,/\/event }"'/event", label, " ")
		for (i = 2; i <= nf; i++)
			printf "median %-16s A %9.3f  B %9.3f  B/A %.2f\n", label[i - 1], median("A", i), median("B", i),
				median("A", i) > 0 ? median("B", i) / median("A", i) : 0
	}' "$work/runs.txt"
