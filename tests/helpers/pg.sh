#!/usr/bin/env bash
# Throwaway PostgreSQL clusters for outbox_pg's tests, demo and benchmarks.
#
#   pg.sh start DIR [extra postgresql.conf lines...]   initdb + start, prints "HOST PORT"
#   pg.sh stop DIR                                     fast shutdown, idempotent
#   pg.sh kill DIR                                     SIGKILL the postmaster (fault tests)
#   pg.sh restart DIR                                  start again on the same port
#   pg.sh env DIR                                      prints export lines for PGHOST/PGPORT/PGUSER
#   pg.sh tls DIR CERTDIR [HBA_LINE...]                TLS on (server.crt, server.key, ca.crt from
#                                                      CERTDIR, as tests/helpers/certs.sh makes them),
#                                                      scram-sha-256 password encryption, and pg_hba.conf
#                                                      replaced by "local all all trust" and HBA_LINEs
#                                                      (default: hostssl scram-sha-256 for every
#                                                      database and replication); reloads
#   pg.sh valgrind-start DIR                           start DIR's stopped cluster with the postmaster
#                                                      and every child under valgrind memcheck
#                                                      (tests/valgrind.supp); one log per process in
#                                                      DIR/valgrind/PID.log; waits up to 300 s
#
# PG_BINDIR chooses the server build (default: pg_config's), e.g. another
# major from scripts/pg-major.sh.
#
# The cluster lives entirely under DIR (data, socket, log), listens on a free
# loopback port and never touches a system cluster.  When run as root, the
# server runs as the "postgres" system user, since initdb refuses root.
# That user may not be able to enter the clone (root's home is mode 700):
# it runs from /, and what it reads is copied under DIR, so paths given
# here are made absolute first.
set -euo pipefail

PG_BINDIR=$(cd "${PG_BINDIR:-$(pg_config --bindir)}" && pwd)
PG_SH_DIR=$(cd "$(dirname "$0")" && pwd)

die() { echo "pg.sh: $*" >&2; exit 1; }

# as_owner CMD...: CMD as the cluster's owner.  The server's tools return
# to the directory they started in and complain ("could not change
# directory to ...: Permission denied") when postgres cannot enter it.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

