#!/usr/bin/env bash
# The shipper's command line and its one-line errors: bad flags, a bad
# conninfo, a plugin the server does not allow, a role without REPLICATION,
# an invalid librdkafka property, a database that is not UTF8.  Each exits
# 1 and says what to do.  And JSON logs, server WARNINGs included.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
e2e_setup "output_plugin_libraries = 'pgoutput, test_decoding'"

run() {	# run NAME ARGS...: the shipper in the foreground, bounded
	timeout 60 "$SHIPPER" "$@" >"$WORK/$1.out" 2>&1
	echo $?
}
NAME=help; check "--help exits 0" 0 "$(timeout 10 "$SHIPPER" --help >"$WORK/help.out" 2>&1; echo $?)"
check "--help documents every flag" 1 "$(grep -c -- '--on-permanent-error=stop|dead-letter' "$WORK/help.out")"
check "--version" "outbox-shipper 0.1.0" "$(timeout 10 "$SHIPPER" --version)"

out=$(timeout 10 "$SHIPPER" --bogus 2>&1); status=$?
check "an unknown flag exits 1" 1 "$status"
check "an unknown flag is named" 'outbox-shipper: unknown argument "--bogus"; see --help' "$out"

out=$(timeout 10 "$SHIPPER" -b "$BROKERS" -d "host=x nonsense" 2>&1); status=$?
check "a bad conninfo exits 1" 1 "$status"
check "a bad conninfo is explained" 1 "$(echo "$out" | grep -c 'invalid connection string: missing "=" after "nonsense"')"

out=$(timeout 10 "$SHIPPER" -b "$BROKERS" -d "$CONNINFO" -X nosuch.property=1 2>&1); status=$?
check "an invalid librdkafka property exits 1" 1 "$status"
check "an invalid librdkafka property is named" 1 "$(echo "$out" | grep -c 'invalid Kafka property nosuch.property')"

# This cluster's output_plugin_libraries lacks outbox_pg: a replication
# role that is not a superuser may not use it.
psql -qX -c "CREATE ROLE shipper LOGIN REPLICATION" -c "CREATE ROLE app LOGIN"
out=$(timeout 60 "$SHIPPER" -b "$BROKERS" -d "host=$PGHOST port=$PGPORT user=shipper dbname=postgres" --create-slot 2>&1); status=$?
check "a plugin the server does not allow exits 1" 1 "$status"
check "... and says to add it to output_plugin_libraries" 1 \
	"$(echo "$out" | grep -c 'output_plugin_libraries')"

out=$(timeout 60 "$SHIPPER" -b "$BROKERS" -d "host=$PGHOST port=$PGPORT user=app dbname=postgres" 2>&1); status=$?
check "a role without REPLICATION exits 1" 1 "$status"
check "... with a hint" 1 "$(echo "$out" | grep -c 'needs the REPLICATION attribute')"

out=$(timeout 60 "$SHIPPER" -b "$BROKERS" -d "$CONNINFO" --no-create-slot -S nosuch 2>&1); status=$?
check "a missing slot with --no-create-slot exits 1" 1 "$status"
check "... naming the slot" 1 "$(echo "$out" | grep -c 'replication slot "nosuch" does not exist')"

# No secret in the logs, even in debug output.
OUTBOX_KAFKA_SASL_PASSWORD=hunter2 timeout 10 "$SHIPPER" -v -b "$BROKERS" -d "host=x nonsense" \
	-X ssl.key.password=hunter3 >"$WORK/secrets.out" 2>&1
check "secrets never reach the log" 0 "$(grep -c 'hunter' "$WORK/secrets.out")"

# A real run with JSON logs at debug level, a password in the conninfo and
# SASL credentials set: every line is a JSON object with time, level and
# message; the secrets appear nowhere.  (This cluster now allows outbox_pg.)
psql -qX -c "ALTER SYSTEM SET output_plugin_libraries = pgoutput, test_decoding, outbox_pg" -c "SELECT pg_reload_conf()" >/dev/null
# A database that is not UTF8: the plugin would write its events in that
# encoding, which is not JSON for Kafka consumers.  Refused before any slot
# is created, naming the database, its encoding and what to do.
for encoding in LATIN1 SQL_ASCII; do
	db=enc_$(echo "$encoding" | tr 'A-Z' 'a-z')
	psql -qX -c "CREATE DATABASE $db ENCODING '$encoding' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" >/dev/null
	out=$(timeout 30 "$SHIPPER" -b "$BROKERS" -d "host=$PGHOST port=$PGPORT user=postgres dbname=$db" -S "$db" --create-slot 2>&1); status=$?
	echo "$out" >"$WORK/$db.out"
	check "a $encoding database exits 1" 1 "$status"
	check "... naming the database, its encoding and what to do" 1 \
		"$(echo "$out" | grep -c "error: database \"$db\" on $PGHOST:$PGPORT/$db as postgres has encoding $encoding, not UTF8: .* HINT: Keep the outbox in a UTF8 database")"
	check "... before creating a slot" 0 "$(psql -qXAt -c "SELECT count(*) FROM pg_replication_slots WHERE database = '$db'")"
