#!/usr/bin/env bash
# The suites that must pass on every supported PostgreSQL major, against
# throwaway clusters of MAJOR (14 to 18; 15 is Debian's, the others come
# from scripts/pg-major.sh): the plugin built warning-free for MAJOR, the
# pg_regress suite, the pgTAP suite, and the end-to-end basics
# (pg_recvlogical; the shipper relaying under kill -9, a broker restart and
# a PostgreSQL restart with nothing missing), plus from 16 on decoding on a
# standby and from 17 on a failover with failover slots.
#
#   tests/major.sh MAJOR          (make test-major PG_MAJOR=17)
#   OUTBOX_MAJOR_E2E="" tests/major.sh 14     build, pg_regress and pgTAP only
#
# The shipper (an ordinary libpq client) is the one built in shipper/.
# Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
major=${1:?usage: tests/major.sh MAJOR}

passed=0
failed=0
record() {	# record NAME PASSED FAILED STATUS
	local f=$3
	[ "$4" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	passed=$((passed + $2))
	failed=$((failed + f))
	printf '== PostgreSQL %s %s: %d passed, %d failed\n' "$major" "$1" "$2" "$f"
}

prefix=$(scripts/pg-major.sh fetch "$major") || exit 1
pg_config=$prefix/bin/pg_config
bindir=$("$pg_config" --bindir)
version=$("$pg_config" --version)

work=$(mktemp -d /tmp/outbox_pg_major.XXXXXX)
chmod 755 "$work"
cleanup() {
	PG_BINDIR=$bindir tests/helpers/pg.sh stop "$work/pg" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
echo "== $version ($prefix)"

# The plugin, built for MAJOR and installed into that server's directories;
# the regression suite runs from a copy of tests/regress (its results are
# written beside it).
scripts/pg-major.sh install-plugin "$major" >/dev/null 2>"$work/build.log"
status=$?
cat "$work/build.log"
record "build (-Werror)" $((status == 0)) $((status != 0)) $status
[ $status -eq 0 ] || { echo "$passed passed, $failed failed"; exit 1; }
mkdir -p "$work/build/tests"
cp -r Makefile outbox_pg.control sql "$work/build/"
cp -r tests/regress "$work/build/tests/"
rm -rf "$work/build/tests/regress/results"

# pgTAP is SQL only: Debian's package (installed by install-deps.sh) for
# the default major, its files copied into the others.
if [ ! -f "$("$pg_config" --sharedir)/extension/pgtap.control" ]; then
	cp /usr/share/postgresql/15/extension/pgtap* "$("$pg_config" --sharedir)/extension/" || exit 1
fi

export PG_BINDIR=$bindir
export PATH=$bindir:$PATH
tests/helpers/pg.sh start "$work/pg" "logical_decoding_work_mem = 64kB" >/dev/null || exit 1
eval "$(tests/helpers/pg.sh env "$work/pg")"

make -s -C "$work/build" PG_CONFIG="$pg_config" installcheck >"$work/regress.log" 2>&1
status=$?
grep -E '^(test |not ok|ok )' "$work/regress.log"
[ $status -eq 0 ] || head -n 200 "$work/build/tests/regress/regression.diffs" 2>/dev/null
# "test NAME ... ok" up to 15, TAP-like "ok N - NAME" from 16 on.
record pg_regress "$(grep -cE '^(test .* ok |ok [0-9]+ )' "$work/regress.log")" \
	"$(grep -cE '^(test .* FAILED|not ok [0-9]+ )' "$work/regress.log")" $status

psql -qX -d postgres -c "CREATE DATABASE outbox_tap" >/dev/null &&
	psql -qX -d outbox_tap -c "CREATE EXTENSION pgtap" >/dev/null
pg_prove -d outbox_tap tests/pgtap/*.sql >"$work/pgtap.log" 2>&1
status=$?
cat "$work/pgtap.log"
tap_total=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p' "$work/pgtap.log")
tap_failed=$(grep -oE 'Failed: [0-9]+\)' "$work/pgtap.log" | grep -oE '[0-9]+' | paste -sd+ | bc 2>/dev/null)
tap_failed=${tap_failed:-0}
record pgTAP $((${tap_total:-0} - tap_failed)) "$tap_failed" $status
tests/helpers/pg.sh stop "$work/pg" >/dev/null

# OUTBOX_MAJOR_E2E: the end-to-end scripts to run (developers may narrow
# it), each NAME or NAME:MAJOR, MAJOR being the first that has what the
# test needs: decoding on a standby (16), failover slots (17).  Those two
# are not executable, so tests/run.sh's own loop (the default 15) skips them.
# relay_silent runs on each major: whether a walsender answers the
# shipper's probes while it decodes a large transaction differs by major.
for entry in ${OUTBOX_MAJOR_E2E-recvlogical relay_faults relay_silent relay_standby_decoding:16 relay_failover_slots:17}; do
	t=${entry%%:*}
	if [ "$t" != "$entry" ] && [ "$major" -lt "${entry##*:}" ]; then
		echo "== PostgreSQL $major e2e $t: skipped, it needs PostgreSQL ${entry##*:} or later"
		continue
	fi
	bash tests/e2e/$t.sh >"$work/$t.log" 2>&1
	status=$?
	cat "$work/$t.log"
	read -r p f <<<"$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$work/$t.log" | tail -n 1 |
		sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/')"
	record "e2e $t" "${p:-0}" "${f:-0}" $status
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
