#!/usr/bin/env bash
# The full outbox_pg test suite, as CI runs it (make test).
#
# Installs what is missing, builds and installs the plugin, extension and
# shipper, starts a throwaway PostgreSQL cluster for the SQL suites, and
# runs: pg_regress (what the plugin emits), pgTAP (SQL objects and
# privileges), the shipper's unit tests, its fuzz targets (briefly), and
# every end-to-end script in tests/e2e (each starts the servers it needs),
# all on the default major (Debian's 15); then tests/major.sh for every
# other supported major (OUTBOX_TEST_MAJORS="16 17" picks some).  Ends with
# one line "N passed, M failed" counting individual tests.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh || exit 1
make -s || exit 1
make -s install >/dev/null || exit 1

work=$(mktemp -d /tmp/outbox_pg_test.XXXXXX)
logs=$work/logs
mkdir -p "$logs"
cleanup() {
	tests/helpers/pg.sh stop "$work/pg" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

total_passed=0
total_failed=0
failed_suites=()

# record SUITE PASSED FAILED STATUS: adds a suite's counts; a suite that
# exited non-zero without counting a failure counts as one failure.
record() {
	local suite=$1 passed=$2 failed=$3 status=$4
	if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
		failed=1
	fi
	total_passed=$((total_passed + passed))
	total_failed=$((total_failed + failed))
	[ "$failed" -eq 0 ] || failed_suites+=("$suite")
	printf '== %s: %d passed, %d failed\n' "$suite" "$passed" "$failed"
}

# A script's own closing line "N passed, M failed".
counts_from_closing_line() {
	grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1 \
		| sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/'
}

echo "== format (clang-format, .clang-format)"
make -s format-check >"$logs/format.log" 2>&1
status=$?
cat "$logs/format.log" | head -n 40
record format $((status == 0)) $((status != 0)) $status

echo "== starting a throwaway PostgreSQL cluster in $work/pg"
tests/helpers/pg.sh start "$work/pg" "logical_decoding_work_mem = 64kB" >/dev/null || exit 1
eval "$(tests/helpers/pg.sh env "$work/pg")"

echo "== pg_regress"
make -s installcheck >"$logs/regress.log" 2>&1
status=$?
cat "$logs/regress.log" | grep -E '^(test |not ok|ok )' || true
[ $status -eq 0 ] || cat tests/regress/regression.diffs 2>/dev/null | head -n 200
record pg_regress "$(grep -cE '^test .* ok ' "$logs/regress.log")" \
	"$(grep -cE '^test .* FAILED ' "$logs/regress.log")" $status

echo "== pgTAP"
psql -qX -d postgres -c "DROP DATABASE IF EXISTS outbox_tap" -c "CREATE DATABASE outbox_tap" >/dev/null
psql -qX -d outbox_tap -c "CREATE EXTENSION pgtap" >/dev/null
pg_prove -d outbox_tap tests/pgtap/*.sql 2>&1 | tee "$logs/pgtap.log"
status=${PIPESTATUS[0]}
tap_total=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p' "$logs/pgtap.log")
tap_failed=$(grep -oE 'Failed: [0-9]+\)' "$logs/pgtap.log" | grep -oE '[0-9]+' | paste -sd+ | bc 2>/dev/null)
tap_failed=${tap_failed:-0}
record pgTAP $(( ${tap_total:-0} - tap_failed )) "$tap_failed" $status

tests/helpers/pg.sh stop "$work/pg" >/dev/null

# Starts its own cluster; PROPERTY_SEED and PROPERTY_EXAMPLES pass through.
echo "== property (Hypothesis: random values through the plugin and back)"
tests/property/plugin_roundtrip.py 2>&1 | tee "$logs/property.log"
status=${PIPESTATUS[0]}
read -r p f <<<"$(counts_from_closing_line "$logs/property.log")"
record property "${p:-0}" "${f:-0}" $status

if [ -f shipper/Makefile ]; then
	echo "== shipper unit tests"
	make -s -C shipper check 2>&1 | tee "$logs/unit.log"
	status=${PIPESTATUS[0]}
	unit_passed=$(grep -oE '\[  PASSED  \] [0-9]+' "$logs/unit.log" | grep -oE '[0-9]+$' | paste -sd+ | bc)
	unit_failed=$(grep -oE '\[  FAILED  \] [0-9]+' "$logs/unit.log" | grep -oE '[0-9]+$' | paste -sd+ | bc)
	record "shipper unit" "${unit_passed:-0}" "${unit_failed:-0}" $status
fi

echo "== fuzz (libFuzzer, each target on its corpus for a few seconds)"
make -s -C tests/fuzz check 2>&1 | tee "$logs/fuzz.log"
status=${PIPESTATUS[0]}
record fuzz "$(grep -cE '^fuzz [a-z_]+: passed' "$logs/fuzz.log")" \
	"$(grep -cE '^fuzz [a-z_]+: FAILED' "$logs/fuzz.log")" $status

echo "== producer on librdkafka's mock cluster"
make -s -C tests/mock check 2>&1 | tee "$logs/mock.log"
status=${PIPESTATUS[0]}
mock_passed=$(grep -oE '\[  PASSED  \] [0-9]+' "$logs/mock.log" | grep -oE '[0-9]+$')
mock_failed=$(grep -oE '\[  FAILED  \] [0-9]+' "$logs/mock.log" | grep -oE '[0-9]+$')
record "kafka mock" "${mock_passed:-0}" "${mock_failed:-0}" $status

for t in tests/e2e/*.sh; do
	[ -x "$t" ] || continue		# lib.sh is sourced, not run
	name=$(basename "$t" .sh)
	echo "== e2e $name"
	"$t" 2>&1 | tee "$logs/e2e-$name.log"
	status=${PIPESTATUS[0]}
	read -r p f <<<"$(counts_from_closing_line "$logs/e2e-$name.log")"
	record "e2e $name" "${p:-0}" "${f:-0}" $status
done

# The other supported majors: the plugin built for each, its pg_regress and
# pgTAP suites, and the end-to-end basics (tests/major.sh).
majors=${OUTBOX_TEST_MAJORS:-$(scripts/pg-major.sh list | grep -vx 15 | paste -sd' ')}
for m in $majors; do
	echo "== PostgreSQL $m"
	tests/major.sh "$m" 2>&1 | tee "$logs/major-$m.log"
	status=${PIPESTATUS[0]}
	read -r p f <<<"$(counts_from_closing_line "$logs/major-$m.log")"
	record "PostgreSQL $m" "${p:-0}" "${f:-0}" $status
done

echo
if [ ${#failed_suites[@]} -gt 0 ]; then
	echo "failed suites: ${failed_suites[*]}"
fi
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
