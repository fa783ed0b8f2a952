#!/usr/bin/env bash
# outbox_pg vs Debezium (PostgreSQL connector + outbox EventRouter on a Kafka
# Connect standalone worker), side by side: one PostgreSQL, one Kafka broker,
# the same outbox table (Debezium's outboxevent layout, which outbox_pg maps
# with outbox.declare_table(..., layout => 'debezium')), each relay in turn.
#
#   drain     BENCH_BACKLOG events (default 500,000, 10 per transaction)
#             written before either relay runs; both slots exist before it,
#             so both relays ship exactly the same events.  Time from the
#             relay's start until the last record's log-append time.
#   identity  every event delivered by both, intact (topic, key, value
#             against the row in PostgreSQL), and the two relays' records
#             compared with each other.  A lost or altered event stops the
#             benchmark before any figure is reported.
#   steady    BENCH_RATES events/s (default "2000 10000"), one per
#             transaction, for BENCH_SECONDS (default 60); latency from each
#             event's commit (pg_xact_commit_timestamp) to its record's
#             log-append time.  Every event is checked as above.
#   variants  Debezium runs twice in the drain and steady phases: with its
#             defaults ("debezium", the worker settings of Kafka's
#             connect-standalone.properties) and tuned as public Debezium
#             benchmarks tune it ("debezium-tuned": bench/debezium/tuned-
#             connector.properties and tuned-worker.properties, max.batch.size
#             20480, max.queue.size 81920, poll.interval.ms 10, offset flush
#             1 s, producer linger 5 ms, batch 256 kB, lz4, and a 2 GB heap,
#             CONNECT_TUNED_HEAP_OPTS, default -Xms2G -Xmx2G), each on its own
#             slot made before the backlog; BENCH_DEBEZIUM_VARIANTS (default
#             "default tuned") picks them.  Each figure compares outbox_pg with
#             the better Debezium variant for that figure and names it.
#   resources CPU seconds and peak RSS (VmHWM) of the relay process (the
#             Connect JVM, outbox-shipper) and the CPU of its walsender,
#             in each phase, and the broker's CPU beside them.
#   idle WAL  the outbox idle while another table churns (BENCH_CHURN_RATE
#             updates/s, default 2000, for BENCH_CHURN_SECONDS, default 60):
#             WAL each slot still retains (pg_current_wal_lsn() minus its
#             confirmed_flush_lsn and restart_lsn); Debezium with its
#             defaults and with the heartbeat its docs recommend.
#
#   bench/debezium.sh      (OUTBOX_SHIPPER=path uses that binary instead of
#                           building; DEBEZIUM_JARS_CACHE moves the jars;
#                           BENCH_PERF_DIR=dir records a system-wide perf
#                           profile of each drain and steady phase there;
#                           CONNECT_HEAP_OPTS sets the worker's heap, by
#                           default connect-standalone.sh's -Xms256M -Xmx2G)
#
# Load: the machine's load average is recorded before and after each phase,
# and the PostgreSQL servers and JVMs running that this run did not start;
# a figure taken beside other work is to be measured again.
#
# Debezium's jars come from Maven Central (bench/debezium/pom.xml) into
# ~/.cache/outbox_pg/debezium-VERSION.  The report is printed and written to
# bench/results/debezium-DATE.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
here=$root/bench/debezium

BACKLOG=${BENCH_BACKLOG:-500000}
RATES=${BENCH_RATES:-"2000 10000"}
STEADY_SECONDS=${BENCH_SECONDS:-60}
CHURN_RATE=${BENCH_CHURN_RATE:-2000}
CHURN_SECONDS=${BENCH_CHURN_SECONDS:-60}
VARIANTS=${BENCH_DEBEZIUM_VARIANTS:-"default tuned"}
TUNED_HEAP=${CONNECT_TUNED_HEAP_OPTS:--Xms2G -Xmx2G}
SYSTEMS=(outbox_pg)
for variant in $VARIANTS; do
	case $variant in
	default) SYSTEMS+=(debezium) ;;
	tuned) SYSTEMS+=(debezium-tuned) ;;
	*) echo "debezium.sh: unknown variant $variant in BENCH_DEBEZIUM_VARIANTS (default, tuned)" >&2; exit 2 ;;
	esac
