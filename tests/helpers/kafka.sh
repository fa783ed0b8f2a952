#!/usr/bin/env bash
# Throwaway Apache Kafka brokers for outbox_pg's tests, demo and benchmarks:
# one JVM in KRaft combined mode (broker + controller), from the pinned jars
# of kafka/pom.xml (Maven Central), listening on 127.0.0.1 only.
#
#   kafka.sh fetch              resolve the jars into the cache (once)
#   kafka.sh classpath          prints the jars' class path, for java -cp
#   kafka.sh start DIR          a new broker whose config, data, logs and pid
#                               live in DIR; prints 127.0.0.1:PORT, also
#                               written to DIR/bootstrap
#   kafka.sh stop DIR           SIGTERM, SIGKILL after KAFKA_STOP_TIMEOUT;
#                               idempotent
#   kafka.sh kill DIR           SIGKILL (fault tests)
#   kafka.sh restart DIR        DIR's broker again, same ports and data (after
#                               kill or stop; stops it first if running);
#                               prints 127.0.0.1:PORT
#   kafka.sh create-topic DIR NAME [PARTITIONS [PROP=VALUE...]]
#                               PARTITIONS defaults to 3, one replica; waits
#                               until every partition has a leader
#   kafka.sh consume DIR TOPIC COUNT [TIMEOUT_S]
#                               COUNT records from the start of every
#                               partition, within TIMEOUT_S (default 60)
#
# A cluster: one dedicated KRaft controller (node 0) and N brokers (nodes
# 1..N), each a JVM with its own ports:
#   kafka.sh cluster-start DIR N
#                               a new cluster in DIR (node I in DIR/nodeI);
#                               prints the brokers' addresses, comma-
#                               separated, also written to DIR/bootstrap
#   kafka.sh cluster-stop DIR   every node (brokers first); idempotent.
#                               stop DIR does the same for a cluster's DIR
#   kafka.sh node-kill DIR I    SIGKILL node I
#   kafka.sh node-stop DIR I    stop node I (SIGTERM: a controlled shutdown)
#   kafka.sh node-restart DIR I node I again, same ports and data; prints
#                               127.0.0.1:PORT
#   kafka.sh leader DIR TOPIC PARTITION
#                               the partition leader's node id, -1 if none
#   kafka.sh isr DIR TOPIC PARTITION
#                               the in-sync replicas' node ids, e.g. 1,2,3
# create-topic and consume take a cluster's DIR too (any running broker);
# there a topic has N replicas.  The brokers default to min.insync.replicas
# 2 (1 if N < 3), so with replication factor 3 and acks=all, one broker
# down is tolerated and two down is NOT_ENOUGH_REPLICAS.  One controller
# rather than N combined nodes: stopping 2 of 3 combined nodes loses the
# controller quorum, a different fault from the one the tests mean.
#
# consume prints one line per record, sorted by partition then offset:
#   topic TAB partition TAB offset TAB key TAB headers TAB value
# headers is name=value pairs joined by "," in the record's order, empty if
# none.  In key, value and header names and values, \ tab newline and CR are
# written \\ \t \n \r, and a null is \N; in headers "," is also written \,
# and in header names "=" is \=.  So a line splits on tabs, headers on
# unescaped commas, a pair at its first unescaped "=".  If fewer than COUNT
# arrive in time, consume prints those and fails; it reads no more than COUNT.
#
# Errors: a "kafka.sh: ..." line on stderr (with the broker's log when it
# does not start) and exit status 1; a wrong command line, usage and 2.
#
# Environment:
#   KAFKA_JARS_CACHE        jar directory (~/.cache/outbox_pg/kafka-VERSION)
#   KAFKA_PORT                broker port (default: a free one)
#   KAFKA_CONTROLLER_PORT     controller port (default: a free one)
#   KAFKA_ADVERTISED_PORT     the port the broker tells clients to use for
#                             it (default: KAFKA_PORT's), e.g. a fault
#                             proxy's in front of KAFKA_PORT: every
#                             connection after bootstrap goes there
#   KAFKA_AUTO_CREATE_TOPICS  true (default) or false
#   KAFKA_EXTRA_CONFIG        lines appended to server.properties at start;
#                             a property given twice takes the last value
#   KAFKA_EXTRA_LISTENERS     listeners added to listeners and
#                             advertised.listeners, e.g.
#                             SASL_SSL://127.0.0.1:PORT (ports: the caller's)
#   KAFKA_EXTRA_PROTOCOL_MAP  their entries of listener.security.protocol.map,
#                             e.g. SASL_SSL:SASL_SSL; their settings go in
#                             KAFKA_EXTRA_CONFIG (listener.name.NAME.*)
#   KAFKA_HEAP_OPTS           broker heap (default -Xms256m -Xmx512m)
#   KAFKA_CLUSTER_HEAP_OPTS   heap of each cluster node (default -Xms128m
#                             -Xmx384m; 4 nodes fit a 2-core CI box)
#   KAFKA_START_TIMEOUT       seconds for start and restart (default 60)
#   KAFKA_STOP_TIMEOUT        seconds from SIGTERM to SIGKILL (default 30)
#   JAVA_HOME                 java from there, else java on PATH
#
# DIR holds server.properties, log4j.properties, bootstrap, pid, data/,
# broker.log (Kafka's log) and server.log (the JVM's own output).  restart
# reads server.properties again: a fault test may edit it after kill.
# Topics: 3 partitions unless created otherwise, one replica (a cluster:
# N replicas).  KAFKA_PORT and KAFKA_CONTROLLER_PORT do not apply to a
# cluster, whose ports are always free ones.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
POM=$here/kafka/pom.xml
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" 2>/dev/null || true)
CACHE=${KAFKA_JARS_CACHE:-${HOME:-/tmp}/.cache/outbox_pg/kafka-$KAFKA_VERSION}
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
START_TIMEOUT=${KAFKA_START_TIMEOUT:-60}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
# Set while start or restart has a broker that is not ready yet, so that an
# error or a signal does not leave it running, and while fetch has a
# partial download, or consume a file of records.
starting_dir=
starting_pid=
fetch_tmp=
consume_tmp=
# Where the broker's log files ended when it was last launched: errors are
# looked for in what that run wrote.
broker_log_at=0
server_log_at=0

