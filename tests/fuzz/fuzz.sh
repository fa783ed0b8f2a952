#!/usr/bin/env bash
# fuzz.sh TARGET SECONDS: runs build/TARGET_fuzz on its corpus for SECONDS
# (0: only replays every corpus file) on one core, and prints one line:
#   fuzz TARGET: passed, N runs in S s, cov: C ft: F, corpus: K
# or "fuzz TARGET: FAILED ..." with the crash report from the log.
# Extra libFuzzer flags come from FUZZ_ARGS.
set -uo pipefail
cd "$(dirname "$0")"

target=$1
seconds=$2
bin=build/${target}_fuzz
found=build/corpus/$target
log=build/logs/$target.log
mkdir -p "$found" build/artifacts build/logs

# Input size bounds: events and command lines are small here, the
# scanner's cost is linear, and larger inputs only slow the search down.
case $target in
	event) max_len=8192 ;;
	config) max_len=2048 ;;
	*) max_len=1024 ;;
esac
args=(-max_len=$max_len -timeout=10 -rss_limit_mb=1024 -print_final_stats=1
	-artifact_prefix=build/artifacts/$target-)
[ -f "$target.dict" ] && args+=(-dict="$target.dict")
if [ "$seconds" -eq 0 ]; then
	args+=(-runs=0)
else
	args+=(-max_total_time="$seconds")
fi

start=$(date +%s)
# shellcheck disable=SC2086  # FUZZ_ARGS is a list of flags
"$bin" "${args[@]}" ${FUZZ_ARGS:-} "$found" "corpus/$target" >"$log" 2>&1
status=$?
elapsed=$(($(date +%s) - start))

runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
corpus=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
summary="${runs:-?} runs in $elapsed s, cov: ${cov:-?} ft: ${ft:-?}, corpus: ${corpus:-?}"
if [ $status -eq 0 ]; then
	echo "fuzz $target: passed, $summary"
	exit 0
fi
echo "fuzz $target: FAILED (exit $status), $summary; log $PWD/$log"
grep -E -A 30 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|invariant violated' "$log" |
	head -n 60
grep -E '^artifact_prefix|Test unit written to' "$log"
exit 1