done
[[ " ${SYSTEMS[*]} " == *" debezium "* ]] \
	|| { echo "debezium.sh: BENCH_DEBEZIUM_VARIANTS must include default (the identity check and the idle-WAL phase use it)" >&2; exit 2; }
SHIPPER=${OUTBOX_SHIPPER:-$root/shipper/outbox-shipper}
TOPIC=outbox.event.order
PARTITIONS=6
DBZ_VERSION=$(sed -n 's:.*<debezium.version>\(.*\)</debezium.version>.*:\1:p' "$here/pom.xml")
CACHE=${DEBEZIUM_JARS_CACHE:-${HOME:-/tmp}/.cache/outbox_pg/debezium-$DBZ_VERSION}

die() { echo "debezium.sh: $*" >&2; exit 1; }

scripts/install-deps.sh
if [ -z "${OUTBOX_SHIPPER:-}" ]; then
	make -s && make -s install >/dev/null
fi
[ -x "$SHIPPER" ] || die "no outbox-shipper at $SHIPPER"

# ---- Debezium's jars

fetch_jars() {
	local digest tmp
	digest=$(sha256sum "$here/pom.xml" | cut -d' ' -f1)
	[ "$(cat "$CACHE/.complete" 2>/dev/null)" = "$digest" ] && return 0
	mkdir -p "$(dirname "$CACHE")"
	tmp=$(mktemp -d "$CACHE.tmp.XXXXXX")
	if ! timeout 900 mvn -q -B -Dstyle.color=never -f "$here/pom.xml" -P worker \
		dependency:copy-dependencies -DoutputDirectory="$tmp/worker" >"$tmp/mvn.log" 2>&1 \
		|| ! timeout 900 mvn -q -B -Dstyle.color=never -f "$here/pom.xml" -P connector \
			dependency:copy-dependencies \
			-DoutputDirectory="$tmp/plugins/debezium-connector-postgres" >>"$tmp/mvn.log" 2>&1; then
		tail -n 40 "$tmp/mvn.log" >&2
		rm -rf "$tmp"
		die "could not fetch Debezium's and Kafka Connect's jars with Maven (log above)"
	fi
	echo "$digest" >"$tmp/.complete"
	rm -rf "$CACHE"
	mv "$tmp" "$CACHE"
}
fetch_jars

# ---- servers, and whatever we start, stopped on the way out

work=$(mktemp -d /tmp/outbox_pg_bench_dbz.XXXXXX)
relay_pid=
churn_pid=
cleanup() {
	[ -n "$churn_pid" ] && kill -KILL "$churn_pid" 2>/dev/null
	[ -n "${perf_pid:-}" ] && kill -INT "$perf_pid" 2>/dev/null
	if [ -n "$relay_pid" ]; then
		kill -KILL "$relay_pid" 2>/dev/null
		wait "$relay_pid" 2>/dev/null
	fi
	tests/helpers/kafka.sh stop "$work/kafka" >/dev/null 2>&1 || true
	tests/helpers/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$work/stats"
figures=$work/figures.tsv
: >"$figures"
fig() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$figures"; }	# fig PHASE.SYSTEM KEY VALUE
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
# Servers of others: postmasters and JVMs whose command line does not name
# this run's directory (the test suite, another benchmark).
foreign() {
	local pid n_pg=0 n_jvm=0 cmd
	for pid in $(pgrep -x postgres -P 1 || true) $(pgrep -x java || true); do
		cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
		case $cmd in *"$work"*) continue ;; esac
		case $cmd in java*) n_jvm=$((n_jvm + 1)) ;; *) n_pg=$((n_pg + 1)) ;; esac
	done
	echo "$n_pg postmasters, $n_jvm JVMs"
}
fig run load_start "$(load_avg)"