die() {
	echo "kafka.sh: $*" >&2
	exit 1
}

need() {	# need COMMAND HOW_TO_GET_IT
	command -v "$1" >/dev/null 2>&1 || die "$1 not found; $2"
}

need_runtime() {	# what start and restart run
	need "$JAVA" "install a Java 17 runtime (scripts/install-deps.sh)"
	need kcat "install kcat (scripts/install-deps.sh)"
}

need_uint() {	# need_uint WHAT VALUE
	if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -eq 0 ]; then
		die "$1 must be a positive integer, not \"$2\""
	fi
}

# ---- jars

pom_digest() {
	sha256sum "$POM" | cut -d' ' -f1
}

cache_complete() {
	[ "$(cat "$CACHE/.complete" 2>/dev/null)" = "$(pom_digest)" ]
}

# A directory fetch may replace: absent, empty, or only what fetch puts there.
# (KAFKA_JARS_CACHE could name anything; never delete a stranger's files.)
cache_replaceable() {
	local f
	[ -d "$CACHE" ] || return 0
	for f in "$CACHE"/* "$CACHE"/.[!.]*; do
		[ -e "$f" ] || continue
		case ${f##*/} in
		*.jar | mvn.log | .complete) ;;
		*) return 1 ;;
		esac
	done
}

cmd_fetch() {
	[ -n "$KAFKA_VERSION" ] || die "no <kafka.version> in $POM"
	cache_complete && return 0
	need mvn "install Maven (scripts/install-deps.sh)"
	need sha256sum "install coreutils"
	mkdir -p "$(dirname "$CACHE")"
	# Tests started side by side fetch once: the second waits for the first.
	exec 9>"$CACHE.lock"
	if command -v flock >/dev/null 2>&1; then
		flock -w 900 9 || die "another fetch still holds $CACHE.lock after 900 s"
	fi
	cache_complete && return 0
	cache_replaceable \
		|| die "$CACHE holds files kafka.sh did not put there; set KAFKA_JARS_CACHE to another directory"
	fetch_tmp=$(mktemp -d "$CACHE.tmp.XXXXXX")
	if ! timeout 900 mvn -q -B -Dstyle.color=never -f "$POM" \
		dependency:copy-dependencies -DoutputDirectory="$fetch_tmp" \
		>"$fetch_tmp/mvn.log" 2>&1; then
		tail -n 40 "$fetch_tmp/mvn.log" >&2
		die "could not fetch the Kafka $KAFKA_VERSION jars with Maven (log above)"
	fi
	[ -f "$fetch_tmp/kafka_2.13-$KAFKA_VERSION.jar" ] \
		|| die "Maven ran but kafka_2.13-$KAFKA_VERSION.jar is missing"
	pom_digest >"$fetch_tmp/.complete"
	rm -rf "$CACHE"
	mv "$fetch_tmp" "$CACHE"
	fetch_tmp=
}

# java_tool CLASS ARGS...: a short-lived Kafka command-line tool; warnings
# to stderr.  C1 only and serial GC: it starts faster.
java_tool() {
	timeout 120 "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
		-Djava.awt.headless=true \
		-Dlog4j.configuration="file:$here/kafka/tools-log4j.properties" \
		-cp "$CACHE/*" "$@"
}

# ---- broker processes

abs_dir() {	# abs_dir DIR: DIR's absolute path, or nothing if it is not a directory
	(cd "$1" 2>/dev/null && pwd -P) || true
}

# is_broker PID DIR: PID is a live (not zombie) JVM running DIR's broker.
# Checking the command line, not just the pid, keeps stop and kill from
# signalling an unrelated process that reused a stale pid.
is_broker() {
	local cmdline
	cmdline=$(tr '\0' '\n' 2>/dev/null <"/proc/$1/cmdline") || return 1
	grep -qxF "$2/server.properties" <<<"$cmdline"
}

