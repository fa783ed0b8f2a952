#!/usr/bin/env bash
# Installs everything outbox_pg needs to build, test, benchmark and demo on
# Debian 12, by package name.  Idempotent: does nothing when all is there.
# Kafka itself comes as pinned jars from Maven Central (tests/helpers/kafka.sh).
set -euo pipefail

PACKAGES=(
	build-essential pkg-config python3 bc
	postgresql-15 postgresql-server-dev-15 libpq-dev
	postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
	postgresql-15-wal2json
	librdkafka-dev libjansson-dev libcmocka-dev kcat libmicrohttpd-dev
	curl iproute2 python3-yaml
	debootstrap umoci skopeo python3-venv
	openjdk-17-jre-headless maven
	valgrind clang-format
	python3-hypothesis python3-psycopg2
	clang libclang-rt-dev
	debhelper postgresql-server-dev-all lintian help2man mandoc
)
# Go builds Toxiproxy for the network-fault tests (scripts/toxiproxy.sh):
# Debian's golang-go (1.19) unless a Go is there already.  promtool
# (scripts/promtool.sh) needs Go 1.26.7 or later, which Debian 12 lacks: a Go
# in /usr/local/go or on PATH.
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
	PACKAGES+=(golang-go)
fi

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
		|| missing+=("$p")
done

# Debian's PostgreSQL 15 gained output_plugin_libraries in a point release;
# an older server lacks it, so upgrade it too.
# (The server refuses to run as root, even just to describe its settings;
# postgres runs it from /, a directory it can enter wherever the clone is.)
describe_config() {
	if [ "$(id -u)" = 0 ]; then
		(cd / && runuser -u postgres -- /usr/lib/postgresql/15/bin/postgres --describe-config)
	else
		/usr/lib/postgresql/15/bin/postgres --describe-config
	fi
}
settings=$(describe_config 2>/dev/null || true)
if ! grep -q '^output_plugin_libraries' <<<"$settings"; then
	missing+=(postgresql-15)
fi

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run this script as root" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Installing must not start system services (a system PostgreSQL
# cluster): the project starts its own servers, on loopback.  policy-rc.d is
# Debian's switch for that.  (promtool is not Debian's: scripts/promtool.sh.)
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# postgresql-15 may still create a system cluster (not started): the tests never use it.
