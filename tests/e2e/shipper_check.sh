#!/usr/bin/env bash
# `outbox-shipper check` against a real PostgreSQL and Kafka: each failure
# it claims to detect, caused for real, gives its exact line and exit
# status 2, and an all-green run exits 0.  pg_hba.conf is tested as it
# applies to the shipper's logical replication connections: like any
# connection to their database (see below).  The cases share servers: one
# PostgreSQL restart (wal_level, max_replication_slots, max_wal_senders
# need one), everything else by reload, new roles, databases and slots.
# Kafka runs with topic auto-creation off and the StandardAuthorizer with
# allow.everyone.if.no.acl.found, so one DENY ACL makes a topic refuse
# writes (the produce test's refusal is a real TOPIC_AUTHORIZATION_FAILED).
# 19 s measured here on a quiet 2-core machine, 52 to 72 s while other
# sessions loaded it; most of it Kafka's start, the JVMs that create topics
# and the ACL, and the timeouts the unreachable-Kafka, silent-server and
# open-transaction cases wait out (2 s each).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

export KAFKA_AUTO_CREATE_TOPICS=false
export KAFKA_EXTRA_CONFIG='authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=true'
e2e_setup "wal_level = replica" "max_replication_slots = 2" "max_wal_senders = 1"
started=$SECONDS

# run_check NAME [flags...]: the check with this cluster's conninfo and
# brokers (flags after them win), plain-ASCII marks; its output in
# WORK/NAME.out, its exit status in STATUS, its time in ELAPSED (seconds).
run_check() {
	local name=$1 t0
	shift
	t0=$(date +%s%N)
	"$SHIPPER" check -d "$CONNINFO" -b "$BROKERS" --ascii --timeout 5 "$@" \
		>"$WORK/$name.out" 2>"$WORK/$name.err"
	STATUS=$?
	ELAPSED=$((($(date +%s%N) - t0) / 1000000000))
	sed "s/^/# $name: /" "$WORK/$name.out"
}

# item NAME WHAT: the line of item WHAT in run NAME's output.  Every ASCII
# mark is 6 characters and a space, so WHAT starts at column 8.
item() {
	awk -v w="$2: " 'substr($0, 1, 1) == "[" && substr($0, 8, length(w)) == w { print; exit }' \
		"$WORK/$1.out"
}

# fix NAME WHAT: the fix line under item WHAT.
fix() {
	awk -v w="$2: " 'found { print; exit }
		substr($0, 1, 1) == "[" && substr($0, 8, length(w)) == w { found = 1 }' "$WORK/$1.out"
}

# reload_until SETTING VALUE: reloads, then waits until new sessions see it.
reload_until() {
	psql -qXAt -c "SELECT pg_reload_conf()" >/dev/null
	wait_for "$1 = $2" 30 test_setting "$1" "$2"
}
test_setting() { [ "$(psql -qXAt -c "SHOW $1")" = "$2" ]; }

# ---- 1. a server not ready: wal_level, no free slot, no free walsender,
# max_slot_wal_keep_size unset; Kafka unreachable.
psql -qX -c "SELECT pg_create_physical_replication_slot('held1')" \
	-c "SELECT pg_create_physical_replication_slot('held2')" >/dev/null
# The one walsender, held by a replication connection that sleeps.
psql -qX "$CONNINFO replication=database" -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
holder=$!
wait_for "the walsender to be held" 30 test "$(psql -qXAt -c \
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'")" = 1
DEAD=127.0.0.1:$(free_port)
run_check unready -b "$DEAD" --timeout 2
check "not ready: exit status 2" 2 "$STATUS"
check "wal_level replica fails" \
	"[FAIL] wal_level: replica: logical decoding needs logical" "$(item unready wal_level)"
check "... with the fix" \
	"    fix: Set wal_level = logical in postgresql.conf (or ALTER SYSTEM SET wal_level = logical) and restart PostgreSQL." \
	"$(fix unready wal_level)"
check "no free slot for a missing slot fails" \
	"[FAIL] max_replication_slots: 2 of 2 in use: no room for the shipper's slot" \
	"$(item unready max_replication_slots)"
check "no free walsender fails" \
	"[FAIL] max_wal_senders: 1 of 1 in use: no room for the shipper's replication connection" \
	"$(item unready max_wal_senders)"
