#!/usr/bin/env bash
# Toxiproxy, the TCP fault proxy of the network-fault tests
# (tests/e2e/relay_netfaults.sh, through tests/helpers/toxiproxy.sh):
# built once with `go install` at a pinned version into a cache, then
# reused.  Prints the path of toxiproxy-server.
#
#   toxiproxy.sh            install if missing (or another version); print the path
#   toxiproxy.sh path       print the path only; fails if it is not installed
#
# Cache (GOBIN, GOPATH and GOCACHE all inside it), readable by every user:
#   OUTBOX_PG_CACHE   (default /var/cache/outbox_pg as root, else
#                      ~/.cache/outbox_pg)
# Go: the first of `go` on PATH, /usr/local/go/bin/go, /usr/bin/go
# (Debian's golang-go, which scripts/install-deps.sh installs when there is
# no Go; toxiproxy 2.5.0 needs Go 1.17 or later).
set -euo pipefail

MODULE=github.com/Shopify/toxiproxy/v2
VERSION=v2.5.0

die() { echo "toxiproxy.sh: $*" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then
	CACHE=${OUTBOX_PG_CACHE:-/var/cache/outbox_pg}
else
	CACHE=${OUTBOX_PG_CACHE:-${HOME:-/tmp}/.cache/outbox_pg}
fi
GO_CACHE=$CACHE/go
BIN=$GO_CACHE/bin/toxiproxy-server
STAMP=$GO_CACHE/bin/.toxiproxy-server.version

installed() { [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$VERSION" ]; }

find_go() {
	local go
	for go in "$(command -v go || true)" /usr/local/go/bin/go /usr/bin/go; do
		[ -n "$go" ] && [ -x "$go" ] && { echo "$go"; return; }
	done
	die "no Go toolchain (go on PATH, /usr/local/go/bin/go or /usr/bin/go); run scripts/install-deps.sh as root"
}

install() {
	local go
	installed && return 0
	go=$(find_go)
	mkdir -p "$GO_CACHE/bin"
	chmod 755 "$CACHE" "$GO_CACHE" "$GO_CACHE/bin"
	# Tests started side by side build once: the second waits for the first.
	exec 9>"$GO_CACHE/.lock-toxiproxy"
	flock -w 900 9 || die "another install still holds $GO_CACHE/.lock-toxiproxy after 900 s"
	installed && return 0
	echo "toxiproxy.sh: building $MODULE/cmd/server@$VERSION with $("$go" version)" >&2
	rm -f "$STAMP"
	# GOFLAGS=-mod=mod: outside a module, go install module@version reads
	# that module's go.mod and nothing else.
	if ! GOBIN=$GO_CACHE/bin GOPATH=$GO_CACHE/path GOCACHE=$GO_CACHE/build \
		GOFLAGS= GO111MODULE=on timeout 900 \
		"$go" install "$MODULE/cmd/server@$VERSION" >"$GO_CACHE/install.log" 2>&1; then
		tail -n 30 "$GO_CACHE/install.log" >&2
		die "go install $MODULE/cmd/server@$VERSION failed (log above)"
	fi
	# go install names the binary after its directory: "server".
	mv -f "$GO_CACHE/bin/server" "$BIN"
	echo "$VERSION" >"$STAMP"
	# The module cache is read-only as Go writes it; let a later rm -rf work.
	chmod -R u+w "$GO_CACHE/path" 2>/dev/null || true
	chmod -R a+rX "$GO_CACHE/bin"
}

case ${1:-} in
"") install; echo "$BIN" ;;
path) installed || die "toxiproxy-server $VERSION is not installed; run $0"; echo "$BIN" ;;
*) sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
