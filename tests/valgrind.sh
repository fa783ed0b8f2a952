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
# under valgrind on the same port and socket.
tests/helpers/pg.sh start "$pgdir" "logical_decoding_work_mem = 64kB" >/dev/null || exit 1
tests/helpers/pg.sh stop "$pgdir"
port=$(cat "$pgdir/port")
mkdir -p "$work/vg" && chmod 777 "$work/vg"
# No --error-exitcode: a backend exiting with it would make the postmaster
# restart everything; the logs are checked afterwards instead.
runuser -u postgres -- valgrind --quiet \
	--trace-children=yes --track-origins=yes --read-var-info=no \
	--suppressions="$PWD/tests/valgrind.supp" \
	--log-file="$work/vg/%p.log" \
	/usr/lib/postgresql/15/bin/postgres -D "$pgdir/data" -p "$port" -k "$pgdir/sock" \
	>"$pgdir/log" 2>&1 &

deadline=$((SECONDS + 300))
until pg_isready -q -h "$pgdir/sock" -p "$port"; do
	if [ $SECONDS -ge $deadline ]; then
		tail -n 30 "$pgdir/log"; echo "server under valgrind did not start"; exit 1
	fi
	sleep 1
done
eval "$(tests/helpers/pg.sh env "$pgdir")"

start=$SECONDS
make -s installcheck >"$work/regress.log" 2>&1
status=$?
grep -E '^test ' "$work/regress.log"
tests/helpers/pg.sh stop "$pgdir"

# Errors only count when they touch outbox_pg's code or are outright
# invalid accesses anywhere in a process that loaded it.
errors=$(grep -lE 'Invalid (read|write|free)|uninitialised|Mismatched free|overlap' "$work"/vg/*.log 2>/dev/null)
for f in $errors; do
	echo "==== $f"
	cat "$f"
done
nlogs=$(ls "$work"/vg/*.log 2>/dev/null | wc -l)
nerr=$(echo "$errors" | grep -c . || true)
echo "valgrind: $nlogs processes checked, $nerr with errors, regression suite exit $status, $((SECONDS - start)) s"
if [ "$status" -ne 0 ]; then
	cat "$work/regress.log"
	cat tests/regress/regression.diffs 2>/dev/null | head -n 100
fi
[ "$status" -eq 0 ] && [ "$nerr" -eq 0 ] && echo "1 passed, 0 failed" && exit 0
echo "0 passed, 1 failed"
exit 1
