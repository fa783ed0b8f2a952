#!/usr/bin/env bash
# Decoding benchmark: outbox_pg against wal2json, test_decoding and
# pgoutput, on one and the same WAL per payload shape, measured by the
# decoding backend's own CPU time beside the wall time.
#
#   bench/decode.sh [MAJOR]     (default 15, Debian's; 14, 16, 17, 18 come
#                               from scripts/pg-major.sh, with the plugin
#                               built from this tree for them)
#
# Knobs (environment):
#   BENCH_TXNS=200000     transactions in each shape's WAL (half with an event)
#   BENCH_ROUNDS=9        rounds per mode and shape, plugins interleaved
#   BENCH_SHAPES="flat nested large"   payload shapes, each its own WAL:
#                         flat    ~300 bytes of jsonb, scalars only
#                         nested  ~300 bytes, an order with a customer object,
#                                 an array of line objects, numeric prices
#                         large   ~4 kB, an order with 40 line objects
#   BENCH_INSTALL=0       1: "make install" the working tree first (by
#                         default the installed plugin is measured, and only
#                         built when it is not installed at all)
#   BENCH_WIRE_TIMEOUT=300  seconds one pg_recvlogical run may take
#
# For each shape, one WAL of BENCH_TXNS transactions: half insert a business
# row and one outbox event, half update an unrelated table, interleaved.
# The shape's slots are created before its workload, so every plugin decodes
# exactly the same WAL, up to the same end position.  Two modes, plugins
# interleaved and their order rotated each round:
#   decode  pg_logical_slot_peek_changes (peek: the same WAL every round;
#           peek_binary_changes for pgoutput); CPU: the backend's own
#           utime + stime (/proc/self/stat, read by the backend before and
#           after with pg_read_file)
#   wire    pg_recvlogical --start --endpos ... -f /dev/null, on a fresh slot
#           per plugin and round (pg_recvlogical consumes its slot); CPU: the
#           walsender's utime + stime, as the postmaster accounts it once it
#           reaped the walsender (no other backend exits meanwhile)
# Wall time swings with whatever else the machine runs; a backend's CPU time
# much less, so the CPU ratios are the figures to steer by.  Prints medians
# with the spread (min-max) over the rounds, ratios of the medians against
# pgoutput and wal2json and the range of the same-round ratios, bytes and
# messages per transaction, and keeps a copy in bench/results/ (ignored by
# git unless added).
set -euo pipefail
cd "$(dirname "$0")/.."

TXNS=${BENCH_TXNS:-200000}
ROUNDS=${BENCH_ROUNDS:-9}
SHAPES=${BENCH_SHAPES:-"flat nested large"}
INSTALL=${BENCH_INSTALL:-0}
WIRE_TIMEOUT=${BENCH_WIRE_TIMEOUT:-300}
MAJOR=${1:-15}
PLUGINS=(outbox_pg wal2json test_decoding pgoutput)
# Issue #11's targets, on the backend's CPU time.
TARGET_WAL2JSON=0.50
TARGET_PGOUTPUT=0.85

die() { echo "decode.sh: $*" >&2; exit 1; }

[ "$TXNS" -ge 2 ] && [ $((TXNS % 2)) -eq 0 ] || die "BENCH_TXNS must be even and >= 2"
[ "$ROUNDS" -ge 1 ] || die "BENCH_ROUNDS must be >= 1"
for shape in $SHAPES; do
	case $shape in flat | nested | large) ;; *) die "unknown shape $shape in BENCH_SHAPES (flat, nested, large)" ;; esac
done

# --- dependencies -----------------------------------------------------------

as_root_apt() {
	[ "$(id -u)" = 0 ] || die "$* is missing; install it as root (apt-get install -y $*)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq "$@" >/dev/null 2>&1 \
		|| { apt-get update -qq && apt-get install -y -qq "$@" >/dev/null; }
}

PG_CONFIG=pg_config
plugin_installed() {	# plugin_installed NAME
	[ -f "$("$PG_CONFIG" --pkglibdir)/$1.so" ]
}

