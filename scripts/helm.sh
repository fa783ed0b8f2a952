#!/usr/bin/env bash
# Helm, for the chart's tests (tests/e2e/helm_chart.sh: helm lint, helm
# template) and for scripts/k8s-manifests.sh, which renders
# deploy/kubernetes from deploy/helm/outbox-shipper: built once with
# `go install` at a pinned version into a cache, then reused.  Prints the
# path of helm.
#
#   helm.sh            install if missing (or another version); print the path
#   helm.sh path       print the path only; fails if it is not installed
#
# Cache (GOBIN, GOPATH and GOCACHE all inside it), readable by every user:
#   OUTBOX_PG_CACHE   (default /var/cache/outbox_pg as root, else
#                      ~/.cache/outbox_pg)
# Go: the first of `go` on PATH, /usr/local/go/bin/go, /usr/bin/go.  Helm
# 3.22 needs the Go its go.mod names (1.25 or later); an older go fetches
# that toolchain itself (GOTOOLCHAIN=auto, the default).
# The first build took 5 min 53 s on this project's 2-core machine (beside
# other helpers' builds); later runs only check the stamp.
set -euo pipefail

MODULE=helm.sh/helm/v3
VERSION=v3.22.0
# What Helm's own Makefile stamps with -X, as its release binaries have it:
# the version, and the Kubernetes version `helm template` and `helm lint`
# assume without a cluster (1 + client-go's major, its minor: client-go
# v0.37.0 in helm v3.22.0's go.mod).  Unstamped, they would assume 1.20 and
# refuse the chart (kubeVersion >= 1.27).
LDFLAGS="-X $MODULE/internal/version.version=$VERSION"
for pkg in pkg/lint/rules pkg/chartutil; do
	LDFLAGS+=" -X $MODULE/$pkg.k8sVersionMajor=1 -X $MODULE/$pkg.k8sVersionMinor=37"
done
BUILD="$VERSION k8s 1.37"

die() { echo "helm.sh: $*" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then
	CACHE=${OUTBOX_PG_CACHE:-/var/cache/outbox_pg}
else
	CACHE=${OUTBOX_PG_CACHE:-${HOME:-/tmp}/.cache/outbox_pg}
fi
GO_CACHE=$CACHE/go
BIN=$GO_CACHE/bin/helm
STAMP=$GO_CACHE/bin/.helm.version

installed() { [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$BUILD" ]; }

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
	exec 9>"$GO_CACHE/.lock-helm"
	flock -w 1800 9 || die "another install still holds $GO_CACHE/.lock-helm after 1800 s"
	installed && return 0
	echo "helm.sh: building $MODULE/cmd/helm@$VERSION with $("$go" version) (the first build takes minutes)" >&2
	rm -f "$STAMP"
	# GOFLAGS empty: outside a module, go install module@version reads
	# that module's go.mod and nothing else.
	if ! GOBIN=$GO_CACHE/bin GOPATH=$GO_CACHE/path GOCACHE=$GO_CACHE/build \
		GOFLAGS= GO111MODULE=on CGO_ENABLED=0 timeout 1800 \
		"$go" install -trimpath -ldflags "$LDFLAGS" \
		"$MODULE/cmd/helm@$VERSION" >"$GO_CACHE/install-helm.log" 2>&1; then
		tail -n 30 "$GO_CACHE/install-helm.log" >&2
		die "go install $MODULE/cmd/helm@$VERSION failed (log above)"
	fi
	echo "$BUILD" >"$STAMP"
	# The module cache is read-only as Go writes it; let a later rm -rf work.
	chmod -R u+w "$GO_CACHE/path" 2>/dev/null || true
	chmod -R a+rX "$GO_CACHE/bin"
}

case ${1:-} in
"") install; echo "$BIN" ;;
path) installed || die "helm $VERSION is not installed; run $0"; echo "$BIN" ;;
*) sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
