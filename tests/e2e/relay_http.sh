#!/usr/bin/env bash
# The shipper's HTTP endpoint on a real PostgreSQL and Kafka: /metrics
# passes promtool and its values move with the work done; /healthz and
# /readyz follow streaming, hot standby (Ready: able to take over), a Kafka
# outage, a stalled main loop and shutdown.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
# The pinned promtool (built once into a cache), as prometheus_rules.sh uses.
PROMTOOL=$("$E2E_ROOT/scripts/promtool.sh") || PROMTOOL="scripts/promtool.sh failed:"
e2e_setup

# status URL: the HTTP status code (000 when nothing answers)
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1"; }
body() { curl -s --max-time 5 "$1"; }
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }
is_status() { [ "$(status "$1")" = "$2" ]; }
lsn_number() { psql -qXAt -c "SELECT ('$1'::pg_lsn - '0/0')::bigint"; }

P1=$(free_port)
P2=$(free_port)
A=http://127.0.0.1:$P1
B=http://127.0.0.1:$P2

start_shipper first --http-listen "127.0.0.1:$P1"
wait_for "the first shipper to stream" 30 grep -q 'streaming slot' "$WORK/first.log"
check "the endpoint says where it listens" 1 \
	"$(grep -c "serving /metrics, /healthz and /readyz on 127.0.0.1:$P1 (port $P1)" "$WORK/first.log")"
start_shipper second --http-listen "127.0.0.1:$P2"
wait_for "the second shipper to wait" 30 grep -q 'waiting for slot "outbox_pg"' "$WORK/second.log"
wait_for "the first shipper to be ready" 30 is_status "$A/readyz" 200
check "streaming shipper: /readyz 200" 200 "$(status "$A/readyz")"
check "streaming shipper: /readyz says why" \
	"ready: streaming; Kafka reachable" "$(body "$A/readyz")"
check "streaming shipper: /healthz 200" 200 "$(status "$A/healthz")"
wait_for "the standby to report its state" 30 metric_is "$P2" 'outbox_shipper_state{state="standby"}' 1
check "hot standby: /healthz 200 (alive)" 200 "$(status "$B/healthz")"
# Ready means "can do its job": a standby that reached PostgreSQL, found
# the slot held and reaches Kafka takes over within seconds, so it is Ready
# too (both pods of a Deployment Ready: rollouts complete).
holder=$(psql -qXAt -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'outbox_pg'")
wait_for "the standby to be ready" 30 is_status "$B/readyz" 200
check "hot standby: /readyz 200 (ready to take over)" 200 "$(status "$B/readyz")"
check "hot standby: /readyz says standby, names the holder" \
	"ready: standby waiting for slot \"outbox_pg\", in use by PID $holder; Kafka reachable" \
	"$(body "$B/readyz")"
check "unknown path: 404" 404 "$(status "$A/nope")"
check "POST: 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$A/metrics")"

# Values that move: 100 table events to order, 20 emitted to customer.
before=$(metric "$P1" outbox_shipper_events_received_total)
psql -qX -c "SELECT outbox.publish('order', (i % 10)::text, 'created', jsonb_build_object('i', i)) FROM generate_series(1, 100) i" >/dev/null
psql -qX -c "SELECT outbox.emit('customer', i::text, 'updated', '{\"x\": 1}') FROM generate_series(1, 20) i" >/dev/null
target=$(current_lsn)
wait_for "the shipper to confirm" 60 confirmed_reached "$target"
wait_for "the counters to be published" 10 metric_is "$P1" outbox_shipper_events_received_total $((before + 120))
curl -s "$A/metrics" >"$WORK/metrics.txt"
"$PROMTOOL" check metrics <"$WORK/metrics.txt" >"$WORK/promtool.txt" 2>&1
check "promtool check metrics accepts /metrics" "0 " "$? $(cat "$WORK/promtool.txt")"
check "events received moved by 120" $((before + 120)) "$(metric "$P1" outbox_shipper_events_received_total)"
check "events shipped to order" 100 "$(metric "$P1" 'outbox_shipper_events_shipped_total{topic="outbox.event.order"}')"
check "events shipped to customer" 20 "$(metric "$P1" 'outbox_shipper_events_shipped_total{topic="outbox.event.customer"}')"
dump_topics "$WORK/records.jsonl" outbox.event.order outbox.event.customer
check "bytes shipped = key + value bytes of the records in Kafka" \
	"$(python3 -c '
