#!/usr/bin/env bash
# Network faults under load, on both of the shipper's links, through a real
# TCP fault proxy (Toxiproxy, tests/helpers/toxiproxy.sh): the shipper
# reaches PostgreSQL and Kafka only through it (the broker advertises the
# proxy's port, so bootstrap and leader connections both go through it).
# One PostgreSQL, one broker and one shipper for the whole matrix; writers
# run throughout (~200 events/s over 200 aggregates); the cases run one
# after another, on the PostgreSQL link, then on the Kafka link:
#
#   latency      200 ms +- 100 each way, for 8 s
#   bandwidth    2 KB/s each way, for 8 s
#   reset_peer   every connection reset 500 ms after its next byte, for 4 s
#   silent       server->shipper data dropped, nothing closed, until the
#                shipper opens a new connection (at most 45 s); its bytes
#                still reach the server, so only the shipper can notice
#   no_answer    connections closed, new ones accepted and never answered,
#                until the shipper gave up on one and tried again (45 s at
#                most)
#   slow_close   the server side closes; the proxy passes the close on
#                3 s late
#
# Each case: the shipper still runs; it caught up (the slot confirmed what
# was written by the fault's end), recovery measured from the fault's end
# (silent: from its start); silent and no_answer noticed within the link's
# bound (noticed: the shipper closed the connection).  How far the slot's
# confirmed position was behind just before the fault ended is printed.  At the end: no event missing, exact records, per-aggregate order
# (verify.py), and a table of missing, duplicates, noticed and recovery
# seconds per case (netfaults_table.py).
#
# Runs in about 165 s on the 2-core development machine (163 s measured;
# the table is in README "Network faults").  Needs ss (iproute2) and curl.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
TOXI_SH=$E2E_ROOT/tests/helpers/toxiproxy.sh

# How long the shipper may take to notice a silent link or to give up on a
# peer that never answers.  PostgreSQL: the silence limit is the server's
# wal_sender_timeout (10 s here).  Kafka: socket.timeout.ms (10 s, checked
# once a second) or socket.connection.setup.timeout.ms (10 s).
PG_BOUND=15
KAFKA_BOUND=15
WAIT_CAP=45

netfaults_cleanup() {
	[ -n "${LOAD_PID:-}" ] && kill -TERM "$LOAD_PID" 2>/dev/null
	"$TOXI_SH" stop "$WORK/toxiproxy" >/dev/null 2>&1
	e2e_cleanup
}