# broker_pid DIR: prints the pid of DIR's running broker, or fails.
broker_pid() {
	local pid
	pid=$(cat "$1/pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] && is_broker "$pid" "$1" || return 1
	echo "$pid"
}

# proc_alive PID: PID has not finished exiting.  A JVM's command line is
# gone early in its exit, before it closes its sockets; it is done once it
# is a zombie (PID 1 may be slow to reap a detached broker) with no thread
# left but the first.
proc_alive() {
	local stat tasks
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	case ${stat%% *} in
	Z | X)
		tasks=(/proc/"$1"/task/*)
		[ ${#tasks[@]} -gt 1 ] ;;
	*) return 0 ;;
	esac
}

wait_gone() {	# wait_gone PID TIMEOUT_S
	local deadline=$((SECONDS + $2))
	while proc_alive "$1"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

# free_ports N: N distinct loopback ports free now, taken below the
# ephemeral range so that outgoing connections do not grab them before the
# broker binds.  (start still retries if one is taken in between.)
free_ports() {
	python3 - "$1" <<'PY'
import random, socket, sys

want = int(sys.argv[1])
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        eph_lo, eph_hi = map(int, f.read().split())
except OSError:
    eph_lo, eph_hi = 32768, 60999
candidates = [p for p in range(10000, 65536) if not eph_lo <= p <= eph_hi]
held, ports = [], []
for port in random.sample(candidates, min(2000, len(candidates))):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    held.append(s)
    ports.append(port)
    if len(ports) == want:
        break
if len(ports) < want:
    sys.exit("no free loopback port found")
print(*ports)
PY
}

new_cluster_id() {	# a random Kafka Uuid: 16 bytes, base64url, no padding
	local id
	while :; do
		id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
		# Kafka reserves the zero and metadata-topic ids, and its tools
		# refuse an id that starts with "-" (it reads as an option).
		case $id in
		-* | AAAAAAAAAAAAAAAAAAAAAA | AAAAAAAAAAAAAAAAAAAAAQ) ;;
		*) echo "$id"; return ;;
		esac
	done
}

write_config() {	# write_config DIR PORT CONTROLLER_PORT
	local dir=$1 port=$2 cport=$3 auto=${KAFKA_AUTO_CREATE_TOPICS:-true}
	case $auto in
	true | false) ;;
	*) die "KAFKA_AUTO_CREATE_TOPICS must be true or false, not \"$auto\"" ;;
	esac
	cat >"$dir/server.properties" <<CONF
# Written by tests/helpers/kafka.sh start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport${KAFKA_EXTRA_LISTENERS:+,$KAFKA_EXTRA_LISTENERS}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_ADVERTISED_PORT:-$port}${KAFKA_EXTRA_LISTENERS:+,$KAFKA_EXTRA_LISTENERS}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${KAFKA_EXTRA_PROTOCOL_MAP:+,$KAFKA_EXTRA_PROTOCOL_MAP}
log.dirs=$dir/data
# One broker: one replica for every topic, internal ones too.
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
auto.create.topics.enable=$auto
group.initial.rebalance.delay.ms=0
# After a SIGKILL the restarted controller refuses the broker's new
# registration until the old one's session expires: 9 s by default.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
# The log cleaner's buffer is taken from the heap at start; 128 MB by default.
log.cleaner.dedupe.buffer.size=8388608
CONF
	if [ -n "${KAFKA_EXTRA_CONFIG:-}" ]; then
		printf '# KAFKA_EXTRA_CONFIG\n%s\n' "$KAFKA_EXTRA_CONFIG" >>"$dir/server.properties"
	fi
}

config_value() {	# config_value DIR NAME: the last value NAME is given
	sed -n "s/^$2=//p" "$1/server.properties" | tail -n 1
}

broker_port() {	# broker_port DIR: the port of the PLAINTEXT listener
	config_value "$1" listeners | sed -n 's/.*PLAINTEXT:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p'
}

format_storage() {	# format_storage DIR
	local dir=$1
	rm -rf "$dir/data"
	java_tool kafka.tools.StorageTool format -t "$(new_cluster_id)" \
		-c "$dir/server.properties" >"$dir/format.log" 2>&1 \
		|| { cat "$dir/format.log" >&2; die "could not format the storage in $dir/data (kafka.tools.StorageTool, output above)"; }
}

launch() {	# launch DIR: the broker in the background, detached
	local dir=$1 heap
	read -ra heap <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
	# setsid: the broker outlives the shell that started it, and signals
	# sent to a test's process group (^C) do not reach it; stop does.
	broker_log_at=$(stat -c %s "$dir/broker.log" 2>/dev/null || echo 0)
	server_log_at=$(stat -c %s "$dir/server.log" 2>/dev/null || echo 0)
	setsid "$JAVA" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
		-Dlog4j.configuration="file:$dir/log4j.properties" \
		-Dkafka.logs.dir="$dir" \
		-cp "$CACHE/*" kafka.Kafka "$dir/server.properties" \
		>>"$dir/server.log" 2>&1 </dev/null &
	starting_pid=$!
	echo "$starting_pid" >"$dir/pid"
	starting_dir=$dir
}

# Whatever start or restart launched and did not see ready is killed on
# the way out, whether by die, set -e or a signal.
abandon_start() {
	[ -n "$starting_dir" ] || return 0
	if is_broker "$starting_pid" "$starting_dir"; then
		kill -KILL "$starting_pid" 2>/dev/null || true
	fi
	wait_gone "$starting_pid" 10 || true
	starting_dir=
}

on_exit() {
	abandon_start
	abandon_cluster_start
	[ -z "$fetch_tmp" ] || rm -rf "$fetch_tmp"
	[ -z "$consume_tmp" ] || rm -f "$consume_tmp" "$consume_tmp.err"
}
trap on_exit EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

port_open() {	# port_open PORT: something accepts connections on it
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# advertised_port DIR: the port the broker advertises (a proxy's, or its own)
advertised_port() {
	config_value "$1" advertised.listeners | sed -n 's/.*PLAINTEXT:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p'
}

# broker_listed DIR: the broker answers a metadata request and lists itself,
# which it does once it is registered with the controller and unfenced.
broker_listed() {
	local port metadata
	port=$(broker_port "$1")
	port_open "$port" || return 1
	# (Into a variable first: grep -q may exit before kcat has written all,
	# and pipefail would then count kcat's SIGPIPE as a failure.)
	metadata=$(timeout 10 kcat -b "127.0.0.1:$port" -L -m 5 2>/dev/null) || return 1
	grep -q "^ *broker $(config_value "$1" node.id) at 127\.0\.0\.1:$(advertised_port "$1")\b" <<<"$metadata"
}

# node_ready DIR: a broker is ready once listed; a dedicated controller
# (cluster-start) once it accepts connections on its port.
node_ready() {
	if [ "$(config_value "$1" process.roles)" = controller ]; then
		port_open "$(config_value "$1" listeners | sed -n 's/.*:\([0-9]*\)$/\1/p')"
	else
		broker_listed "$1"
	fi
}

# wait_ready DIR: 0 when ready, 1 if the broker exited, 2 at the deadline.
wait_ready() {
	local dir=$1 pid deadline=$((SECONDS + START_TIMEOUT))
	pid=$(cat "$dir/pid")
	until node_ready "$dir"; do
		is_broker "$pid" "$dir" || return 1
		[ $SECONDS -lt $deadline ] || return 2
		sleep 0.1
	done
	starting_dir=
}

last_run_log() {	# last_run_log DIR: what the last launch wrote to its logs
	tail -c "+$((broker_log_at + 1))" "$1/broker.log" 2>/dev/null || true
	tail -c "+$((server_log_at + 1))" "$1/server.log" 2>/dev/null || true
}

log_tail() {	# the broker's errors and last lines, for an error message
	local dir=$1 errors
	errors=$(last_run_log "$dir" | grep -E '^\[[^]]*\] (ERROR|FATAL) |Exception|Error:' | tail -n 10 || true)
	if [ -n "$errors" ]; then
		echo "---- errors the broker logged" >&2
		echo "$errors" >&2
	fi
	echo "---- the last lines of $dir/broker.log" >&2
	tail -n 20 "$dir/broker.log" >&2 2>/dev/null || true
	if [ -s "$dir/server.log" ]; then
		echo "---- the last lines of $dir/server.log (the JVM's output)" >&2
		tail -n 10 "$dir/server.log" >&2
	fi
}

# bind_failed DIR PORT: the broker's last run could not bind PORT.
bind_failed() {
	[ "$(last_run_log "$1" | grep -c "127\.0\.0\.1:$2.*Address already in use")" -gt 0 ]
}

# wait_ports_free DIR: no one listens on the ports in DIR's config; waits
# a little, for a process that is still closing them.
wait_ports_free() {
	local port deadline=$((SECONDS + 10))
	for port in $(config_value "$1" listeners | grep -o ':[0-9]*' | tr -d :); do
		while port_open "$port"; do
			[ $SECONDS -lt $deadline ] \
				|| die "127.0.0.1:$port, a port of the broker in $1, is in use by another process"
			sleep 0.1
		done
	done
}

start_error() {	# start_error DIR STATUS: dies with why the broker is not up
	local dir=$1 status=$2 port
	abandon_start
	log_tail "$dir"
	if [ "$status" -eq 1 ]; then
		for port in $(config_value "$dir" listeners | grep -o ':[0-9]*' | tr -d :); do
			if bind_failed "$dir" "$port"; then
				die "the broker in $dir could not listen on 127.0.0.1:$port: in use (logs above)"
			fi
		done
		die "the broker in $dir exited while starting (logs above)"
	fi
	die "the broker in $dir did not answer on $(cat "$dir/bootstrap") within $START_TIMEOUT s (logs above)"
}

cmd_start() {
	local dir=$1 ports port cport attempt status
	need_runtime
	need python3 "install python3"
	mkdir -p "$dir"
	dir=$(abs_dir "$dir")
	if broker_pid "$dir" >/dev/null; then
		die "a broker is already running in $dir (pid $(cat "$dir/pid")); stop it first"
	fi
	[ ! -e "$dir/data" ] \
		|| die "$dir already holds a broker's data; use restart to run it again, or remove $dir"
	if [ -n "${KAFKA_PORT:-}" ]; then
		need_uint KAFKA_PORT "$KAFKA_PORT"
		! port_open "$KAFKA_PORT" || die "KAFKA_PORT 127.0.0.1:$KAFKA_PORT is already in use"
	fi
	if [ -n "${KAFKA_CONTROLLER_PORT:-}" ]; then
		need_uint KAFKA_CONTROLLER_PORT "$KAFKA_CONTROLLER_PORT"
		! port_open "$KAFKA_CONTROLLER_PORT" \
			|| die "KAFKA_CONTROLLER_PORT 127.0.0.1:$KAFKA_CONTROLLER_PORT is already in use"
	fi
	[ -z "${KAFKA_ADVERTISED_PORT:-}" ] || need_uint KAFKA_ADVERTISED_PORT "$KAFKA_ADVERTISED_PORT"
	need_uint KAFKA_START_TIMEOUT "$START_TIMEOUT"
	cmd_fetch
	cp "$here/kafka/log4j.properties" "$dir/log4j.properties"
	# A port found free may be taken before the broker binds it; then
	# start again on other ports, unless they were given.
	for attempt in 1 2 3; do
		ports=$(free_ports 2) || die "could not find free loopback ports"
		port=${KAFKA_PORT:-${ports% *}}
		cport=${KAFKA_CONTROLLER_PORT:-${ports#* }}
		if [ "$port" = "$cport" ]; then
			[ -z "${KAFKA_CONTROLLER_PORT:-}" ] \
				|| die "KAFKA_PORT and KAFKA_CONTROLLER_PORT are both $port"
			cport=${ports% *}
		fi
		write_config "$dir" "$port" "$cport"
		echo "127.0.0.1:$port" >"$dir/bootstrap"
		format_storage "$dir"
		launch "$dir"
		status=0
		wait_ready "$dir" || status=$?
		[ $status -ne 0 ] || break
		if [ $status -eq 1 ] && [ $attempt -lt 3 ] \
			&& { { [ -z "${KAFKA_PORT:-}" ] && bind_failed "$dir" "$port"; } \
				|| { [ -z "${KAFKA_CONTROLLER_PORT:-}" ] && bind_failed "$dir" "$cport"; }; }; then
			echo "kafka.sh: port $port or $cport was taken meanwhile; trying other ports" >&2
			abandon_start
			continue
		fi
		start_error "$dir" $status
	done
	cat "$dir/bootstrap"
}

cmd_restart() {
	local dir status=0
	dir=$(abs_dir "$1")
	if [ -z "$dir" ] || [ ! -f "$dir/server.properties" ] \
		|| [ ! -f "$dir/data/meta.properties" ]; then
		die "no broker in $1 to restart (run start first)"
	fi
	need_runtime
	need_uint KAFKA_START_TIMEOUT "$START_TIMEOUT"
	cmd_fetch
	cmd_stop "$dir"
	wait_ports_free "$dir"
	echo "127.0.0.1:$(broker_port "$dir")" >"$dir/bootstrap"
	launch "$dir"
	wait_ready "$dir" || status=$?
	[ $status -eq 0 ] || start_error "$dir" $status
	cat "$dir/bootstrap"
}

cmd_stop() {
	local dir pid
	dir=$(abs_dir "$1")
	[ -n "$dir" ] || return 0
	if is_cluster "$dir"; then
		cmd_cluster_stop "$dir"
		return
	fi
	need_uint KAFKA_STOP_TIMEOUT "$STOP_TIMEOUT"
	if pid=$(broker_pid "$dir"); then
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
			echo "kafka.sh: the broker in $dir (pid $pid) still runs $STOP_TIMEOUT s after SIGTERM; sending SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
			wait_gone "$pid" 10 || die "the broker in $dir (pid $pid) survived SIGKILL for 10 s"
		fi
	fi
	rm -f "$dir/pid"
}

cmd_kill() {
	local dir pid
	dir=$(abs_dir "$1")
	pid=$(broker_pid "$dir") || die "no broker running in $1"
	kill -KILL "$pid"
	wait_gone "$pid" 10 || die "the broker in $dir (pid $pid) survived SIGKILL for 10 s"
}

# running_bootstrap DIR: DIR's bootstrap address, if its broker is running.
running_bootstrap() {
	local dir
	dir=$(abs_dir "$1")
	if [ -n "$dir" ] && is_cluster "$dir"; then
		cluster_bootstrap "$dir"
		return
	fi
	if [ -z "$dir" ] || ! broker_pid "$dir" >/dev/null; then
		die "no broker running in $1"
	fi
	cat "$dir/bootstrap"
}

# topic_state BOOTSTRAP TOPIC: prints "PARTITIONS LED", the topic's partition
# count and how many have a leader, or nothing if the broker does not know
# the topic.  Lists all topics: naming one would auto-create it.
topic_state() {
	timeout 10 kcat -b "$1" -L -m 5 2>/dev/null | awk -v want="\"$2\"" '
		$1 == "topic" { mine = ($2 == want); if (mine) total = $4; next }
		mine && $1 == "partition" && $4 != "-1," && !/Broker:/ { led++ }
		END { if (total != "") print total, led + 0 }'
}

cmd_create_topic() {
	local dir=$1 topic=$2 partitions=$3 bootstrap out state config deadline
	local args
	shift 3
	need_uint PARTITIONS "$partitions"
	bootstrap=$(running_bootstrap "$dir")
	args=(--bootstrap-server "$bootstrap" --create --if-not-exists
		--topic "$topic" --partitions "$partitions" --replication-factor "$(replication_factor "$dir")")
	for config in "$@"; do
		args+=(--config "$config")
	done
	out=$(java_tool org.apache.kafka.tools.TopicCommand "${args[@]}" 2>&1) \
		|| { echo "$out" >&2; die "could not create topic $topic on $bootstrap (TopicCommand, output above)"; }
	deadline=$((SECONDS + 30))
	while :; do
		state=$(topic_state "$bootstrap" "$topic")
		if [ -n "$state" ] && [ "${state% *}" != "$partitions" ]; then
			die "topic $topic already exists with ${state% *} partitions, not $partitions"
		fi
		[ "$state" != "$partitions $partitions" ] || break
		[ $SECONDS -lt $deadline ] \
			|| die "topic $topic on $bootstrap: ${state#* } of $partitions partitions have a leader after 30 s"
		sleep 0.1
	done
}

# Reads kcat -J records, prints consume's format (see the top of this file).
FORMAT_PY='
import json, sys

sys.stdin.reconfigure(errors="surrogateescape")
sys.stdout.reconfigure(errors="surrogateescape")

def esc(s, also=""):
    if s is None:
        return "\\N"
    s = s.replace("\\", "\\\\").replace("\t", "\\t")
    s = s.replace("\n", "\\n").replace("\r", "\\r")
    for c in also:
        s = s.replace(c, "\\" + c)
    return s

records = [json.loads(line) for line in sys.stdin if line.strip()]
records.sort(key=lambda r: (r["partition"], r["offset"]))
for r in records:
    h = r.get("headers") or []
    headers = ",".join(esc(h[i], ",=") + "=" + esc(h[i + 1], ",")
                       for i in range(0, len(h) - 1, 2))
    print("\t".join([r["topic"], str(r["partition"]), str(r["offset"]),
                     esc(r.get("key")), headers, esc(r.get("payload"))]))
'

cmd_consume() {
	local dir=$1 topic=$2 count=$3 timeout=$4 bootstrap deadline left
	local raw status=0 got
	need_uint COUNT "$count"
	need_uint TIMEOUT_S "$timeout"
	bootstrap=$(running_bootstrap "$dir")
	deadline=$((SECONDS + timeout))
	# kcat gives up at once on a topic the broker does not know yet.
	until [ -n "$(topic_state "$bootstrap" "$topic")" ]; do
		[ $SECONDS -lt $deadline ] || die "topic $topic does not exist on $bootstrap after $timeout s"
		sleep 0.1
	done
	left=$((deadline - SECONDS))
	[ $left -gt 0 ] || left=1
	consume_tmp=$(mktemp "$(abs_dir "$dir")/consume.XXXXXX")
	raw=$consume_tmp
	# kcat -J: one JSON object a line whatever the bytes, null told from
	# empty.  On SIGTERM from timeout, kcat still writes what it has read.
	timeout -k 5 "$left" kcat -C -q -J -b "$bootstrap" -t "$topic" \
		-o beginning -c "$count" >"$raw" 2>"$raw.err" || status=$?
	got=$(grep -c . "$raw" || true)
	python3 -c "$FORMAT_PY" <"$raw" || die "could not read kcat's records from topic $topic"
	if [ "$got" -lt "$count" ]; then
		[ $status -eq 124 ] || cat "$raw.err" >&2
		die "only $got of $count records arrived in topic $topic on $bootstrap within $timeout s"
	fi
}

# ---- clusters (cluster-start and the node-* commands)
#
# DIR/node0 is a dedicated controller, DIR/node1..N are brokers (node.id is
# the index), each laid out like a start DIR, so stop, kill and restart
# work on one node.  One controller, not N combined nodes: with 3 combined
# nodes, stopping 2 loses the controller quorum and the test would see a
# cluster without a controller, not NOT_ENOUGH_REPLICAS from a live one.
# A single controller is no fault-tolerant quorum, but the tests stop and
# kill brokers, never it.

# Launched by cluster-start and not seen ready yet: "PID DIR" each.
cluster_starting=()

abandon_cluster_start() {
	local entry pid
	for entry in "${cluster_starting[@]}"; do
		pid=${entry%% *}
		if is_broker "$pid" "${entry#* }"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait_gone "$pid" 10 || true
	done
	cluster_starting=()
}

is_cluster() {	# is_cluster DIR: DIR was made by cluster-start
	[ -f "$1/cluster" ]
}

cluster_size() {	# cluster_size DIR: its number of brokers
	cat "$1/cluster"
}

# replication_factor DIR: for create-topic: every broker of a cluster, 1
# for a single broker.
replication_factor() {
	if is_cluster "$1"; then cluster_size "$1"; else echo 1; fi
}

cluster_min_isr() {	# cluster_min_isr N: 2, or 1 with fewer than 3 brokers
	if [ "$1" -ge 3 ]; then echo 2; else echo 1; fi
}

# cluster_bootstrap DIR: the addresses of the brokers running now,
# comma-separated; fails if none runs.
cluster_bootstrap() {
	local dir=$1 i list=
	for i in $(seq 1 "$(cluster_size "$dir")"); do
		broker_pid "$dir/node$i" >/dev/null || continue
		list=${list:+$list,}127.0.0.1:$(broker_port "$dir/node$i")
	done
	[ -n "$list" ] || die "no broker of the cluster in $dir is running"
	echo "$list"
}

node_dir() {	# node_dir DIR I: node I's directory, which must exist
	local dir
	dir=$(abs_dir "$1")
	[ -n "$dir" ] && is_cluster "$dir" || die "no cluster in $1 (run cluster-start first)"
	[[ $2 =~ ^[0-9]+$ ]] && [ "$2" -le "$(cluster_size "$dir")" ] \
		|| die "node must be 0 (the controller) to $(cluster_size "$dir"), not \"$2\""
	echo "$dir/node$2"
}

# write_node_config DIR ROLE NODE_ID PORT CONTROLLER_PORT BROKERS:
# ROLE controller or broker; PORT is the broker's (unused for the controller).
write_node_config() {
	local dir=$1 role=$2 id=$3 port=$4 cport=$5 n=$6 rf auto=${KAFKA_AUTO_CREATE_TOPICS:-true}
	case $auto in
	true | false) ;;
	*) die "KAFKA_AUTO_CREATE_TOPICS must be true or false, not \"$auto\"" ;;
	esac
	rf=$((n < 3 ? n : 3))
	{
		echo "# Written by tests/helpers/kafka.sh cluster-start."
		echo "process.roles=$role"
		echo "node.id=$id"
		echo "controller.quorum.voters=0@127.0.0.1:$cport"
		echo "controller.listener.names=CONTROLLER"
		if [ "$role" = controller ]; then
			echo "listeners=CONTROLLER://127.0.0.1:$cport"
			echo "listener.security.protocol.map=CONTROLLER:PLAINTEXT"
		else
			echo "listeners=PLAINTEXT://127.0.0.1:$port"
			echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port"
			echo "inter.broker.listener.name=PLAINTEXT"
			echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
		fi
		cat <<CONF
log.dirs=$dir/data
# Every broker holds a replica of every partition; acks=all needs 2 of them.
num.partitions=3
default.replication.factor=$n
min.insync.replicas=$(cluster_min_isr "$n")
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$(cluster_min_isr "$rf")
transaction.state.log.num.partitions=3
auto.create.topics.enable=$auto
group.initial.rebalance.delay.ms=0
# The controller fences a killed broker (and elects new leaders) when its
# session expires: 9 s by default.  A restarted broker registers again then.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
# A follower that stops fetching leaves the ISR after this (30 s default).
replica.lag.time.max.ms=10000
log.cleaner.dedupe.buffer.size=8388608
CONF
	} >"$dir/server.properties"
	if [ -n "${KAFKA_EXTRA_CONFIG:-}" ]; then
		printf '# KAFKA_EXTRA_CONFIG\n%s\n' "$KAFKA_EXTRA_CONFIG" >>"$dir/server.properties"
	fi
}

# format_nodes DIR N: every node's storage, one cluster id, side by side.
format_nodes() {
	local dir=$1 n=$2 id i pids=() failed=0
	id=$(new_cluster_id)
	for i in $(seq 0 "$n"); do
		rm -rf "$dir/node$i/data"
		java_tool kafka.tools.StorageTool format -t "$id" \
			-c "$dir/node$i/server.properties" >"$dir/node$i/format.log" 2>&1 &
		pids+=($!)
	done
	for i in $(seq 0 "$n"); do
		if ! wait "${pids[$i]}"; then
			cat "$dir/node$i/format.log" >&2
			failed=1
		fi
	done
	[ $failed -eq 0 ] || die "could not format the storage of the cluster in $dir (kafka.tools.StorageTool, output above)"
}

cluster_heap() {	# the heap of one cluster node
	echo "${KAFKA_CLUSTER_HEAP_OPTS:--Xms128m -Xmx384m}"
}

# launch_cluster DIR N: every node in the background, then waits for all;
# on failure sets failed_node to the failing node's index and returns 1
# (it exited) or 2 (not ready in time).
failed_node=
launch_cluster() {
	local dir=$1 n=$2 i status
	for i in $(seq 0 "$n"); do
		KAFKA_HEAP_OPTS=$(cluster_heap) launch "$dir/node$i"
		cluster_starting+=("$starting_pid $dir/node$i")
		starting_dir=
	done
	for i in $(seq 0 "$n"); do
		status=0
		wait_ready "$dir/node$i" || status=$?
		if [ $status -ne 0 ]; then
			failed_node=$i
			return $status
		fi
	done
	cluster_starting=()
}

# cluster_bind_failed DIR N: some node could not bind its port.
cluster_bind_failed() {
	local i port
	for i in $(seq 0 "$2"); do
		for port in $(config_value "$1/node$i" listeners | grep -o ':[0-9]*' | tr -d :); do
			bind_failed "$1/node$i" "$port" && return 0
		done
	done
	return 1
}

cmd_cluster_start() {
	local dir=$1 n=$2 ports attempt status i
	need_uint N "$n"
	need_runtime
	need python3 "install python3"
	need_uint KAFKA_START_TIMEOUT "$START_TIMEOUT"
	mkdir -p "$dir"
	dir=$(abs_dir "$dir")
	[ ! -e "$dir/cluster" ] && [ ! -e "$dir/data" ] \
		|| die "$dir already holds a broker or a cluster; use node-restart to run a node again, or remove $dir"
	cmd_fetch
	for attempt in 1 2 3; do
		ports=($(free_ports $((n + 1)))) || die "could not find free loopback ports"
		for i in $(seq 0 "$n"); do
			rm -rf "$dir/node$i"
			mkdir -p "$dir/node$i"
			cp "$here/kafka/log4j.properties" "$dir/node$i/log4j.properties"
			write_node_config "$dir/node$i" "$([ "$i" -eq 0 ] && echo controller || echo broker)" \
				"$i" "${ports[$i]}" "${ports[0]}" "$n"
			echo "127.0.0.1:${ports[$i]}" >"$dir/node$i/bootstrap"
		done
		format_nodes "$dir" "$n"
		echo "$n" >"$dir/cluster"
		status=0
		launch_cluster "$dir" "$n" || status=$?
		if [ $status -eq 0 ]; then
			cluster_bootstrap "$dir" | tee "$dir/bootstrap"
			return
		fi
		if [ $status -eq 1 ] && [ $attempt -lt 3 ] && cluster_bind_failed "$dir" "$n"; then
			echo "kafka.sh: a port of the cluster was taken meanwhile; trying other ports" >&2
			abandon_cluster_start
			continue
		fi
		break
	done
	abandon_cluster_start
	log_tail "$dir/node$failed_node"
	[ $status -ne 1 ] || die "node $failed_node of the cluster in $dir exited while starting (logs above)"
	die "node $failed_node of the cluster in $dir was not ready within $START_TIMEOUT s (logs above)"
}

# cmd_cluster_stop DIR: the brokers side by side (each hands its partitions
# over in a controlled shutdown, which needs the controller), then the
# controller.  Idempotent, like stop.
cmd_cluster_stop() {
	local dir=$1 i pids=() failed=0
	for i in $(seq 1 "$(cluster_size "$dir")"); do
		(cmd_stop "$dir/node$i") &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || failed=1
	done
	cmd_stop "$dir/node0"
	[ $failed -eq 0 ] || die "could not stop every broker of the cluster in $dir (above)"
}

cmd_node_restart() {	# cmd_node_restart DIR I: prints the node's address
	local node
	node=$(node_dir "$1" "$2")
	KAFKA_HEAP_OPTS=$(cluster_heap) cmd_restart "$node"
}

# partition_line DIR TOPIC PARTITION: kcat's metadata line of the
# partition, from any running broker, or nothing.  Lists all topics: naming
# one would auto-create it.
partition_line() {
	local bootstrap
	[[ $3 =~ ^[0-9]+$ ]] || die "PARTITION must be a number, not \"$3\""
	bootstrap=$(running_bootstrap "$1")
	timeout 10 kcat -b "$bootstrap" -L -m 5 2>/dev/null | awk -v want="\"$2\"" -v p="$3" '
		$1 == "topic" { mine = ($2 == want); next }
		mine && $1 == "partition" && $2 == p "," { print; exit }'
}

# cmd_leader DIR TOPIC PARTITION: the leader's node id, -1 if none.
cmd_leader() {
	local line
	line=$(partition_line "$@")
	[ -n "$line" ] || die "no partition $3 of topic $2 in the cluster's metadata"
	sed -n 's/.*, leader \(-\{0,1\}[0-9]*\),.*/\1/p' <<<"$line"
}

# cmd_isr DIR TOPIC PARTITION: the in-sync replicas' node ids, "1,2,3".
cmd_isr() {
	local line
	line=$(partition_line "$@")
	[ -n "$line" ] || die "no partition $3 of topic $2 in the cluster's metadata"
	sed -n 's/.*isrs: \([0-9,]*\).*/\1/p' <<<"$line"
}

usage() {
	sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

main() {
	local cmd=${1:-}
	[ $# -gt 0 ] && shift
	case $cmd in
	fetch) cmd_fetch ;;
	classpath) cmd_fetch; echo "$CACHE/*" ;;
	start) [ $# -eq 1 ] || usage; cmd_start "$1" ;;
	stop) [ $# -eq 1 ] || usage; cmd_stop "$1" ;;
	kill) [ $# -eq 1 ] || usage; cmd_kill "$1" ;;
	restart) [ $# -eq 1 ] || usage; cmd_restart "$1" ;;
	create-topic)
		[ $# -ge 2 ] || usage
		local dir=$1 topic=$2
		shift 2
		cmd_create_topic "$dir" "$topic" "${1:-3}" "${@:2}" ;;
	consume)
		[ $# -eq 3 ] || [ $# -eq 4 ] || usage
		cmd_consume "$1" "$2" "$3" "${4:-60}" ;;
	cluster-start) [ $# -eq 2 ] || usage; cmd_cluster_start "$1" "$2" ;;
	cluster-stop)
		[ $# -eq 1 ] || usage
		[ -z "$(abs_dir "$1")" ] || [ ! -f "$1/cluster" ] || cmd_cluster_stop "$(abs_dir "$1")" ;;
	node-kill | node-stop)
		[ $# -eq 2 ] || usage
		local node
		node=$(node_dir "$1" "$2")
		if [ "$cmd" = node-kill ]; then cmd_kill "$node"; else cmd_stop "$node"; fi ;;
	node-restart) [ $# -eq 2 ] || usage; cmd_node_restart "$1" "$2" ;;
	leader) [ $# -eq 3 ] || usage; cmd_leader "$1" "$2" "$3" ;;
	isr) [ $# -eq 3 ] || usage; cmd_isr "$1" "$2" "$3" ;;
	-h | --help | help | "") usage ;;
	*) echo "kafka.sh: unknown command \"$cmd\"" >&2; usage ;;
	esac
}

main "$@"