# A fresh box lacks PostgreSQL and the build tools too: the project's
# installer brings them, then the plugin is built.  Otherwise the installed
# plugin is what is measured (other work in progress is not installed
# behind anyone's back), unless BENCH_INSTALL=1.  Another major's server
# lives in the project's cache, where the plugin is always built anew.
# wal2json is Debian's package, which exists for 15 only.
if [ "$MAJOR" != 15 ]; then
	command -v pg_config >/dev/null || scripts/install-deps.sh
	prefix=$(scripts/pg-major.sh install-plugin "$MAJOR") || die "no PostgreSQL $MAJOR"
	PG_CONFIG=$prefix/bin/pg_config
	PLUGINS=(outbox_pg test_decoding pgoutput)
	WAL2JSON_NOTE="none: Debian packages wal2json for PostgreSQL 15 only, and no registry here has a build for $MAJOR"
else
	if ! command -v pg_config >/dev/null || ! plugin_installed outbox_pg \
		|| [ ! -f "$(pg_config --sharedir)/extension/outbox_pg.control" ]; then
		scripts/install-deps.sh
		INSTALL=1
	fi
	if [ "$INSTALL" = 1 ]; then
		make -s >/dev/null && make -s install >/dev/null
	fi
	plugin_installed wal2json || as_root_apt postgresql-15-wal2json
	WAL2JSON_NOTE=$(dpkg-query -W -f='${Version}' postgresql-15-wal2json 2>/dev/null || echo '?')
fi

PG_BINDIR=$("$PG_CONFIG" --bindir)
export PG_BINDIR
export PATH=$PG_BINDIR:$PATH

# --- cluster ----------------------------------------------------------------

work=$(mktemp -d /tmp/outbox_pg_bench.XXXXXX)
event_pid=
cleanup() {
	[ -z "$event_pid" ] || kill "$event_pid" 2>/dev/null || true
	tests/helpers/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One peek slot and one wire slot per round for each plugin.
nslots=$(( ${#PLUGINS[@]} * (ROUNDS + 1) + 4 ))
# pg.sh allows our plugin where the server has output_plugin_libraries;
# wal2json is added where it is measured (15 only).
extra_conf=()
[[ " ${PLUGINS[*]} " == *" wal2json "* ]] &&
	extra_conf+=("output_plugin_libraries = 'pgoutput, test_decoding, outbox_pg, wal2json'")
tests/helpers/pg.sh start "$work/pg" "${extra_conf[@]}" \
	"shared_buffers = 1GB" \
	"logical_decoding_work_mem = 256MB" \
	"synchronous_commit = off" \
	"max_wal_size = 20GB" "checkpoint_timeout = 1h" "autovacuum = off" \
	"max_replication_slots = $nslots" "max_wal_senders = $nslots" >/dev/null
eval "$(tests/helpers/pg.sh env "$work/pg")"
export PGDATABASE=postgres
port=$PGPORT

q() { psql -qXAt -v ON_ERROR_STOP=1 "$@"; }

q <<'SQL'
CREATE EXTENSION outbox_pg;
CREATE TABLE business (id bigserial PRIMARY KEY, kind text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE unrelated (id int PRIMARY KEY, n bigint NOT NULL);
INSERT INTO unrelated SELECT i, 0 FROM generate_series(1, 10000) i;
CREATE PUBLICATION outbox_pub FOR TABLE outbox.events;
SQL

# Plugin options, for SQL (quoted pairs) and for pg_recvlogical (-o).
sql_options() {
	case $1 in
	outbox_pg) echo "" ;;
	wal2json) echo ", 'format-version', '2', 'add-tables', 'outbox.events'" ;;
	test_decoding) echo ", 'skip-empty-xacts', '1'" ;;
	pgoutput) echo ", 'proto_version', '1', 'publication_names', 'outbox_pub'" ;;
	esac
}
wire_options() {
	case $1 in
	outbox_pg) echo "" ;;
	wal2json) echo "-o format-version=2 -o add-tables=outbox.events" ;;
	test_decoding) echo "-o skip-empty-xacts=1" ;;
	pgoutput) echo "-o proto_version=1 -o publication_names=outbox_pub" ;;
	esac
}


# --- workload ---------------------------------------------------------------

