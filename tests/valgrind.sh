#!/usr/bin/env bash
# The regression suite with the server under valgrind memcheck: every
# backend and walsender that loads outbox_pg runs on valgrind's simulated
# CPU, and any invalid read or write, use of uninitialised memory in a
# decision, or invalid free fails the run.  (Leaks are not checked: the
# server frees by memory context, which valgrind cannot see through.)
#
#   tests/valgrind.sh        (make valgrind-check)
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh || exit 1
make -s && make -s install >/dev/null || exit 1

work=$(mktemp -d /tmp/outbox_pg_valgrind.XXXXXX)
pgdir=$work/pg
cleanup() {
	tests/helpers/pg.sh stop "$pgdir" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

# Create the cluster with pg.sh, stop it, then run the postmaster itself
# under valgrind on the same port and socket (pg.sh valgrind-start).
tests/helpers/pg.sh start "$pgdir" "logical_decoding_work_mem = 64kB" >/dev/null || exit 1
tests/helpers/pg.sh stop "$pgdir"
tests/helpers/pg.sh valgrind-start "$pgdir" || exit 1
eval "$(tests/helpers/pg.sh env "$pgdir")"

start=$SECONDS
make -s installcheck >"$work/regress.log" 2>&1
status=$?
grep -E '^test ' "$work/regress.log"
tests/helpers/pg.sh stop "$pgdir"

# Errors only count when they touch outbox_pg's code or are outright
# invalid accesses anywhere in a process that loaded it.
errors=$(grep -lE 'Invalid (read|write|free)|uninitialised|Mismatched free|overlap' "$pgdir"/valgrind/*.log 2>/dev/null)
for f in $errors; do
	echo "==== $f"
	cat "$f"
done
nlogs=$(ls "$pgdir"/valgrind/*.log 2>/dev/null | wc -l)
nerr=$(echo "$errors" | grep -c . || true)
echo "valgrind: $nlogs processes checked, $nerr with errors, regression suite exit $status, $((SECONDS - start)) s"
if [ "$status" -ne 0 ]; then
	cat "$work/regress.log"
	cat tests/regress/regression.diffs 2>/dev/null | head -n 100
fi
[ "$status" -eq 0 ] && [ "$nerr" -eq 0 ] && echo "1 passed, 0 failed" && exit 0
echo "0 passed, 1 failed"
exit 1
