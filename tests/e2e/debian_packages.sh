#!/usr/bin/env bash
# The Debian packages, built and used the way an operator would: on a clean
# copy of the tree (what git tracks, plus new files it does not ignore),
# dpkg-buildpackage -b builds postgresql-N-outbox-pg for every major
# pg_buildext supports here and outbox-shipper; lintian (pedantic, info)
# must print nothing but overrides; the man page must lint clean and name
# every flag of --help; then apt-get installs both and the demo's flow runs
# against the INSTALLED files: the extension and plugin from the package in
# a throwaway cluster, /usr/bin/outbox-shipper started as the systemd unit
# would (its ExecStart, /etc/default/outbox-shipper, an unprivileged user),
# a real Kafka, events read back from it.  The unit is checked with
# systemd-analyze (verify; security --offline for its exposure score): no
# systemd runs here, so its sandbox is scored, not exercised.
#
# Installing replaces the system's plugin files (those of `make install`,
# which the other suites use) with the package's; they are saved before and
# put back right after the plugin package is purged (0.33 s without them,
# measured), and the packages are never left installed (EXIT trap).
#
# Needs root (apt-get).  About 85 s here (76-87 s over three runs: the
# package build 17-26 s, Kafka's start ~15 s, apt-get install and purge with
# their man-db triggers ~20 s).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then
	echo "# installs packages with apt-get: run as root"
	echo "not ok - running as root"
	failed=1
	finish
	exit 1
fi

