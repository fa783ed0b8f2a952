#!/usr/bin/env bash
# The container image (deploy/image/build.sh) without a container engine:
# the OCI archive unpacks with umoci, its config runs the shipper as user
# 10001, the root filesystem holds no build tools, and the shipper runs in
# it, chrooted as 10001 on a read-only root, against a real PostgreSQL
# (password from the environment, as from a Kubernetes Secret) and Kafka.
set -uo pipefail

# Every mount lives in a private mount namespace: gone with this script
# even if it is killed; the trap below unmounts them anyway.
if [ -z "${OUTBOX_DEPLOY_IMAGE_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "not ok - deploy_image needs root (chroot, mount)"; echo "0 passed, 1 failed"; exit 1; }
	OUTBOX_DEPLOY_IMAGE_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"

VERSION=$("$SHIPPER" --version | awk '{ print $2 }')
BUILD_DIR=$E2E_ROOT/deploy/build
ARCHIVE=$BUILD_DIR/outbox-shipper-$VERSION.oci.tar
IMG=$(mktemp -d /tmp/outbox_image_test.XXXXXX)
MNT=$IMG/mnt

unmount_all() {
	local m
	for m in "$MNT/dev" "$MNT/proc" "$MNT"; do
		mountpoint -q "$m" && { umount "$m" || umount -l "$m"; }
	done
}
cleanup() {
	[ -n "${WORK:-}" ] && e2e_cleanup
	unmount_all
	rm -rf "$IMG"
}
trap cleanup EXIT

for tool in umoci skopeo debootstrap unshare chroot curl kcat python3; do
	command -v "$tool" >/dev/null ||
		{ check "$tool is installed (scripts/install-deps.sh)" yes no; finish; exit; }
done

# Build, or reuse the build of this very commit.
revision=$(git -C "$E2E_ROOT" rev-parse HEAD)
[ -z "$(git -C "$E2E_ROOT" status --porcelain -- shipper deploy/image)" ] || revision=dirty
if [ "$revision" != dirty ] && [ -f "$ARCHIVE" ] &&
	grep -qx "revision $revision" "$BUILD_DIR/build-info.txt" 2>/dev/null; then
	echo "# reusing $ARCHIVE, built from $revision"
else
	start=$SECONDS
	"$E2E_ROOT/deploy/image/build.sh" "$BUILD_DIR" >"$IMG/build.log" 2>&1
	status=$?
	sed 's/^/# /' "$IMG/build.log" | tail -n 20
	check "deploy/image/build.sh builds the image ($((SECONDS - start)) s)" 0 "$status"
	[ "$status" = 0 ] || { finish; exit; }
	# Same inputs (commit, cached root filesystem), same image.
	"$E2E_ROOT/deploy/image/build.sh" "$IMG/rebuild" >"$IMG/rebuild.log" 2>&1
	check "a second build has the same digest" "$(grep '^digest ' "$BUILD_DIR/build-info.txt")" \
		"$(grep '^digest ' "$IMG/rebuild/build-info.txt" 2>/dev/null)"
fi
check "build-info records the archive's digest" \
	"digest $(skopeo inspect --format '{{.Digest}}' "oci-archive:$ARCHIVE")" \
	"$(grep '^digest ' "$BUILD_DIR/build-info.txt")"
check "packages.txt lists the runtime libraries" "libmicrohttpd12 libpq5 librdkafka1" \
	"$(cut -f1 "$BUILD_DIR/packages.txt" | grep -xE 'libpq5|librdkafka1|libmicrohttpd12' | sort | paste -sd' ')"

# An OCI archive is a tar of an OCI layout; umoci checks every digest as it
# unpacks.
mkdir "$IMG/layout"
tar -C "$IMG/layout" -xf "$ARCHIVE"
ref=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])' "$IMG/layout/index.json")
check "the archive names the image" "outbox-shipper:$VERSION" "$ref"
umoci unpack --image "$IMG/layout:$ref" "$IMG/bundle" >"$IMG/unpack.log" 2>&1
check "umoci unpacks and verifies the archive" 0 $?
ROOTFS=$IMG/bundle/rootfs