# payload SHAPE: the event's payload, a SQL literal.  Every event
# transaction also inserts a business row, as an application using an
# outbox does.
payload() {
	case $1 in
	flat)
		echo "'{\"order_id\": 1234567, \"customer_id\": 12345, \"customer_name\": \"Ada Lovelace\", \"email\": \"ada@example.com\", \"status\": \"created\", \"amount\": 39.40, \"tax\": 6.57, \"currency\": \"EUR\", \"channel\": \"web\", \"shipping_method\": \"express\", \"zip\": \"75001\", \"items\": 3, \"note\": \"leave it at the door and ring twice\"}'" ;;
	nested)
		echo "'{\"customer\": {\"id\": 12345, \"name\": \"Ada Lovelace\", \"email\": \"ada@example.com\"}, \"lines\": [{\"sku\": \"A-1\", \"qty\": 2, \"price\": 9.95}, {\"sku\": \"B-22\", \"qty\": 1, \"price\": 19.5}], \"shipping\": {\"method\": \"express\", \"zip\": \"75001\"}, \"total\": 39.4, \"currency\": \"EUR\", \"note\": \"leave it at the door and ring twice\"}'" ;;
	large)
		q -c "SELECT quote_literal(jsonb_build_object('order', 1234567,
			'customer', jsonb_build_object('id', 12345, 'name', 'Ada Lovelace', 'email', 'ada@example.com'),
			'lines', (SELECT jsonb_agg(jsonb_build_object('sku', 'SKU-' || lpad(l::text, 5, '0'),
				'name', 'widget number ' || l, 'qty', 1 + l % 3, 'price', round((l * 1.37)::numeric, 2),
				'tax', 0.2)) FROM generate_series(1, 40) l),
			'total', 1234.56, 'currency', 'EUR')::text)" ;;
	esac
}

cat >"$work/update.sql" <<'SQL'
\set id random(1, 10000)
UPDATE unrelated SET n = n + 1 WHERE id = :id;
SQL

# workload SHAPE: writes the shape's WAL; sets startpos, endpos,
# workload_secs, wal_bytes, events, payload_text, payload_stored.
workload() {
	local shape=$1 half=$((TXNS / 2)) t0 deadline
	cat >"$work/event.sql" <<-SQL
	\\set aggregate random(1, 100000)
	BEGIN;
	INSERT INTO business (kind) VALUES ('order');
	INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload)
	VALUES ('order', :aggregate, 'OrderCreated', $(payload "$shape"));
	COMMIT;
	SQL
	startpos=$(q -c "SELECT pg_current_wal_insert_lsn()")
	echo "== $shape: workload of $TXNS transactions" >&2
	t0=$SECONDS
	# Two clients, one per kind, so the two kinds interleave in the WAL as
	# in a busy database; pgbench -t gives exact counts.
	pgbench -n -c 1 -t "$half" -f "$work/event.sql" >"$work/pgbench-event.log" 2>&1 &
	event_pid=$!
	pgbench -n -c 1 -t "$half" -f "$work/update.sql" >"$work/pgbench-update.log" 2>&1 \
		|| { cat "$work/pgbench-update.log" >&2; die "update workload failed"; }
	wait "$event_pid" || { cat "$work/pgbench-event.log" >&2; die "event workload failed"; }
	event_pid=
	workload_secs=$((SECONDS - t0))
	endpos=$(q -c "SELECT pg_current_wal_insert_lsn()")
	# The walsender sends only flushed WAL, and pg_recvlogical stops only
	# once it is told the server is past endpos: wait for the flush.
	deadline=$((SECONDS + 60))
	until [ "$(q -c "SELECT pg_current_wal_flush_lsn() >= '$endpos'")" = t ]; do
		[ $SECONDS -lt $deadline ] || die "WAL not flushed up to $endpos within 60 s"
		q -c "SELECT pg_switch_wal()" >/dev/null
		sleep 0.1
	done
	read -r wal_bytes events payload_text payload_stored <<<"$(q -F' ' -c "
		SELECT pg_wal_lsn_diff('$endpos', '$startpos'), count(*),
			round(avg(octet_length(payload::text))), round(avg(pg_column_size(payload)))
		FROM outbox.events")"
	[ "$events" = "$half" ] || die "expected $half events, found $events"
	echo "   $TXNS transactions, $events events, $((wal_bytes / 1048576)) MB of WAL in $workload_secs s" >&2
}

