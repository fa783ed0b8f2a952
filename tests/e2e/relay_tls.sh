#!/usr/bin/env bash
# Transport security, for real: PostgreSQL with ssl=on and hostssl-only
# scram-sha-256 (and client-certificate auth), Kafka with a SASL_SSL
# listener and SCRAM-SHA-512 users made with Kafka's own tools, the shipper
# verifying both servers' certificates (sslmode=verify-full,
# ssl.endpoint.identification.algorithm=https) with secrets from files.
#
#   1. exact delivery over both TLS links, no secret in the log
#   2. rotation without a restart: a new Kafka SCRAM password (file updated,
#      broker restarted) and a new PostgreSQL password (walsender
#      terminated before the passfile is updated: refused, retried, then in)
#   3. each misconfiguration, watched for 20 s side by side: one clear line
#      and a bounded retry, never a log storm (wrong PostgreSQL password,
#      wrong SASL password, untrusted CA and mismatching name on both links,
#      plaintext against a TLS-only port on both links, an unreadable file)
#
# Runtime: 46-68 s on this 2-core machine (6 runs, one with the ASan build),
# most of it Kafka's start and restart and the 20 s observation window.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

WORK=$(mktemp -d /tmp/outbox_e2e.XXXXXX)
trap e2e_cleanup EXIT
CERTS=$WORK/certs
SECRETS=$WORK/secrets
mkdir -p "$SECRETS"
chmod 0700 "$SECRETS"
"$E2E_ROOT/tests/helpers/certs.sh" "$CERTS"

# ---- PostgreSQL: TLS only on TCP, scram-sha-256, or a client certificate
"$PG_SH" start "$WORK/pg" >/dev/null
"$PG_SH" tls "$WORK/pg" "$CERTS" \
	"hostssl all shipper_cert 127.0.0.1/32 cert" \
	"hostssl replication shipper_cert 127.0.0.1/32 cert" \
	"hostssl all all 127.0.0.1/32 scram-sha-256" \
	"hostssl replication all 127.0.0.1/32 scram-sha-256"
eval "$("$PG_SH" env "$WORK/pg")"
export PGDATABASE=postgres
# Test tooling (psql, verify.py, lib.sh) uses the private socket.
CONNINFO="host=$PGHOST port=$PGPORT user=postgres dbname=postgres"
psql -qX -c "CREATE EXTENSION outbox_pg" >/dev/null
psql -qX >/dev/null <<'SQL'
CREATE ROLE shipper LOGIN REPLICATION PASSWORD 'pg-password-1';
CREATE ROLE shipper_cert LOGIN REPLICATION;
SQL
check "the role's password is stored as SCRAM" t \
	"$(psql -qXAt -c "SELECT rolpassword LIKE 'SCRAM-SHA-256\$%' FROM pg_authid WHERE rolname = 'shipper'")"
PG_TLS="port=$PGPORT dbname=postgres sslmode=verify-full sslrootcert=$CERTS/ca.crt"