free_port() {
	python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# wait_ready DIR [SECONDS [PID]]: until DIR's server accepts connections
# (default 60 s); stops waiting as soon as PID, the server's starter, is
# gone.  Fails with the end of the server log.
wait_ready() {
	local dir=$1 limit=${2:-60} pid=${3:-} port deadline
	port=$(cat "$dir/port")
	deadline=$((SECONDS + limit))
	until "$PG_BINDIR/pg_isready" -q -h "$dir/sock" -p "$port"; do
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			tail -n 30 "$dir/log" >&2 || true
			echo "pg.sh: server in $dir exited before it was ready (log above)" >&2
			return 1
		fi
		if [ $SECONDS -ge $deadline ]; then
			tail -n 30 "$dir/log" >&2 || true
			echo "pg.sh: server in $dir did not become ready within $limit s (log above)" >&2
			return 1
		fi
		sleep 0.1
	done
}

pg_start_existing() {
	local dir=$1
	as_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
		-o "-p $(cat "$dir/port") -k $dir/sock" start >/dev/null \
		|| { tail -n 30 "$dir/log" >&2; die "could not start server in $dir (log above)"; }
	wait_ready "$dir" || exit 1
}

# knows_setting NAME: whether this server build has the setting.
knows_setting() {
	local settings
	settings=$(as_owner "$PG_BINDIR/postgres" --describe-config 2>/dev/null) || return 1
	grep -q "^$1[[:space:]]" <<<"$settings"
}

cmd_start() {
	local dir=$1 port
	shift
	[ -n "$dir" ] || die "usage: pg.sh start DIR [conf lines...]"
	mkdir -p "$dir/sock"
	dir=$(cd "$dir" && pwd)
	if [ "$(id -u)" = 0 ]; then
		# The server runs as postgres, which must reach DIR (mktemp makes
		# its directories private to root).
		chown -R postgres: "$dir"
		chmod a+x "$(dirname "$dir")"
	fi
	port=${PGTEST_PORT:-$(free_port)}
	echo "$port" >"$dir/port"
	as_owner "$PG_BINDIR/initdb" -D "$dir/data" -U postgres -A trust \
		--no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
		|| { cat "$dir/initdb.log" >&2; die "initdb failed in $dir"; }
	{
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$dir/sock'"
		echo "wal_level = logical"
		echo "max_replication_slots = 20"
		echo "max_wal_senders = 20"
		echo "max_prepared_transactions = 10"
		echo "fsync = off"
		# A Debian 15 setting: other builds do not know it, and refuse
		# to start with a setting they do not know.
		if knows_setting output_plugin_libraries; then
			echo "output_plugin_libraries = 'pgoutput, test_decoding, outbox_pg'"
		fi
		for line in "$@"; do echo "$line"; done
	} >>"$dir/data/postgresql.conf"
	echo "host replication all 127.0.0.1/32 trust" >>"$dir/data/pg_hba.conf"
	pg_start_existing "$dir"
	echo "$dir/sock $port"
}

cmd_stop() {
	local dir
	dir=$(cd "$1" 2>/dev/null && pwd) || return 0
	[ -f "$dir/data/postmaster.pid" ] || return 0
	as_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

cmd_kill() {
	local dir=$1 pid
	[ -f "$dir/data/postmaster.pid" ] || die "no server running in $dir"
	pid=$(head -n 1 "$dir/data/postmaster.pid")
	kill -9 "$pid"
	# The children notice the postmaster is gone and exit on their own.
	local deadline=$((SECONDS + 30))
	while kill -0 "$pid" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || die "postmaster $pid survived SIGKILL"
		sleep 0.1
	done
}

cmd_env() {
	local dir
	dir=$(cd "$1" && pwd)
	echo "export PGHOST=$dir/sock PGPORT=$(cat "$dir/port") PGUSER=postgres"
}

# The server reads its key only if the server's user owns it and no one
# else may read it; certificates live beside it, outside the data directory.
install_tls_files() {
	local dir=$1 certdir=$2 f
	mkdir -p "$dir/tls"
	for f in server.crt server.key ca.crt; do
		[ -f "$certdir/$f" ] || die "no $certdir/$f (make them with tests/helpers/certs.sh)"
		cp "$certdir/$f" "$dir/tls/$f"
	done
	chmod 0600 "$dir/tls/server.key"
	[ "$(id -u)" != 0 ] || chown -R postgres: "$dir/tls"
}

cmd_tls() {
	local dir=$1 certdir=$2 line
	shift 2
	dir=$(cd "$dir" && pwd)
	[ -f "$dir/data/postgresql.conf" ] || die "no cluster in $dir (run start first)"
	install_tls_files "$dir" "$certdir"
	{
		echo "ssl = on"
		echo "ssl_cert_file = '$dir/tls/server.crt'"
		echo "ssl_key_file = '$dir/tls/server.key'"
		echo "ssl_ca_file = '$dir/tls/ca.crt'"
		echo "password_encryption = 'scram-sha-256'"
	} >>"$dir/data/postgresql.conf"
	[ $# -gt 0 ] || set -- "hostssl all all 127.0.0.1/32 scram-sha-256" \
		"hostssl replication all 127.0.0.1/32 scram-sha-256"
	{
		echo "# Written by pg.sh tls: tests use the private socket; TCP is TLS only."
		echo "local all all trust"
		echo "local replication all trust"
		for line in "$@"; do echo "$line"; done
	} >"$dir/data/pg_hba.conf"
	as_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" reload >/dev/null \
		|| die "could not reload the server in $dir"
	# The postmaster rereads its files on its own time: new sessions see it.
	local deadline=$((SECONDS + 30))
	until [ "$("$PG_BINDIR/psql" -qXAt -h "$dir/sock" -p "$(cat "$dir/port")" -U postgres \
		-d postgres -c "SHOW ssl" 2>/dev/null)" = on ]; do
		[ $SECONDS -lt $deadline ] || { tail -n 20 "$dir/log" >&2; die "ssl is not on after a reload (log above)"; }
		sleep 0.1
	done
}

# The postmaster under valgrind, in the foreground of a background job
# whose output is the server log.  valgrind reads its suppressions as
# postgres, so they are copied beside the cluster.  No --error-exitcode: a
# backend exiting with it would make the postmaster restart everything;
# tests/valgrind.sh reads the logs afterwards instead.
cmd_valgrind_start() {
	local dir pid
	dir=$(cd "$1" && pwd)
	[ -f "$dir/data/postgresql.conf" ] || die "no cluster in $dir (run start first)"
	[ ! -f "$dir/data/postmaster.pid" ] || die "the server in $dir is running (stop it first)"
	mkdir -p "$dir/valgrind"
	cp "$PG_SH_DIR/../valgrind.supp" "$dir/valgrind.supp"
	[ "$(id -u)" != 0 ] || chown -R postgres: "$dir/valgrind" "$dir/valgrind.supp"
	as_owner valgrind --quiet --trace-children=yes --track-origins=yes \
		--read-var-info=no --suppressions="$dir/valgrind.supp" \
		--log-file="$dir/valgrind/%p.log" \
		"$PG_BINDIR/postgres" -D "$dir/data" -p "$(cat "$dir/port")" -k "$dir/sock" \
		>"$dir/log" 2>&1 &
	pid=$!
	wait_ready "$dir" 300 "$pid" || {
		cat "$dir"/valgrind/*.log >&2 2>/dev/null || true
		die "the server under valgrind did not start (valgrind's logs above)"
	}
}

case "${1:-}" in
start) shift; cmd_start "$@" ;;
stop) cmd_stop "${2:?usage: pg.sh stop DIR}" ;;
kill) cmd_kill "${2:?usage: pg.sh kill DIR}" ;;
restart) pg_start_existing "$(cd "${2:?usage: pg.sh restart DIR}" && pwd)" ;;
env) cmd_env "${2:?usage: pg.sh env DIR}" ;;
tls) shift; [ $# -ge 2 ] || die "usage: pg.sh tls DIR CERTDIR [HBA_LINE...]"; cmd_tls "$@" ;;
valgrind-start) cmd_valgrind_start "${2:?usage: pg.sh valgrind-start DIR}" ;;
*) die "usage: pg.sh start|stop|kill|restart|env|tls|valgrind-start DIR" ;;
esac