tests/helpers/pg.sh start "$work/pg" "shared_buffers = 1GB" "max_wal_size = 20GB" \
	"checkpoint_timeout = 1h" "track_commit_timestamp = on" \
	"logical_decoding_work_mem = 256MB" >/dev/null
eval "$(tests/helpers/pg.sh env "$work/pg")"
export PGDATABASE=postgres
brokers=$(KAFKA_EXTRA_CONFIG="log.message.timestamp.type=LogAppendTime
num.partitions=$PARTITIONS" tests/helpers/kafka.sh start "$work/kafka")
broker_pid=$(cat "$work/kafka/pid")
tests/helpers/kafka.sh create-topic "$work/kafka" "$TOPIC" "$PARTITIONS" \
	message.timestamp.type=LogAppendTime

# Debezium's outboxevent table, declared to outbox_pg; "ref" in each payload
# ties a Kafka record to its row.  Both slots and the publication exist
# before any event is written.
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION outbox_pg;
CREATE TABLE public.outboxevent (
	id uuid NOT NULL PRIMARY KEY,
	aggregatetype varchar(255) NOT NULL,
	aggregateid varchar(255) NOT NULL,
	type varchar(255) NOT NULL,
	payload jsonb
);
SELECT outbox.declare_table('public.outboxevent', layout => 'debezium');
CREATE SEQUENCE ref_seq;
CREATE TABLE public.churn (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0, filler text);
INSERT INTO public.churn SELECT g, 0, repeat('x', 100) FROM generate_series(1, 10000) g;
CREATE TABLE public.dbz_heartbeat (id int PRIMARY KEY, ts timestamptz);
CREATE PUBLICATION dbz_publication FOR TABLE public.outboxevent, public.dbz_heartbeat;
SELECT 1 FROM pg_create_logical_replication_slot('outbox_pg', 'outbox_pg');
SELECT 1 FROM pg_create_logical_replication_slot('debezium', 'pgoutput');
SELECT 1 FROM pg_create_logical_replication_slot('debezium_tuned', 'pgoutput');
SQL

# The payload of the other benchmarks (~300 bytes of jsonb) plus "ref".
payload=$(cat <<'JSON'
'{"customer": {"id": 12345, "name": "Ada Lovelace", "email": "ada@example.com"}, "lines": [{"sku": "A-1", "qty": 2, "price": 9.95}, {"sku": "B-22", "qty": 1, "price": 19.5}], "total": 39.4, "currency": "EUR", "note": "leave it at the door and ring twice"}'
JSON
)
event_select="SELECT gen_random_uuid(), 'order', (random() * 10000)::int::text, 'OrderCreated',
	$payload::jsonb || jsonb_build_object('ref', nextval('ref_seq'))"
echo "INSERT INTO public.outboxevent (id, aggregatetype, aggregateid, type, payload)
$event_select FROM generate_series(1, 10);" >"$work/backlog.sql"
echo "INSERT INTO public.outboxevent (id, aggregatetype, aggregateid, type, payload)
$event_select;" >"$work/steady.sql"
echo "\\set id random(1, 10000)
UPDATE public.churn SET n = n + 1 WHERE id = :id;" >"$work/churn.sql"

# A fresh broker spends its first seconds of load compiling (a profile of
# the first drain showed a fifth of the machine in the broker's JIT
# threads), which would tax whichever relay runs first: warm it up with
# records of the same size, produced and read back by kcat, before any
# relay runs.
echo "== warming the broker up: ${BENCH_WARMUP:-300000} records"
sed -e "s/^'//" -e "s/'\$//" <<<"$payload" \
	| awk -v n="${BENCH_WARMUP:-300000}" '{for (i = 1; i <= n; i++) print i % 10000 "\t" $0}' \
	| timeout 600 kcat -P -q -b "$brokers" -t bench.warmup -K $'\t' \
	|| die "could not warm the broker up"
timeout 600 kcat -C -q -b "$brokers" -t bench.warmup -o beginning -e >/dev/null \
	|| die "could not read the warm-up records back"

sql() { psql -qXAt -v ON_ERROR_STOP=1 -c "$1"; }
last_ref() { sql "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ref_seq"; }
now_ms() { date +%s%3N; }

# ---- Kafka offsets and records

end_offsets() {	# prints the topic's end offset of each partition, one a line
	local args=() p out
	for ((p = 0; p < PARTITIONS; p++)); do args+=(-t "$TOPIC:$p:-1"); done
	out=$(timeout 20 kcat -Q -b "$brokers" "${args[@]}" 2>&1) || die "kcat -Q failed: $out"
	for ((p = 0; p < PARTITIONS; p++)); do
		sed -n "s/^$TOPIC \[$p\] offset \([0-9]*\)$/\1/p" <<<"$out" | grep . \
			|| die "no end offset for partition $p in: $out"
	done
}
total_records() { end_offsets | awk '{s += $1} END {print s}'; }

dump_records() {	# dump_records FROM_OFFSETS_FILE OUT: records after those offsets, kcat -J
	local p=0 from
	: >"$2"
	while read -r from; do
		timeout 600 kcat -C -q -J -b "$brokers" -t "$TOPIC" -p "$p" -o "$from" -e >>"$2" \
			|| die "could not read partition $p of $TOPIC"
		p=$((p + 1))
	done <"$1"
}

# truth FROM_REF TO_REF OUT: those events as PostgreSQL has them, for check.py
truth() {
	psql -qXAt -v ON_ERROR_STOP=1 -F $'\t' -c "
		SELECT (payload->>'ref')::bigint, id, aggregatetype, aggregateid, payload::text,
			extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000
		FROM public.outboxevent
		WHERE (payload->>'ref')::bigint BETWEEN $1 AND $2" >"$3"
}

# ---- relays

cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
peak_rss_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
slot_of() {
	case $1 in
	outbox_pg) echo outbox_pg ;;
	debezium) echo debezium ;;
	debezium-tuned) echo debezium_tuned ;;
	esac
}
walsender_pid() { sql "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$(slot_of "$1")'"; }