check "the replication connection is refused for want of a walsender" 1 \
	"$(item unready 'replication connection' | grep -c '^\[FAIL\] .*number of requested standby connections exceeds max_wal_senders (currently 1)$')"
check "the plugin is not tried without a replication connection" \
	"[skip] output plugin outbox_pg: not checked: no replication connection" \
	"$(item unready 'output plugin outbox_pg')"
check "a missing slot fails" "[FAIL] slot: \"outbox_pg\" does not exist" "$(item unready slot)"
check "max_slot_wal_keep_size -1 warns, explaining the risk" \
	"[warn] max_slot_wal_keep_size: -1 (unlimited): while the shipper is stopped or Kafka down, the slot retains WAL until the disk is full, and a full disk stops the primary" \
	"$(item unready max_slot_wal_keep_size)"
check "an unreachable Kafka fails" 1 \
	"$(item unready Kafka | grep -c "^\[FAIL\] Kafka: no metadata from $DEAD within 2 s (_[A-Z_]*): .*Connection refused")"
check "... and its topics are not checked" "[skip] topics: not checked: Kafka did not answer" \
	"$(item unready topics)"
check "the summary counts it" "not ready: 4 passed, 1 warning, 6 failed, 2 skipped" \
	"$(tail -n 1 "$WORK/unready.out")"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

# A black hole: a listener that accepts connections and never answers.
python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
print(s.getsockname()[1], flush=True); time.sleep(120)' >"$WORK/hole.port" &
hole=$!
wait_for "the silent listener" 30 test -s "$WORK/hole.port"
HOLE=127.0.0.1:$(cat "$WORK/hole.port")
run_check hole -d "host=127.0.0.1 port=${HOLE#*:} user=postgres" -b "$HOLE" --timeout 2
kill "$hole"
check "a silent server: exit status 2" 2 "$STATUS"
check "a silent PostgreSQL is given up after the timeout" \
	"[FAIL] PostgreSQL connection: no answer from 127.0.0.1:${HOLE#*:} within 2 s" \
	"$(item hole 'PostgreSQL connection')"
check "a silent Kafka is given up after the timeout" 1 \
	"$(item hole Kafka | grep -c "^\[FAIL\] Kafka: no metadata from $HOLE within 2 s")"
check "the whole check took at most 2 timeouts and a second" true \
	"$([ "$ELAPSED" -le 5 ] && echo true || echo "false ($ELAPSED s)")"

# ---- 2. the server made ready (one restart), then broken one way at a time.
psql -qX -c "SELECT pg_drop_replication_slot('held1')" -c "SELECT pg_drop_replication_slot('held2')" \
	-c "ALTER SYSTEM SET wal_level = logical" -c "ALTER SYSTEM SET max_replication_slots = 20" \
	-c "ALTER SYSTEM SET max_wal_senders = 20" >/dev/null
"$PG_SH" stop "$WORK/pg" && "$PG_SH" restart "$WORK/pg" >/dev/null
psql -qX -c "SELECT pg_create_logical_replication_slot('outbox_pg', 'outbox_pg')" \
	-c "SELECT pg_create_logical_replication_slot('decoding', 'test_decoding')" \
	-c "CREATE DATABASE noext" -c "CREATE ROLE norepl LOGIN" \
	-c "CREATE ROLE hbauser LOGIN REPLICATION" >/dev/null
"$KAFKA_SH" create-topic "$WORK/kafka" ok 3
"$KAFKA_SH" create-topic "$WORK/kafka" misr 1 min.insync.replicas=2
"$KAFKA_SH" create-topic "$WORK/kafka" denied 1
timeout 120 java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
	-Dlog4j.configuration="file:$E2E_ROOT/tests/helpers/kafka/tools-log4j.properties" \
	-cp "$("$KAFKA_SH" classpath)" kafka.admin.AclCommand --bootstrap-server "$BROKERS" \
	--add --deny-principal User:ANONYMOUS --operation Write --topic denied >"$WORK/acl.log" 2>&1
check "a DENY ACL on topic denied" 0 $?