# The image config, straight from the blobs.
python3 - "$IMG/layout" "$ref" >"$IMG/config.txt" <<'PY'
import json, os, sys
layout, ref = sys.argv[1:]
def blob(digest):
    algo, hexa = digest.split(":")
    return json.load(open(os.path.join(layout, "blobs", algo, hexa)))
index = json.load(open(os.path.join(layout, "index.json")))
desc = next(m for m in index["manifests"]
            if m["annotations"]["org.opencontainers.image.ref.name"] == ref)
manifest = blob(desc["digest"])
image = blob(manifest["config"]["digest"])
c = image["config"]
print("user", c.get("User", ""))
print("entrypoint", json.dumps(c.get("Entrypoint")))
print("cmd", json.dumps(c.get("Cmd")))
print("ports", " ".join(sorted(c.get("ExposedPorts", {}))))
print("listen", " ".join(e for e in c.get("Env", []) if e.startswith("OUTBOX_")))
print("stopsignal", c.get("StopSignal", ""))
labels = c.get("Labels", {})
for k in ("title", "version", "source", "licenses"):
    print("label", k, labels.get("org.opencontainers.image." + k, "MISSING"))
print("layers", len(manifest["layers"]), image["os"], image["architecture"])
PY
cfg() { sed -n "s/^$1 //p" "$IMG/config.txt"; }
check "config: user 10001:10001 (not root)" "10001:10001" "$(cfg user)"
check "config: entrypoint" '["/usr/local/bin/outbox-shipper"]' "$(cfg entrypoint)"
check "config: no cmd" null "$(cfg cmd)"
check "config: exposes the metrics port" 9187/tcp "$(cfg ports)"
check "config: listens on 0.0.0.0:9187" OUTBOX_HTTP_LISTEN=0.0.0.0:9187 "$(cfg listen)"
check "config: stop signal" SIGTERM "$(cfg stopsignal)"
check "config: OCI labels" \
	"title outbox-shipper|version $VERSION|source $(git -C "$E2E_ROOT" remote get-url origin 2>/dev/null || echo unknown)|licenses PostgreSQL" \
	"$(cfg label | paste -sd'|')"
check "one layer, linux/$(dpkg --print-architecture)" "1 linux $(dpkg --print-architecture)" "$(cfg layers)"
check "runtime bundle: process runs as 10001:10001" "10001 10001" \
	"$(python3 -c 'import json, sys; u = json.load(open(sys.argv[1]))["process"]["user"]; print(u["uid"], u["gid"])' "$IMG/bundle/config.json")"

# Only runtime files: no compiler, no headers, no docs.
tools=""
for t in gcc cc c++ cpp ld as make; do
	[ -e "$ROOTFS/usr/bin/$t" ] || [ -L "$ROOTFS/usr/bin/$t" ] && tools="$tools $t"
done
check "no compiler or build tools in the image" "" "$tools"
check "no headers (/usr/include/libpq-fe.h absent, /usr/include empty)" "absent 0" \
	"$([ -e "$ROOTFS/usr/include/libpq-fe.h" ] && echo present || echo absent) $(find "$ROOTFS/usr/include" -type f 2>/dev/null | wc -l)"
check "no man pages, apt lists or docs beyond copyright files" "0 0 0" \
	"$(find "$ROOTFS/usr/share/man" -type f 2>/dev/null | wc -l) $(find "$ROOTFS/var/lib/apt/lists" -type f 2>/dev/null | wc -l) $(find "$ROOTFS/usr/share/doc" -type f -not -name copyright | wc -l)"
check "user outbox: uid/gid 10001, no login shell, no home" \
	"outbox:x:10001:10001:/nonexistent:/usr/sbin/nologin" \
	"$(awk -F: '$1 == "outbox" { print $1":"$2":"$3":"$4":"$6":"$7 }' "$ROOTFS/etc/passwd")"
check "the binary belongs to root, not writable by the user" "0:0 755" \
	"$(stat -c '%u:%g %a' "$ROOTFS/usr/local/bin/outbox-shipper")"

