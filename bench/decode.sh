#!/usr/bin/env bash
# Decoding benchmark: outbox_pg against wal2json, test_decoding and
# pgoutput, on one and the same WAL.
#
#   bench/decode.sh                 BENCH_TXNS=200000 BENCH_ROUNDS=5 by default
#
# Builds one WAL of BENCH_TXNS transactions: half insert a business row and
# one outbox event (~300-byte jsonb payload), half update an unrelated
# table.  Every slot is created before the workload, so every plugin
# decodes exactly the same WAL.  Two modes, interleaved across plugins and
# rotated each round:
#   decode  pg_logical_slot_peek_changes (peek: the same WAL every round)
#   wire    pg_recvlogical --start --endpos ... -f /dev/null, one fresh slot
#           per plugin and round (pg_recvlogical consumes its slot)
# Prints medians, ratios against the anchors, bytes and messages per
# transaction; also writes them to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

TXNS=${BENCH_TXNS:-200000}
ROUNDS=${BENCH_ROUNDS:-5}
PLUGINS=(outbox_pg wal2json test_decoding pgoutput)

scripts/install-deps.sh
make -s && make -s install >/dev/null

work=$(mktemp -d /tmp/outbox_pg_bench.XXXXXX)
cleanup() {
	tests/helpers/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

nslots=$(( ${#PLUGINS[@]} * (ROUNDS + 1) + 4 ))
tests/helpers/pg.sh start "$work/pg" \
	"output_plugin_libraries = 'pgoutput, test_decoding, outbox_pg, wal2json'" \
	"shared_buffers = 1GB" "logical_decoding_work_mem = 256MB" \
	"max_wal_size = 20GB" "checkpoint_timeout = 1h" "autovacuum = off" \
	"max_replication_slots = $nslots" "max_wal_senders = $nslots" >/dev/null
eval "$(tests/helpers/pg.sh env "$work/pg")"
export PGDATABASE=postgres

psql -qX <<'SQL'
CREATE EXTENSION outbox_pg;
CREATE TABLE business (id bigserial PRIMARY KEY, kind text, created_at timestamptz DEFAULT now());
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
	psql -qXAt -c "SELECT 1 FROM pg_create_logical_replication_slot('peek_$p', '$p')" >/dev/null
	for r in $(seq 1 "$ROUNDS"); do
		psql -qXAt -c "SELECT 1 FROM pg_create_logical_replication_slot('wire_${p}_$r', '$p')" >/dev/null
	done
done

echo "== workload: $TXNS transactions"
cat >"$work/event.sql" <<'SQL'
\set aggregate random(1, 100000)
BEGIN;
INSERT INTO business (kind) VALUES ('order');
INSERT INTO outbox.events (aggregate_type, aggregate_id, event_type, payload)
VALUES ('order', :aggregate, 'OrderCreated',
	'{"customer": {"id": 12345, "name": "Ada Lovelace", "email": "ada@example.com"}, "lines": [{"sku": "A-1", "qty": 2, "price": 9.95}, {"sku": "B-22", "qty": 1, "price": 19.5}], "total": 39.4, "currency": "EUR", "note": "leave it at the door and ring twice"}');
COMMIT;
SQL
cat >"$work/update.sql" <<'SQL'
\set id random(1, 10000)
UPDATE unrelated SET n = n + 1 WHERE id = :id;
SQL
half=$((TXNS / 2))
start=$SECONDS
pgbench -n -c 1 -t "$half" -f "$work/event.sql" >"$work/pgbench-event.log" 2>&1 &
pgbench -n -c 1 -t "$half" -f "$work/update.sql" >"$work/pgbench-update.log" 2>&1 \
	|| { cat "$work/pgbench-update.log"; exit 1; }
wait $! || { cat "$work/pgbench-event.log"; exit 1; }
endpos=$(psql -qXAt -c "SELECT pg_current_wal_insert_lsn()")
wal_bytes=$(psql -qXAt -c "SELECT pg_wal_lsn_diff('$endpos', restart_lsn) FROM pg_replication_slots WHERE slot_name = 'peek_outbox_pg'")
events=$(psql -qXAt -c "SELECT count(*) FROM outbox.events")
echo "   $TXNS transactions, $events events, $((wal_bytes / 1048576)) MB of WAL in $((SECONDS - start)) s"

decode_once() {	# decode_once PLUGIN: prints "seconds messages bytes"
	local p=$1 fn=pg_logical_slot_peek_changes
	[ "$p" = pgoutput ] && fn=pg_logical_slot_peek_binary_changes
	psql -qXAt -v ON_ERROR_STOP=1 <<SQL
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) AS n, coalesce(sum(octet_length(data)), 0) AS b
FROM $fn('peek_$p', NULL, NULL $(sql_options "$p")) \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 4) || ' ' || :n || ' ' || :b;
SQL
}

wire_once() {	# wire_once PLUGIN ROUND: prints seconds
	local p=$1 r=$2 t0 t1
	t0=$(date +%s.%N)
	# shellcheck disable=SC2046
	pg_recvlogical -h 127.0.0.1 -d postgres --slot "wire_${p}_$r" --start \
		--endpos "$endpos" --no-loop -f /dev/null $(wire_options "$p")
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc
}

declare -A decode_times wire_times messages bytes
for r in $(seq 1 "$ROUNDS"); do
	# Rotate the order each round so no plugin always goes first.
	order=("${PLUGINS[@]:$(( (r - 1) % ${#PLUGINS[@]} ))}" "${PLUGINS[@]:0:$(( (r - 1) % ${#PLUGINS[@]} ))}")
	for p in "${order[@]}"; do
		read -r secs n b <<<"$(decode_once "$p")"
		decode_times[$p]+="$secs "
		messages[$p]=$n bytes[$p]=$b
		w=$(wire_once "$p" "$r")
		wire_times[$p]+="$w "
	done
	echo "   round $r done"
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

out=$work/result.txt
{
	echo "outbox_pg decoding benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GB RAM"
	echo "server: $(psql -qXAt -c 'SELECT version()' | cut -d, -f1)"
	echo "workload: $TXNS transactions ($half with one outbox event, $half unrelated updates), $((wal_bytes / 1048576)) MB of WAL; $ROUNDS rounds"
	echo
	printf '%-14s %12s %12s %12s %12s %14s\n' plugin "decode s" "wire s" "MB out" "msgs/txn" "bytes/event"
	for p in "${PLUGINS[@]}"; do
		d=$(median <<<"${decode_times[$p]}")
		w=$(median <<<"${wire_times[$p]}")
		printf '%-14s %12.3f %12.3f %12.1f %12.2f %14.0f\n' "$p" "$d" "$w" \
			"$(echo "${bytes[$p]} / 1048576" | bc -l)" \
			"$(echo "${messages[$p]} / $TXNS" | bc -l)" \
			"$(echo "${bytes[$p]} / $events" | bc -l)"
	done
	echo
	od=$(median <<<"${decode_times[outbox_pg]}")
	ow=$(median <<<"${wire_times[outbox_pg]}")
	for a in wal2json pgoutput test_decoding; do
		printf 'outbox_pg / %-14s decode %.2fx   wire %.2fx\n' "$a" \
			"$(echo "$od / $(median <<<"${decode_times[$a]}")" | bc -l)" \
			"$(echo "$ow / $(median <<<"${wire_times[$a]}")" | bc -l)"
	done
	echo "targets: <= 0.80x wal2json, <= 1.25x pgoutput"
	echo
	echo "all decode times: $(for p in "${PLUGINS[@]}"; do printf '%s=[%s] ' "$p" "${decode_times[$p]% }"; done)"
	echo "all wire times:   $(for p in "${PLUGINS[@]}"; do printf '%s=[%s] ' "$p" "${wire_times[$p]% }"; done)"
} | tee "$out"
mkdir -p bench/results
cp "$out" "bench/results/decode-$(date -u +%Y%m%dT%H%M).txt"
