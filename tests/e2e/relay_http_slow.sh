#!/usr/bin/env bash
# The HTTP endpoint under hostile clients: 32 connections from one address
# that send a request a byte a second and never finish it (reopened as soon
# as they are closed).  kubelet's probes from another address must still
# be answered within 1 s every time, and no slow request may hold its
# connection past the request deadline (5 s, plus the watcher's tick).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
e2e_setup

P=$(free_port)
start_shipper shipper --http-listen "127.0.0.1:$P"
wait_for "the shipper to stream" 30 grep -q 'streaming slot' "$WORK/shipper.log"
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$P$1"; }
is_ready() { [ "$(status /readyz)" = 200 ]; }
wait_for "the shipper to be ready" 30 is_ready

python3 "$E2E_ROOT/tests/e2e/slow_clients.py" "$P" 127.0.0.2 32 20 >"$WORK/slow.json" &
slow_pid=$!
sleep 3							# the slow clients connect and start sending
answered=0
for i in $(seq 1 10); do
	[ "$(status /healthz)" = 200 ] && answered=$((answered + 1))
	[ "$(status /readyz)" = 200 ] && answered=$((answered + 1))
	sleep 1
done
check "/healthz and /readyz answered 200 within 1 s, 20 of 20 times" 20 "$answered"
wait "$slow_pid"
echo "# slow clients: $(cat "$WORK/slow.json")"
check "the slow clients got connections (and were cut, then reopened)" t \
	"$(python3 -c 'import json, sys; print("t" if json.load(open(sys.argv[1]))["opened"] > 32 else "f")' "$WORK/slow.json")"
check "no slow request kept its connection past the deadline" t \
	"$(python3 -c 'import json, sys; print("t" if json.load(open(sys.argv[1]))["longest"] <= 7.5 else "f")' "$WORK/slow.json")"
check "/healthz still 200 afterwards" 200 "$(status /healthz)"
check "the endpoint's warnings about them: one per 30 s, not one per client" 1 \
	"$(grep -c 'warning: HTTP: ' "$WORK/shipper.log")"
kill -TERM "$(shipper_pid shipper)"
wait_exit shipper 60
check "the shipper stops cleanly" 0 "$EXIT_STATUS"
finish
