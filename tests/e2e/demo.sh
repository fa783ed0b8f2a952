#!/usr/bin/env bash
# scripts/demo.sh, the README's first command, as a newcomer runs it (with
# the plugin and extension tests/run.sh installed: DEMO_INSTALL=0): it
# prints the three records with their headers and exits 0 having stopped
# everything.  And two ways it can fail, each of which must end with a
# "demo: ..." line saying why and exit 1 at once: the shipper's endpoint
# does not answer (before: a silent exit 1 from a pipeline under set -e),
# and the consumer dies (before: a 30 s wait).  Failures come from
# commands of the same name earlier in PATH that fail for the demo's call
# only.
# Runtime here: about 40 s (three runs, each starting PostgreSQL and Kafka).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

WORK=$(mktemp -d /tmp/outbox_e2e_demo.XXXXXX)
trap 'if [ "$failed" -gt 0 ]; then echo "# logs kept in $WORK"; else rm -rf "$WORK"; fi' EXIT
DEMO=$E2E_ROOT/scripts/demo.sh

# demo NAME [PATH_DIR]: runs the demo, output in WORK/NAME.out and
# WORK/NAME.err; prints its exit status.
demo() {
	local path=$PATH
	[ $# -lt 2 ] || path=$2:$PATH
	PATH=$path DEMO_INSTALL=0 timeout 300 "$DEMO" >"$WORK/$1.out" 2>"$WORK/$1.err"
	echo $?
}
# stub DIR COMMAND PATTERN STATUS MESSAGE: a COMMAND in DIR that, when its
# arguments match PATTERN, says MESSAGE on stderr and exits STATUS, and
# otherwise runs the real one.
stub() {
	mkdir -p "$1"
	cat >"$1/$2" <<-EOF
	#!/usr/bin/env bash
	case " \$* " in
	*$3*) echo "$5" >&2; exit $4 ;;
	esac
	exec $(command -v "$2") "\$@"
	EOF
	chmod +x "$1/$2"
}

# 1. The demo as it runs.
start=$SECONDS
check "the demo exits 0" 0 "$(demo ok)"
echo "# it took $((SECONDS - start)) s"
# The records, with ids and LSNs made generic.
records=$(grep -E '^   outbox\.event\.' "$WORK/ok.out" |
	sed -E -e 's/id=[0-9a-f-]{36}/id=UUID/' -e 's/outbox_commit_lsn=[0-9A-F]+\/[0-9A-F]+/outbox_commit_lsn=LSN/')
check "the demo prints the three records: key, partition, headers, value" \
	"   outbox.event.order | 1 | 42 | id=UUID,event_type=OrderCreated,aggregate_type=order,traceparent=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01,outbox_commit_lsn=LSN,outbox_seq=0 | {\"id\":42,\"total\":19.90}
   outbox.event.order | 1 | 42 | id=UUID,event_type=OrderLineAdded,aggregate_type=order,outbox_commit_lsn=LSN,outbox_seq=1 | {\"qty\":2,\"sku\":\"A-1\"}
   outbox.event.customer | 0 | c-7 | id=UUID,event_type=CustomerRegistered,aggregate_type=customer,outbox_commit_lsn=LSN,outbox_seq=0 | {\"name\":\"Ada\"}" \
	"$records"
check "the slot confirmed everything" 1 "$(grep -cE '^ outbox_pg +\| t +\| [0-9A-F]+/[0-9A-F]+ +\| +0 \| +0$' "$WORK/ok.out")"
check "the endpoints answer" 2 \
	"$(grep -cE '^   /readyz: ready: streaming; Kafka reachable$|^   /healthz: ok: ' "$WORK/ok.out")"
check "the shipper stops cleanly" 1 "$(grep -c '^   shipper exited 0$' "$WORK/ok.out")"
check "the demo ends saying so" "== done; everything stopped" "$(tail -n 1 "$WORK/ok.out")"
check "nothing on stderr" "" "$(cat "$WORK/ok.err")"

# 2. The shipper's endpoint does not answer.
stub "$WORK/nocurl" curl /metrics 7 "curl: (7) Failed to connect (stub)"
check "no endpoint: the demo exits 1" 1 "$(demo nocurl "$WORK/nocurl")"
check "no endpoint: it says why, last" 1 \
	"$(tail -n 1 "$WORK/nocurl.err" | grep -cE '^demo: could not read http://127\.0\.0\.1:[0-9]+/metrics \(curl above\)$')"
check "... after curl's own message" 1 "$(grep -c '^curl: (7) Failed to connect (stub)$' "$WORK/nocurl.err")"

# 3. The consumer dies.
stub "$WORK/nokcat" kcat outbox-demo 1 "kcat: broker down (stub)"
start=$SECONDS
check "no consumer: the demo exits 1" 1 "$(demo nokcat "$WORK/nokcat")"
check "no consumer: it says why, last" "demo: the consumer (kcat) exited (its log above)" \
	"$(tail -n 1 "$WORK/nokcat.err")"
check "... with the consumer's log" 1 "$(grep -c '^kcat: broker down (stub)$' "$WORK/nokcat.out")"
check "... at once, not after the 30 s wait for records" 1 "$((SECONDS - start < 25))"

finish