import json, sys
n = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    n[r["topic"]] = n.get(r["topic"], 0) + len(r["key"].encode()) + len(r["payload"].encode())
print(n["outbox.event.order"], n["outbox.event.customer"])' "$WORK/records.jsonl")" \
	"$(metric "$P1" 'outbox_shipper_bytes_shipped_total{topic="outbox.event.order"}') $(metric "$P1" 'outbox_shipper_bytes_shipped_total{topic="outbox.event.customer"}')"
check "nothing in flight" "0 0" \
	"$(metric "$P1" outbox_shipper_inflight_events) $(metric "$P1" outbox_shipper_inflight_bytes)"
wait_for "the confirmed LSN to be published" 10 \
	metric_is "$P1" outbox_shipper_confirmed_lsn "$(lsn_number "$(slot_confirmed)")"
check "confirmed LSN = the slot's confirmed_flush_lsn" \
	"$(lsn_number "$(slot_confirmed)")" "$(metric "$P1" outbox_shipper_confirmed_lsn)"
last_commit=$(psql -qXAt -c "SELECT extract(epoch FROM max(created_at)) FROM outbox.events")
check "last delivered commit time is the last event's (within 2 s)" 1 \
	"$(python3 -c "import sys; print(int(0 <= float(sys.argv[1]) - float(sys.argv[2]) < 2))" \
		"$(metric "$P1" outbox_shipper_last_delivered_commit_timestamp_seconds)" "$last_commit")"
check "outbox.slots: nothing pending on the active slot" "t 0" \
	"$(psql -qXAt -F ' ' -c "SELECT active, pending_events FROM outbox.slots")"
check "build info" 1 "$(grep -c '^outbox_shipper_build_info{version="0.1.0",librdkafka="[0-9.]*",libpq="[0-9.]*"} 1$' "$WORK/metrics.txt")"
check "RSS reported" 1 "$(awk '$1 == "process_resident_memory_bytes" && $2 > 1000000 { print 1 }' "$WORK/metrics.txt")"

# Kafka down: alive, not ready, errors counted; back: ready again.
"$KAFKA_SH" kill "$WORK/kafka"
wait_for "/readyz to fail with Kafka down" 30 is_status "$A/readyz" 503
check "Kafka down: /readyz 503" 503 "$(status "$A/readyz")"
check "Kafka down: /readyz says so" "not ready: streaming; Kafka unreachable" "$(body "$A/readyz")"
wait_for "the standby's /readyz to fail with Kafka down" 30 is_status "$B/readyz" 503
check "Kafka down: the standby is not ready either (it could not take over)" \
	"503 not ready: standby waiting for slot \"outbox_pg\", in use by PID $holder; Kafka unreachable" \
	"$(status "$B/readyz") $(body "$B/readyz")"
check "Kafka down: /healthz 200" 200 "$(status "$A/healthz")"
check "Kafka down: kafka_reachable 0" 0 "$(metric "$P1" outbox_shipper_kafka_reachable)"
received=$(metric "$P1" outbox_shipper_events_received_total)
psql -qX -c "SELECT outbox.publish('order', (i % 3)::text, 'while-down', '{}') FROM generate_series(1, 30) i" >/dev/null
wait_for "the shipper to read the events" 30 metric_is "$P1" outbox_shipper_events_received_total $((received + 30))
check "Kafka down: 30 events in flight" 30 "$(metric "$P1" outbox_shipper_inflight_events)"
check "Kafka down: outbox.slots counts 30 pending on the active slot" "t 30" \
	"$(psql -qXAt -F ' ' -c "SELECT active, pending_events FROM outbox.slots")"