WORK=$(mktemp -d /tmp/outbox_deb.XXXXXX)
chmod 755 "$WORK"	# apt's _apt user reads the .debs from here
SRC=$WORK/src
BACKUP=$WORK/backup
APT=(apt-get -y -qq -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
installed=
shipper_pid=

# purge_and_restore: the packages out, the saved files back, at once.  The
# plugin packages go first, alone and with their triggers deferred, so that
# the saved files are back within a fraction of a second; the rest, with
# apt-get, runs the triggers (man-db, postgresql-common).  Should dpkg find
# its lock taken, apt-get waits for it and purges what is left.  (apt-get
# must not be named a purged package: it knows .debs only while installed.)
purge_and_restore() {
	local plugins left
	[ -n "$installed" ] || return 0
	plugins=$(echo "$installed" | xargs -n1 | grep '^postgresql-' | xargs)
	MISSING_FROM=$EPOCHREALTIME
	dpkg --purge --no-triggers $plugins >"$WORK/purge.log" 2>&1
	restore_saved
	MISSING_S=$(awk -v a="$MISSING_FROM" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
	left=$(still_installed)
	PURGE_STATUS=0
	if [ -n "$left" ]; then
		DEBIAN_FRONTEND=noninteractive "${APT[@]}" purge $left >>"$WORK/purge.log" 2>&1
		PURGE_STATUS=$?
		restore_saved
	fi
	dpkg --triggers-only --pending >>"$WORK/purge.log" 2>&1
	# Cleared only when nothing is left, so that the EXIT trap tries again.
	[ -n "$(still_installed)" ] || installed=
}

# still_installed: those of our packages dpkg knows (installed or conffiles).
still_installed() {
	local pkg
	for pkg in $installed; do
		dpkg-query -W -f='${db:Status-Status}\n' "$pkg" 2>/dev/null | grep -qv '^not-installed$' &&
			echo "$pkg"
	done | xargs
}

# restore_saved: each saved file back under its name by a rename, so that a
# server that has the plugin mapped never sees it rewritten in place.
restore_saved() {
	local path
	[ -d "$BACKUP" ] || return 0
	(cd "$BACKUP" && find . -type f) | sed 's|^\.||' | while read -r path; do
		mkdir -p "$(dirname "$path")"
		cp -a "$BACKUP$path" "$path.outbox-restore" && mv -f "$path.outbox-restore" "$path"
	done
}

cleanup() {
	[ -n "$shipper_pid" ] && kill -KILL "$shipper_pid" 2>/dev/null
	purge_and_restore
	"$PG_SH" stop "$WORK/pg" >/dev/null 2>&1
	"$KAFKA_SH" stop "$WORK/kafka" >/dev/null 2>&1
	if [ "$failed" -gt 0 ] || [ -n "${E2E_KEEP:-}" ]; then
		echo "# logs kept in $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

started=$SECONDS

# ---- build, on a clean copy of the tree
mkdir -p "$SRC"
git -C "$E2E_ROOT" ls-files -z --cached --others --exclude-standard |
	(cd "$E2E_ROOT" && xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
	tar -C "$E2E_ROOT" --null -T - -cf - | tar -C "$SRC" -xf -
# A plugin package for every major of debian/pgversions this machine has
# server headers for (postgresql-server-dev-N); PG_UPDATECONTROL, since
# debian/control lists them and the committed one has Debian 12's 15 only.
export PG_SUPPORTED_VERSIONS=installed
(cd "$SRC" && PG_UPDATECONTROL=yes DEB_BUILD_OPTIONS="nocheck parallel=2 noddebs" \
	dpkg-buildpackage -b -us -uc) >"$WORK/build.log" 2>&1
check "dpkg-buildpackage -b -us -uc" 0 $?
echo "# package build took $((SECONDS - started)) s"

majors=$(cd "$SRC" && pg_buildext supported-versions | sort -n | xargs)
echo "# majors with server headers here (pg_buildext supported-versions): $majors; the tests' other majors are PyPI builds under /var/cache/outbox_pg, not Debian packages, which pg_buildext cannot build for"
want=$(for v in $majors; do echo "postgresql-$v-outbox-pg_0.1.0_$(dpkg --print-architecture).deb"; done | xargs)
have=$(cd "$WORK" && ls postgresql-*-outbox-pg_*.deb 2>/dev/null | sort -V | xargs)
check "a plugin package for every supported major ($majors)" "$want" "$have"
SHIPPER_DEB=$(ls "$WORK"/outbox-shipper_*.deb 2>/dev/null)
check "the outbox-shipper package" 1 "$(echo "$SHIPPER_DEB" | grep -c .)"
DEBS=("$WORK"/*.deb)

lintian --pedantic -I --fail-on error,warning,info,pedantic "$WORK"/*.changes \
	>"$WORK/lintian.log" 2>"$WORK/lintian.err"
check "lintian --pedantic -I exits 0" 0 $?
sed 's/^/# lintian: /' "$WORK/lintian.log"
check "lintian prints nothing (each remaining tag is overridden with its reason)" "" \
	"$(cat "$WORK/lintian.log")"

# ---- the man page, as packaged
mkdir -p "$WORK/x"
for deb in "${DEBS[@]}"; do dpkg-deb -x "$deb" "$WORK/x"; done
MAN=$WORK/outbox-shipper.1
zcat "$WORK/x/usr/share/man/man1/outbox-shipper.1.gz" >"$MAN"
check "mandoc -T lint -W warning: no warning" "0 " \
	"$(mandoc -T lint -W warning "$MAN" 2>&1; echo "$? ")"
check "groff -ww -z -man: no warning" "" "$(groff -ww -z -man "$MAN" 2>&1)"
check "man --warnings renders it without a warning" "" \
	"$(MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$MAN" 2>&1 >/dev/null)"
MANWIDTH=200 man -l "$MAN" 2>/dev/null | col -b >"$WORK/man.txt"
"$WORK/x/usr/bin/outbox-shipper" --help >"$WORK/help.txt"
flags=$(grep -oE '(^|[ ,])--[a-z][a-z-]*' "$WORK/help.txt" | sed 's/^[ ,]//' | sort -u)
check "--help names more than 20 flags" t "$([ "$(echo "$flags" | wc -l)" -gt 20 ] && echo t || echo f)"
missing=$(for flag in $flags; do grep -qF -- "$flag" "$WORK/man.txt" || echo "$flag"; done | xargs)
check "the man page documents every flag of --help" "" "$missing"

# ---- servers first, so that the packages stay installed only for the flow
"$PG_SH" start "$WORK/pg" >/dev/null
eval "$("$PG_SH" env "$WORK/pg")"
export PGDATABASE=postgres
BROKERS=$("$KAFKA_SH" start "$WORK/kafka")
for topic in outbox.event.order outbox.event.customer; do
	"$KAFKA_SH" create-topic "$WORK/kafka" "$topic" 3 >/dev/null
done

# ---- install; save what the packages will replace first
for deb in "${DEBS[@]}"; do dpkg-deb --fsys-tarfile "$deb" | tar -t; done |
	sed 's|^\./|/|' | grep -v '/$' | sort -u >"$WORK/paths"
while read -r path; do
	if [ -e "$path" ] && ! dpkg -S "$path" >/dev/null 2>&1; then
		mkdir -p "$BACKUP$(dirname "$path")"
		cp -a "$path" "$BACKUP$path"
	fi
done <"$WORK/paths"
echo "# saved $(find "$BACKUP" -type f 2>/dev/null | wc -l) files the packages replace"
installed=$(for deb in "${DEBS[@]}"; do dpkg-deb -f "$deb" Package; done | xargs)
install_started=$SECONDS
DEBIAN_FRONTEND=noninteractive "${APT[@]}" --no-install-recommends install "${DEBS[@]}" \
	>"$WORK/install.log" 2>&1
check "apt-get install ./…deb" 0 $?
for pkg in $installed; do
	check "$pkg is installed" "install ok installed" "$(dpkg-query -W -f='${Status}' "$pkg" 2>&1)"
done
# The files in use are the packages' own, not the ones of make install.
differ=$(while read -r path; do
	[ -f "$WORK/x$path" ] && ! cmp -s "$WORK/x$path" "$path" && echo "$path"
done <"$WORK/paths" | xargs)
check "every installed file is the package's" "" "$differ"
check "dpkg owns the plugin" "postgresql-15-outbox-pg: /usr/lib/postgresql/15/lib/outbox_pg.so" \
	"$(dpkg -S /usr/lib/postgresql/15/lib/outbox_pg.so 2>&1)"
check "/etc/default/outbox-shipper is root's, mode 600" "600 root" \
	"$(stat -c '%a %U' /etc/default/outbox-shipper 2>&1)"

UNIT=/lib/systemd/system/outbox-shipper.service
if command -v systemd-analyze >/dev/null; then
	check "systemd-analyze verify $UNIT" "" "$(systemd-analyze verify "$UNIT" 2>&1)"
	exposure=$(systemd-analyze security --offline=true --no-pager "$UNIT" 2>&1 |
		sed -nE 's/.*Overall exposure level for [^:]*: ([0-9.]+).*/\1/p')
	echo "# systemd-analyze security --offline: exposure $exposure (0 safest, 10 unsafe)"
	check "the unit's exposure is at most 2.0 (hardened)" t \
		"$(awk -v e="${exposure:-99}" 'BEGIN { print (e <= 2.0) ? "t" : "f" }')"
else
	echo "# systemd-analyze is not installed: the unit is not verified"
	check "systemd-analyze is available" yes no
fi

# ---- the demo's flow against the installed files
psql -qX -c "CREATE EXTENSION outbox_pg" >/dev/null
check "CREATE EXTENSION outbox_pg from the package" 0.1 \
	"$(psql -qXAt -c "SELECT extversion FROM pg_extension WHERE extname = 'outbox_pg'")"

# Configured as README says: the environment file, then the unit's command.
PORT=$(free_port)
cat >>/etc/default/outbox-shipper <<-EOF
	OUTBOX_DBNAME="host=127.0.0.1 port=$PGPORT user=postgres dbname=postgres"
	OUTBOX_BROKERS="$BROKERS"
	OUTBOX_HTTP_LISTEN="127.0.0.1:$PORT"
	OUTBOX_CREATE_SLOT=true
	OUTBOX_STATUS_INTERVAL=1
EOF
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
check "the unit runs /usr/bin/outbox-shipper" /usr/bin/outbox-shipper "$exec_start"
# systemd reads the file as root, then runs the command as a dynamic user
# without new privileges: here, nobody.
env -i PATH=/usr/bin:/bin bash -c 'set -a; . /etc/default/outbox-shipper; set +a;
	exec setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs "$@"' \
	sh $exec_start >"$WORK/shipper.log" 2>&1 &
shipper_pid=$!
wait_for "the installed shipper to stream" 60 grep -q 'streaming slot' "$WORK/shipper.log"
check "the installed shipper streams" 0 $?

psql -qX >/dev/null <<-'SQL'
	CREATE TABLE orders (id int PRIMARY KEY, total numeric);
	BEGIN;
	INSERT INTO orders VALUES (42, 19.90);
	SELECT outbox.publish('order', '42', 'OrderCreated', '{"id": 42, "total": 19.90}');
	SELECT outbox.emit('order', '42', 'OrderLineAdded', '{"sku": "A-1", "qty": 2}');
	COMMIT;
	UPDATE orders SET total = 21.00;
	SELECT outbox.publish('customer', 'c-7', 'CustomerRegistered', '{"name": "Ada"}');
	BEGIN;
	SELECT outbox.publish('customer', 'c-8', 'CustomerRegistered', '{"name": "Bob"}');
	ROLLBACK;
SQL
target=$(current_lsn)
wait_for "the slot to confirm every event" 60 confirmed_reached "$target"
check "the slot confirmed every event" 0 $?

# kafka.sh consume: topic, partition, offset, key, headers, value.  The
# values are the payloads as the plugin writes them: jsonb's compact text.
records() {	# records TOPIC COUNT: key, event_type header, value, tab-separated
	"$KAFKA_SH" consume "$WORK/kafka" "$1" "$2" 30 |
		awk -F '\t' '{ match($5, /(^|,)event_type=[^,]*/); t = substr($5, RSTART, RLENGTH);
			sub(/^,?event_type=/, "", t); print $4 "\t" t "\t" $6 }'
}
check "order records from Kafka" \
	"$(printf '42\tOrderCreated\t{"id":42,"total":19.90}\n42\tOrderLineAdded\t{"qty":2,"sku":"A-1"}')" \
	"$(records outbox.event.order 2)"
check "customer records from Kafka (the rolled-back one never shipped)" \
	"$(printf 'c-7\tCustomerRegistered\t{"name":"Ada"}')" "$(records outbox.event.customer 1)"
check "/metrics: 3 events shipped" 3 \
	"$(( $(metric "$PORT" 'outbox_shipper_events_shipped_total{topic="outbox.event.order"}') +
		$(metric "$PORT" 'outbox_shipper_events_shipped_total{topic="outbox.event.customer"}') ))"
check "/readyz" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")"

kill -TERM "$shipper_pid"
deadline=$((SECONDS + 60))
while kill -0 "$shipper_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
wait "$shipper_pid" 2>/dev/null
check "SIGTERM: the installed shipper exits 0" 0 $?
shipper_pid=
psql -qX -c "DROP EXTENSION outbox_pg" >/dev/null
check "DROP EXTENSION" 0 $?

# ---- purge and put back what was there, at once
purge_started=$EPOCHREALTIME
purge_and_restore
echo "# purge and restore took $(awk -v a="$purge_started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s; the plugin files were missing for $MISSING_S s"
echo "# packages installed for $((SECONDS - install_started)) s"
check "apt-get purge" 0 "$PURGE_STATUS"
for pkg in $(for deb in "${DEBS[@]}"; do dpkg-deb -f "$deb" Package; done); do
	check "$pkg is purged" "" "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -v 'not-installed')"
done
check "dpkg --audit: no package left half-done, no trigger pending" "" "$(dpkg --audit 2>&1)"
check "no /usr/bin/outbox-shipper, /etc/default/outbox-shipper or unit left" "" \
	"$(ls /usr/bin/outbox-shipper /etc/default/outbox-shipper "$UNIT" 2>/dev/null)"
not_restored=$(cd "$BACKUP" 2>/dev/null && find . -type f | sed 's|^\.||' |
	while read -r path; do cmp -s "$BACKUP$path" "$path" || echo "$path"; done | xargs)
check "the files the packages replaced are back" "" "$not_restored"

echo "# $(basename "$0") took $((SECONDS - started)) s"
finish
