# Shared by the shipper's end-to-end tests: throwaway PostgreSQL and Kafka,
# the shipper in the background, checks that count.  Source it, then call
# e2e_setup.  Every wait polls a condition with a deadline.

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_SH=$E2E_ROOT/tests/helpers/pg.sh
KAFKA_SH=$E2E_ROOT/tests/helpers/kafka.sh
SHIPPER=${OUTBOX_SHIPPER:-$E2E_ROOT/shipper/outbox-shipper}
passed=0
failed=0

e2e_cleanup() {
	local pidfile
	for pidfile in "$WORK"/shipper*.pid; do
		[ -f "$pidfile" ] && kill -KILL "$(cat "$pidfile")" 2>/dev/null
	done
	"$PG_SH" stop "$WORK/pg" >/dev/null 2>&1
	"$KAFKA_SH" stop "$WORK/kafka" >/dev/null 2>&1
	if [ "$failed" -gt 0 ] || [ -n "${E2E_KEEP:-}" ]; then
		echo "# logs kept in $WORK"
	else
		rm -rf "$WORK"
	fi
}

# e2e_setup [extra postgresql.conf lines...]
e2e_setup() {
	WORK=$(mktemp -d /tmp/outbox_e2e.XXXXXX)
	trap e2e_cleanup EXIT
	"$PG_SH" start "$WORK/pg" "$@" >/dev/null
	eval "$("$PG_SH" env "$WORK/pg")"
	export PGDATABASE=postgres
	CONNINFO="host=$PGHOST port=$PGPORT user=postgres dbname=postgres"
	BROKERS=$("$KAFKA_SH" start "$WORK/kafka")
	psql -qX -c "CREATE EXTENSION outbox_pg" >/dev/null
}

check() {	# check NAME EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then
		passed=$((passed + 1))
		echo "ok - $1"
	else
		failed=$((failed + 1))
		echo "not ok - $1"
		echo "#   want: $2"
		echo "#   have: $3"
	fi
}

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

# start_shipper NAME [flags...]: runs the shipper in the background.  It
# may create the slot (a fresh cluster: nothing was shipped before);
# --no-create-slot among the flags overrides that.
#
# When it is to create the default slot, this waits (up to 60 s, or until
# the shipper exits) for the slot to exist: events written before the slot
# are not in it, by design, and a test writing at once would race the
# shipper's start (it did, on a loaded machine).
start_shipper() {
	local name=$1 creates=1 arg deadline
	shift
	for arg in "$@"; do
		case $arg in
		--no-create-slot | -d | --dbname* | -s | --slot*) creates=0 ;;
		esac
	done
	[ "$(slot_exists)" = t ] && creates=0
	"$SHIPPER" -d "$CONNINFO" -b "$BROKERS" --status-interval 1 --create-slot "$@" \
		>>"$WORK/$name.log" 2>&1 &
	echo $! >"$WORK/$name.pid"
	[ "$creates" = 1 ] || return 0
	deadline=$((SECONDS + 60))
	until [ "$(slot_exists)" = t ] || ! kill -0 "$(shipper_pid "$name")" 2>/dev/null ||
		[ $SECONDS -ge $deadline ]; do
		sleep 0.1
	done
}

# Whether the default slot exists and is ready: its row appears as soon as
# creation starts, its confirmed position once it decodes what commits
# from then on.
slot_exists() {
	psql -qXAt -d "$CONNINFO" -c "SELECT count(*) > 0 FROM pg_replication_slots
		WHERE slot_name = 'outbox_pg' AND confirmed_flush_lsn IS NOT NULL"
}

shipper_pid() { cat "$WORK/$1.pid"; }

# wait_for DESCRIPTION TIMEOUT_S COMMAND...: polls until COMMAND succeeds.
wait_for() {
	local what=$1 timeout=$2 deadline
	shift 2
	deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then
			echo "# timed out after ${timeout} s waiting for $what"
			return 1
		fi
		sleep 0.2
	done
}

# wait_exit NAME TIMEOUT_S: waits for a shipper to exit and sets
# EXIT_STATUS to its status, or "running".  (Not in a command
# substitution: a subshell cannot wait for this shell's children.)
wait_exit() {
	local pid deadline
	pid=$(shipper_pid "$1")
	deadline=$((SECONDS + $2))
	while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		EXIT_STATUS=running
		return
	fi
	wait "$pid" 2>/dev/null
	EXIT_STATUS=$?
}

slot_confirmed() {
	psql -qXAt -c "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '${1:-outbox_pg}'"
}

slot_active() {
	psql -qXAt -c "SELECT active FROM pg_replication_slots WHERE slot_name = '${1:-outbox_pg}'"
}

# slot_is_active t|f [SLOT]: for wait_for, which must re-run the query
# (wait_for ... test "$(slot_active)" = t would compare one answer forever).
slot_is_active() {
	[ "$(slot_active "${2:-outbox_pg}")" = "$1" ]
}

# confirmed_reached LSN [SLOT]: the slot confirmed at least LSN.
confirmed_reached() {
	[ "$(psql -qXAt -c "SELECT confirmed_flush_lsn >= '$1' FROM pg_replication_slots WHERE slot_name = '${2:-outbox_pg}'")" = t ]
}

current_lsn() { psql -qXAt -c "SELECT pg_current_wal_insert_lsn()"; }