# Ready but for max_slot_wal_keep_size: a warning, so exit status 0.
run_check warned --topic ok
check "only a warning: exit status 0" 0 "$STATUS"
check "... the warning" 1 "$(grep -c '^\[warn\] max_slot_wal_keep_size: -1 (unlimited)' "$WORK/warned.out")"
check "... and no failure" 0 "$(grep -c '^\[FAIL\]' "$WORK/warned.out")"
check "the plugin loads in a temporary slot" \
	"[ok]   output plugin outbox_pg: loads: a temporary slot with it was created and dropped" \
	"$(item warned 'output plugin outbox_pg')"
check "... which is gone" 0 "$(psql -qXAt -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'outbox_check_%'")"
check "the slot passes" "[ok]   slot: \"outbox_pg\": outbox_pg, not in use, wal_status reserved" \
	"$(item warned slot)"
check "the topic passes" "[ok]   topic ok: 3 partitions, 1 replica, min.insync.replicas 1" \
	"$(item warned 'topic ok')"

# A transaction left open: creating a slot waits for it to end.  The
# check warns after --timeout and cancels the creation, so the walsender
# lets go of its temporary slot at once, not when that transaction ends.
PGAPPNAME=open_xact psql -qX -c "BEGIN" -c "SELECT txid_current()" -c "SELECT pg_sleep(600)" \
	>/dev/null 2>&1 &
open_xact=$!
xact_open() {
	[ "$(psql -qXAt -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'open_xact' AND backend_xid IS NOT NULL")" = 1 ]
}
wait_for "the transaction to be open" 30 xact_open
run_check slow --timeout 2 --topic ok
check "a slot creation that waits: exit status 0 (a warning)" 0 "$STATUS"
check "... the warning" "[warn] output plugin outbox_pg: no answer within 2 s" \
	"$(item slow 'output plugin outbox_pg')"
no_check_slot() {
	[ "$(psql -qXAt -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'outbox_check_%'")" = 0 ]
}
check "... and the temporary slot is gone while the transaction is still open" "0 t" \
	"$(wait_for "the temporary slot to go" 10 no_check_slot >/dev/null; echo $? "$(xact_open && echo t)")"
psql -qXAt -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'open_xact'" >/dev/null
wait "$open_xact" 2>/dev/null

# output_plugin_libraries is Debian's: refused where the build has it,
# "not a setting" (allowed) where it does not.
if [ -n "$(psql -qXAt -c "SELECT current_setting('output_plugin_libraries', true)")" ]; then
	psql -qX -c "ALTER SYSTEM SET output_plugin_libraries = 'pgoutput'" >/dev/null
	reload_until output_plugin_libraries pgoutput
	run_check refused
	check "a plugin output_plugin_libraries lacks: exit status 2" 2 "$STATUS"
	check "... the setting fails" \
		"[FAIL] output_plugin_libraries: 'pgoutput' lacks outbox_pg: the server refuses the plugin to every role, superusers too" \
		"$(item refused output_plugin_libraries)"
	check "... with the fix" \
		"    fix: Add it in postgresql.conf, e.g. output_plugin_libraries = 'pgoutput, outbox_pg', and reload (SELECT pg_reload_conf())." \
		"$(fix refused output_plugin_libraries)"
	check "... and the server refuses the plugin" \
		"[FAIL] output plugin outbox_pg: library \"outbox_pg\" may not be used as an output plugin" \
		"$(item refused 'output plugin outbox_pg')"
	psql -qX -c "ALTER SYSTEM RESET output_plugin_libraries" >/dev/null
	reload_until output_plugin_libraries "pgoutput, test_decoding, outbox_pg"
else
	check "a server without output_plugin_libraries allows every plugin" \
		"[ok]   output_plugin_libraries: not a setting of this server: every installed plugin may be used" \
		"$(item warned output_plugin_libraries)"
fi

# Another database: no extension there, and the slot is not of it.
run_check noext -d "$CONNINFO dbname=noext"
check "a database without the extension: exit status 2" 2 "$STATUS"
check "the missing extension fails" \
	"[FAIL] extension outbox_pg: not created in database \"noext\" (version $(psql -qXAt -c "SELECT extversion FROM pg_extension WHERE extname = 'outbox_pg'") is available)" \
	"$(item noext 'extension outbox_pg')"
