#!/usr/bin/env bash
# A clone in a private directory (mode 700, as root's home is): the
# servers run as postgres, which cannot enter it.  Every script that runs a
# command as postgres must still work from there, without "could not
# change directory to ...: Permission denied" and without pointing that
# user at a file in the clone.  Clones this checkout's HEAD (commit first)
# into a fresh mode-700 directory and, from there, as root:
#   1. a cluster from tests/helpers/pg.sh: start, query, stop;
#   2. the server start of make valgrind-check (pg.sh valgrind-start),
#      which read its suppressions from the clone and never started;
#   3. tests/e2e/relay_promotion.sh, whose standby is cloned and promoted
#      as postgres (lib.sh as_postgres).
# Runtime here: 35-60 s (relay_promotion 18-25 s, the valgrind start, query
# and stop up to 25 s).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then
	echo "not ok - clone_private tests what root runs as postgres: run it as root"
	echo "0 passed, 1 failed"
	exit 1
fi
[ -x "$SHIPPER" ] || { echo "not ok - no shipper at $SHIPPER (make -s first)"; echo "0 passed, 1 failed"; exit 1; }

WORK=$(mktemp -d /tmp/outbox_clone_private.XXXXXX)
cleanup() {
	"$PG_SH" stop "$WORK/pg" >/dev/null 2>&1
	"$PG_SH" stop "$WORK/vg" >/dev/null 2>&1
	if [ "$failed" -gt 0 ]; then echo "# logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
PRIVATE=$WORK/home
REPO=$PRIVATE/outbox_pg
mkdir -m 700 "$PRIVATE"
git clone -q "$E2E_ROOT" "$REPO"
check "the checkout's HEAD is cloned" "$(git -C "$E2E_ROOT" rev-parse HEAD)" \
	"$(git -C "$REPO" rev-parse HEAD)"
echo "# clone of $(git -C "$REPO" log -1 --format='%h %s' | cut -c 1-70)"

# pg.sh start makes the cluster's parent directory enterable: only the
# clusters' own directories, never the clone.
(cd / && runuser -u postgres -- test -x "$PRIVATE")
check "postgres cannot enter the clone's directory" 1 $?

# no_denial NAME LOG: LOG has no "Permission denied".
no_denial() {
	check "$1: no \"Permission denied\"" 0 "$(grep -c 'Permission denied' "$2")"
	grep -m 3 'Permission denied' "$2" | sed 's/^/#   /'
}

cd "$REPO" || exit 1

# 1. A cluster.
{
	tests/helpers/pg.sh start "$WORK/pg" &&
		eval "$(tests/helpers/pg.sh env "$WORK/pg")" &&
		psql -qXAt -d postgres -c "SELECT 'answered'" &&
		tests/helpers/pg.sh stop "$WORK/pg"
} >"$WORK/pg.log" 2>&1
check "pg.sh starts, serves and stops a cluster from the clone" 0 $?
check "... which answered" 1 "$(grep -c '^answered$' "$WORK/pg.log")"
no_denial "pg.sh" "$WORK/pg.log"

# 2. The postmaster under valgrind, loading the plugin in a backend.
start=$SECONDS
{
	tests/helpers/pg.sh start "$WORK/vg" &&
		tests/helpers/pg.sh stop "$WORK/vg" &&
		tests/helpers/pg.sh valgrind-start "$WORK/vg" &&
		eval "$(tests/helpers/pg.sh env "$WORK/vg")" &&
		psql -qXAt -d postgres \
			-c "SELECT slot_name FROM pg_create_logical_replication_slot('vg', 'outbox_pg')" \
			-c "SELECT pg_drop_replication_slot('vg')" &&
		tests/helpers/pg.sh stop "$WORK/vg"
} >"$WORK/vg.log" 2>&1
check "the server starts under valgrind from the clone and loads the plugin" 0 $?
check "... which created the slot" 1 "$(grep -c '^vg$' "$WORK/vg.log")"
check "valgrind read its suppressions" 0 \
	"$(cat "$WORK"/vg/valgrind/*.log 2>/dev/null | grep -c "can't open suppressions")"
no_denial "the valgrind start" "$WORK/vg.log"
echo "# the valgrind start and stop took $((SECONDS - start)) s"
[ "$failed" -eq 0 ] || tail -n 20 "$WORK/vg.log" | sed 's/^/#   /'

# 3. An e2e script that clones and promotes a standby as postgres.
start=$SECONDS
OUTBOX_SHIPPER=$SHIPPER tests/e2e/relay_promotion.sh >"$WORK/promotion.log" 2>&1
status=$?
check "relay_promotion.sh passes from the clone" 0 $status
[ $status -eq 0 ] || tail -n 20 "$WORK/promotion.log" | sed 's/^/#   /'
check "... all its checks" 1 "$(tail -n 1 "$WORK/promotion.log" | grep -cE '^[1-9][0-9]* passed, 0 failed$')"
no_denial "relay_promotion.sh" "$WORK/promotion.log"
echo "# relay_promotion.sh took $((SECONDS - start)) s"

finish
