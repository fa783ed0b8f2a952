#!/usr/bin/env bash
# Decoding benchmark: outbox_pg against wal2json, test_decoding and
# pgoutput, on one and the same WAL.
#
#   bench/decode.sh [MAJOR]     (default 15, Debian's; 14, 16, 17, 18 come
#                               from scripts/pg-major.sh, with the plugin
#                               built from this tree for them)
#
# Knobs (environment):
#   BENCH_TXNS=200000     transactions in the WAL (half with an event)
#   BENCH_ROUNDS=5        timed rounds per mode
#   BENCH_INSTALL=0       1: "make install" the working tree first (by
#                         default the installed plugin is measured, and only
#                         built when it is not installed at all)
#   BENCH_WIRE_TIMEOUT=300  seconds one pg_recvlogical run may take
#
# Builds one WAL of BENCH_TXNS transactions: half insert a business row and
# one outbox event (~300-byte jsonb payload), half update an unrelated
# table.  Every slot is created before the workload, so every plugin
# decodes exactly the same WAL, up to the same end position.  Two modes,
# plugins interleaved and their order rotated each round:
#   decode  pg_logical_slot_peek_changes (peek: the same WAL every round;
#           peek_binary_changes for pgoutput)
#   wire    pg_recvlogical --start --endpos ... -f /dev/null, on a fresh slot
#           per plugin and round (pg_recvlogical consumes its slot)
# Prints medians, ratios against the anchors, bytes and messages per
# transaction, and keeps a copy in bench/results/ (not in git).
set -euo pipefail
cd "$(dirname "$0")/.."

TXNS=${BENCH_TXNS:-200000}
ROUNDS=${BENCH_ROUNDS:-5}
INSTALL=${BENCH_INSTALL:-0}
WIRE_TIMEOUT=${BENCH_WIRE_TIMEOUT:-300}
MAJOR=${1:-15}
PLUGINS=(outbox_pg wal2json test_decoding pgoutput)
TARGET_WAL2JSON=0.80
TARGET_PGOUTPUT=1.25

die() { echo "decode.sh: $*" >&2; exit 1; }

[ "$TXNS" -ge 2 ] && [ $((TXNS % 2)) -eq 0 ] || die "BENCH_TXNS must be even and >= 2"
[ "$ROUNDS" -ge 1 ] || die "BENCH_ROUNDS must be >= 1"

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

for p in "${PLUGINS[@]}"; do
	q -c "SELECT 1 FROM pg_create_logical_replication_slot('peek_$p', '$p')" >/dev/null
	for r in $(seq 1 "$ROUNDS"); do
		q -c "SELECT 1 FROM pg_create_logical_replication_slot('wire_${p}_$r', '$p')" >/dev/null
	done
done

# --- workload ---------------------------------------------------------------

# A payload of ~300 bytes as text; every event transaction also inserts a business
# row, as an application using an outbox does.
cat >"$work/event.sql" <<'SQL'
\set aggregate random(1, 100000)
BEGIN;
INSERT INTO business (kind) VALUES ('order');
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload)
VALUES ('order', :aggregate, 'OrderCreated',
	'{"customer": {"id": 12345, "name": "Ada Lovelace", "email": "ada@example.com"}, "lines": [{"sku": "A-1", "qty": 2, "price": 9.95}, {"sku": "B-22", "qty": 1, "price": 19.5}], "shipping": {"method": "express", "zip": "75001"}, "total": 39.4, "currency": "EUR", "note": "leave it at the door and ring twice"}');
COMMIT;
SQL
cat >"$work/update.sql" <<'SQL'
\set id random(1, 10000)
UPDATE unrelated SET n = n + 1 WHERE id = :id;
SQL