check "the slot of another database fails" \
	"[FAIL] slot: \"outbox_pg\" belongs to database \"postgres\", not \"noext\" (a slot decodes only its own database)" \
	"$(item noext slot)"

# A role without REPLICATION, refused by the server too.
run_check norepl -d "$CONNINFO user=norepl"
check "a role without REPLICATION: exit status 2" 2 "$STATUS"
check "the attribute fails" \
	"[FAIL] REPLICATION attribute: role \"norepl\" lacks it: the server refuses it a replication connection" \
	"$(item norepl 'REPLICATION attribute')"
check "... and the server refuses its replication connection" 1 \
	"$(item norepl 'replication connection' | grep -Ec '^\[FAIL\] .*(must be superuser or replication role to start walsender|permission denied to start WAL sender)')"
check "... with the fix" "    fix: As a superuser: ALTER ROLE \"norepl\" REPLICATION;" \
	"$(fix norepl 'replication connection')"

# pg_hba.conf.  The shipper's connections are logical replication ones
# (replication=database), which pg_hba.conf matches like any connection to
# their database: a "replication" line (physical replication) neither lets
# them in nor keeps them out.  So a line rejecting "replication" for the
# role changes nothing, and one rejecting the role's database refuses both.
hba=$WORK/pg/data/pg_hba.conf
cp "$hba" "$WORK/pg_hba.orig"
hba_lines() {	# hba_lines DATABASE: reject hbauser there, above every other line
	{ printf 'local %s hbauser reject\nhost %s hbauser 127.0.0.1/32 reject\n' "$1" "$1"
		cat "$WORK/pg_hba.orig"; } >"$hba.new"
	cat "$hba.new" >"$hba"
	psql -qXAt -c "SELECT pg_reload_conf()" >/dev/null
}
hba_lines replication
hba_refuses() { ! psql -qX "$CONNINFO user=hbauser" -c "SELECT 1" >/dev/null 2>&1; }
# The postmaster rereads the file on its own time: wait for a line that
# does take effect, then put the "replication" one back.
hba_lines all
wait_for "pg_hba.conf to refuse hbauser" 30 hba_refuses
hba_lines replication
wait_for "pg_hba.conf to let hbauser in again" 30 psql -qX "$CONNINFO user=hbauser" -c "SELECT 1"
run_check hbarepl -d "$CONNINFO user=hbauser"
check "a \"replication\" reject line leaves the shipper's connection alone" \
	"[ok]   replication connection: replication=database accepted for role \"hbauser\"" \
	"$(item hbarepl 'replication connection')"
hba_lines all
wait_for "pg_hba.conf to refuse hbauser" 30 hba_refuses
run_check hba -d "$CONNINFO user=hbauser"
check "pg_hba.conf refusing the role: exit status 2" 2 "$STATUS"
check "... the connection fails, naming pg_hba.conf" 1 \
	"$(item hba 'PostgreSQL connection' | grep -c '^\[FAIL\] PostgreSQL connection: .*pg_hba.conf rejects connection for host "\[local\]", user "hbauser", database "postgres"')"
check "... with the fix" 1 "$(fix hba 'PostgreSQL connection' | grep -c '^    fix: Let role "hbauser" connect to the database in pg_hba.conf')"
check "... and the replication connection is not tried" \
	"[skip] replication connection: not checked: no connection to PostgreSQL" \
	"$(item hba 'replication connection')"
cat "$WORK/pg_hba.orig" >"$hba"
psql -qXAt -c "SELECT pg_reload_conf()" >/dev/null

# A slot of another plugin.
run_check plugin --slot decoding
check "a slot of another plugin: exit status 2" 2 "$STATUS"
check "... fails" "[FAIL] slot: \"decoding\" uses plugin test_decoding, not outbox_pg" "$(item plugin slot)"