# --- measurements -----------------------------------------------------------

HZ=$(getconf CLK_TCK)
postmaster_pid=$(head -n 1 "$work/pg/data/postmaster.pid")
# children_cpu_seconds, clients_running, wait_no_clients.  A wire round
# starts once every client backend was reaped, and ends once its walsender
# was: meanwhile, the walsender is the only child whose CPU the postmaster
# adds to its reaped children's.
source bench/postmaster.sh

peek_function() {
	if [ "$1" = pgoutput ]; then
		echo pg_logical_slot_peek_binary_changes
	else
		echo pg_logical_slot_peek_changes
	fi
}

# decode_once SHAPE PLUGIN: prints "seconds cpu_seconds messages bytes".
# The backend reads its own utime and stime (fields 14 and 15 of
# /proc/self/stat) before and after the peek.
decode_once() {
	local shape=$1 p=$2
	q <<SQL
SELECT split_part(pg_read_file('/proc/self/stat'), ' ', 14)::bigint
	+ split_part(pg_read_file('/proc/self/stat'), ' ', 15)::bigint AS c0,
	clock_timestamp() AS t0 \gset
SELECT count(*) AS n, coalesce(sum(octet_length(data)), 0) AS b
FROM $(peek_function "$p")('peek_${shape}_$p', '$endpos', NULL $(sql_options "$p")) \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 4) || ' ' ||
	round((split_part(pg_read_file('/proc/self/stat'), ' ', 14)::bigint
		+ split_part(pg_read_file('/proc/self/stat'), ' ', 15)::bigint - :c0)::numeric / $HZ, 2)
	|| ' ' || :n || ' ' || :b;
SQL
}

wire_once() {	# wire_once SHAPE PLUGIN ROUND: prints "seconds cpu_seconds"
	local shape=$1 p=$2 r=$3 slot t0 t1 c0 c1 confirmed
	slot=wire_${shape}_${p}_$r
	wait_no_clients
	c0=$(children_cpu_seconds "$postmaster_pid")
	t0=$(date +%s.%N)
	# shellcheck disable=SC2046
	timeout "$WIRE_TIMEOUT" pg_recvlogical -h 127.0.0.1 -p "$port" -U postgres \
		-d postgres --slot "$slot" --start --endpos "$endpos" \
		--no-loop -f /dev/null $(wire_options "$p") \
		|| die "pg_recvlogical for $p (round $r) failed or timed out"
	t1=$(date +%s.%N)
	# The walsender exits after pg_recvlogical; its CPU counts once reaped.
	wait_no_clients
	c1=$(children_cpu_seconds "$postmaster_pid")
	# A run that stopped early would look fast: the slot must have been
	# confirmed up to the end of the workload.
	confirmed=$(q -c "SELECT confirmed_flush_lsn >= '$endpos' FROM pg_replication_slots WHERE slot_name = '$slot'")
	[ "$confirmed" = t ] || die "pg_recvlogical for $p (round $r) stopped before $endpos"
	awk -v a="$t0" -v b="$t1" -v c0="$c0" -v c1="$c1" 'BEGIN { printf "%.4f %.2f\n", b - a, c1 - c0 }'
}