# e2e_setup, with the proxy between the shipper and both servers.
netfaults_setup() {
	local kafka_port
	WORK=$(mktemp -d /tmp/outbox_e2e.XXXXXX)
	trap netfaults_cleanup EXIT
	"$PG_SH" start "$WORK/pg" "wal_sender_timeout = '10s'" >/dev/null || exit 1
	eval "$("$PG_SH" env "$WORK/pg")"
	export PGDATABASE=postgres
	CONNINFO="host=$PGHOST port=$PGPORT user=postgres dbname=postgres"
	"$TOXI_SH" start "$WORK/toxiproxy" >/dev/null || exit 1
	PG_PROXY=$("$TOXI_SH" proxy "$WORK/toxiproxy" pg "127.0.0.1:$PGPORT") || exit 1
	kafka_port=$(free_port)
	KAFKA_PROXY=$("$TOXI_SH" proxy "$WORK/toxiproxy" kafka "127.0.0.1:$kafka_port") || exit 1
	BROKERS=$(KAFKA_PORT=$kafka_port KAFKA_ADVERTISED_PORT=${KAFKA_PROXY#*:} \
		"$KAFKA_SH" start "$WORK/kafka") || exit 1
	psql -qX -c "CREATE EXTENSION outbox_pg" >/dev/null
}

toxi() { "$TOXI_SH" "$1" "$WORK/toxiproxy" "${@:2}"; }

now() { echo "$EPOCHREALTIME"; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# conns PORT: the shipper's established connections to the proxy on PORT,
# by local address (nothing else connects to the proxies).  When the
# shipper gives a connection up, its socket leaves this list at once,
# whatever the proxy does with the other side.
conns() { ss -Htn state established "( dport = :$1 )" | awk '{ print $3 }'; }

# wait_closed PORT CONN...: until one of CONNs is closed (at most WAIT_CAP
# s); sets CLOSED_AT.
wait_closed() {
	local port=$1 deadline=$((SECONDS + WAIT_CAP)) open conn
	shift
	while :; do
		open=$(conns "$port")
		for conn in "$@"; do
			grep -qxF "$conn" <<<"$open" || { CLOSED_AT=$(now); return 0; }
		done
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

# wait_new PORT CONN...: until a connection not among CONNs is established
# (at most WAIT_CAP s); sets NEW_CONN and NEW_AT.
wait_new() {
	local port=$1 deadline=$((SECONDS + WAIT_CAP)) old
	shift
	old=" $* "
	while :; do
		for NEW_CONN in $(conns "$port"); do
			[[ $old == *" $NEW_CONN "* ]] || { NEW_AT=$(now); return 0; }
		done
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

# note_behind: sets BEHIND, how many kB of WAL the slot's confirmed
# position is behind now (the shipper confirms within a second: up to ~60
# kB is no lag).  Taken just before a fault ends, it shows the fault bit.
note_behind() {
	BEHIND=$(psql -qXAt -c "SELECT greatest(0, round(pg_wal_lsn_diff(pg_current_wal_insert_lsn(),
		confirmed_flush_lsn) / 1024)) FROM pg_replication_slots WHERE slot_name = 'outbox_pg'")
}

# ---- the faults: fault_KIND PROXY PORT.  Each clears what it did and
# sets FAULT_START, FAULT_END and NOTICED (seconds until the shipper closed
# the connection, or "-").

# both_ways PROXY NAME TYPE ATTRIBUTE...: a toxic in each direction for 8 s.
both_ways() {
	local proxy=$1 name=$2 type=$3
	shift 3
	FAULT_START=$(now)
	toxi toxic "$proxy" "${name}_down" "$type" downstream "$@"
	toxi toxic "$proxy" "${name}_up" "$type" upstream "$@"
	sleep 8
	note_behind
	toxi untoxic "$proxy" "${name}_down"
	toxi untoxic "$proxy" "${name}_up"
	FAULT_END=$(now)
	NOTICED=-
}

fault_latency() { both_ways "$1" lat latency latency=200 jitter=100; }

fault_bandwidth() { both_ways "$1" bw bandwidth rate=2; }

fault_reset_peer() {
	FAULT_START=$(now)
	toxi toxic "$1" reset reset_peer upstream timeout=500
	sleep 4
	note_behind
	toxi untoxic "$1" reset
	FAULT_END=$(now)
	NOTICED=-
}

# Until the shipper closes a connection it had at the start (removing a
# timeout toxic closes the connections it held: that must come after).
fault_silent() {
	local old
	old=$(conns "$2")
	FAULT_START=$(now)
	toxi toxic "$1" silent timeout downstream timeout=0
	# shellcheck disable=SC2086
	if wait_closed "$2" $old; then
		NOTICED=$(seconds "$FAULT_START" "$CLOSED_AT")
	else
		NOTICED="not within $WAIT_CAP"
	fi
	note_behind
	toxi untoxic "$1" silent
	FAULT_END=$(now)
}

# Until the shipper gives up the first connection it makes afterwards.
fault_no_answer() {
	local old
	toxi toxic "$1" deaf_down timeout downstream timeout=0
	toxi toxic "$1" deaf_up timeout upstream timeout=0
	old=$(conns "$2")
	FAULT_START=$(now)
	toxi disable "$1"
	toxi enable "$1"
	NOTICED="not within $WAIT_CAP"
	# shellcheck disable=SC2086
	if wait_new "$2" $old && wait_closed "$2" "$NEW_CONN"; then
		NOTICED=$(seconds "$NEW_AT" "$CLOSED_AT")
	fi
	note_behind
	toxi untoxic "$1" deaf_down
	toxi untoxic "$1" deaf_up
	FAULT_END=$(now)
}

# limit_data with no bytes left cuts the connection at the shipper's next
# byte (it sends at least a status update a second); the proxy closes the
# server's side at once and the shipper's 3 s later.
fault_slow_close() {
	local old
	toxi toxic "$1" slow slow_close downstream delay=3000
	old=$(conns "$2")
	FAULT_START=$(now)
	toxi toxic "$1" cut limit_data upstream bytes=0
	sleep 1.5
	toxi untoxic "$1" cut
	# shellcheck disable=SC2086
	if wait_closed "$2" $old; then
		NOTICED=$(seconds "$FAULT_START" "$CLOSED_AT")
	else
		NOTICED="not within $WAIT_CAP"
	fi
	note_behind
	toxi untoxic "$1" slow
	FAULT_END=$(now)
}

# run_case LINK PROXY ADDRESS KIND BOUND: one fault, then waits for the
# shipper to confirm what was written by the fault's end; one line in
# cases.tsv.
run_case() {
	local link=$1 proxy=$2 port=${3#*:} kind=$4 bound=$5 name="$1 $4" target from recovery
	"fault_$kind" "$proxy" "$port"
	target=$(current_lsn)
	from=$FAULT_END
	[ "$kind" = silent ] && from=$FAULT_START
	if wait_for "the shipper to confirm $target after $name" 120 confirmed_reached "$target"; then
		recovery=$(seconds "$from" "$(now)")
	else
		recovery="not within 120"
	fi
	check "$name: the shipper still runs" 0 "$(kill -0 "$(shipper_pid shipper)" 2>/dev/null; echo $?)"
	check "$name: caught up after the fault" yes "$([[ $recovery == not* ]] && echo no || echo yes)"
	if [ "$kind" = silent ] || [ "$kind" = no_answer ]; then
		check "$name: noticed within $bound s" yes \
			"$(awk -v n="$NOTICED" -v b="$bound" 'BEGIN { print (n ~ /^[0-9.]+$/ && n <= b) ? "yes" : "no (" n ")" }')"
	fi
	echo "# $name: $BEHIND kB behind before the fault ended, noticed $NOTICED s, recovery $recovery s"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$FAULT_START" "$FAULT_END" "$BEHIND" "$NOTICED" "$recovery" \
		>>"$WORK/cases.tsv"
}

started=$SECONDS
netfaults_setup
CONNINFO="host=127.0.0.1 port=${PG_PROXY#*:} user=postgres dbname=postgres" \
	BROKERS=$KAFKA_PROXY start_shipper shipper

cat >"$WORK/writer.sql" <<'SQL'
\set agg random(1, 200)
SELECT outbox.publish('order', :agg::text, 'step', jsonb_build_object('client', :client_id));
SQL
pgbench -n -c 4 -j 2 -T 900 -R 200 -f "$WORK/writer.sql" >>"$WORK/pgbench.log" 2>&1 &
LOAD_PID=$!
wait_for "the shipper to confirm under load" 60 confirmed_reached "$(current_lsn)"
check "before any fault: the shipper ships" 0 $?

# The links take turns: the shipper's PostgreSQL reconnect backoff (1 s,
# doubling to 30 s) resets only after a minute of streaming.
for kind in latency bandwidth reset_peer silent no_answer slow_close; do
	run_case postgresql pg "$PG_PROXY" "$kind" "$PG_BOUND"
	run_case kafka kafka "$KAFKA_PROXY" "$kind" "$KAFKA_BOUND"
done

kill -TERM "$LOAD_PID"
wait "$LOAD_PID" 2>/dev/null
LOAD_PID=
wait_for "the shipper to catch up after the writers stopped" 120 confirmed_reached "$(current_lsn)"
check "after every case: the slot caught up" 0 $?
dump_topics "$WORK/final.jsonl" outbox.event.order
check_verified "after every case: no event missing, exact records, per-aggregate order" \
	"$WORK/final.jsonl" --expect-duplicates
python3 "$E2E_ROOT/tests/e2e/netfaults_table.py" "$WORK/cases.tsv" "$WORK/final.jsonl" >"$WORK/table.md"
sed 's/^/# /' "$WORK/table.md"
check "no case lost an event" "missing=0" "$(tail -n 1 "$WORK/table.md" | cut -d' ' -f1)"

kill -TERM "$(shipper_pid shipper)"
wait_exit shipper 60
check "the shipper stops cleanly" 0 "$EXIT_STATUS"
echo "# runtime $((SECONDS - started)) s"
finish
