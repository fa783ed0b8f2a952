#!/usr/bin/env bash
# Throwaway Apache Kafka brokers (KRaft, combined broker + controller) for
# outbox_pg's tests, demo and benchmarks, from pinned jars on Maven Central.
#
#   kafka.sh fetch                       resolve the jars (cached)
#   kafka.sh start DIR                   start a broker; prints HOST:PORT
#   kafka.sh stop DIR                    graceful stop (SIGTERM, then SIGKILL)
#   kafka.sh kill DIR                    SIGKILL (fault tests)
#   kafka.sh restart DIR                 start again on the same port and data
#   kafka.sh create-topic DIR NAME [PARTITIONS]
#   kafka.sh classpath                   the jars, for java -cp (Kafka's classes)
#   kafka.sh consume DIR TOPIC COUNT [TIMEOUT_S]
#       prints COUNT records from the start of TOPIC, one per line:
#       topic<TAB>partition<TAB>offset<TAB>key<TAB>headers<TAB>value
#
# Environment: KAFKA_EXTRA_CONFIG (extra server.properties lines),
# OUTBOX_KAFKA_CACHE (where the jars go).  Listens on 127.0.0.1 only.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")
CACHE=${OUTBOX_KAFKA_CACHE:-$HOME/.cache/outbox_pg/kafka-$KAFKA_VERSION}

die() { echo "kafka.sh: $*" >&2; exit 1; }

cmd_fetch() {
	if [ -f "$CACHE/.complete" ]; then
		return 0
	fi
	mkdir -p "$CACHE"
	mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
		-DoutputDirectory="$CACHE" >"$CACHE/mvn.log" 2>&1 \
		|| { cat "$CACHE/mvn.log" >&2; die "could not fetch Kafka $KAFKA_VERSION jars from Maven Central"; }
	touch "$CACHE/.complete"
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

java_run() {	# java_run MAIN ARGS...: a Kafka tool, quietly
	java -Xmx256m -cp "$CACHE/*" -Dlog4j.configuration="file:$here/kafka/tools-log4j.properties" "$@"
}

write_config() {
	local dir=$1 port=$2 cport=$3
	cat >"$dir/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=3
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0
log.retention.hours=1
CONF
	if [ -n "${KAFKA_EXTRA_CONFIG:-}" ]; then
		printf '%s\n' "$KAFKA_EXTRA_CONFIG" >>"$dir/server.properties"
	fi
}

wait_ready() {
	local dir=$1 deadline=$((SECONDS + 90))
	until kcat -b "$(cat "$dir/bootstrap")" -L -m 2 >/dev/null 2>&1; do
		if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
			tail -n 40 "$dir/server.log" >&2
			die "broker in $dir exited during start (log above)"
		fi
		if [ $SECONDS -ge $deadline ]; then
			tail -n 40 "$dir/server.log" >&2
			die "broker in $dir not ready within 90 s (log above)"
		fi
		sleep 0.2
	done
}

launch() {
	local dir=$1
	# setsid: the broker survives the shell that started it, and a test's
	# process group signals do not reach it.
	setsid java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
		-Dlog4j.configuration="file:$here/kafka/log4j.properties" \
		-Dkafka.logs.dir="$dir" \
		-cp "$CACHE/*" kafka.Kafka "$dir/server.properties" \
		>>"$dir/server.log" 2>&1 </dev/null &
	echo $! >"$dir/pid"
	wait_ready "$dir"
}

cmd_start() {
	local dir=$1 port cport
	cmd_fetch
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	port=${KAFKA_PORT:-$(free_port)}
	cport=$(free_port)
	write_config "$dir" "$port" "$cport"
	echo "127.0.0.1:$port" >"$dir/bootstrap"
	java_run kafka.tools.StorageTool format -t "$(java_run kafka.tools.StorageTool random-uuid)" \
		-c "$dir/server.properties" >"$dir/format.log" 2>&1 \
		|| { cat "$dir/format.log" >&2; die "could not format storage in $dir"; }
	launch "$dir"
	cat "$dir/bootstrap"
}

cmd_stop() {
	local dir=$1 pid deadline
	[ -f "$dir/pid" ] || return 0
	pid=$(cat "$dir/pid")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		deadline=$((SECONDS + 30))
		while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
			sleep 0.2
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/pid"
}

cmd_kill() {
	local dir=$1 pid
	pid=$(cat "$dir/pid" 2>/dev/null) || die "no broker in $dir"
	kill -KILL "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

cmd_create_topic() {
	local dir=$1 topic=$2 partitions=${3:-3}
	java_run org.apache.kafka.tools.TopicCommand --bootstrap-server "$(cat "$dir/bootstrap")" \
		--create --if-not-exists --topic "$topic" --partitions "$partitions" \
		--replication-factor 1 >/dev/null
}

cmd_consume() {
	local dir=$1 topic=$2 count=$3 timeout=${4:-60} out
	out=$(timeout "$timeout" kcat -C -b "$(cat "$dir/bootstrap")" -t "$topic" -o beginning \
		-c "$count" -e -q -f '%t\t%p\t%o\t%k\t%h\t%s\n' 2>/dev/null) || true
	printf '%s\n' "$out" | grep -c . >/dev/null || true
	if [ "$(printf '%s' "$out" | grep -c '^')" -lt "$count" ]; then
		printf '%s\n' "$out"
		die "only $(printf '%s' "$out" | grep -c '^') of $count records arrived in $topic within ${timeout} s"
	fi
	printf '%s\n' "$out"
}

case "${1:-}" in
fetch) cmd_fetch ;;
classpath) cmd_fetch; echo "$CACHE/*" ;;
start) cmd_start "${2:?usage: kafka.sh start DIR}" ;;
stop) cmd_stop "${2:?usage: kafka.sh stop DIR}" ;;
kill) cmd_kill "${2:?usage: kafka.sh kill DIR}" ;;
restart) d=$(cd "${2:?usage: kafka.sh restart DIR}" && pwd); launch "$d"; cat "$d/bootstrap" ;;
create-topic) cmd_create_topic "${2:?}" "${3:?usage: kafka.sh create-topic DIR NAME [PARTITIONS]}" "${4:-3}" ;;
consume) cmd_consume "${2:?}" "${3:?}" "${4:?usage: kafka.sh consume DIR TOPIC COUNT [TIMEOUT]}" "${5:-60}" ;;
*) die "usage: kafka.sh fetch|start|stop|kill|restart|create-topic|consume ..." ;;
esac