wait_for "a client error to be counted" 30 grep -q '^outbox_shipper_kafka_client_errors_total{kind="_' <(curl -s "$A/metrics")
check "Kafka down: client errors counted by kind" 0 $?
"$KAFKA_SH" restart "$WORK/kafka" >/dev/null
wait_for "/readyz to recover" 60 is_status "$A/readyz" 200
check "Kafka back: /readyz 200" 200 "$(status "$A/readyz")"
wait_for "the standby's /readyz to recover" 60 is_status "$B/readyz" 200
check "Kafka back: the standby is ready again" 200 "$(status "$B/readyz")"
wait_for "the shipper to confirm after the outage" 60 confirmed_reached "$(current_lsn)"
check "Kafka back: nothing pending" 0 "$(psql -qXAt -c "SELECT pending_events FROM outbox.slots")"
check "Kafka back: nothing in flight" 0 "$(metric "$P1" outbox_shipper_inflight_events)"

# Handover: the standby becomes ready; its counters start from its own work.
kill -TERM "$(shipper_pid first)"
wait_exit first 60
check "first shipper stops cleanly" 0 "$EXIT_STATUS"
check "stopped: nothing listens any more" 000 "$(status "$A/healthz")"
# The standby was Ready already: wait for it to stream.
wait_for "the standby to take over" 60 metric_is "$P2" 'outbox_shipper_state{state="streaming"}' 1
wait_for "the new streaming shipper to be ready" 30 is_status "$B/readyz" 200
check "after takeover: /readyz 200, streaming" "200 ready: streaming; Kafka reachable" \
	"$(status "$B/readyz") $(body "$B/readyz")"
psql -qX -c "SELECT outbox.publish('order', '1', 'after', '{}')" >/dev/null
wait_for "the new shipper to ship" 60 metric_is "$P2" 'outbox_shipper_events_shipped_total{topic="outbox.event.order"}' 1
check "after takeover: one event shipped by the new shipper" 1 \
	"$(metric "$P2" 'outbox_shipper_events_shipped_total{topic="outbox.event.order"}')"
check "after takeover: no reconnects" 0 "$(metric "$P2" outbox_shipper_reconnects_total)"
kill -TERM "$(shipper_pid second)"
wait_exit second 60
check "second shipper stops cleanly" 0 "$EXIT_STATUS"

# A stalled main loop.  Nothing in the loop waits on a server any more
# (relay_silent.sh), but a log reader that stops reading still blocks it:
# the shipper logs to a pipe, and a process that stops draining it (a stuck
# log collector) leaves the next log line blocked once the pipe is full.
# /healthz says so meanwhile, and recovers when the pipe drains.
mkfifo "$WORK/stall.fifo"
# The pump copies the pipe into stall.log.  While stall.pause exists it
# reads nothing, and says so with stall.paused: the test fills the pipe only
# then (a read already under way would empty what it filled).
python3 -c '
import os, select, sys, time
fifo, log, pause = sys.argv[1:]
fd = os.open(fifo, os.O_RDONLY)
with open(log, "ab", buffering=0) as w:
    while True:
        if os.path.exists(pause):
            open(pause + "d", "w").close()
            time.sleep(0.05)
            continue
        if os.path.exists(pause + "d"):
            os.unlink(pause + "d")
        if not select.select([fd], [], [], 0.05)[0]:
            continue
        data = os.read(fd, 65536)
        if not data:
            break
        w.write(data)' "$WORK/stall.fifo" "$WORK/stall.log" "$WORK/stall.pause" &
pump_pid=$!
P3=$(free_port)
"$SHIPPER" -d "$CONNINFO" --slot stall --create-slot -b "$BROKERS" --verbose --status-interval 1 \
	--http-listen "127.0.0.1:$P3" --stall-timeout 2 >"$WORK/stall.fifo" 2>&1 &
echo $! >"$WORK/stall.pid"
wait_for "the stall shipper to stream" 30 grep -q 'streaming slot "stall"' "$WORK/stall.log"
touch "$WORK/stall.pause"
wait_for "the log reader to pause" 10 test -e "$WORK/stall.paused"
# Fill what the pipe has room for, from here, without blocking.
python3 -c '
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK)
try:
    while True:
        os.write(fd, b"x" * 512)
except OSError as e:
    assert e.errno == errno.EAGAIN, e
