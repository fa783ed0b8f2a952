#!/usr/bin/env bash
# Events Kafka refuses for good (too large, invalid topic name), against a
# real PostgreSQL and Kafka: by default the shipper stops without
# confirming them, naming the event; with the dead-letter policy it sends
# them to the dead-letter topic with the error in headers and goes on.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
e2e_setup

publish() {	# publish AGGREGATE_TYPE EVENT_TYPE PAYLOAD_SQL: prints the id
	psql -qXAt -c "SELECT outbox.publish('$1', '1', '$2', $3)"
}
first_pending() {	# the id of the first event still in the slot
	psql -qXAt -c "SELECT data::jsonb->>'id' FROM pg_logical_slot_peek_changes('outbox_pg', NULL, 1)"
}
record_ids() {	# record_ids TOPIC: the id header of each record, in order
	timeout 30 kcat -C -b "$BROKERS" -t "$1" -e -q -o beginning -f '%h\n' 2>/dev/null \
		| sed -E 's/^id=([^,]*).*/\1/' | paste -sd' '
}
SIZE_LIMIT=(-X message.max.bytes=100000)

# 1. Default policy, an event too large: stop, name it, confirm nothing past it.
start_shipper stop1 "${SIZE_LIMIT[@]}"
a=$(publish order fits "'{\"n\": 1}'")
wait_for "the first event to be confirmed" 60 confirmed_reached "$(current_lsn)"
b=$(publish order too-large "jsonb_build_object('blob', repeat('x', 200000))")
c=$(publish order after "'{\"n\": 3}'")
wait_exit stop1 60
check "an oversized event stops the shipper with status 1" 1 "$EXIT_STATUS"
grep -q "event $b (commit LSN [0-9A-F/]*, seq [0-9]*) cannot be delivered: record of [0-9]* bytes is larger than message.max.bytes" "$WORK/stop1.log"
check "the log names the event, its LSN and the reason" 0 $?
check "the slot did not move past the oversized event" "$b" "$(first_pending)"
check "only the event before it reached Kafka" "$a" "$(record_ids outbox.event.order)"

# 2. Dead-letter policy: the oversized event goes to the dead-letter topic,
# the events after it are delivered, and so it goes for an invalid topic.
start_shipper dlq "${SIZE_LIMIT[@]}" --on-permanent-error=dead-letter --dead-letter-topic=outbox.dlq
d=$(publish "bad topic" invalid-topic "'{\"n\": 4}'")
e=$(publish order last "'{\"n\": 5}'")
wait_for "the dead-letter shipper to confirm everything" 60 confirmed_reached "$(current_lsn)"
check "the dead-letter shipper confirmed everything" 0 $?
check "the events after the refused ones were delivered, in order" "$a $c $e" "$(record_ids outbox.event.order)"
check "the refused events are in the dead-letter topic" "$b $d" "$(record_ids outbox.dlq)"
dlq=$(timeout 30 kcat -C -b "$BROKERS" -t outbox.dlq -e -q -o beginning -f '%h|%S\n' 2>/dev/null)
check "the dead-letter record of the oversized event says why, without its value" 1 \
	"$(echo "$dlq" | grep "^id=$b," | grep -c 'outbox_error_code=MSG_SIZE_TOO_LARGE.*outbox_value_omitted=too large|-1$')"
check "the dead-letter record of the invalid topic carries the whole event" 1 \
	"$(echo "$dlq" | grep "^id=$d," | grep -c 'outbox_error_code=INVALID_TOPIC')"
check "... and says where it was going: the name Kafka refuses" "outbox_topic=outbox.event.bad topic" \
	"$(echo "$dlq" | grep "^id=$d," | grep -o 'outbox_topic=[^,]*')"
check "the oversized event's record names its topic" "outbox_topic=outbox.event.order" \
	"$(echo "$dlq" | grep "^id=$b," | grep -o 'outbox_topic=[^,]*')"
kill -TERM "$(shipper_pid dlq)"
wait_exit dlq 60
check "the dead-letter shipper stops cleanly" 0 "$EXIT_STATUS"

# 3. Default policy, an invalid topic name: stop, name it.
start_shipper stop2
f=$(publish "no/slashes" invalid-topic "'{}'")
wait_exit stop2 60
check "an invalid topic stops the shipper with status 1" 1 "$EXIT_STATUS"
grep -q "event $f (commit LSN [0-9A-F/]*, seq [0-9]*) cannot be delivered: topic name \"outbox.event.no/slashes\" has a character Kafka does not allow" "$WORK/stop2.log"
check "the log names the event and the topic" 0 $?
check "the slot did not move past it" "$f" "$(first_pending)"
finish