# ---- Kafka: SASL_SSL (SCRAM-SHA-512) on two listeners, one presenting a
# certificate for another name; PLAINTEXT stays for the controller link
# and the test's tools.
SASL_PORT=$(free_port)
WRONG_PORT=$(free_port)
listener_config() {	# listener_config NAME KEYSTORE
	cat <<-EOF
	listener.name.$1.ssl.keystore.type=PEM
	listener.name.$1.ssl.keystore.location=$2
	listener.name.$1.sasl.enabled.mechanisms=SCRAM-SHA-512
	listener.name.$1.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
	EOF
}
BROKERS=$(KAFKA_EXTRA_LISTENERS="SASL_SSL://127.0.0.1:$SASL_PORT,WRONGNAME://127.0.0.1:$WRONG_PORT" \
	KAFKA_EXTRA_PROTOCOL_MAP="SASL_SSL:SASL_SSL,WRONGNAME:SASL_SSL" \
	KAFKA_EXTRA_CONFIG="sasl.enabled.mechanisms=SCRAM-SHA-512
$(listener_config sasl_ssl "$CERTS/server-chain.pem")
$(listener_config wrongname "$CERTS/wrong-name-chain.pem")" \
	"$KAFKA_SH" start "$WORK/kafka")
TLS_BROKERS=127.0.0.1:$SASL_PORT

# scram_password USER PASSWORD: Kafka's own kafka-configs (ConfigCommand),
# over the PLAINTEXT listener.
scram_password() {
	timeout 120 java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
		-Dlog4j.configuration="file:$E2E_ROOT/tests/helpers/kafka/tools-log4j.properties" \
		-cp "$("$KAFKA_SH" classpath)" kafka.admin.ConfigCommand --bootstrap-server "$BROKERS" \
		--alter --entity-type users --entity-name "$1" \
		--add-config "SCRAM-SHA-512=[password=$2]" >>"$WORK/kafka-configs.log" 2>&1
}
scram_password shipper kafka-password-1
check "SCRAM-SHA-512 user created with kafka-configs" 0 $?

# write_secret FILE VALUE: as a kubelet updates a secret volume: the new
# file replaces the old one at once.
write_secret() {
	printf '%s\n' "$2" >"$1.new"
	chmod 0600 "$1.new"
	mv -f "$1.new" "$1"
}
write_secret "$SECRETS/kafka-password" kafka-password-1
write_secret "$SECRETS/pgpass" "*:*:*:shipper:pg-password-1"

KAFKA_TLS=(-X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512
	-X sasl.username=shipper -X "ssl.ca.location=$CERTS/ca.crt"
	-X ssl.endpoint.identification.algorithm=https)

slot_ready() {	# slot_ready SLOT: created, and decoding what commits now
	[ "$(psql -qXAt -c "SELECT count(*) FROM pg_replication_slots
		WHERE slot_name = '$1' AND confirmed_flush_lsn IS NOT NULL")" = 1 ]
}

# run_shipper NAME SLOT ARGS...: a shipper in the background creating and
# streaming its own slot; environment assignments go before the call.
run_shipper() {
	local name=$1 slot=$2
	shift 2
	"$SHIPPER" --slot "$slot" --create-slot --status-interval 1 --drain-timeout 5 "$@" \
		>>"$WORK/$name.log" 2>&1 &
	echo $! >"$WORK/$name.pid"
}

write_events() {	# write_events CLIENTS TRANSACTIONS: 1 or 2 events each
	pgbench -n -c "$1" -j 2 -t "$2" -f "$WORK/writer.sql" >>"$WORK/pgbench.log" 2>&1
}
cat >"$WORK/writer.sql" <<'SQL'
\set agg random(1, 150)
\set n random(1, 2)
SELECT outbox.publish('order', :agg::text, 'step',
	jsonb_build_object('client', :client_id, 'r', random()),
	jsonb_build_object('traceparent', '00-' || md5(random()::text) || '-01'))
FROM generate_series(1, :n);
SQL

# ---- 1. delivery over both TLS links, secrets from files
OUTBOX_KAFKA_SASL_PASSWORD_FILE=$SECRETS/kafka-password run_shipper shipper outbox_pg -v \
	-d "host=localhost $PG_TLS user=shipper passfile=$SECRETS/pgpass" -b "$TLS_BROKERS" \
	"${KAFKA_TLS[@]}"
wait_for "the shipper's slot" 60 slot_ready outbox_pg
write_events 4 300
check "writers finished" 0 $?
target=$(current_lsn)
wait_for "the slot to confirm every event" 90 confirmed_reached "$target"
check "every event confirmed over TLS" 0 $?
check "the walsender's connection is TLS, as role shipper" "t shipper" \
	"$(psql -qXAt -F' ' -c "SELECT s.ssl, r.usename FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)
		WHERE r.usename = 'shipper'")"
dump_topics "$WORK/records.jsonl" outbox.event.order
check_verified "over TLS: every event once, exact keys, headers, values, per-aggregate order" \
	"$WORK/records.jsonl"

# ---- 2a. Kafka password rotation: the secret file first (what the kubelet
# does), then the broker's credential; the broker restarts, so every
# connection authenticates again.  The shipper keeps running.
write_secret "$SECRETS/kafka-password" kafka-password-2
scram_password shipper kafka-password-2
check "SCRAM password rotated with kafka-configs" 0 $?
"$KAFKA_SH" restart "$WORK/kafka" >/dev/null
write_events 2 50
target=$(current_lsn)
wait_for "deliveries to resume with the rotated Kafka password" 90 confirmed_reached "$target"
check "deliveries resume after the Kafka password rotation, same process" 0 $?
check "the shipper said once that it took the new Kafka password from the file" 1 \
	"$(grep -c "Kafka refused the SASL credentials and $SECRETS/kafka-password changed: the new ones are used from the next connection" "$WORK/shipper.log")"

