#!/usr/bin/env bash
# Builds the outbox-shipper container image without a container engine:
# a Debian 12 (bookworm) minbase root filesystem from debootstrap with only
# the shipper's runtime libraries, the shipper as user 10001, packed by
# umoci into an OCI layout and written by skopeo as an OCI archive.
#
#   deploy/image/build.sh [OUT_DIR]        (default deploy/build; run as root)
#
# Writes OUT_DIR/outbox-shipper-VERSION.oci.tar, OUT_DIR/packages.txt (every
# Debian package in the image, dpkg-query -W) and OUT_DIR/build-info.txt
# (source revision, binary checksum, image digest).  The debootstrap result
# is cached in ~/.cache/outbox_pg/rootfs-KEY.tar, KEY a hash of the suite,
# mirror and package list; OUTBOX_IMAGE_NO_CACHE=1 ignores and replaces it
# (to pick up new Debian security updates).  OUTBOX_IMAGE_SOURCE and
# OUTBOX_IMAGE_LICENSES set two OCI labels; SOURCE_DATE_EPOCH the file times
# and image dates (default: the commit's time).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mkdir -p "${1:-$ROOT/deploy/build}" && cd "${1:-$ROOT/deploy/build}" && pwd)
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
SECURITY_MIRROR=http://deb.debian.org/debian-security
# The shipper's runtime libraries (ldd below proves they suffice);
# ca-certificates for Kafka and PostgreSQL over TLS.
PACKAGES=(libpq5 librdkafka1 libmicrohttpd12 ca-certificates)
UID_GID=10001
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/outbox_pg
# OCI labels: where the source lives (the git remote "origin" unless
# OUTBOX_IMAGE_SOURCE says) and its SPDX license expression (the
# PostgreSQL License, LICENSE at the root).
SOURCE_URL=${OUTBOX_IMAGE_SOURCE:-$(git -C "$ROOT" remote get-url origin 2>/dev/null || echo unknown)}
LICENSES=${OUTBOX_IMAGE_LICENSES:-PostgreSQL}

log() { echo "build: $*" >&2; }
die() { echo "build: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and chroot need it)"
for tool in debootstrap umoci skopeo chroot strip sha256sum; do
	command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh installs it)"
done