rotated() {	# rotated ROUND: the plugins, starting at a different one each round
	local k=$(( ($1 - 1) % ${#PLUGINS[@]} ))
	echo "${PLUGINS[@]:$k}" "${PLUGINS[@]:0:$k}"
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
spread() { tr ' ' '\n' | grep . | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }'; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
verdict() {	# verdict RATIO TARGET
	awk -v r="$1" -v t="$2" 'BEGIN { print (r + 0 <= t + 0) ? "met" : "MISSED" }'
}
# round_ratios A B: the per-round ratios of two lists of the same rounds,
# "min-max"
round_ratios() {
	paste <(tr ' ' '\n' <<<"$1" | grep .) <(tr ' ' '\n' <<<"$2" | grep .) \
		| awk '$2 > 0 { r = $1 / $2; if (n++ == 0 || r < lo) lo = r; if (r > hi) hi = r }
			END { if (n) printf "%.2f-%.2f", lo, hi; else printf "-" }'
}

# measure SHAPE: slots, workload, warm-up and the rounds; appends the
# shape's section to the report.
measure() {
	local shape=$1 p r a result secs cpu n b begins load_before load_after t
	local -A decode_times decode_cpu wire_times wire_cpu messages bytes
	# Before the slots: no plugin is to see it.
	q -c "TRUNCATE outbox.events" >/dev/null
	for p in "${PLUGINS[@]}"; do
		q -c "SELECT 1 FROM pg_create_logical_replication_slot('peek_${shape}_$p', '$p')" >/dev/null
		for r in $(seq 1 "$ROUNDS"); do
			q -c "SELECT 1 FROM pg_create_logical_replication_slot('wire_${shape}_${p}_$r', '$p')" >/dev/null
		done
	done
	workload "$shape"
	load_before=$(cut -d' ' -f1-3 /proc/loadavg)

	# Untimed warm-up: loads each plugin's code and the WAL into the page
	# cache, and checks what each plugin sees.
	for p in "${PLUGINS[@]}"; do
		read -r _ _ n b <<<"$(decode_once "$shape" "$p")"
		messages[$p]=$n bytes[$p]=$b
	done
	[ "${messages[outbox_pg]}" = "$events" ] \
		|| die "outbox_pg wrote ${messages[outbox_pg]} messages, expected $events"
	# test_decoding writes one BEGIN per transaction with changes: all of them.
	if [[ " ${PLUGINS[*]} " == *" test_decoding "* ]]; then
		begins=$(q -c "SELECT count(*) FROM pg_logical_slot_peek_changes('peek_${shape}_test_decoding',
			'$endpos', NULL, 'skip-empty-xacts', '1') WHERE data LIKE 'BEGIN%'")
		[ "$begins" = "$TXNS" ] || die "the WAL holds $begins transactions, expected $TXNS"
	fi

	for r in $(seq 1 "$ROUNDS"); do
		for p in $(rotated "$r"); do
			read -r secs cpu n b <<<"$(decode_once "$shape" "$p")"
			[ "$n" = "${messages[$p]}" ] && [ "$b" = "${bytes[$p]}" ] \
				|| die "$p decoded differently in round $r"
			decode_times[$p]+="$secs " decode_cpu[$p]+="$cpu "
		done
		for p in $(rotated "$r"); do
			read -r secs cpu <<<"$(wire_once "$shape" "$p" "$r")"
			wire_times[$p]+="$secs " wire_cpu[$p]+="$cpu "
		done
		echo "   round $r/$ROUNDS done" >&2
	done
	load_after=$(cut -d' ' -f1-3 /proc/loadavg)
	q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
		WHERE slot_name LIKE 'peek\\_${shape}\\_%' OR slot_name LIKE 'wire\\_${shape}\\_%'" >/dev/null

	{
		echo
		echo "## $shape: $TXNS transactions ($events with a business row and one outbox event," \
			"$events updates of an unrelated table) in $workload_secs s;" \
			"$(calc '%.1f' "$wal_bytes / 1048576") MB of WAL;" \
			"payload $payload_text bytes as text, $payload_stored stored"
		echo "load average $load_before before the rounds, $load_after after (1, 5, 15 min)"
		echo
		echo "CPU: the decoding backend's utime + stime; median (min-max) of $ROUNDS rounds"
		echo
		echo "| plugin | decode CPU s | decode wall s | wire CPU s (walsender) | wire wall s | MB out | msgs/txn | bytes/event |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|"
		for p in "${PLUGINS[@]}"; do
			printf '| %s | %.2f (%s) | %.3f (%s) | %.2f (%s) | %.3f (%s) | %.1f | %.2f | %.0f |\n' "$p" \
				"$(median <<<"${decode_cpu[$p]}")" "$(spread <<<"${decode_cpu[$p]}")" \
				"$(median <<<"${decode_times[$p]}")" "$(spread <<<"${decode_times[$p]}")" \
				"$(median <<<"${wire_cpu[$p]}")" "$(spread <<<"${wire_cpu[$p]}")" \
				"$(median <<<"${wire_times[$p]}")" "$(spread <<<"${wire_times[$p]}")" \
				"$(calc '%.4f' "${bytes[$p]} / 1048576")" \
				"$(calc '%.4f' "${messages[$p]} / $TXNS")" \
				"$(calc '%.4f' "${bytes[$p]} / $events")"
		done
		echo
		echo "Ratios of the medians; in brackets the range of the $ROUNDS same-round ratios."
		echo
		echo "| ratio | decode CPU | wire CPU | decode wall | wire wall | target (CPU) |"
		echo "|---|---:|---:|---:|---:|---|"
		for a in "${PLUGINS[@]:1}"; do
			local rdc rwc
			rdc=$(calc '%.2f' "$(median <<<"${decode_cpu[outbox_pg]}") / $(median <<<"${decode_cpu[$a]}")")
			rwc=$(calc '%.2f' "$(median <<<"${wire_cpu[outbox_pg]}") / $(median <<<"${wire_cpu[$a]}")")
			case $a in
			wal2json) t=$TARGET_WAL2JSON ;;
			pgoutput) t=$TARGET_PGOUTPUT ;;
			*) t= ;;
			esac
			printf '| outbox_pg / %s | **%s×** (%s) | %s× (%s) | %s× | %s× | %s |\n' "$a" \
				"$rdc" "$(round_ratios "${decode_cpu[outbox_pg]}" "${decode_cpu[$a]}")" \
				"$rwc" "$(round_ratios "${wire_cpu[outbox_pg]}" "${wire_cpu[$a]}")" \
				"$(calc '%.2f' "$(median <<<"${decode_times[outbox_pg]}") / $(median <<<"${decode_times[$a]}")")" \
				"$(calc '%.2f' "$(median <<<"${wire_times[outbox_pg]}") / $(median <<<"${wire_times[$a]}")")" \
				"${t:+≤ $t×: decode $(verdict "$rdc" "$t"), wire $(verdict "$rwc" "$t")}"
		done
		echo
		echo "every round (s), in round order:"
		for p in "${PLUGINS[@]}"; do
			printf '  %-14s decode CPU %s\n  %-14s decode wall %s\n  %-14s wire CPU %s\n  %-14s wire wall %s\n' \
				"$p" "${decode_cpu[$p]% }" "" "${decode_times[$p]% }" "" "${wire_cpu[$p]% }" "" "${wire_times[$p]% }"
		done
	} >>"$out"
}

# --- report -----------------------------------------------------------------

so=$("$PG_CONFIG" --pkglibdir)/outbox_pg.so
out=$work/result.txt
{
	echo "outbox_pg decoding benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "command:  BENCH_TXNS=$TXNS BENCH_ROUNDS=$ROUNDS BENCH_SHAPES=\"$SHAPES\" bench/decode.sh $MAJOR"
	echo "machine:  $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
		"$(lscpu 2>/dev/null | awk -F: '/Hypervisor vendor/ { gsub(/ /, "", $2); print "(" $2 " guest)" }')," \
		"$(awk '/MemTotal/ { printf "%.1f GB RAM", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
	echo "server:   $(q -c 'SELECT version()' | cut -d, -f1)"
	echo "plugins:  outbox_pg at $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- plugin sql 2>/dev/null || echo ' (plugin/ or sql/ modified)')" \
		"(installed .so $(date -u -r "$so" +%Y-%m-%dT%H:%MZ), sha256 $(sha256sum "$so" | cut -c1-12))," \
		"wal2json $WAL2JSON_NOTE"
	echo "options:  outbox_pg none; wal2json format-version 2, add-tables outbox.events;" \
		"test_decoding skip-empty-xacts; pgoutput proto_version 1, a publication of outbox.events"
	echo "settings: shared_buffers 1GB, logical_decoding_work_mem 256MB, fsync off"
	echo "rounds:   $ROUNDS per mode and shape after one untimed decode warm-up"
	echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) at the start (1, 5, 15 min)"
} >"$out"
for shape in $SHAPES; do
	measure "$shape"
done
echo >>"$out"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) at the end" >>"$out"
cat "$out"
mkdir -p bench/results
cp "$out" "bench/results/decode-$(date -u +%Y%m%dT%H%M%S).txt"
