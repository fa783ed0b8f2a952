#!/usr/bin/env bash
# Kubernetes health from real shippers: each one's /readyz (the readiness
# probe) says whether it can do its job (streaming, or a standby connected to
# PostgreSQL that found the slot held, Kafka reachable either way), and
# tests/e2e/k8s_status.py applies the Deployment, `kubectl rollout status`
# and PodDisruptionBudget rules of deploy/kubernetes to those answers (no
# cluster here: its docstring gives the model).  Covers a healthy pair, a
# standby that cannot reach Kafka, one whose PostgreSQL connection is down
# (through a Toxiproxy it is cut at), and a RollingUpdate (maxSurge 1,
# maxUnavailable 0) played with real processes, events written throughout
# and all delivered.  Runtime on this 2-core machine: about 20 s (18 s
# measured, Kafka's start included).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
TOXI_SH=$E2E_ROOT/tests/helpers/toxiproxy.sh
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/outbox_pg/venv-kv
# The pinned PyYAML of deploy_manifests.sh's venv; that test makes it.
[ -x "$VENV/bin/python" ] || "$E2E_ROOT/tests/e2e/deploy_manifests.sh" >/dev/null 2>&1
[ -x "$VENV/bin/python" ] || { echo "# no $VENV (tests/e2e/deploy_manifests.sh makes it)"; echo "0 passed, 1 failed"; exit 1; }
k8s_cleanup() {
	"$TOXI_SH" stop "$WORK/toxiproxy" >/dev/null 2>&1
	e2e_cleanup
}
e2e_setup
trap k8s_cleanup EXIT
"$TOXI_SH" start "$WORK/toxiproxy" >/dev/null || exit 1
PG_PROXY=$("$TOXI_SH" proxy "$WORK/toxiproxy" pg "127.0.0.1:$PGPORT") || exit 1
NEW_PROXY=$("$TOXI_SH" proxy "$WORK/toxiproxy" new "127.0.0.1:$PGPORT") || exit 1

