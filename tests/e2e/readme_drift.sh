#!/usr/bin/env bash
# README.md against the running shipper, so that the docs cannot drift
# (tests/e2e/readme_drift.py): the configuration table against --help
# (every long and short flag and every variable in one is in the other),
# the metrics table against a live /metrics (every family, both ways), and
# the hot-standby log line README quotes against a second shipper's log,
# that second shipper serving /healthz on [::1] as the table says it can.
# About 25 s here (most of it Kafka's start).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

README=$E2E_ROOT/README.md
DRIFT=$E2E_ROOT/tests/e2e/readme_drift.py

# check_rules FILE: one check per NAME<TAB>EXPECTED<TAB>ACTUAL line.
check_rules() {
	while IFS=$'\t' read -r name expected actual; do
		check "$name" "$expected" "$actual"
	done <"$1"
}

e2e_setup

"$SHIPPER" --help >"$WORK/help.txt"
check "--help exits 0" 0 $?
python3 "$DRIFT" config "$README" "$WORK/help.txt" >"$WORK/config.tsv"
check "readme_drift.py config runs" 0 $?
check_rules "$WORK/config.tsv"

PORT=$(free_port)
start_shipper first --http-listen "127.0.0.1:$PORT"
wait_for "the shipper to stream" 60 grep -q 'streaming slot' "$WORK/first.log"
psql -qX -c "SELECT outbox.publish('order', '1', 'created', '{}')" >/dev/null
wait_for "the event to be confirmed" 60 confirmed_reached "$(current_lsn)"
# Families with labels or positions appear once there is something to say:
# wait until nothing README lists is missing, then compare both ways.
metrics_settled() {
	curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" >"$WORK/metrics.txt" &&
		python3 "$DRIFT" metrics "$README" "$WORK/metrics.txt" >"$WORK/metrics.tsv" &&
		grep -qP '^metrics: in README, not in /metrics\t\(none\)\t\(none\)$' "$WORK/metrics.tsv"
}
wait_for "every metric README lists in /metrics" 30 metrics_settled
python3 "$DRIFT" metrics "$README" "$WORK/metrics.txt" >"$WORK/metrics.tsv"
check "readme_drift.py metrics runs" 0 $?
check_rules "$WORK/metrics.tsv"

SECOND_PORT=$(free_port)
start_shipper second --http-listen "[::1]:$SECOND_PORT"
wait_for "the second shipper to wait" 30 grep -q 'waiting for slot' "$WORK/second.log"
line=$(python3 "$DRIFT" standby-line "$README")
check "the hot-standby line README quotes is the one logged" 1 \
	"$(grep -cP "$line" "$WORK/second.log")"
check "--http-listen [::1]:PORT serves /healthz on IPv6 loopback" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://[::1]:$SECOND_PORT/healthz")"

for name in second first; do
	kill -TERM "$(shipper_pid "$name")"
	wait_exit "$name" 60
	check "the $name shipper stops cleanly" 0 "$EXIT_STATUS"
done
finish