relay_log() { [ "$1" = outbox_pg ] && echo "$work/shipper.log" || echo "$work/connect/connect.log"; }

relay_alive() {	# relay_alive SYSTEM: dies with the relay's log if it exited
	kill -0 "$relay_pid" 2>/dev/null && return 0
	tail -n 40 "$(relay_log "$1")" >&2 || true
	die "$1 exited (log above)"
}

# start_relay SYSTEM [heartbeat]: starts the relay on its slot as it is now
start_relay() {
	local system=$1 variant=${2:-} rest_port heap
	until [ "$(sql "SELECT active FROM pg_replication_slots WHERE slot_name = '$(slot_of "$system")'")" = f ]; do
		sleep 0.1
	done
	if [ "$system" = outbox_pg ]; then
		"$SHIPPER" -d "host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres" \
			-b "$brokers" --slot outbox_pg --no-create-slot 2>>"$work/shipper.log" &
		relay_pid=$!
		return
	fi
	rm -rf "$work/connect"
	mkdir -p "$work/connect"
	rest_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	sed -e "s|@BOOTSTRAP@|$brokers|" -e "s|@REST_PORT@|$rest_port|" \
		-e "s|@DIR@|$work/connect|" -e "s|@PLUGINS@|$CACHE/plugins|" \
		"$here/worker.properties" >"$work/connect/worker.properties"
	sed -e "s|@PGPORT@|$PGPORT|" -e "s|^slot.name=.*|slot.name=$(slot_of "$system")|" \
		"$here/connector.properties" >"$work/connect/connector.properties"
	if [ "$variant" = heartbeat ]; then
		cat "$here/heartbeat.properties" >>"$work/connect/connector.properties"
	fi
	# The JVM options of Kafka's connect-standalone.sh and kafka-run-class.sh.
	read -ra heap <<<"${CONNECT_HEAP_OPTS:--Xms256M -Xmx2G}"
	if [ "$system" = debezium-tuned ]; then
		# A property given twice: the last one counts.
		cat "$here/tuned-connector.properties" >>"$work/connect/connector.properties"
		cat "$here/tuned-worker.properties" >>"$work/connect/worker.properties"
		read -ra heap <<<"$TUNED_HEAP"
	fi
	java "${heap[@]}" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
		-XX:MaxInlineLevel=15 -Djava.awt.headless=true \
		-Dlog4j.configuration="file:$here/log4j.properties" \
		-Dconnect.log.dir="$work/connect" \
		-cp "$CACHE/worker/*" org.apache.kafka.connect.cli.ConnectStandalone \
		"$work/connect/worker.properties" "$work/connect/connector.properties" \
		>"$work/connect/stdout.log" 2>&1 &
	relay_pid=$!
}

