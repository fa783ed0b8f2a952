#!/usr/bin/env bash
# promtool, Prometheus's rule and metrics checker (tests/e2e/prometheus_rules.sh:
# `promtool check rules`, `promtool test rules`, `promtool check metrics`):
# built once with `go install` at a pinned version into a cache, then
# reused.  Prints the path of promtool.
#
#   promtool.sh            install if missing (or another version); print the path
#   promtool.sh path       print the path only; fails if it is not installed
#
# Pinned rather than Debian's prometheus package: Debian 12 ships promtool
# 2.42, whose rule language misses what later Prometheus servers accept
# (range selectors became left-open in 3.0, which moves when rules fire);
# the rules in deploy/prometheus/ are checked by the promtool of the
# Prometheus users run.  Module versions v0.3xx.y are Prometheus 3.xx.y.
# The first build, module download included: 4 min 16 s (258 CPU s) on the
# shared 2-core dev box; 12 min 52 s (558 CPU s) without -tags remove_all_sd.
#
# Cache (GOBIN, GOPATH and GOCACHE all inside it), readable by every user:
#   OUTBOX_PG_CACHE   (default /var/cache/outbox_pg as root, else
#                      ~/.cache/outbox_pg)
# Go: the first of `go` on PATH, /usr/local/go/bin/go, /usr/bin/go; 1.26.7
# or later.
set -euo pipefail

MODULE=github.com/prometheus/prometheus
VERSION=v0.316.0
GO_MIN=1.26.7

die() { echo "promtool.sh: $*" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then
	CACHE=${OUTBOX_PG_CACHE:-/var/cache/outbox_pg}
else
	CACHE=${OUTBOX_PG_CACHE:-${HOME:-/tmp}/.cache/outbox_pg}
fi
GO_CACHE=$CACHE/go
BIN=$GO_CACHE/bin/promtool
STAMP=$GO_CACHE/bin/.promtool.version

installed() { [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$VERSION" ]; }

find_go() {
	local go
	for go in "$(command -v go || true)" /usr/local/go/bin/go /usr/bin/go; do
		[ -n "$go" ] && [ -x "$go" ] && { echo "$go"; return; }
	done
	die "no Go toolchain (go on PATH, /usr/local/go/bin/go or /usr/bin/go); run scripts/install-deps.sh as root"
}

# Prometheus v0.316.0's go.mod asks for Go 1.26.7; an older Go (Debian 12's
# golang-go is 1.19) would fail deep in the build or fetch a toolchain.
check_go() {
	local have
	have=$("$1" env GOVERSION) || die "$1 env GOVERSION failed"
	have=${have#go}
	[ "$(printf '%s\n%s\n' "$GO_MIN" "$have" | sort -V | head -n 1)" = "$GO_MIN" ] ||
		die "$MODULE@$VERSION needs Go $GO_MIN or later; $1 is $have"
}

install() {
	local go
	installed && return 0
	go=$(find_go)
	check_go "$go"
	mkdir -p "$GO_CACHE/bin"
	chmod 755 "$CACHE" "$GO_CACHE" "$GO_CACHE/bin"
	# Tests started side by side build once: the second waits for the first.
	exec 9>"$GO_CACHE/.lock-promtool"
	flock -w 1800 9 || die "another install still holds $GO_CACHE/.lock-promtool after 1800 s"
	installed && return 0
	echo "promtool.sh: building $MODULE/cmd/promtool@$VERSION with $("$go" version)" >&2
	rm -f "$STAMP"
	# Outside a module, go install module@version reads that module's go.mod
	# and nothing else.  -tags remove_all_sd leaves out the service
	# discovery plugins (AWS, Azure, GCE, ... SDKs), half of the build's CPU
	# time; only `promtool check config` of a scrape config using one of them
	# needs them, and the tests never do that.
	if ! GOBIN=$GO_CACHE/bin GOPATH=$GO_CACHE/path GOCACHE=$GO_CACHE/build \
		GOFLAGS= GO111MODULE=on timeout 1800 \
		"$go" install -tags remove_all_sd "$MODULE/cmd/promtool@$VERSION" \
		>"$GO_CACHE/install-promtool.log" 2>&1; then
		tail -n 30 "$GO_CACHE/install-promtool.log" >&2
		die "go install $MODULE/cmd/promtool@$VERSION failed (log above)"
	fi
	echo "$VERSION" >"$STAMP"
	# The module cache is read-only as Go writes it; let a later rm -rf work.
	chmod -R u+w "$GO_CACHE/path" 2>/dev/null || true
	chmod -R a+rX "$GO_CACHE/bin"
}

case ${1:-} in
"") install; echo "$BIN" ;;
path) installed || die "promtool $VERSION is not installed; run $0"; echo "$BIN" ;;
*) sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