# ---- 2b. PostgreSQL password rotation, in the order that races: the new
# password on the server, the walsender terminated, and only then the new
# passfile (the kubelet updates a secret volume when it gets to it).  The
# refused credentials are retried, not fatal, once the shipper has streamed;
# it reconnects with what the file says now.
old_pid=$(psql -qXAt -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'outbox_pg'")
psql -qX -c "ALTER ROLE shipper PASSWORD 'pg-password-2'" >/dev/null
psql -qXAt -c "SELECT pg_terminate_backend($old_pid)" >/dev/null
wait_for "the shipper to be refused the old password" 30 \
	grep -q 'password authentication failed for user "shipper".*retrying in' "$WORK/shipper.log"
check "refused credentials after streaming: retried, the process keeps running" 0 \
	"$(kill -0 "$(shipper_pid shipper)" 2>/dev/null; echo $?)"
write_secret "$SECRETS/pgpass" "*:*:*:shipper:pg-password-2"
new_walsender() {
	local pid
	pid=$(psql -qXAt -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'outbox_pg'")
	[ -n "$pid" ] && [ "$pid" != "$old_pid" ]
}
wait_for "the shipper to reconnect with the new PostgreSQL password" 60 new_walsender
check "reconnected with the rotated PostgreSQL password, same process" 0 $?
write_events 2 50
target=$(current_lsn)
wait_for "the slot to confirm after the PostgreSQL rotation" 60 confirmed_reached "$target"
check "deliveries resume after the PostgreSQL password rotation" 0 $?
kill -TERM "$(shipper_pid shipper)"
wait_exit shipper 60
check "SIGTERM exits 0 after both rotations" 0 "$EXIT_STATUS"
dump_topics "$WORK/records.jsonl" outbox.event.order
check_verified "after both rotations: every event once, exact, in order" "$WORK/records.jsonl"
check "no secret in the shipper's log (verbose)" 0 \
	"$(grep -cE 'kafka-password-[12]|pg-password-[12]' "$WORK/shipper.log")"

# ---- 3. misconfigurations, side by side for 20 s each, and a
# client-certificate shipper that works meanwhile.  Kafka cases stream
# their own slot (PostgreSQL is fine for them) and must confirm nothing.
OK_PG="host=127.0.0.1 $PG_TLS user=shipper passfile=$SECRETS/pgpass"
OK_KAFKA=(-b "$TLS_BROKERS" "${KAFKA_TLS[@]}" --kafka-property-file "sasl.password=$SECRETS/kafka-password")
write_secret "$SECRETS/wrong-pgpass" "*:*:*:shipper:not-the-password"
run_shipper pg_password pg_password -d "host=127.0.0.1 $PG_TLS user=shipper passfile=$SECRETS/wrong-pgpass" "${OK_KAFKA[@]}"
run_shipper pg_untrusted pg_untrusted -d "host=127.0.0.1 $PG_TLS user=shipper passfile=$SECRETS/pgpass sslrootcert=$CERTS/other-ca.crt" "${OK_KAFKA[@]}"
run_shipper pg_name pg_name -d "host=db.invalid hostaddr=127.0.0.1 $PG_TLS user=shipper passfile=$SECRETS/pgpass" "${OK_KAFKA[@]}"
run_shipper pg_plain pg_plain -d "host=127.0.0.1 $PG_TLS user=shipper passfile=$SECRETS/pgpass sslmode=disable" "${OK_KAFKA[@]}"
run_shipper kafka_password kafka_password -d "$OK_PG" -b "$TLS_BROKERS" "${KAFKA_TLS[@]}" -X sasl.password=not-the-password
run_shipper kafka_untrusted kafka_untrusted -d "$OK_PG" -b "$TLS_BROKERS" "${KAFKA_TLS[@]}" \
	--kafka-property-file "sasl.password=$SECRETS/kafka-password" -X "ssl.ca.location=$CERTS/other-ca.crt"
run_shipper kafka_name kafka_name -d "$OK_PG" -b "127.0.0.1:$WRONG_PORT" "${KAFKA_TLS[@]}" \
	--kafka-property-file "sasl.password=$SECRETS/kafka-password"
run_shipper kafka_plain kafka_plain -d "$OK_PG" -b "$TLS_BROKERS" -X security.protocol=SASL_PLAINTEXT \
	-X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=shipper --kafka-property-file "sasl.password=$SECRETS/kafka-password"
# A password file its group may read, as a secret volume for a non-root
# user is: libpq ignores it (README, Transport security, Kubernetes).
write_secret "$SECRETS/group-pgpass" "*:*:*:shipper:pg-password-2"
chmod 0640 "$SECRETS/group-pgpass"
run_shipper pg_group_passfile pg_group_passfile -d "host=127.0.0.1 $PG_TLS user=shipper passfile=$SECRETS/group-pgpass" "${OK_KAFKA[@]}"
OUTBOX_KAFKA_SASL_PASSWORD_FILE=$SECRETS/missing run_shipper no_file no_file -d "$OK_PG" -b "$TLS_BROKERS" "${KAFKA_TLS[@]}"
run_shipper client_cert client_cert \
	-d "host=localhost $PG_TLS user=shipper_cert sslcert=$CERTS/client.crt sslkey=$CERTS/client.key" "${OK_KAFKA[@]}"
started=$SECONDS
for slot in kafka_password kafka_untrusted kafka_name kafka_plain client_cert; do
	wait_for "slot $slot" 60 slot_ready "$slot"
done
psql -qX -c "SELECT outbox.publish('order', 'during-faults', 'step', '{}')" >/dev/null
target=$(current_lsn)
wait_for "the client-certificate shipper to confirm" 60 confirmed_reached "$target" client_cert
check "client-certificate auth (hostssl ... cert): delivered and confirmed" 0 $?
check "its walsender: TLS with the client certificate's DN" "t /CN=shipper_cert" \
	"$(psql -qXAt -F' ' -c "SELECT s.ssl, s.client_dn FROM pg_replication_slots r JOIN pg_stat_ssl s ON s.pid = r.active_pid
		WHERE r.slot_name = 'client_cert'")"
sleep_left=$((started + 20 - SECONDS))
[ "$sleep_left" -le 0 ] || sleep "$sleep_left"	# the observation window itself
for name in pg_password pg_untrusted pg_name pg_plain pg_group_passfile kafka_password kafka_untrusted kafka_name kafka_plain no_file client_cert; do
	cp "$WORK/$name.log" "$WORK/$name.20s.log"	# what the 20 s said, before the drain's lines
	kill -TERM "$(shipper_pid "$name")" 2>/dev/null
done
for name in pg_password pg_untrusted pg_name pg_plain pg_group_passfile kafka_password kafka_untrusted kafka_name kafka_plain no_file client_cert; do
	wait_exit "$name" 60
	eval "status_$name=\$EXIT_STATUS"
done

# problems LOG: the log's warning and error lines about the link under
# test (LOG pg_*: PostgreSQL, else Kafka), time stamps cut.  (The other
# link is fine, but the broker restarted in part 2: a producer may warn
# once that its coordinator is still loading.)
problems() {
	local link=Kafka
	[[ $1 != pg_* ]] || link=PostgreSQL
	grep -E "^[^ ]+ (warning|error): .*$link" "$WORK/$1.20s.log" | sed -E 's/^[^ ]+ //'
}
count_matching() { problems "$1" | grep -cE "$2"; }
count_problems() { problems "$1" | grep -c .; }

# PostgreSQL refusing the credentials or the plaintext connection: one line,
# exit 1 at once (the supervisor restarts it with its own backoff).
check "wrong PostgreSQL password: exit 1" 1 "$status_pg_password"
check "wrong PostgreSQL password: one line, naming it" "1 1" \
	"$(count_problems pg_password) $(count_matching pg_password 'error: could not connect to PostgreSQL: .*FATAL: +password authentication failed for user "shipper"$')"
check "plaintext against PostgreSQL's TLS-only port: exit 1" 1 "$status_pg_plain"
check "plaintext against PostgreSQL's TLS-only port: one line, naming it" "1 1" \
	"$(count_problems pg_plain) $(count_matching pg_plain 'error: could not connect to PostgreSQL: .*no pg_hba.conf entry for host "127.0.0.1", user "shipper", database "postgres", no encryption')"
# A logical replication connection matches pg_hba.conf's database lines, and
# a "replication" line is for physical replication only: the hint says so.
check "refused by pg_hba.conf: the hint asks for a line for the database" 1 \
	"$(count_matching pg_plain 'no encryption HINT: Add a line for the shipper.s role and this database to pg_hba.conf and reload: a logical replication connection matches database lines, not "replication" ones\.$')"

# A certificate PostgreSQL presents that does not verify: retried with a
# doubling backoff (1, 2, 4, 8 s: at most 5 attempts in 20 s), one line
# each, every wait as long as the line announced.
backoff_honoured() {	# backoff_honoured LOG: every "retrying in X s" waited X s
	python3 - "$WORK/$1.20s.log" <<-'PY'
	import re, sys
	from datetime import datetime
	times, waits = [], []
	for line in open(sys.argv[1]):
	    m = re.match(r"(\S+) warning: could not connect to PostgreSQL: .*; retrying in ([0-9.]+) s$", line)
	    if m:
	        times.append(datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp())
	        waits.append(float(m.group(2)))
	ok = all(times[i + 1] - times[i] >= waits[i] - 0.01 for i in range(len(times) - 1))
	print("yes" if ok and len(times) >= 2 else "no: %s %s" % (times, waits))
	PY
}
check "untrusted CA (PostgreSQL): only 'certificate verify failed' lines, at most 5 in 20 s" t \
	"$(n=$(count_problems pg_untrusted); m=$(count_matching pg_untrusted 'warning: could not connect to PostgreSQL: connection to server at "127.0.0.1", port [0-9]+ failed: SSL error: certificate verify failed; retrying in [0-9.]+ s$');
		[ "$n" = "$m" ] && [ "$n" -ge 2 ] && [ "$n" -le 5 ] && echo t || echo "f ($n lines, $m matching)")"
check "untrusted CA (PostgreSQL): the backoff is honoured" yes "$(backoff_honoured pg_untrusted)"
check "mismatching name (PostgreSQL): only name-mismatch lines, at most 5 in 20 s" t \
	"$(n=$(count_problems pg_name); m=$(count_matching pg_name 'warning: could not connect to PostgreSQL: .*server certificate for "localhost" \(and 1 other name\) does not match host name "db.invalid"; retrying in [0-9.]+ s$');
		[ "$n" = "$m" ] && [ "$n" -ge 2 ] && [ "$n" -le 5 ] && echo t || echo "f ($n lines, $m matching)")"