stop_relay() {
	local deadline=$((SECONDS + 60))
	kill -TERM "$relay_pid" 2>/dev/null || true
	while kill -0 "$relay_pid" 2>/dev/null; do
		if [ $SECONDS -ge $deadline ]; then
			kill -KILL "$relay_pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	wait "$relay_pid" 2>/dev/null || true
	relay_pid=
}

wait_records() {	# wait_records SYSTEM TOTAL TIMEOUT_S: until the topic holds TOTAL records
	local deadline=$((SECONDS + $3))
	until [ "$(total_records)" -ge "$2" ]; do
		relay_alive "$1"
		[ $SECONDS -lt $deadline ] || die "$1: fewer than $2 records in $TOPIC after $3 s"
		sleep 0.1
	done
}

# Writes one event and waits for it: the relay is streaming.
probe() {	# probe SYSTEM
	local before
	before=$(total_records)
	psql -qX -v ON_ERROR_STOP=1 -f "$work/steady.sql" >/dev/null
	wait_records "$1" $((before + 1)) 300
}

# Skips what the other relay shipped meanwhile: an inactive slot moves to now.
advance_slot() {
	sql "SELECT 1 FROM pg_replication_slot_advance('$(slot_of "$1")', pg_current_wal_lsn())" >/dev/null
}

# resources PHASE.SYSTEM CPU0 WALCPU0 WALPID BROKERCPU0: the relay's CPU
# since CPU0, its peak RSS, the CPU of its walsender (WALPID) since WALCPU0,
# the broker's since BROKERCPU0
resources() {
	fig "$1" relay_cpu_s "$(echo "$(cpu_seconds "$relay_pid") - $2" | bc -l)"
	fig "$1" relay_rss_kb "$(peak_rss_kb "$relay_pid")"
	fig "$1" walsender_cpu_s "$(echo "$(cpu_seconds "$4") - $3" | bc -l)"
	fig "$1" broker_cpu_s "$(echo "$(cpu_seconds "$broker_pid") - $5" | bc -l)"
}

# phase_begin/phase_end PHASE.SYSTEM: load, others' servers, and a perf
# profile of the whole machine when BENCH_PERF_DIR is set.
perf_pid=
phase_begin() {
	fig "$1" load_before "$(load_avg)"
	fig "$1" foreign_before "$(foreign)"
	if [ -n "${BENCH_PERF_DIR:-}" ]; then
		mkdir -p "$BENCH_PERF_DIR"
		perf record -a -g -F 499 -o "$BENCH_PERF_DIR/$1.data" >/dev/null 2>&1 &
		perf_pid=$!
	fi
}
phase_end() {
	fig "$1" load_after "$(load_avg)"
	fig "$1" foreign_after "$(foreign)"
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid" 2>/dev/null || true
		wait "$perf_pid" 2>/dev/null || true
		perf_pid=
	fi
}

# ---- drain: the same backlog for both

echo "== drain: writing $BACKLOG events (10 per transaction)"
pgbench -n -c 4 -j 2 -t $((BACKLOG / 40)) -f "$work/backlog.sql" >"$work/pgbench-backlog.log" 2>&1 \
	|| { cat "$work/pgbench-backlog.log" >&2; die "pgbench failed writing the backlog"; }
drain_to=$(last_ref)
drain_events=$(sql "SELECT count(*) FROM public.outboxevent")
truth 1 "$drain_to" "$work/truth-drain.tsv"