half=$((TXNS / 2))
startpos=$(q -c "SELECT pg_current_wal_insert_lsn()")
echo "== workload: $TXNS transactions" >&2
t0=$SECONDS
# Two clients, one per kind, so the two kinds interleave in the WAL as in
# a busy database; pgbench -t gives exact counts.
pgbench -n -c 1 -t "$half" -f "$work/event.sql" >"$work/pgbench-event.log" 2>&1 &
event_pid=$!
pgbench -n -c 1 -t "$half" -f "$work/update.sql" >"$work/pgbench-update.log" 2>&1 \
	|| { cat "$work/pgbench-update.log" >&2; die "update workload failed"; }
wait "$event_pid" || { cat "$work/pgbench-event.log" >&2; die "event workload failed"; }
event_pid=
workload_secs=$((SECONDS - t0))
endpos=$(q -c "SELECT pg_current_wal_insert_lsn()")
# The walsender sends only flushed WAL, and pg_recvlogical stops only once
# it is told the server is past endpos: wait for the flush.
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

# --- measurements -----------------------------------------------------------

peek_function() {
	if [ "$1" = pgoutput ]; then
		echo pg_logical_slot_peek_binary_changes
	else
		echo pg_logical_slot_peek_changes
	fi
}

decode_once() {	# decode_once PLUGIN: prints "seconds messages bytes"
	local p=$1
	q <<SQL
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) AS n, coalesce(sum(octet_length(data)), 0) AS b
FROM $(peek_function "$p")('peek_$p', '$endpos', NULL $(sql_options "$p")) \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 4) || ' ' || :n || ' ' || :b;
SQL
}