check "mismatching name (PostgreSQL): the backoff is honoured" yes "$(backoff_honoured pg_name)"

# Kafka: librdkafka retries every connection (reconnect.backoff.max.ms,
# 10 s); the shipper says it once per 30 s, naming the cause.  (librdkafka
# reports a certificate that does not verify as _SSL or as _TRANSPORT.)
check "wrong SASL password (Kafka): exactly one line in 20 s, naming it" "1 1" \
	"$(count_problems kafka_password) $(count_matching kafka_password 'warning: Kafka: _AUTHENTICATION: sasl_ssl://127.0.0.1:[0-9]+/bootstrap: SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512')"
check "untrusted CA (Kafka): exactly one line in 20 s, naming it" "1 1" \
	"$(count_problems kafka_untrusted) $(count_matching kafka_untrusted 'warning: Kafka: _(SSL|TRANSPORT): sasl_ssl://127.0.0.1:[0-9]+/bootstrap: .*certificate verify failed')"
check "mismatching name (Kafka): exactly one line in 20 s, naming it" "1 1" \
	"$(count_problems kafka_name) $(count_matching kafka_name 'warning: Kafka: _(SSL|TRANSPORT): sasl_ssl://127.0.0.1:[0-9]+/bootstrap: .*certificate verify failed')"