WORK=$(mktemp -d /tmp/outbox_image.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ROOTFS=$WORK/rootfs

# The shipper, built from this checkout on the same Debian release as the
# image, so it links against the same library versions.
make -s -C "$ROOT/shipper" >&2
cp "$ROOT/shipper/outbox-shipper" "$WORK/outbox-shipper"
strip --strip-unneeded "$WORK/outbox-shipper"
VERSION=$("$WORK/outbox-shipper" --version | awk '$1 == "outbox-shipper" { print $2 }')
[ -n "$VERSION" ] || die "cannot read the shipper's version"

# debootstrap + the suite's updates and security fixes, cached by what went in.
key=$(printf '%s\n' "$SUITE" "$MIRROR" "$SECURITY_MIRROR" minbase "${PACKAGES[@]}" |
	sha256sum | cut -c1-16)
cached=$CACHE/rootfs-$key.tar
if [ -f "$cached" ] && [ -z "${OUTBOX_IMAGE_NO_CACHE:-}" ]; then
	log "debootstrap: cached $cached"
	mkdir "$ROOTFS"
	tar -C "$ROOTFS" -xpf "$cached"
else
	log "debootstrap --variant=minbase $SUITE from $MIRROR (a few minutes)"
	debootstrap --variant=minbase --include="$(IFS=,; echo "${PACKAGES[*]}")" \
		"$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
		{ tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
	cat >"$ROOTFS/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
SOURCES
	log "apt-get upgrade: $SUITE-updates and $SUITE-security"
	{
		chroot "$ROOTFS" apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive chroot "$ROOTFS" \
				apt-get -y -qq -o Dpkg::Use-Pty=0 upgrade
	} >"$WORK/upgrade.log" 2>&1 ||
		{ tail -n 30 "$WORK/upgrade.log" >&2; die "apt-get upgrade failed"; }
	chroot "$ROOTFS" apt-get clean
	mkdir -p "$CACHE"
	tar -C "$ROOTFS" -cpf "$cached.tmp" . && mv "$cached.tmp" "$cached"
fi

# Slim: no package lists or caches, docs (copyright files stay), man pages,
# locales or logs.  dpkg's database stays, so the image can be audited.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* \
	"$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/var/lib/dpkg/*-old \
	"$ROOTFS"/usr/share/man "$ROOTFS"/usr/share/info \
	"$ROOTFS"/usr/share/lintian "$ROOTFS"/usr/share/linda \
	"$ROOTFS"/usr/share/locale/* "$ROOTFS"/var/log/* \
	"$ROOTFS"/tmp/* "$ROOTFS"/root/.bash_history
find "$ROOTFS/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete
# The container runtime provides these.
rm -f "$ROOTFS/etc/hostname" "$ROOTFS/etc/resolv.conf"
: >"$ROOTFS/etc/machine-id"

# The unprivileged user, without a login shell or a home.
chroot "$ROOTFS" groupadd --gid "$UID_GID" outbox
chroot "$ROOTFS" useradd --uid "$UID_GID" --gid "$UID_GID" --no-create-home \
	--no-log-init --home-dir /nonexistent --shell /usr/sbin/nologin outbox
install -m 0755 -o root -g root "$WORK/outbox-shipper" "$ROOTFS/usr/local/bin/outbox-shipper"

# Every library resolves inside the image.
chroot "$ROOTFS" ldd /usr/local/bin/outbox-shipper >"$WORK/ldd.txt" 2>&1 ||
	{ cat "$WORK/ldd.txt" >&2; die "ldd failed in the image"; }
if grep -q 'not found' "$WORK/ldd.txt"; then
	grep 'not found' "$WORK/ldd.txt" >&2
	die "libraries missing in the image"
fi
[ "$(chroot "$ROOTFS" /usr/local/bin/outbox-shipper --version)" = "outbox-shipper $VERSION" ] ||
	die "the shipper does not run in the image"
chroot "$ROOTFS" dpkg-query -W -f='${Package}\t${Version}\t${Architecture}\n' |
	sort >"$OUT/packages.txt"

# Pack: an empty image, the root filesystem as its one layer, the config.
# Every file time and the image's dates are the source's commit time
# (SOURCE_DATE_EPOCH overrides), so the same inputs give the same digest.
EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 0)}
CREATED=$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)
find "$ROOTFS" -exec touch --no-dereference --date="@$EPOCH" {} +
LAYOUT=$WORK/oci
TAG=$VERSION
umoci init --layout "$LAYOUT"
umoci new --image "$LAYOUT:$TAG"
umoci unpack --image "$LAYOUT:$TAG" "$WORK/bundle" >/dev/null
rm -rf "$WORK/bundle/rootfs"
mv "$ROOTFS" "$WORK/bundle/rootfs"
umoci repack --image "$LAYOUT:$TAG" --history.created "$CREATED" --history.created_by "deploy/image/build.sh" \
	--history.comment "debootstrap $SUITE minbase + ${PACKAGES[*]} + outbox-shipper $VERSION" \
	"$WORK/bundle"
umoci config --image "$LAYOUT:$TAG" \
	--created "$CREATED" --history.created "$CREATED" \
	--os linux --architecture "$(dpkg --print-architecture)" \
	--config.user "$UID_GID:$UID_GID" \
	--config.entrypoint /usr/local/bin/outbox-shipper \
	--config.workingdir / \
	--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--config.env OUTBOX_HTTP_LISTEN=0.0.0.0:9187 \
	--config.exposedports 9187/tcp \
	--config.label org.opencontainers.image.title=outbox-shipper \
	--config.label "org.opencontainers.image.version=$VERSION" \
	--config.label "org.opencontainers.image.source=$SOURCE_URL" \
	--config.label "org.opencontainers.image.licenses=$LICENSES" \
	--config.stopsignal SIGTERM \
	--history.created_by "deploy/image/build.sh: umoci config"
umoci gc --layout "$LAYOUT"

ARCHIVE=$OUT/outbox-shipper-$VERSION.oci.tar
rm -f "$ARCHIVE"
skopeo copy --quiet "oci:$LAYOUT:$TAG" "oci-archive:$ARCHIVE:outbox-shipper:$TAG"
DIGEST=$(skopeo inspect --format '{{.Digest}}' "oci-archive:$ARCHIVE")
SIZE=$(stat -c %s "$ARCHIVE")

# What went in, to compare builds.
revision=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
changes=$(git -C "$ROOT" status --porcelain -- shipper deploy/image 2>/dev/null)
[ -z "$changes" ] || revision="$revision+dirty"
cat >"$OUT/build-info.txt" <<INFO
version $VERSION
revision $revision
created $CREATED
binary_sha256 $(sha256sum "$WORK/outbox-shipper" | cut -d' ' -f1)
rootfs_key $key
packages_sha256 $(sha256sum "$OUT/packages.txt" | cut -d' ' -f1)
archive $(basename "$ARCHIVE")
archive_bytes $SIZE
digest $DIGEST
INFO
echo "image: $ARCHIVE"
echo "size: $SIZE bytes ($((SIZE / 1024 / 1024)) MiB, $(wc -l <"$OUT/packages.txt") Debian packages)"
echo "digest: $DIGEST"