# A read-only root with /proc and a minimal /dev, as a container runtime
# would give it.
mkdir -p "$MNT"
mount --bind "$ROOTFS" "$MNT" &&
	mount -o remount,bind,ro "$MNT" &&
	mount -t proc -o nosuid,nodev,noexec proc "$MNT/proc" &&
	mount -t tmpfs -o nosuid,noexec,mode=0755,size=64k tmpfs "$MNT/dev" &&
	mknod -m 666 "$MNT/dev/null" c 1 3 && mknod -m 666 "$MNT/dev/zero" c 1 5 &&
	mknod -m 666 "$MNT/dev/random" c 1 8 && mknod -m 666 "$MNT/dev/urandom" c 1 9
check "read-only root with /proc and /dev mounted" 0 $?
check "read-only root: not even root can write to it" 1 \
	"$(chroot "$MNT" /usr/bin/touch /probe 2>&1 | grep -c 'Read-only file system')"
in_image() { chroot --userspec=10001:10001 "$MNT" /usr/bin/env -i "$@"; }
check "in the image: runs as outbox" "uid=10001(outbox) gid=10001(outbox) groups=10001(outbox)" \
	"$(in_image /usr/bin/id)"
check "in the image: --version as 10001" "outbox-shipper $VERSION" \
	"$(in_image /usr/local/bin/outbox-shipper --version 2>&1)"
check "in the image: every library resolves" 0 \
	"$(in_image /usr/bin/ldd /usr/local/bin/outbox-shipper | grep -c 'not found')"

# A real run.  The password comes from PGPASSWORD, as the Deployment passes
# it from a Secret: a role that must authenticate with scram-sha-256.
e2e_setup
trap cleanup EXIT	# e2e_setup set its own; ours calls it
psql -qX -c "CREATE ROLE image_shipper LOGIN REPLICATION SUPERUSER PASSWORD 'from-a-secret'" >/dev/null
hba=$(psql -qXAt -c "SHOW hba_file")
sed -i '1i host all image_shipper 127.0.0.1/32 scram-sha-256\nhost replication image_shipper 127.0.0.1/32 scram-sha-256' "$hba"
psql -qX -c "SELECT pg_reload_conf()" >/dev/null
wait_for "pg_hba.conf to reload" 10 bash -c \
	"! PGPASSWORD= psql -qXAt -w -h 127.0.0.1 -p $PGPORT -U image_shipper -d postgres -c 'SELECT 1'"
check "the shipper's role needs its password" 1 \
	"$(PGPASSWORD= psql -qXAt -w -h 127.0.0.1 -p "$PGPORT" -U image_shipper -d postgres -c 'SELECT 1' 2>&1 | grep -c 'password')"

HTTP_PORT=$(free_port)
URL=http://127.0.0.1:$HTTP_PORT
# The image's environment plus what the ConfigMap and Secret would add;
# nothing from this shell (env -i): PostgreSQL's socket is outside the root.
# (Not through in_image: a backgrounded function would be a subshell, and
# its PID not the shipper's.)
chroot --userspec=10001:10001 "$MNT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	OUTBOX_DBNAME="host=127.0.0.1 port=$PGPORT user=image_shipper dbname=postgres" \
	PGPASSWORD=from-a-secret \
	OUTBOX_BROKERS="$BROKERS" \
	OUTBOX_HTTP_LISTEN="127.0.0.1:$HTTP_PORT" \
	OUTBOX_STATUS_INTERVAL=1 OUTBOX_DRAIN_TIMEOUT=30 OUTBOX_LOG_FORMAT=json \
	OUTBOX_CREATE_SLOT=true \
	/usr/local/bin/outbox-shipper >>"$WORK/shipper-image.log" 2>&1 &
echo $! >"$WORK/shipper-image.pid"
pid=$(shipper_pid shipper-image)
wait_for "the shipper in the image to stream" 60 grep -q 'streaming slot' "$WORK/shipper-image.log"
check "in the image: streams the slot" 0 $?
check "in the image: the process runs as uid 10001" 10001 "$(ps -o uid= -p "$pid" | tr -d ' ')"
check "in the image: its root is the read-only image" "$MNT" "$(readlink "/proc/$pid/root")"

