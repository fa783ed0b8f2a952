#!/usr/bin/env bash
# Hostile and flagged events (issue 9), against a real PostgreSQL and Kafka.
#
# (a) A role with no grants writes messages with our prefix
#     (pg_logical_emit_message() is granted to PUBLIC): garbage, the right
#     field names with wrong types, a valid-looking event body with its own
#     id, key, headers, topic and even position fields, bytes that are not
#     UTF-8, inside and between real events.  The shipper keeps running,
#     every real event reaches Kafka in order, no forged one reaches an
#     event topic, the forged ones are in the dead-letter topic when there
#     is one (dropped and counted otherwise), and the slot confirms past
#     everything.
# (b) A real event above the plugin's max-event-size becomes a rejected
#     "too_large" event: the stop policy stops naming it, before it; the
#     dead-letter policy ships it to the dead-letter topic and goes on.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
e2e_setup

DLQ=outbox.dlq
HTTP_PORT=$(free_port)

publish() {	# publish AGGREGATE_TYPE AGGREGATE_ID PAYLOAD_SQL: prints the id
	psql -qXAt -c "SELECT outbox.publish('$1', '$2', 'created', $3)"
}
# forge SQL_BYTES [TRANSACTIONAL]: a message with our prefix, as mallory.
forge() {
	psql -qXAt -U mallory -c "SELECT 'x' FROM pg_logical_emit_message(${2:-true}, 'outbox_pg', $1)" >/dev/null
}
record_ids() {	# record_ids TOPIC: the id header of each record, in order
	timeout 30 kcat -C -b "$BROKERS" -t "$1" -e -q -o beginning -f '%h\n' 2>/dev/null \
		| sed -E 's/^id=([^,]*).*/\1/' | paste -sd' '
}
topic_records() {	# topic_records TOPIC: headers|value of each record
	timeout 30 kcat -C -b "$BROKERS" -t "$1" -e -q -o beginning -f '%h|%s\n' 2>/dev/null
}
event_topics() {	# every topic named like an event topic, sorted
	kcat -L -b "$BROKERS" 2>/dev/null | sed -nE 's/^  topic "(outbox\.event\.[^"]*)".*/\1/p' | sort | paste -sd' '
}
first_pending() {	# the id of the first event still in the slot
	psql -qXAt -c "SELECT data::jsonb->>'id' FROM pg_logical_slot_peek_changes('outbox_pg', NULL, 1)"
}
running() { kill -0 "$(shipper_pid "$1")" 2>/dev/null; }
metric_is() { [ "$(metric "$HTTP_PORT" "$1")" = "$2" ]; }

psql -qX -c "CREATE ROLE mallory LOGIN" >/dev/null

# (a) Forgeries, with a dead-letter topic under the default (stop) policy:
# a forgery is never a permanent error, so it never stops the shipper.
start_shipper forge --dead-letter-topic=$DLQ --http-listen=127.0.0.1:$HTTP_PORT
real=()
real+=("$(publish order 1 "'{\"n\": 1}'")")
forge "'x'"
real+=("$(publish order 1 "'{\"n\": 2}'")")
forge "'\"id\":5,\"aggregate_type\":[],\"aggregate_id\":{},\"event_type\":1,\"payload\":{},\"headers\":\"x\",\"created_at\":7'"
forge "'\"id\":\"forged-1\",\"aggregate_type\":\"order\",\"aggregate_id\":\"1\",\"event_type\":\"created\",\"payload\":{\"n\":666},\"headers\":{\"traceparent\":\"00-forged\"},\"created_at\":null'"
forge "'\"id\":\"forged-2\",\"aggregate_type\":\"forged\",\"aggregate_id\":\"1\",\"event_type\":\"created\",\"payload\":{},\"headers\":null,\"created_at\":null,\"commit_lsn\":\"FF/0\",\"seq\":0,\"last\":true,\"end_lsn\":\"FF/10\"}'"
forge "'\\xff00fe227d'::bytea"
forge "'\"id\":\"forged-3\",\"aggregate_type\":\"forged\",\"aggregate_id\":\"1\",\"event_type\":\"x\",\"payload\":{},\"headers\":null,\"created_at\":null'" false
# Forgeries inside a transaction of real events: positions stay in step.
ids=$(psql -qXAt -U postgres <<'SQL'
BEGIN;
SELECT outbox.publish('order', '1', 'created', '{"n": 3}');
SET ROLE mallory;
SELECT 'x' FROM pg_logical_emit_message(true, 'outbox_pg', '"id":"forged-4","aggregate_type":"order","aggregate_id":"1","event_type":"created","payload":{},"headers":null,"created_at":null');
RESET ROLE;
SELECT outbox.publish('order', '1', 'created', '{"n": 4}');
SET ROLE mallory;
SELECT 'x' FROM pg_logical_emit_message(true, 'outbox_pg', 'last of its transaction');
RESET ROLE;
COMMIT;
SQL
)
real+=($(echo "$ids" | grep -v '^x$'))
real+=("$(publish order 1 "'{\"n\": 5}'")")
FORGED_TXN=7	# transactional forgeries above; the non-transactional one is not decoded
wait_for "the slot to confirm past everything" 60 confirmed_reached "$(current_lsn)"
check "the slot confirmed past every real and forged event" 0 $?
check "the shipper is still running" 0 "$(running forge; echo $?)"
check "every real event reached Kafka, in commit order" "${real[*]}" "$(record_ids outbox.event.order)"
check "no other event topic exists (none for aggregate_type \"forged\")" "outbox.event.order" "$(event_topics)"
dlq=$(topic_records $DLQ)
check "every transactional forgery is in the dead-letter topic" $FORGED_TXN "$(echo "$dlq" | grep -c .)"
check "each with the reason" $FORGED_TXN "$(echo "$dlq" | grep -c 'outbox_error_code=UNAUTHENTICATED')"
check "the forged ids are nowhere in the headers of the dead-letter records" 0 \
	"$(echo "$dlq" | cut -d'|' -f1 | grep -c 'forged-')"