drain() {	# drain SYSTEM
	local system=$1 before t0 walpid brokercpu0
	end_offsets >"$work/offsets-drain-$system"
	before=$(awk '{s += $1} END {print s}' "$work/offsets-drain-$system")
	phase_begin "drain.$system"
	brokercpu0=$(cpu_seconds "$broker_pid")
	t0=$(now_ms)
	start_relay "$system"
	wait_records "$system" $((before + drain_events)) 3600
	walpid=$(walsender_pid "$system")
	resources "drain.$system" 0 0 "$walpid" "$brokercpu0"
	phase_end "drain.$system"
	stop_relay
	dump_records "$work/offsets-drain-$system" "$work/records-drain-$system.jsonl"
	python3 "$here/check.py" verify "$system" "$work/truth-drain.tsv" \
		"$work/records-drain-$system.jsonl" "$t0" "$work/stats/drain.$system.json"
}
for system in "${SYSTEMS[@]}"; do
	echo "== drain: $system"
	drain "$system"
done
echo "== identity: the same $drain_events events from both relays"
python3 "$here/check.py" compare "$work/truth-drain.tsv" "$work/records-drain-outbox_pg.jsonl" \
	"$work/records-drain-debezium.jsonl" "$work/stats/identity.json"
rm -f "$work"/records-drain-*.jsonl
# The slots of the variants the run skips would hold WAL back for nothing.
for system in debezium-tuned; do
	[[ " ${SYSTEMS[*]} " == *" $system "* ]] \
		|| sql "SELECT pg_drop_replication_slot('$(slot_of "$system")')" >/dev/null
done

# ---- steady

steady() {	# steady SYSTEM RATE
	local system=$1 rate=$2 phase="steady$2.$1" from to n cpu0 walpid walcpu0 t0 brokercpu0
	advance_slot "$system"
	end_offsets >"$work/offsets-$phase"
	t0=$(now_ms)
	start_relay "$system"
	probe "$system"
	from=$(($(last_ref) + 1))
	walpid=$(walsender_pid "$system")
	cpu0=$(cpu_seconds "$relay_pid")
	walcpu0=$(cpu_seconds "$walpid")
	phase_begin "$phase"
	brokercpu0=$(cpu_seconds "$broker_pid")
	pgbench -n -c 4 -j 2 -R "$rate" -T "$STEADY_SECONDS" -f "$work/steady.sql" \
		>"$work/pgbench-$phase.log" 2>&1 \
		|| { cat "$work/pgbench-$phase.log" >&2; die "pgbench failed at $rate/s"; }
	to=$(last_ref)
	n=$(sql "SELECT count(*) FROM public.outboxevent WHERE (payload->>'ref')::bigint BETWEEN $from AND $to")
	wait_records "$system" $(($(awk '{s += $1} END {print s}' "$work/offsets-$phase") + 1 + n)) 600
	resources "$phase" "$cpu0" "$walcpu0" "$walpid" "$brokercpu0"
	phase_end "$phase"
	fig "$phase" events "$n"
	fig "$phase" achieved_rate "$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench-$phase.log" | head -n 1)"
	stop_relay
	dump_records "$work/offsets-$phase" "$work/records-$phase.jsonl"
	truth "$from" "$to" "$work/truth-$phase.tsv"
	python3 "$here/check.py" verify "$system" "$work/truth-$phase.tsv" \
		"$work/records-$phase.jsonl" "$t0" "$work/stats/$phase.json"
	rm -f "$work/records-$phase.jsonl"
}
for rate in $RATES; do
	for system in "${SYSTEMS[@]}"; do
		echo "== steady: $system at $rate events/s for $STEADY_SECONDS s"
		steady "$system" "$rate"
	done
done

# ---- idle WAL retention

wal_retained() {	# prints "CONFIRMED RESTART": bytes behind the current WAL position
	sql "SELECT pg_current_wal_lsn() - confirmed_flush_lsn, pg_current_wal_lsn() - restart_lsn
		FROM pg_replication_slots WHERE slot_name = '$(slot_of "$1")'" | tr '|' ' '
}