check "plaintext against Kafka's SASL_SSL port: exactly one line in 20 s, naming it" "1 1" \
	"$(count_problems kafka_plain) $(count_matching kafka_plain 'warning: Kafka: _TRANSPORT: .*might be caused by incorrect security.protocol configuration \(connecting to a SSL listener\?\)')"
for name in kafka_password kafka_untrusted kafka_name kafka_plain; do
	check "$name: nothing confirmed, SIGTERM exits 2 (undelivered)" "f 2" \
		"$(psql -qXAt -c "SELECT coalesce(confirmed_flush_lsn >= '$target', false) FROM pg_replication_slots WHERE slot_name = '$name'") $(eval echo "\$status_$name")"
done
check "an unreadable secret file: exit 1, one line naming the path" "1 1" \
	"$status_no_file $(count_matching no_file "error: .*Kafka property sasl.password \(OUTBOX_KAFKA_SASL_PASSWORD_FILE\): could not read $SECRETS/missing: No such file or directory")"
check "a group-readable passfile: exit 1, one line naming it (not libpq's raw warning)" "1 1 0" \
	"$status_pg_group_passfile $(grep -c "password file \"$SECRETS/group-pgpass\" may be read by its group or others (mode 0640), so libpq ignores it HINT" "$WORK/pg_group_passfile.20s.log") $(grep -c "WARNING: password file" "$WORK/pg_group_passfile.20s.log")"
check "the client-certificate shipper exits 0" 0 "$status_client_cert"
finish
