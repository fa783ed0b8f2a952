#!/usr/bin/env bash
# Bounded memory: with Kafka down, the shipper stops reading exactly at its
# in-flight limit (a hard cap, checked per event), keeps the replication connection alive with status
# updates (well past wal_sender_timeout), and delivers everything once
# Kafka is back.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
e2e_setup "wal_sender_timeout = 3s"

HTTP_PORT=$(free_port)
start_shipper shipper --max-inflight-events=100 --max-inflight-bytes=100000 --http-listen "127.0.0.1:$HTTP_PORT"
wait_for "the shipper to stream" 30 grep -q 'streaming slot' "$WORK/shipper.log"
psql -qX -c "SELECT outbox.publish('order', '1', 'warm-up', '{}')" >/dev/null
wait_for "the warm-up event" 60 confirmed_reached "$(current_lsn)"

"$KAFKA_SH" kill "$WORK/kafka"
psql -qX -c "SELECT outbox.publish('order', (i % 50)::text, 'while-down', jsonb_build_object('i', i, 'pad', repeat('x', 500)))
			 FROM generate_series(1, 20000) i" >/dev/null
wait_for "the shipper to pause" 60 grep -q 'in-flight limit reached' "$WORK/shipper.log"
check "the shipper paused at its in-flight limit" 0 $?
# Events of ~600 bytes: the event cap (100) binds before the byte cap.
check "exactly 100 events in flight, not a read batch more" 100 \
	"$(metric "$HTTP_PORT" outbox_shipper_inflight_events)"
check "in-flight bytes within the cap" t \
	"$(metric "$HTTP_PORT" outbox_shipper_inflight_bytes | awk '{print ($1 <= 100000) ? "t" : "f"}')"
sleep 10						# > 3 x wal_sender_timeout while paused
check "the replication connection is still alive" 1 \
	"$(psql -qXAt -c "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'outbox-shipper'")"
check "no reconnect while paused" 0 "$(grep -c reconnecting "$WORK/shipper.log")"
check "the shipper's memory stays bounded (RSS under 40 MB)" t \
	"$(awk '/VmRSS/ {print ($2 < 40960) ? "t" : "f"}' "/proc/$(shipper_pid shipper)/status")"

"$KAFKA_SH" restart "$WORK/kafka" >/dev/null
wait_for "everything to be delivered" 120 confirmed_reached "$(current_lsn)"
check "after Kafka came back everything was confirmed" 0 $?
grep -q 'reading resumed' "$WORK/shipper.log"
check "reading resumed" 0 $?
dump_topics "$WORK/records.jsonl" outbox.event.order
check_verified "all 20,001 events delivered once, in order" "$WORK/records.jsonl"
kill -TERM "$(shipper_pid shipper)"
wait_exit shipper 60
check "the shipper stops cleanly" 0 "$EXIT_STATUS"
finish
