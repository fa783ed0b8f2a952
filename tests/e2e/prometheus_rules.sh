#!/usr/bin/env bash
# deploy/prometheus's alert rules and deploy/grafana's dashboard against
# promtool (pinned, scripts/promtool.sh) and a live shipper:
# - the rules load (`promtool check rules`) and pass their unit tests
#   (`promtool test rules deploy/prometheus/tests/*.yaml`: series in, alerts
#   out, the cases that must not fire included), and those tests catch a
#   broken rule (a copy with one threshold changed fails them);
# - every PromQL expression of the dashboard parses (each one a recording
#   rule of a generated file, through `promtool check rules`);
# - every metric the dashboard and the rules read is a family of a running
#   shipper's /metrics (the slot rules' postgres_exporter metrics excepted:
#   for those, the pg_replication_slots columns and the setting they are
#   read from are checked on the test's PostgreSQL, with the cap set);
# - that /metrics passes `promtool check metrics` with the same promtool.
# About 10 s here once promtool is cached (9.1 and 9.3 s, most of it
# Kafka's start); on a clean machine `scripts/promtool.sh` first builds
# promtool (4-5 min, see it).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RULES=$E2E_ROOT/deploy/prometheus/outbox-shipper.rules.yaml
RULE_TESTS=$E2E_ROOT/deploy/prometheus/tests
DASHBOARD=$E2E_ROOT/deploy/grafana/outbox-shipper.json
CHECKER=$E2E_ROOT/tests/e2e/prometheus_rules.py
# PyYAML: Debian's python3-yaml (scripts/install-deps.sh) is for Debian's python.
PYTHON=/usr/bin/python3

# check_rules FILE: one check per NAME<TAB>EXPECTED<TAB>ACTUAL line.
check_rules() {
	while IFS=$'\t' read -r name expected actual; do
		check "$name" "$expected" "$actual"
	done <"$1"
}

if ! PROMTOOL=$("$E2E_ROOT/scripts/promtool.sh"); then
	check "scripts/promtool.sh installs promtool" 0 1
	finish
	exit 1
fi

e2e_setup "max_slot_wal_keep_size = 1GB"

"$PROMTOOL" check rules "$RULES" >"$WORK/check-rules.txt" 2>&1
check "promtool check rules accepts the alert rules" "0 SUCCESS: 13 rules found" \
	"$? $(grep -o 'SUCCESS: .*' "$WORK/check-rules.txt" || cat "$WORK/check-rules.txt")"

"$PROMTOOL" test rules "$RULE_TESTS"/*.yaml >"$WORK/test-rules.txt" 2>&1
status=$?
check "promtool test rules: every unit test of the rules passes" 0 "$status"
[ "$status" = 0 ] || sed 's/^/# /' "$WORK/test-rules.txt"

# The same tests against a copy whose OutboxShipperNotStreaming can never
# fire: they must fail, naming that alert.
mkdir -p "$WORK/mutant/tests"
sed 's/sum(outbox_shipper_state{state="streaming"}) < 1/sum(outbox_shipper_state{state="streaming"}) < 0/' \
	"$RULES" >"$WORK/mutant/outbox-shipper.rules.yaml"
cp "$RULE_TESTS"/*.yaml "$WORK/mutant/tests/"
"$PROMTOOL" test rules "$WORK/mutant/tests"/*.yaml >"$WORK/mutant.txt" 2>&1
check "the unit tests fail on a rule that cannot fire" "1 yes" \
	"$? $(grep -q 'alertname: OutboxShipperNotStreaming' "$WORK/mutant.txt" && echo yes)"

count=$("$PYTHON" "$CHECKER" dashboard-rules "$DASHBOARD" "$WORK/dashboard.rules.json")
check "every expr of the dashboard is extracted" "$(grep -c '"expr":' "$DASHBOARD")" "$count"
"$PROMTOOL" check rules "$WORK/dashboard.rules.json" >"$WORK/check-dashboard.txt" 2>&1
check "promtool parses every expression of the dashboard" "0 SUCCESS: $count rules found" \
	"$? $(grep -o 'SUCCESS: .*' "$WORK/check-dashboard.txt" || cat "$WORK/check-dashboard.txt")"

PORT=$(free_port)
start_shipper first --http-listen "127.0.0.1:$PORT"
wait_for "the shipper to stream" 60 grep -q 'streaming slot' "$WORK/first.log"
psql -qX -c "SELECT outbox.publish('order', '1', 'created', '{}')" >/dev/null
wait_for "the event to be confirmed" 60 confirmed_reached "$(current_lsn)"
# Some families appear only once there is something to say (a delivery, a
# Kafka probe): wait until nothing the dashboard or rules read is missing.
names_settled() {
	curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" >"$WORK/metrics.txt" &&
		"$PYTHON" "$CHECKER" names "$WORK/metrics.txt" "$DASHBOARD" "$RULES" >"$WORK/names.tsv" &&
		! grep -qvP '\t(\(none\)|yes)\t\1$' "$WORK/names.tsv"
}
wait_for "every metric the dashboard and rules read in /metrics" 30 names_settled
"$PYTHON" "$CHECKER" names "$WORK/metrics.txt" "$DASHBOARD" "$RULES" >"$WORK/names.tsv"
check "prometheus_rules.py names runs" 0 $?
check_rules "$WORK/names.tsv"

# The checks above report what they should: a metric the shipper does not
# export, in the dashboard and in the rules.
sed 's/outbox_shipper_inflight_bytes/outbox_shipper_inflight_kbytes/' "$DASHBOARD" >"$WORK/bad-dashboard.json"
sed 's/outbox_shipper_kafka_reachable/outbox_shipper_kafka_up/' "$RULES" >"$WORK/bad.rules.yaml"
"$PYTHON" "$CHECKER" names "$WORK/metrics.txt" "$WORK/bad-dashboard.json" "$WORK/bad.rules.yaml" >"$WORK/bad-names.tsv"
check "a dashboard metric /metrics lacks is named" outbox_shipper_inflight_kbytes \
	"$(grep -P '^dashboard: metrics not in' "$WORK/bad-names.tsv" | cut -f3)"
check "a rule metric /metrics lacks is named" outbox_shipper_kafka_up \
	"$(grep -P 'metrics neither in /metrics' "$WORK/bad-names.tsv" | cut -f3)"

check "main_loop_stalled_seconds is near 0 on a shipper that turns" yes \
	"$(awk '$1 == "outbox_shipper_main_loop_stalled_seconds" { print ($2 < 2.0 ? "yes" : $2) }' "$WORK/metrics.txt")"

"$PROMTOOL" check metrics <"$WORK/metrics.txt" >"$WORK/check-metrics.txt" 2>&1
check "promtool check metrics accepts /metrics" "0 " "$? $(cat "$WORK/check-metrics.txt")"

# What postgres_exporter turns into the slot rules' metrics, on this server:
# safe_wal_size is NULL without max_slot_wal_keep_size, which this server has.
check "pg_replication_slots has safe_wal_size and wal_status for the shipper's slot" "t|reserved" \
	"$(psql -qXAt -c "SELECT safe_wal_size IS NOT NULL, wal_status FROM pg_replication_slots WHERE slot_name = 'outbox_pg'")"
check "max_slot_wal_keep_size is in MB (the exporter's _bytes)" "1024|MB" \
	"$(psql -qXAt -c "SELECT setting, unit FROM pg_settings WHERE name = 'max_slot_wal_keep_size'")"

kill -TERM "$(shipper_pid first)"
wait_exit first 60
check "the shipper stops cleanly" 0 "$EXIT_STATUS"
finish