done

# A slot invalidated by max_slot_wal_keep_size: the shipper stops at once
# and says how to recover; outbox.slots shows it as lost.
psql -qX -c "SELECT pg_create_logical_replication_slot('lost', 'outbox_pg')" >/dev/null
psql -qX -c "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'" -c "SELECT pg_reload_conf()" >/dev/null
psql -qX -c "CREATE TABLE churn (x text)" >/dev/null
slot_lost() {
	psql -qX -c "INSERT INTO churn SELECT repeat('x', 1000) FROM generate_series(1, 5000)" \
		-c "SELECT pg_switch_wal()" -c "CHECKPOINT" >/dev/null
	[ "$(psql -qXAt -c "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'lost'")" = lost ]
}
wait_for "the slot to be invalidated" 60 slot_lost
check "outbox.slots: the lost slot, nothing to count" "lost " \
	"$(psql -qXAt -F ' ' -c "SELECT wal_status, pending_events FROM outbox.slots WHERE slot_name = 'lost'")"
out=$(timeout 60 "$SHIPPER" -b "$BROKERS" -d "$CONNINFO" -S lost 2>&1); status=$?; echo "$out" >"$WORK/lost.out"
check "an invalidated slot exits 1 (no endless retry)" 1 "$status"
check "... saying so and how to recover" 1 \
	"$(echo "$out" | grep -c 'cannot read from logical replication slot "lost".*DETAIL: This slot has been invalidated.*HINT: .*Drop and create the slot, then ship what it missed with outbox.replay(since => ...)')"
psql -qX -c "SELECT pg_drop_replication_slot('lost')" -c "ALTER SYSTEM RESET max_slot_wal_keep_size" \
	-c "SELECT pg_reload_conf()" >/dev/null

# A declared table whose mapped column is renamed: the plugin sends a
# WARNING over the replication connection, which must come out as a JSON
# line too (libpq would print it to stderr as it is).
psql -qX -c "CREATE TABLE noted (id uuid DEFAULT gen_random_uuid(), aggregate_type text,
	aggregate_id text, event_type text, payload jsonb, headers jsonb, created_at timestamptz)" \
	-c "SELECT outbox.declare_table('noted')" >/dev/null
OUTBOX_KAFKA_SASL_USERNAME=outbox OUTBOX_KAFKA_SASL_PASSWORD=hunter4 \
	start_shipper jsonlog --log-format=json -v -d "$CONNINFO password=hunter5"
wait_for "the JSON-logging shipper to stream" 30 grep -q 'streaming slot' "$WORK/jsonlog.log"
psql -qX -c "SELECT outbox.publish('order', '1', 'logged', '{}')" >/dev/null
psql -qX -c "ALTER TABLE noted RENAME COLUMN created_at TO created" \
	-c "INSERT INTO noted (aggregate_type, aggregate_id, event_type, payload) VALUES ('order', '2', 'noted', '{}')" >/dev/null
wait_for "the JSON-logging shipper to confirm" 60 confirmed_reached "$(current_lsn)"
kill -TERM "$(shipper_pid jsonlog)"
wait_exit jsonlog 60
check "the JSON-logging shipper stops cleanly" 0 "$EXIT_STATUS"
check "every log line is a JSON object with time, level and message" "ok" "$(python3 -c '
import json, sys
levels = {"debug", "info", "warning", "error"}
lines = open(sys.argv[1]).read().splitlines()
for line in lines:
    o = json.loads(line)
    assert set(o) == {"time", "level", "message"}, line
    assert o["level"] in levels, line
assert len(lines) > 5
print("ok")' "$WORK/jsonlog.log" 2>&1 | tail -1)"
check "the JSON log has the start, the settings (debug) and the stop" 3 \
	"$(grep -c -e '"level":"info","message":"streaming slot' -e '"level":"debug","message":"Kafka property sasl.password=\*\*\*\*\*\*\*\* (OUTBOX_KAFKA_SASL_PASSWORD)' \
		-e '"level":"info","message":"stopped: 2 events delivered' "$WORK/jsonlog.log")"
check "the server's WARNING is a JSON line at level warning" 1 \
	"$(grep -c '^{"time":"[^"]*","level":"warning","message":"PostgreSQL WARNING: outbox table \\"noted\\" has no column \\"created_at\\" for event field \\"created_at\\" DETAIL: The field is written as null. HINT: Declare the table again with outbox.declare_table()."}$' "$WORK/jsonlog.log")"
check "no secret in the JSON log" 0 "$(grep -c 'hunter' "$WORK/jsonlog.log")"
finish