# free_port: a loopback port nothing listens on now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# metric PORT NAME_WITH_LABELS: the sample's value from the shipper's
# /metrics on PORT; fails when there is no such sample.
metric() {
	curl -s --max-time 5 "http://127.0.0.1:$1/metrics" |
		awk -v m="$2" '$1 == m { print $2; found = 1 } END { exit !found }'
}

# dump_topics FILE TOPIC...: every record of the topics as JSON lines.
dump_topics() {
	local out=$1 topic
	shift
	: >"$out"
	for topic in "$@"; do
		timeout 60 kcat -C -b "$BROKERS" -t "$topic" -J -e -q -o beginning >>"$out" 2>/dev/null || true
	done
}

verify() {	# verify ARGS...: tests/e2e/verify.py against this database
	python3 "$E2E_ROOT/tests/e2e/verify.py" "$@"
}

# check_verified NAME RECORDS [verify.py options]: one check that the Kafka
# records match the database, running verify.py once; its summary line is
# printed and kept in VERIFY_OUT.
check_verified() {
	local name=$1 status
	shift
	VERIFY_OUT=$(verify "$@")
	status=$?
	echo "$VERIFY_OUT" | sed 's/^/# /'
	check "$name" 0 "$status"
}

# start_standby DIR [PHYSICAL_SLOT [CONF_LINE...]]: a streaming standby of
# the e2e primary in DIR (data, socket, port, log as pg.sh lays them out),
# streaming from PHYSICAL_SLOT (created on the primary) if given, with the
# extra postgresql.conf lines; sets STANDBY_PORT.
start_standby() {
	local dir=$1 slot=${2:-} line
	shift
	[ $# -gt 0 ] && shift
	mkdir -p "$dir/sock"
	[ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
	STANDBY_PORT=$(free_port)
	echo "$STANDBY_PORT" >"$dir/port"
	as_postgres pg_basebackup -h 127.0.0.1 -p "$PGPORT" -U postgres -D "$dir/data" \
		-R -X stream -c fast ${slot:+-C -S "$slot"} >"$dir/basebackup.log" 2>&1 || return 1
	# postgresql.auto.conf is read last: these win over the primary's.
	for line in "$@"; do echo "$line"; done >>"$dir/data/postgresql.auto.conf"
	"$PG_SH" restart "$dir" >/dev/null
}

# psql_at DIR ARGS...: psql -qXAt against the server in DIR.
psql_at() {
	local dir=$1
	shift
	psql -qXAt -h "$dir/sock" -p "$(cat "$dir/port")" "$@"
}

# server_major: the major version of the server build in use (PG_BINDIR).
server_major() {
	"${PG_BINDIR:-$(pg_config --bindir)}/postgres" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/'
}

# require_major MIN WHAT: a test of WHAT refuses to run on a server older
# than MIN: it says why and ends with a failing count (tests/major.sh runs
# it only where it applies).
require_major() {
	local have
	have=$(server_major)
	[ "$have" -ge "$1" ] && return 0
	echo "# $(basename "$0") tests $2, which needs PostgreSQL $1 or later; this server build is $have (run it as tests/major.sh $1 does: PG_BINDIR=\$(scripts/pg-major.sh fetch $1)/bin)"
	echo "not ok - PostgreSQL $1 or later"
	failed=$((failed + 1))
	finish
	exit 1
}

# as_postgres CMD...: CMD as the servers' owner; as root, that is postgres,
# run from / since it may not enter the clone (a mode-700 home), and
# PostgreSQL's tools complain when they cannot return to where they
# started.  Paths in CMD must be absolute.
as_postgres() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

# emitting_writers: a workload of published and emitted events.  Emitted
# events have no row: the writers keep their ids in the table "emitted", in
# the same transaction, so that what committed can be checked; the view
# all_events has both.  Then load SECONDS runs 4 writers in the background
# (LOAD_PID), ~100 transactions (200 events) a second over 200 aggregates.
emitting_writers() {
	psql -qX >/dev/null <<-'SQL'
	CREATE TABLE emitted (id uuid PRIMARY KEY, aggregate_type text, aggregate_id text,
		event_type text, payload jsonb, headers jsonb,
		at_lsn pg_lsn DEFAULT pg_current_wal_insert_lsn());
	CREATE VIEW all_events AS
		SELECT id, aggregate_type, aggregate_id, event_type, payload, headers FROM outbox.events
		UNION ALL SELECT id, aggregate_type, aggregate_id, event_type, payload, headers FROM emitted;
	SQL
	cat >"$WORK/writer.sql" <<-'SQL'
	\set agg random(1, 200)
	BEGIN;
	SELECT outbox.publish('order', :agg::text, 'published', jsonb_build_object('client', :client_id, 'r', random()));
	INSERT INTO emitted (id, aggregate_type, aggregate_id, event_type, payload, headers) SELECT outbox.emit('order', :agg::text, 'emitted', p), 'order', :agg::text, 'emitted', p, NULL
	FROM (SELECT jsonb_build_object('client', :client_id, 'r', random()) AS p) s;
	END;
	SQL
	load() {	# load SECONDS
		pgbench -n -c 4 -j 2 -T "$1" -R 100 -f "$WORK/writer.sql" >>"$WORK/pgbench.log" 2>&1 &
		LOAD_PID=$!
	}
}
