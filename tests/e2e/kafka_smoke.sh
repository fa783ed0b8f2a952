#!/usr/bin/env bash
# Self-test of the Kafka harness, tests/helpers/kafka.sh, on a real broker:
# start, create a topic of 3 partitions, produce 10 keyed records with
# headers (kcat), read them back with kafka.sh consume and compare every
# field; SIGKILL and restart on the same port, the records are still there
# and new ones are taken; stop leaves no process.  One test: the first
# failed check fails it.  Prints "1 passed, 0 failed" or
# "0 passed, 1 failed".
set -euo pipefail

KAFKA_SH=$(cd "$(dirname "$0")/../helpers" && pwd)/kafka.sh
TOPIC=smoke
work=

finish() {
	local status=$?
	if [ -n "$work" ]; then
		"$KAFKA_SH" stop "$work/kafka" >/dev/null 2>&1 || true
		if [ $status -ne 0 ] && [ -f "$work/kafka/broker.log" ]; then
			echo "# last lines of the broker's log:"
			tail -n 20 "$work/kafka/broker.log" | sed 's/^/#   /'
		fi
		if [ -n "${E2E_KEEP:-}" ]; then
			echo "# kept $work"
		else
			rm -rf "$work"
		fi
	fi
	if [ $status -eq 0 ]; then
		echo "ok - kafka harness: start, topic, produce, consume, kill, restart, stop"
		echo "1 passed, 0 failed"
	else
		echo "not ok - kafka harness"
		echo "0 passed, 1 failed"
		exit 1
	fi
}
trap finish EXIT
trap 'exit 130' INT TERM HUP

fail() {
	echo "# FAILED: $*"
	exit 1
}

expect() {	# expect WHAT WANT HAVE
	[ "$2" = "$3" ] && return 0
	echo "# want:"
	printf '%s\n' "$2" | sed 's/^/#   /'
	echo "# have:"
	printf '%s\n' "$3" | sed 's/^/#   /'
	fail "$1"
}

now_ms() {
	local us=${EPOCHREALTIME//[.,]/}
	echo $((us / 1000))
}

took() {	# took WHAT START_MS: prints how long WHAT took
	local ms=$(($(now_ms) - $2))
	printf '# %s: %d.%03d s\n' "$1" $((ms / 1000)) $((ms % 1000))
}

# produce I: record I to partition I % 3, with headers; record 7 has a tab
# in its value and a header value with "," and "=" (escaped by consume).
produce() {
	local i=$1 value="value $1" note=plain
	if [ "$i" -eq 7 ]; then
		value=$'tab\there'
		note="a,b=c"
	fi
	printf 'key-%d\t%s\n' "$i" "$value" \
		| kcat -P -b "$bootstrap" -t "$TOPIC" -p $((i % 3)) -K $'\t' \
			-H "seq=$i" -H "note=$note" -H "empty=" \
		|| fail "kcat could not produce record $i"
}

# The line consume prints for record I, at OFFSET of partition I % 3.
expected_line() {
	local i=$1 offset=$2 value="value $1" note=plain
	if [ "$i" -eq 7 ]; then
		value='tab\there'
		note='a\,b=c'
	fi
	printf '%s\t%d\t%d\tkey-%d\tseq=%d,note=%s,empty=\t%s\n' \
		"$TOPIC" $((i % 3)) "$offset" "$i" "$i" "$note" "$value"
}

# Records 0..N-1, sorted as consume sorts them: by partition, then offset.
expected_records() {
	local n=$1 p i
	for p in 0 1 2; do
		for ((i = p; i < n; i += 3)); do
			expected_line "$i" $((i / 3))
		done
	done
}

broker_processes() {
	pgrep -f "$work/kafka/server.properties" || true
}

command -v kcat >/dev/null || fail "kcat not found (scripts/install-deps.sh)"
work=$(mktemp -d /tmp/outbox_kafka_smoke.XXXXXX)

t=$(now_ms)
"$KAFKA_SH" fetch || fail "kafka.sh fetch"
took "fetch" "$t"

t=$(now_ms)
bootstrap=$("$KAFKA_SH" start "$work/kafka") || fail "kafka.sh start"
took "start" "$t"
[[ $bootstrap =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "start printed \"$bootstrap\", not 127.0.0.1:PORT"
expect "DIR/bootstrap holds what start printed" "$bootstrap" "$(cat "$work/kafka/bootstrap")"

t=$(now_ms)
"$KAFKA_SH" create-topic "$work/kafka" "$TOPIC" 3 || fail "kafka.sh create-topic"
took "create-topic" "$t"

for i in $(seq 0 9); do
	produce "$i"
done
want=$(expected_records 10)
have=$("$KAFKA_SH" consume "$work/kafka" "$TOPIC" 10 30) || fail "kafka.sh consume of 10 records"
expect "consume prints the 10 records, every field exact" "$want" "$have"

# Asked for more than there are: fails, says so, prints what did arrive.
status=0
have=$("$KAFKA_SH" consume "$work/kafka" "$TOPIC" 11 2 2>"$work/consume.err") || status=$?
[ $status -ne 0 ] || fail "consume of 11 records out of 10 exited 0"
grep -q "only 10 of 11 records arrived" "$work/consume.err" \
	|| fail "consume of 11 out of 10 said: $(cat "$work/consume.err")"
expect "consume prints the records that did arrive" "$want" "$have"

pid=$(cat "$work/kafka/pid")
t=$(now_ms)
"$KAFKA_SH" kill "$work/kafka" || fail "kafka.sh kill"
took "kill" "$t"
# (Dead may still mean a zombie: PID 1 reaps the detached broker.)
[[ $(ps -o stat= -p "$pid" || true) =~ ^(Z.*)?$ ]] \
	|| fail "the broker (pid $pid) still runs after kill"

t=$(now_ms)
again=$("$KAFKA_SH" restart "$work/kafka") || fail "kafka.sh restart after kill"
took "restart after kill -9" "$t"
expect "restart keeps the address" "$bootstrap" "$again"
have=$("$KAFKA_SH" consume "$work/kafka" "$TOPIC" 10 30) || fail "kafka.sh consume after restart"
expect "the 10 records survive kill -9 and restart" "$want" "$have"

produce 10
have=$("$KAFKA_SH" consume "$work/kafka" "$TOPIC" 11 30) || fail "kafka.sh consume of 11 records"
expect "the restarted broker takes a new record" "$(expected_records 11)" "$have"

t=$(now_ms)
"$KAFKA_SH" stop "$work/kafka" || fail "kafka.sh stop"
took "stop" "$t"
expect "no broker process after stop" "" "$(broker_processes)"
"$KAFKA_SH" stop "$work/kafka" || fail "a second kafka.sh stop"
status=0
"$KAFKA_SH" consume "$work/kafka" "$TOPIC" 1 1 2>/dev/null || status=$?
[ $status -ne 0 ] || fail "consume with the broker stopped exited 0"