' "$WORK/stall.fifo"
# An event: the shipper logs (debug) that it confirmed it, and blocks there.
psql -qXAt -c "SELECT outbox.publish('order', 'stall', 'stalled', '{}')" >/dev/null
wait_for "/healthz to report the stall" 20 is_status "http://127.0.0.1:$P3/healthz" 503
check "stalled loop: /healthz 503" 503 "$(status "http://127.0.0.1:$P3/healthz")"
check "stalled loop: /healthz says why" 1 \
	"$(body "http://127.0.0.1:$P3/healthz" | grep -c '^stalled: the main loop has not turned for [0-9.]* s (limit 2.0 s)$')"
check "stalled loop: not ready" 503 "$(status "http://127.0.0.1:$P3/readyz")"
# The same test for Prometheus (alert OutboxShipperStalled reads it).
check "stalled loop: main_loop_stalled_seconds is past the limit" yes \
	"$(awk -v s="$(metric "$P3" outbox_shipper_main_loop_stalled_seconds)" 'BEGIN { print (s > 2.0 ? "yes" : s) }')"
rm -f "$WORK/stall.pause"
wait_for "/healthz to recover once the log drains" 20 is_status "http://127.0.0.1:$P3/healthz" 200
check "log drained: /healthz 200 again" 200 "$(status "http://127.0.0.1:$P3/healthz")"
check "log drained: main_loop_stalled_seconds under the limit again" yes \
	"$(awk -v s="$(metric "$P3" outbox_shipper_main_loop_stalled_seconds)" 'BEGIN { print (s != "" && s < 2.0 ? "yes" : s) }')"
kill -TERM "$(shipper_pid stall)"
wait_exit stall 30
check "stalled shipper stops on SIGTERM" 0 "$EXIT_STATUS"
wait "$pump_pid" 2>/dev/null

# ":PORT" is every address, IPv4 and IPv6 alike: one dual-stack socket.
P4=$(free_port)
start_shipper every --http-listen ":$P4"
wait_for "the endpoint on :$P4" 30 is_status "http://127.0.0.1:$P4/healthz" 200
check ":PORT: the log says where it listens" 1 \
	"$(grep -c "serving /metrics, /healthz and /readyz on :$P4 (port $P4)$" "$WORK/every.log")"
check ":PORT: 127.0.0.1 answers" 200 "$(status "http://127.0.0.1:$P4/healthz")"
check ":PORT: [::1] answers" 200 "$(status "http://[::1]:$P4/healthz")"
check ":PORT: on a host with IPv6, no IPv4-only warning" 0 "$(grep -c 'IPv4 address only' "$WORK/every.log")"
kill -TERM "$(shipper_pid every)"
wait_exit every 30
check ":PORT: the shipper stops cleanly" 0 "$EXIT_STATUS"
# ... and IPv4 alone, said once, where the host has no IPv6
# (tests/helpers/no_ipv6.c: socket(AF_INET6) fails as with ipv6.disable=1).
cc -Wall -Werror -shared -fPIC -o "$WORK/no_ipv6.so" "$E2E_ROOT/tests/helpers/no_ipv6.c" -ldl
check "the no-IPv6 library builds" 0 $?
P5=$(free_port)
LD_PRELOAD=$WORK/no_ipv6.so start_shipper ipv4 --http-listen ":$P5"
wait_for "the endpoint on :$P5" 30 is_status "http://127.0.0.1:$P5/healthz" 200
check ":PORT without IPv6: 127.0.0.1 answers" 200 "$(status "http://127.0.0.1:$P5/healthz")"
check ":PORT without IPv6: the log says IPv4 only" 1 \
	"$(grep -c "warning: --http-listen \":$P5\": no IPv6 on this host (Address family not supported by protocol): listening on every IPv4 address only$" "$WORK/ipv4.log")"
kill -TERM "$(shipper_pid ipv4)"
wait_exit ipv4 30
check ":PORT without IPv6: the shipper stops cleanly" 0 "$EXIT_STATUS"

# Configuration errors name the flag.
"$SHIPPER" -d "$CONNINFO" -b "$BROKERS" --http-listen nonsense >"$WORK/bad.log" 2>&1
check "bad --http-listen: exit 1" 1 $?
check "bad --http-listen: names it" 1 \
	"$(grep -c 'invalid --http-listen "nonsense": expected HOST:PORT, \[IPV6\]:PORT or :PORT' "$WORK/bad.log")"
finish