idle_wal() {	# idle_wal SYSTEM [heartbeat]
	local system=$1 variant=${2:-} phase lsn0 max_confirmed=0 r
	phase="idle.$system${variant:+-$variant}"
	advance_slot "$system"
	fig "$phase" load_before "$(load_avg)"
	fig "$phase" foreign_before "$(foreign)"
	start_relay "$system" "$variant"
	probe "$system"
	lsn0=$(sql "SELECT pg_current_wal_lsn()")
	pgbench -n -c 2 -j 1 -R "$CHURN_RATE" -T "$CHURN_SECONDS" -f "$work/churn.sql" \
		>"$work/pgbench-$phase.log" 2>&1 &
	churn_pid=$!
	while kill -0 "$churn_pid" 2>/dev/null; do
		relay_alive "$system"
		r=$(wal_retained "$system")
		[ "${r% *}" -le "$max_confirmed" ] || max_confirmed=${r% *}
		sleep 1
	done
	wait "$churn_pid" || { cat "$work/pgbench-$phase.log" >&2; die "churn pgbench failed"; }
	churn_pid=
	r=$(wal_retained "$system")
	fig "$phase" wal_written "$(sql "SELECT pg_current_wal_lsn() - '$lsn0'")"
	fig "$phase" retained_confirmed "${r% *}"
	fig "$phase" retained_restart "${r#* }"
	fig "$phase" retained_confirmed_max "$max_confirmed"
	fig "$phase" load_after "$(load_avg)"
	fig "$phase" foreign_after "$(foreign)"
	stop_relay
}
echo "== idle WAL: outbox idle, $CHURN_RATE updates/s on another table for $CHURN_SECONDS s"
idle_wal outbox_pg
idle_wal debezium
idle_wal debezium heartbeat

# ---- report

fig run load_end "$(load_avg)"
{
	echo "outbox_pg vs Debezium $DBZ_VERSION outbox event router, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "command: ${CONNECT_HEAP_OPTS:+CONNECT_HEAP_OPTS=\"$CONNECT_HEAP_OPTS\" }${CONNECT_TUNED_HEAP_OPTS:+CONNECT_TUNED_HEAP_OPTS=\"$CONNECT_TUNED_HEAP_OPTS\" }BENCH_DEBEZIUM_VARIANTS=\"$VARIANTS\" BENCH_BACKLOG=$BACKLOG BENCH_RATES=\"$RATES\" BENCH_SECONDS=$STEADY_SECONDS" \
		"BENCH_CHURN_RATE=$CHURN_RATE BENCH_CHURN_SECONDS=$CHURN_SECONDS bench/debezium.sh"
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GB RAM, $(. /etc/os-release && echo "$PRETTY_NAME"); PostgreSQL $(sql 'SHOW server_version' | cut -d' ' -f1), Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' tests/helpers/kafka/pom.xml) (1 broker, KRaft, $PARTITIONS partitions, LogAppendTime), Java $(java -version 2>&1 | sed -n 's/.*version "\(.*\)".*/\1/p'), $($SHIPPER --version 2>&1 | head -n 1), all on this machine"
	echo "Debezium default: connector.properties (max.batch.size 2048, max.queue.size 8192, poll.interval.ms 500: Debezium's defaults), worker.properties (offset.flush.interval.ms 10000; producer: Kafka 3.9's defaults as Connect sets them, linger 0 ms, batch 16 kB, no compression), heap ${CONNECT_HEAP_OPTS:--Xms256M -Xmx2G}"
	echo "Debezium tuned: the same plus $(grep -hv '^#' "$here/tuned-connector.properties" "$here/tuned-worker.properties" | tr '\n' ' ')heap $TUNED_HEAP"
	echo "outbox_pg: outbox-shipper's defaults (idempotent, acks=all, lz4, linger 5 ms, max 10,000 events / 8 MB in flight)"
	python3 "$here/check.py" report "$figures" "$work/stats"
} | tee "$work/result.txt"
mkdir -p bench/results
cp "$work/result.txt" "bench/results/debezium-$(date -u +%Y%m%dT%H%M%S).txt"