psql -qX -c "SELECT outbox.publish(CASE WHEN i % 4 = 0 THEN 'customer' ELSE 'order' END, (i % 25)::text, 'created', jsonb_build_object('i', i), jsonb_build_object('traceparent', '00-' || md5(i::text) || '-' || substr(md5(i::text), 1, 16) || '-01')) FROM generate_series(1, 200) i" >/dev/null
target=$(current_lsn)
wait_for "the shipper in the image to confirm" 60 confirmed_reached "$target"
check "in the image: the slot confirmed all 200 events" 0 $?
dump_topics "$WORK/records.jsonl" outbox.event.order outbox.event.customer
check "in the image: 200 records in Kafka" 200 "$(wc -l <"$WORK/records.jsonl")"
check_verified "in the image: every event delivered once, exact keys, headers, values, order" \
	"$WORK/records.jsonl"
wait_for "/readyz to answer 200" 30 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 $URL/readyz)\" = 200 ]"
check "in the image: /readyz 200" "200 ready: streaming; Kafka reachable" \
	"$(curl -s -w '%{http_code} ' -o "$IMG/readyz" --max-time 5 "$URL/readyz")$(cat "$IMG/readyz")"
check "in the image: /healthz 200" 200 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/healthz")"
check "in the image: /metrics counts 150 order events" 150 \
	"$(curl -s --max-time 5 "$URL/metrics" | awk '$1 == "outbox_shipper_events_shipped_total{topic=\"outbox.event.order\"}" { print $2 }')"

kill -TERM "$pid"
wait_exit shipper-image 60
check "in the image: SIGTERM exits 0" 0 "$EXIT_STATUS"
check "in the image: every log line is JSON" 0 \
	"$(python3 -c '
import json, sys
bad = 0
for line in open(sys.argv[1]):
    try:
        json.loads(line)
    except ValueError:
        bad += 1
print(bad)' "$WORK/shipper-image.log")"

# The ConfigMap's settings as they are (SASL_SSL, SCRAM, JSON logs, no slot
# creation), with unreachable servers: accepted, in use, and a clean stop.
configmap_env() {	# KEY=value lines of deploy/kubernetes/configmap.yaml
	sed -nE 's/^  (OUTBOX_[A-Z_]+): "(.*)"$/\1=\2/p' "$E2E_ROOT/deploy/kubernetes/configmap.yaml"
}
mapfile -t settings < <(configmap_env | grep -vE '^OUTBOX_(DBNAME|BROKERS|HTTP_LISTEN)=')
check "the ConfigMap's settings read" \
	"OUTBOX_CREATE_SLOT OUTBOX_DRAIN_TIMEOUT OUTBOX_KAFKA_SASL_MECHANISM OUTBOX_KAFKA_SECURITY_PROTOCOL OUTBOX_LOG_FORMAT OUTBOX_SLOT OUTBOX_STALL_TIMEOUT" \
	"$(printf '%s\n' "${settings[@]}" | cut -d= -f1 | sort | paste -sd' ')"
chroot --userspec=10001:10001 "$MNT" /usr/bin/env -i "${settings[@]}" \
	OUTBOX_DBNAME="host=127.0.0.1 port=1 dbname=app user=outbox_shipper connect_timeout=2" \
	OUTBOX_BROKERS=127.0.0.1:1 OUTBOX_HTTP_LISTEN=127.0.0.1:0 \
	PGPASSWORD=pg-secret-value OUTBOX_KAFKA_SASL_USERNAME=shipper \
	OUTBOX_KAFKA_SASL_PASSWORD=kafka-secret-value \
	/usr/local/bin/outbox-shipper >>"$WORK/shipper-configmap.log" 2>&1 &
echo $! >"$WORK/shipper-configmap.pid"
wait_for "the shipper to try Kafka over SASL_SSL" 30 grep -q 'sasl_ssl://127.0.0.1:1' "$WORK/shipper-configmap.log"
check "ConfigMap settings: Kafka over SASL_SSL" 0 $?
check "ConfigMap settings: still running (no configuration error)" 0 \
	"$(kill -0 "$(shipper_pid shipper-configmap)" 2>/dev/null; echo $?)"
kill -TERM "$(shipper_pid shipper-configmap)"
wait_exit shipper-configmap 30
check "ConfigMap settings: SIGTERM exits 0" 0 "$EXIT_STATUS"
check "ConfigMap settings: the passwords are not logged" 0 \
	"$(grep -c 'secret-value' "$WORK/shipper-configmap.log")"
finish