wire_once() {	# wire_once PLUGIN ROUND: prints seconds
	local p=$1 r=$2 t0 t1 confirmed
	t0=$(date +%s.%N)
	# shellcheck disable=SC2046
	timeout "$WIRE_TIMEOUT" pg_recvlogical -h 127.0.0.1 -p "$port" -U postgres \
		-d postgres --slot "wire_${p}_$r" --start --endpos "$endpos" \
		--no-loop -f /dev/null $(wire_options "$p") \
		|| die "pg_recvlogical for $p (round $r) failed or timed out"
	t1=$(date +%s.%N)
	# A run that stopped early would look fast: the slot must have been
	# confirmed up to the end of the workload.
	confirmed=$(q -c "SELECT confirmed_flush_lsn >= '$endpos' FROM pg_replication_slots WHERE slot_name = 'wire_${p}_$r'")
	[ "$confirmed" = t ] || die "pg_recvlogical for $p (round $r) stopped before $endpos"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

rotated() {	# rotated ROUND: the plugins, starting at a different one each round
	local k=$(( ($1 - 1) % ${#PLUGINS[@]} ))
	echo "${PLUGINS[@]:$k}" "${PLUGINS[@]:0:$k}"
}

declare -A decode_times wire_times messages bytes
# Other work on the machine skews every plugin's times: record it.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# Untimed warm-up: loads each plugin's code and the WAL into the page
# cache, and checks what each plugin sees.
for p in "${PLUGINS[@]}"; do
	result=$(decode_once "$p")
	read -r _ n b <<<"$result"
	messages[$p]=$n bytes[$p]=$b
done
[ "${messages[outbox_pg]}" = "$half" ] \
	|| die "outbox_pg wrote ${messages[outbox_pg]} messages, expected $half"
# test_decoding writes one BEGIN per transaction with changes: all of them.
begins=$(q -c "SELECT count(*) FROM pg_logical_slot_peek_changes('peek_test_decoding',
	'$endpos', NULL, 'skip-empty-xacts', '1') WHERE data LIKE 'BEGIN%'")
[ "$begins" = "$TXNS" ] || die "the WAL holds $begins transactions, expected $TXNS"

for r in $(seq 1 "$ROUNDS"); do
	for p in $(rotated "$r"); do
		result=$(decode_once "$p")
		read -r secs n b <<<"$result"
		[ "$n" = "${messages[$p]}" ] && [ "$b" = "${bytes[$p]}" ] \
			|| die "$p decoded differently in round $r"
		decode_times[$p]+="$secs "
	done
	for p in $(rotated "$r"); do
		wire_times[$p]+="$(wire_once "$p" "$r") "
	done
	echo "   round $r/$ROUNDS done" >&2
done

# --- report -----------------------------------------------------------------

median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
verdict() {	# verdict RATIO TARGET
	awk -v r="$1" -v t="$2" 'BEGIN { print (r + 0 <= t + 0) ? "met" : "MISSED" }'
}

declare -A decode_median wire_median
for p in "${PLUGINS[@]}"; do
	decode_median[$p]=$(median <<<"${decode_times[$p]}")
	wire_median[$p]=$(median <<<"${wire_times[$p]}")
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
so=$("$PG_CONFIG" --pkglibdir)/outbox_pg.so
out=$work/result.txt
{
	echo "outbox_pg decoding benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "machine:  $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
		"$(lscpu 2>/dev/null | awk -F: '/Hypervisor vendor/ { gsub(/ /, "", $2); print "(" $2 " guest)" }')," \
		"$(awk '/MemTotal/ { printf "%.1f GB RAM", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
	echo "server:   $(q -c 'SELECT version()' | cut -d, -f1)"
	echo "plugins:  outbox_pg at $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- plugin sql 2>/dev/null || echo ' (plugin/ or sql/ modified)')" \
		"(installed .so $(date -u -r "$so" +%Y-%m-%dT%H:%MZ), sha256 $(sha256sum "$so" | cut -c1-12))," \
		"wal2json $WAL2JSON_NOTE"
	echo "settings: shared_buffers 1GB, logical_decoding_work_mem 256MB, fsync off"
	echo "workload: $TXNS transactions ($half with a business row and one outbox event," \
		"$half updates of an unrelated table) in $workload_secs s;" \
		"$(calc '%.1f' "$wal_bytes / 1048576") MB of WAL;" \
		"payload $payload_text bytes as text, $payload_stored stored"
	echo "rounds:   $ROUNDS per mode after one untimed decode warm-up; medians"
	echo "load:     $load_before before the rounds, $load_after after (1, 5, 15 min)"
	echo
	printf '%-14s %10s %10s %10s %10s %12s\n' plugin "decode s" "wire s" "MB out" "msgs/txn" "bytes/event"
	for p in "${PLUGINS[@]}"; do
		printf '%-14s %10.3f %10.3f %10.1f %10.2f %12.0f\n' "$p" \
			"${decode_median[$p]}" "${wire_median[$p]}" \
			"$(calc '%.4f' "${bytes[$p]} / 1048576")" \
			"$(calc '%.4f' "${messages[$p]} / $TXNS")" \
			"$(calc '%.4f' "${bytes[$p]} / $events")"
	done
	echo
	printf '%-28s %8s %8s %8s   %s\n' ratio decode wire target verdict
	for a in "${PLUGINS[@]:1}"; do
		rd=$(calc '%.2f' "${decode_median[outbox_pg]} / ${decode_median[$a]}")
		rw=$(calc '%.2f' "${wire_median[outbox_pg]} / ${wire_median[$a]}")
		case $a in
		wal2json) t=$TARGET_WAL2JSON ;;
		pgoutput) t=$TARGET_PGOUTPUT ;;
		*) t= ;;
		esac
		if [ -n "$t" ]; then
			printf '%-28s %7sx %7sx %7sx   decode %s, wire %s\n' "outbox_pg / $a" \
				"$rd" "$rw" "<=$t" "$(verdict "$rd" "$t")" "$(verdict "$rw" "$t")"
		else
			printf '%-28s %7sx %7sx %8s\n' "outbox_pg / $a" "$rd" "$rw" "-"
		fi
	done
	echo
	echo "all decode times (s):"
	for p in "${PLUGINS[@]}"; do printf '  %-14s %s\n' "$p" "${decode_times[$p]% }"; done
	echo "all wire times (s):"
	for p in "${PLUGINS[@]}"; do printf '  %-14s %s\n' "$p" "${wire_times[$p]% }"; done
} >"$out"
cat "$out"
mkdir -p bench/results
cp "$out" "bench/results/decode-$(date -u +%Y%m%dT%H%M%S).txt"