# The slot in use by another consumer.
pg_recvlogical -d "$CONNINFO" --slot outbox_pg --start -f /dev/null 2>"$WORK/recvlogical.log" &
recvlogical=$!
wait_for "pg_recvlogical to hold the slot" 30 slot_is_active t
pid=$(psql -qXAt -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'outbox_pg'")
run_check busy
check "a slot in use: exit status 2" 2 "$STATUS"
check "... fails, naming its holder" \
	"[FAIL] slot: \"outbox_pg\" is in use by PID $pid (application_name \"pg_recvlogical\"): the shipper would wait for it as a hot standby" \
	"$(item busy slot)"
kill "$recvlogical"
wait "$recvlogical" 2>/dev/null
wait_for "the slot to be free" 30 slot_is_active f

# Kafka: a missing topic, min.insync.replicas above the replicas, a refused write.
run_check topics --topic nosuch --topic misr --produce-test denied
check "Kafka refusals: exit status 2" 2 "$STATUS"
check "a missing topic fails" "[FAIL] topic nosuch: does not exist" "$(item topics 'topic nosuch')"
check "min.insync.replicas above the replicas fails" \
	"[FAIL] topic misr: min.insync.replicas 2 is more than its 1 replica: every acks=all write is refused (NOT_ENOUGH_REPLICAS) and retried for ever" \
	"$(item topics 'topic misr')"
check "a refused write fails" \
	"[FAIL] produce to denied: TOPIC_AUTHORIZATION_FAILED: Broker: Topic authorization failed" \
	"$(item topics 'produce to denied')"

# ---- 3. all green, configured by the daemon's variables, UTF-8 marks.
psql -qX -c "ALTER SYSTEM SET max_slot_wal_keep_size = '1GB'" >/dev/null
reload_until max_slot_wal_keep_size 1GB
OUTBOX_DBNAME=$CONNINFO OUTBOX_BROKERS=$BROKERS OUTBOX_DEAD_LETTER_TOPIC=ok LC_ALL=C.UTF-8 \
	"$SHIPPER" check --produce-test ok >"$WORK/green.out" 2>"$WORK/green.err"
check "all green: exit status 0" 0 $?
sed 's/^/# green: /' "$WORK/green.out"
check "every item passes, with a check mark" "14 14" \
	"$(grep -c '^✓ ' "$WORK/green.out") $(($(wc -l <"$WORK/green.out") - 1))"
check "... the summary says so" "ready: the shipper can start: 14 passed, 0 warnings, 0 failed, 0 skipped" \
	"$(tail -n 1 "$WORK/green.out")"
check "... nothing on stderr" "" "$(cat "$WORK/green.err")"
check "the test record is in the topic, marked" "outbox_check=true" \
	"$(timeout 30 kcat -C -b "$BROKERS" -t ok -e -q -o beginning -f '%h\n' 2>/dev/null | paste -sd' ')"
LC_ALL=C "$SHIPPER" check -d "$CONNINFO" -b "$BROKERS" --topic ok >"$WORK/ascii.out" 2>&1
check "a locale that is not UTF-8 gets plain ASCII marks" "0 1" \
	"$(grep -c '✓' "$WORK/ascii.out") $(grep -c '^\[ok\]   topic ok: ' "$WORK/ascii.out")"

# ---- 4. configuration errors: the daemon's, exit status 1.
"$SHIPPER" check -d "$CONNINFO" >"$WORK/usage.out" 2>&1
check "no brokers: exit status 1" 1 $?
check "... the daemon's message" \
	"outbox-shipper check: no Kafka brokers: give --brokers (OUTBOX_BROKERS) or -X bootstrap.servers=..." \
	"$(cat "$WORK/usage.out")"
"$SHIPPER" check -b "$BROKERS" --timeout 0 >"$WORK/usage.out" 2>&1
check "a bad --timeout: exit status 1" "1 outbox-shipper check: --timeout must be a number of seconds from 1 to 600, not \"0\"" \
	"$? $(cat "$WORK/usage.out")"
"$SHIPPER" check -d "$CONNINFO" -b "$BROKERS" -X no.such.property=1 >"$WORK/usage.out" 2>&1
check "a bad librdkafka property: exit status 1, before any item" \
	"1 outbox-shipper check: invalid Kafka property no.such.property (-X): No such configuration property: \"no.such.property\"" \
	"$? $(cat "$WORK/usage.out")"
"$SHIPPER" check -d "$CONNINFO no_such_option=1" -b "$BROKERS" >"$WORK/usage.out" 2>&1
check "a bad connection string: exit status 1, before any item" \
	"1 outbox-shipper check: invalid connection string: invalid connection option \"no_such_option\"" \
	"$? $(cat "$WORK/usage.out")"
echo "# $((SECONDS - started)) s after the servers started"
finish