status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$1/readyz"; }
readyz() { echo "$(status "$1") $(curl -s --max-time 5 "http://127.0.0.1:$1/readyz")"; }
is_status() { [ "$(status "$1")" = "$2" ]; }
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }
holder() { psql -qXAt -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'outbox_pg'"; }
# model NAME:REVISION:PORT...: k8s_status.py on each shipper's /readyz status
model() {
	local pod pods=()
	for pod in "$@"; do pods+=("${pod%:*}:$(status "${pod##*:}")"); done
	"$VENV/bin/python" "$E2E_ROOT/tests/e2e/k8s_status.py" "$E2E_ROOT/deploy/kubernetes" "${pods[@]}"
}
# line TEXT PREFIX: the model's line starting with PREFIX
line() { echo "$1" | grep "^$2"; }
# shipper NAME PORT [flags...]: a shipper on its own HTTP port
shipper() {
	local name=$1 port=$2
	shift 2
	"$SHIPPER" --no-create-slot --status-interval 1 --http-listen "127.0.0.1:$port" "$@" \
		>>"$WORK/$name.log" 2>&1 &
	echo $! >"$WORK/shipper-$name.pid"
}
stop() { kill -TERM "$(cat "$WORK/shipper-$1.pid")"; }
publish() { psql -qX -c "SELECT outbox.publish('order', (i % 7)::text, '$1', jsonb_build_object('i', i)) FROM generate_series(1, $2) i" >/dev/null; }
ROLLED='rollout status: deployment "outbox-shipper" successfully rolled out'

psql -qX -c "SELECT pg_create_logical_replication_slot('outbox_pg', 'outbox_pg')" >/dev/null
PA=$(free_port) PB=$(free_port)
shipper a "$PA" -d "$CONNINFO" -b "$BROKERS"
wait_for "a to stream" 30 metric_is "$PA" 'outbox_shipper_state{state="streaming"}' 1
shipper b "$PB" -d "host=127.0.0.1 port=${PG_PROXY#*:} user=postgres dbname=postgres" -b "$BROKERS"
wait_for "b to wait for the slot" 30 metric_is "$PB" 'outbox_shipper_state{state="standby"}' 1
wait_for "a to be ready" 30 is_status "$PA" 200
wait_for "b to be ready" 30 is_status "$PB" 200
check "streaming pod: Ready" "200 ready: streaming; Kafka reachable" "$(readyz "$PA")"
check "standby pod: Ready, says it waits and for whom" \
	"200 ready: standby waiting for slot \"outbox_pg\", in use by PID $(holder); Kafka reachable" "$(readyz "$PB")"
out=$(model a:new:"$PA" b:new:"$PB")
check "healthy pair: the Deployment's status" "status: replicas=2 updated=2 ready=2 available=2" "$(line "$out" status:)"
check "healthy pair: Available" "available condition: True" "$(line "$out" "available condition")"
check "healthy pair: kubectl rollout status succeeds" "$ROLLED" "$(line "$out" "rollout status")"
check "healthy pair: the PDB allows one eviction, of either pod" "pdb: disruptionsAllowed=1 evictable: a b" \
	"$(line "$out" pdb:) $(line "$out" evictable:)"

# A standby that cannot reach Kafka could not take over: not Ready.
PC=$(free_port)
shipper c "$PC" -d "$CONNINFO" -b "127.0.0.1:$(free_port)"
wait_for "c to wait for the slot" 30 metric_is "$PC" 'outbox_shipper_state{state="standby"}' 1
wait_for "c's Kafka probe to fail" 30 metric_is "$PC" outbox_shipper_kafka_reachable 0
check "standby without Kafka: not Ready" \
	"503 not ready: standby waiting for slot \"outbox_pg\", in use by PID $(holder); Kafka unreachable" "$(readyz "$PC")"
out=$(model a:new:"$PA" c:new:"$PC")
check "with it: 1 of 2 available, the rollout waits" \
	'rollout status: Waiting for deployment "outbox-shipper" rollout to finish: 1 of 2 updated replicas are available...' \
	"$(line "$out" "rollout status")"
check "with it: the streaming pod may not be evicted, the unready one may" \
	"pdb: disruptionsAllowed=0 evictable: c" "$(line "$out" pdb:) $(line "$out" evictable:)"
stop c

# A standby whose PostgreSQL connection is down: not Ready until it is back.
"$TOXI_SH" disable "$WORK/toxiproxy" pg
wait_for "b to notice PostgreSQL is gone" 30 is_status "$PB" 503
check "standby without PostgreSQL: not Ready" \
	"503 not ready: connecting to PostgreSQL, which is unreachable; Kafka reachable" "$(readyz "$PB")"
out=$(model a:new:"$PA" b:new:"$PB")
check "with it: the rollout waits, only b may be evicted" \
	'rollout status: Waiting for deployment "outbox-shipper" rollout to finish: 1 of 2 updated replicas are available... pdb: disruptionsAllowed=0 evictable: b' \
	"$(line "$out" "rollout status") $(line "$out" pdb:) $(line "$out" evictable:)"
"$TOXI_SH" enable "$WORK/toxiproxy" pg
wait_for "b to be a ready standby again" 60 is_status "$PB" 200
check "PostgreSQL back: b Ready as a standby again" \
	"200 ready: standby waiting for slot \"outbox_pg\", in use by PID $(holder); Kafka reachable" "$(readyz "$PB")"
wait_exit shipper-c 30
check "c stopped cleanly" 0 "$EXIT_STATUS"

# A RollingUpdate as the Deployment controller runs it with maxSurge 1 and
# maxUnavailable 0: start a new pod, wait until the model says an old one
# may go (the new one Ready), stop an old one (SIGTERM, as the kubelet
# does); again; while events are written.  The streaming pod goes first, so
# there is a real handover.
publish before 50
P1=$(free_port) P2=$(free_port)
# n1 reaches PostgreSQL through a proxy that refuses it at first, so that
# it is certainly not Ready yet when the model is asked.
"$TOXI_SH" disable "$WORK/toxiproxy" new
shipper n1 "$P1" -d "host=127.0.0.1 port=${NEW_PROXY#*:} user=postgres dbname=postgres" -b "$BROKERS"
wait_for "n1 to try PostgreSQL" 30 metric_is "$P1" 'outbox_shipper_state{state="connecting"}' 1
check "rollout: n1 not Ready yet" 503 "$(status "$P1")"
check "rollout: may not stop an old pod before the new one is Ready" "may stop an old pod: False" \
	"$(line "$(model a:old:"$PA" b:old:"$PB" n1:new:"$P1")" "may stop an old pod")"
"$TOXI_SH" enable "$WORK/toxiproxy" new
wait_for "n1 to be Ready" 60 is_status "$P1" 200
check "rollout: n1 Ready (standby), an old pod may stop" "may stop an old pod: True" \
	"$(line "$(model a:old:"$PA" b:old:"$PB" n1:new:"$P1")" "may stop an old pod")"
publish during-1 50 &
writer=$!
stop a
wait_exit shipper-a 60
check "rollout: the streaming old pod stops cleanly" 0 "$EXIT_STATUS"
wait "$writer"
wait_for "b or n1 to take over" 30 bash -c "[ \"\$(curl -s http://127.0.0.1:$PB/metrics http://127.0.0.1:$P1/metrics | grep -c '^outbox_shipper_state{state=\"streaming\"} 1')\" = 1 ]"
check "rollout: one of b and n1 streams" 1 \
	"$(curl -s "http://127.0.0.1:$PB/metrics" "http://127.0.0.1:$P1/metrics" | grep -c '^outbox_shipper_state{state="streaming"} 1')"
shipper n2 "$P2" -d "$CONNINFO" -b "$BROKERS"
wait_for "n2 to be Ready" 30 is_status "$P2" 200
wait_for "b and n1 to be Ready" 30 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$PB/readyz)\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$P1/readyz)\" = 200200 ]"
check "rollout: n2 Ready, the last old pod may stop" "may stop an old pod: True" \
	"$(line "$(model b:old:"$PB" n1:new:"$P1" n2:new:"$P2")" "may stop an old pod")"
publish during-2 50 &
writer=$!
stop b
wait_exit shipper-b 60
check "rollout: the last old pod stops cleanly" 0 "$EXIT_STATUS"
wait "$writer"
publish after 50
wait_for "n1 and n2: one streams, both Ready" 60 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$P1/readyz)\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$P2/readyz)\" = 200200 ] && [ \"\$(curl -s http://127.0.0.1:$P1/metrics http://127.0.0.1:$P2/metrics | grep -c '^outbox_shipper_state{state=\"streaming\"} 1')\" = 1 ]"
out=$(model n1:new:"$P1" n2:new:"$P2")
check "rollout done: kubectl rollout status succeeds" "$ROLLED" "$(line "$out" "rollout status")"
check "rollout done: status and PDB" "status: replicas=2 updated=2 ready=2 available=2 pdb: disruptionsAllowed=1" \
	"$(line "$out" status:) $(line "$out" pdb:)"
wait_for "every event confirmed" 60 confirmed_reached "$(current_lsn)"
dump_topics "$WORK/records.jsonl" outbox.event.order
check "200 events, 200 records" "200 200" \
	"$(psql -qXAt -c "SELECT count(*) FROM outbox.events") $(wc -l <"$WORK/records.jsonl")"
check_verified "every event in Kafka, in order, across two handovers" "$WORK/records.jsonl"
stop n1
stop n2
wait_exit shipper-n1 60
check "n1 stops cleanly" 0 "$EXIT_STATUS"
wait_exit shipper-n2 60
check "n2 stops cleanly" 0 "$EXIT_STATUS"
finish