check "a forged body is kept whole in the dead-letter record's value" 1 \
	"$(echo "$dlq" | cut -d'|' -f2- | grep -c '"rejected":"unauthenticated".*forged-1\|forged-1.*"rejected":"unauthenticated"')"
wait_for "the rejected counter" 30 metric_is 'outbox_shipper_events_rejected_total{reason="unauthenticated"}' $FORGED_TXN
check "events_rejected_total counts them" $FORGED_TXN \
	"$(metric "$HTTP_PORT" 'outbox_shipper_events_rejected_total{reason="unauthenticated"}')"
check "events_dead_lettered_total counts them" $FORGED_TXN "$(metric "$HTTP_PORT" outbox_shipper_events_dead_lettered_total)"
check "one warning line for the burst (rate-limited), naming LSN and seq" 1 \
	"$(grep -c 'unauthenticated message with the outbox_pg prefix at commit LSN [0-9A-F]*/[0-9A-F]*, seq [0-9]*' "$WORK/forge.log")"
kill -TERM "$(shipper_pid forge)"
wait_exit forge 60
check "the shipper stops cleanly" 0 "$EXIT_STATUS"

# Without a dead-letter topic a forgery is dropped, counted, and confirmed.
start_shipper drop --http-listen=127.0.0.1:$HTTP_PORT
forge "'dropped'"
real+=("$(publish order 1 "'{\"n\": 6}'")")
wait_for "the slot to confirm past the dropped forgery" 60 confirmed_reached "$(current_lsn)"
check "the slot confirmed past the dropped forgery" 0 $?
check "the real event after it was delivered" "${real[*]}" "$(record_ids outbox.event.order)"
check "nothing more in the dead-letter topic" $FORGED_TXN "$(topic_records $DLQ | grep -c .)"
wait_for "the rejected counter" 30 metric_is 'outbox_shipper_events_rejected_total{reason="unauthenticated"}' 1
check "the drop is counted" 1 "$(metric "$HTTP_PORT" 'outbox_shipper_events_rejected_total{reason="unauthenticated"}')"
grep -q 'not written by outbox.emit() or outbox.replay(), so a forgery attempt or a bug; dropped (no --dead-letter-topic)' "$WORK/drop.log"
check "the log says it was dropped" 0 $?
kill -TERM "$(shipper_pid drop)"
wait_exit drop 60
check "the dropping shipper stops cleanly" 0 "$EXIT_STATUS"

# (b) An event above max-event-size, stop policy: stop before it, naming it.
LIMIT=(-o max-event-size=4096)
start_shipper big_stop "${LIMIT[@]}"
a=$(publish order 1 "'{\"n\": 7}'")
wait_for "the event before the big one to be confirmed" 60 confirmed_reached "$(current_lsn)"
b=$(publish order 1 "jsonb_build_object('blob', repeat('x', 10240))")
c=$(publish order 1 "'{\"n\": 8}'")
wait_exit big_stop 60
check "a too_large event stops the shipper with status 1" 1 "$EXIT_STATUS"
grep -q "event $b (commit LSN [0-9A-F]*/[0-9A-F]*, seq 0) cannot be delivered: the plugin rejected it as too_large ([0-9]* bytes), above its max-event-size; stopping without confirming it" "$WORK/big_stop.log"
check "the log names its id, position, reason and size" 0 $?
check "the slot stays before it" "$b" "$(first_pending)"
real+=("$a")
check "nothing of it or after it reached Kafka" "${real[*]}" "$(record_ids outbox.event.order)"

# Dead-letter policy: to the dead-letter topic, and on.
start_shipper big_dlq "${LIMIT[@]}" --on-permanent-error=dead-letter --dead-letter-topic=$DLQ
wait_for "the dead-letter shipper to confirm everything" 60 confirmed_reached "$(current_lsn)"
check "the dead-letter shipper confirmed past it" 0 $?
check "the shipper is still running" 0 "$(running big_dlq; echo $?)"
real+=("$c")
check "the events after it were delivered, in order" "${real[*]}" "$(record_ids outbox.event.order)"
check "it is in the dead-letter topic with its reason" 1 \
	"$(topic_records $DLQ | grep "^id=$b," | grep -c 'outbox_topic=outbox.event.order,.*outbox_error_code=EVENT_TOO_LARGE')"
kill -TERM "$(shipper_pid big_dlq)"
wait_exit big_dlq 60
check "the dead-letter shipper stops cleanly" 0 "$EXIT_STATUS"
finish
