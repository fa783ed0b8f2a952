/*
 * Deterministic broker faults for the shipper's producer, on librdkafka's
 * mock cluster (rdkafka_mock.h): retried errors, permanent refusals under
 * both policies, a broker down.  The end-to-end tests cover the same
 * against a real broker; these pin down exact behaviour that a real broker
 * cannot be made to show on demand.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "config.h"
#include "event.h"
#include "kafka.h"
#include "metrics.h"
#include "tracker.h"

#define API_PRODUCE 0 /* Kafka protocol ApiKey of Produce */

typedef struct Fixture
{
	rd_kafka_t *mock_handle;
	rd_kafka_mock_cluster_t *mcluster;
	ShipperConfig config;
	Tracker *tracker;
	Metrics *metrics;
	Kafka *kafka;
} Fixture;

static const char *const event_json =
	"{\"v\":1,\"id\":\"e-1\",\"aggregate_type\":\"order\",\"aggregate_id\":\"42\","
	"\"event_type\":\"created\",\"payload\":{\"n\":1.10},\"headers\":null,\"created_at\":null,"
	"\"commit_lsn\":\"0/100\",\"commit_time\":\"2026-11-22T08:00:00.123456Z\",\"seq\":0,\"last\":true,\"end_lsn\":\"0/130\"}";

static int
setup_with(void **state, const char *policy, bool with_dead_letter_topic)
{
	static Fixture f;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];
	char *envp[] = {NULL};
	char brokers[256];

	memset(&f, 0, sizeof(f));
	f.mock_handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	assert_non_null(f.mock_handle);
	f.mcluster = rd_kafka_mock_cluster_new(f.mock_handle, 1);
	assert_non_null(f.mcluster);
	rd_kafka_mock_topic_create(f.mcluster, "outbox.event.order", 1, 1);
	rd_kafka_mock_topic_create(f.mcluster, "dlq", 1, 1);
	snprintf(brokers, sizeof(brokers), "%s", rd_kafka_mock_cluster_bootstraps(f.mcluster));
	{
		char *argv[] = {"outbox-shipper", "-b", brokers, "-X", "retry.backoff.ms=10",
						"--on-permanent-error", (char *) policy, "--dead-letter-topic", "dlq"};

		assert_int_equal(config_parse(with_dead_letter_topic ? 9 : 7, argv, envp, &f.config,
									  err, sizeof(err)),
						 0);
	}
	f.tracker = tracker_create(0);
	f.metrics = metrics_create("test", "test");
	f.kafka = kafka_create(&f.config, f.tracker, f.metrics, err, sizeof(err));
	assert_non_null(f.kafka);
	*state = &f;
	return 0;
}

static int
setup_stop(void **state)
{
	return setup_with(state, "stop", true);
}

static int
setup_stop_no_dead_letter_topic(void **state)
{
	return setup_with(state, "stop", false);
}

static int
setup_dead_letter(void **state)
{
	return setup_with(state, "dead-letter", true);
}

static int
teardown(void **state)
{
	Fixture *f = *state;

	kafka_destroy(f->kafka);
	tracker_destroy(f->tracker);
	metrics_destroy(f->metrics);
	config_free(&f->config);
	rd_kafka_mock_cluster_destroy(f->mcluster);
	rd_kafka_destroy(f->mock_handle);
	return 0;
}

/* Fails unless /metrics shows line exactly. */
static void
expect_metric(Fixture *f, const char *line)
{
	TextBuffer text = {0};
	char *found;

	metrics_scrape(f->metrics, &text);
	assert_false(text.failed);
	found = strstr(text.data, line);
	if (found == NULL || (found != text.data && found[-1] != '\n') ||
		found[strlen(line)] != '\n')
		fail_msg("/metrics lacks the line \"%s\":\n%s", line, text.data);
	text_free(&text);
}

/* Produces json as the main loop does and polls until Kafka has answered
 * (or 10 s); returns what kafka_produce said. */
static KafkaStatus
produce_json_and_wait(Fixture *f, const char *json)
{
	ShipperEvent event;
	char err[256];
	TrackerTxn txn;
	KafkaStatus status;
	int i;

	if (event_parse(json, strlen(json), &event, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	txn = tracker_add_event(f->tracker, event.commit_lsn, strlen(json));
	if (event.last)
		tracker_end_txn(f->tracker, txn, event.end_lsn);
	status = kafka_produce(f->kafka, &event, json, strlen(json), txn);
	event_free(&event);
	for (i = 0; i < 100 && kafka_outq_len(f->kafka) > 0 && !kafka_failure(f->kafka); i++)
		kafka_poll(f->kafka, 100);
	return status;
}

static void
produce_and_wait(Fixture *f)
{
	(void) produce_json_and_wait(f, event_json);
}

/* A consumed record: its value and headers as "name=value\n" lines. */
typedef struct Record
{
	char value[2048];
	int value_len; /* -1: null */
	char key[64];
	int key_len; /* -1: null */
	char headers[2048];
} Record;

/* Reads the first record of partition 0 of topic, within 10 s. */
static void
consume_first(Fixture *f, const char *topic, Record *record)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *partitions = rd_kafka_topic_partition_list_new(1);
	rd_kafka_message_t *msg = NULL;
	rd_kafka_headers_t *h = NULL;
	const void *value;
	size_t size;
	const char *name;
	char err[512];
	rd_kafka_t *consumer;
	size_t i;
	int tries;

	rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(f->mcluster),
					  err, sizeof(err));
	rd_kafka_conf_set(conf, "group.id", "test", err, sizeof(err));
	consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	assert_non_null(consumer);
	rd_kafka_topic_partition_list_add(partitions, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	assert_int_equal(rd_kafka_assign(consumer, partitions), 0);
	for (tries = 0; tries < 100 && (msg == NULL || msg->err); tries++)
	{
		if (msg)
			rd_kafka_message_destroy(msg);
		msg = rd_kafka_consumer_poll(consumer, 100);
	}
	if (msg == NULL || msg->err)
		fail_msg("no record in %s", topic);
	memset(record, 0, sizeof(*record));
	record->value_len = msg->payload ? (int) msg->len : -1;
	if (msg->payload)
		snprintf(record->value, sizeof(record->value), "%.*s", (int) msg->len, (char *) msg->payload);
	record->key_len = msg->key ? (int) msg->key_len : -1;
	if (msg->key)
		snprintf(record->key, sizeof(record->key), "%.*s", (int) msg->key_len, (char *) msg->key);
	if (rd_kafka_message_headers(msg, &h) == RD_KAFKA_RESP_ERR_NO_ERROR)
		for (i = 0; rd_kafka_header_get_all(h, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; i++)
			snprintf(record->headers + strlen(record->headers),
					 sizeof(record->headers) - strlen(record->headers), "%s=%.*s\n", name,
					 value ? (int) size : 6, value ? (const char *) value : "(null)");
	rd_kafka_message_destroy(msg);
	rd_kafka_topic_partition_list_destroy(partitions);
	rd_kafka_consumer_close(consumer);
	rd_kafka_destroy(consumer);
}

static void
expect_header(const Record *record, const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "%s\n", line);
	if (strncmp(record->headers, want, strlen(want)) != 0 &&
		strstr(record->headers, want) == NULL)
		fail_msg("no header line \"%s\" in:\n%s", line, record->headers);
}

/* Polls until the dead-letter record is acknowledged (or 10 s). */
static void
wait_dead_lettered(Fixture *f, long n)
{
	int i;

	for (i = 0; i < 100 && kafka_dead_lettered(f->kafka) < n && !kafka_failure(f->kafka); i++)
		kafka_poll(f->kafka, 100);
}

/* Errors a retry cures are retried: delivered once, then confirmed. */
static void
test_retriable_errors_are_retried(void **state)
{
	Fixture *f = *state;

	rd_kafka_mock_push_request_errors(f->mcluster, API_PRODUCE, 3,
									  RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
									  RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
									  RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
	produce_and_wait(f);
	assert_null(kafka_failure(f->kafka));
	assert_int_equal(kafka_delivered(f->kafka), 1);
	assert_true(tracker_confirmed(f->tracker) == 0x130);
	/* key "42" and value {"n":1.10}: 12 bytes */
	expect_metric(f, "outbox_shipper_events_shipped_total{topic=\"outbox.event.order\"} 1");
	expect_metric(f, "outbox_shipper_bytes_shipped_total{topic=\"outbox.event.order\"} 12");
	expect_metric(f, "outbox_shipper_last_delivered_commit_timestamp_seconds 1795334400.123456");
}

/* A record-level refusal under the stop policy: a failure naming the
 * event, and the position stays before it. */
static void
test_permanent_error_stops(void **state)
{
	Fixture *f = *state;

	rd_kafka_mock_push_request_errors(f->mcluster, API_PRODUCE, 1,
									  RD_KAFKA_RESP_ERR_INVALID_RECORD);
	produce_and_wait(f);
	assert_non_null(kafka_failure(f->kafka));
	assert_non_null(strstr(kafka_failure(f->kafka), "event e-1 (commit LSN 0/100, seq 0) cannot be delivered: "));
	assert_int_equal(kafka_delivered(f->kafka), 0);
	assert_true(tracker_confirmed(f->tracker) == 0);
	expect_metric(f, "outbox_shipper_delivery_errors_total{kind=\"INVALID_RECORD\"} 1");
}

/*
 * A cluster-level error (an ACL change) is no fault of the event: under
 * the dead-letter policy it is not dead-lettered and nothing is confirmed
 * past it; the shipper stops naming the error and the fix.
 */
static void
test_cluster_error_not_dead_lettered(void **state)
{
	Fixture *f = *state;
	int i;

	rd_kafka_mock_push_request_errors(f->mcluster, API_PRODUCE, 1,
									  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
	produce_and_wait(f);
	/* Time for a dead-letter record to be acknowledged, were there one. */
	for (i = 0; i < 10; i++)
		kafka_poll(f->kafka, 100);
	assert_int_equal(kafka_dead_lettered(f->kafka), 0);
	assert_int_equal(kafka_delivered(f->kafka), 0);
	assert_true(tracker_confirmed(f->tracker) == 0);
	assert_int_equal(tracker_inflight_events(f->tracker), 1);
	assert_non_null(kafka_failure(f->kafka));
	assert_string_equal(kafka_failure(f->kafka),
						"event e-1 (commit LSN 0/100, seq 0) cannot be delivered to topic outbox.event.order: "
						"Broker: Topic authorization failed (TOPIC_AUTHORIZATION_FAILED), an error of the cluster or of the shipper's rights, "
						"not of the event, so it is not dead-lettered; grant the shipper's principal WRITE and DESCRIBE on the topic, "
						"then restart it; stopping without confirming it or anything after it (it is shipped again on restart)");
	expect_metric(f, "outbox_shipper_delivery_errors_total{kind=\"TOPIC_AUTHORIZATION_FAILED\"} 1");
}

/*
 * The same error from topic metadata (an ACL that denies DESCRIBE too):
 * librdkafka keeps the record and retries, nothing is dead-lettered or
 * confirmed meanwhile, and once the ACL is fixed it is delivered.
 */
static void
test_topic_metadata_error_retried(void **state)
{
	Fixture *f = *state;
	int i;

	rd_kafka_mock_topic_set_error(f->mcluster, "outbox.event.order",
								  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
	produce_and_wait(f); /* gives up polling after 10 s */
	assert_null(kafka_failure(f->kafka));
	assert_int_equal(kafka_dead_lettered(f->kafka), 0);
	assert_int_equal(kafka_delivered(f->kafka), 0);
	assert_true(tracker_confirmed(f->tracker) == 0);
	assert_int_equal(kafka_outq_len(f->kafka), 1);
	rd_kafka_mock_topic_set_error(f->mcluster, "outbox.event.order", RD_KAFKA_RESP_ERR_NO_ERROR);
	for (i = 0; i < 200 && kafka_delivered(f->kafka) == 0; i++)
		kafka_poll(f->kafka, 100);
	assert_int_equal(kafka_delivered(f->kafka), 1);
	assert_int_equal(kafka_dead_lettered(f->kafka), 0);
	assert_true(tracker_confirmed(f->tracker) == 0x130);
}

/* Under the dead-letter policy a refused event goes to the dead-letter
 * topic, and counts as delivered once that record is acknowledged. */
static void
test_permanent_error_dead_letters(void **state)
{
	Fixture *f = *state;
	Record r;

	rd_kafka_mock_push_request_errors(f->mcluster, API_PRODUCE, 1,
									  RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
	produce_and_wait(f);
	wait_dead_lettered(f, 1);
	assert_null(kafka_failure(f->kafka));
	assert_int_equal(kafka_delivered(f->kafka), 0);
	assert_int_equal(kafka_dead_lettered(f->kafka), 1);
	assert_true(tracker_confirmed(f->tracker) == 0x130);
	expect_metric(f, "outbox_shipper_delivery_errors_total{kind=\"MSG_SIZE_TOO_LARGE\"} 1");
	consume_first(f, "dlq", &r);
	assert_string_equal(r.value, event_json);
	assert_string_equal(r.key, "42");
	expect_header(&r, "id=e-1");
	expect_header(&r, "outbox_topic=outbox.event.order");
	expect_header(&r, "outbox_error_code=MSG_SIZE_TOO_LARGE");
	/* The dead-letter record is not an event shipped to its topic. */
	expect_metric(f, "# TYPE outbox_shipper_events_shipped_total counter\n"
					 "# HELP outbox_shipper_bytes_shipped_total Key and value bytes of the records Kafka acknowledged, by topic.");
}

/* While the broker is down nothing is confirmed; once it is back, the
 * event is delivered and confirmed. */
static void
test_broker_down_confirms_nothing(void **state)
{
	Fixture *f = *state;
	int i;

	rd_kafka_mock_broker_set_down(f->mcluster, 1);
	produce_and_wait(f); /* gives up polling after 10 s */
	assert_null(kafka_failure(f->kafka));
	assert_int_equal(kafka_delivered(f->kafka), 0);
	assert_true(tracker_confirmed(f->tracker) == 0);
	assert_false(kafka_probe(f->kafka, 500));
	expect_metric(f, "outbox_shipper_kafka_client_errors_total{kind=\"_ALL_BROKERS_DOWN\"} 1");
	rd_kafka_mock_broker_set_up(f->mcluster, 1);
	for (i = 0; i < 200 && kafka_delivered(f->kafka) == 0; i++)
		kafka_poll(f->kafka, 100);
	assert_int_equal(kafka_delivered(f->kafka), 1);
	assert_true(tracker_confirmed(f->tracker) == 0x130);
	assert_true(kafka_probe(f->kafka, 5000));
}

/* A fatal producer error (e.g. a broken idempotence sequence) stops the
 * shipper: nothing more is produced or confirmed. */
static void
test_fatal_error_stops(void **state)
{
	Fixture *f = *state;
	int i;

	rd_kafka_test_fatal_error(kafka_handle(f->kafka),
							  RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
							  "injected by the test");
	for (i = 0; i < 50 && kafka_failure(f->kafka) == NULL; i++)
		kafka_poll(f->kafka, 100);
	assert_non_null(kafka_failure(f->kafka));
	assert_non_null(strstr(kafka_failure(f->kafka), "fatal Kafka producer error"));
	produce_and_wait(f);
	assert_int_equal(kafka_delivered(f->kafka), 0);
	assert_true(tracker_confirmed(f->tracker) == 0);
}

/* The same fixture with small in-flight caps: 5 events, 4 kB. */
static int
setup_caps(void **state)
{
	Fixture *f;
	char brokers[256];
	char err[512];
	char *envp[] = {NULL};
	char *argv[] = {"outbox-shipper", "-b", brokers, "--max-inflight-events=5",
					"--max-inflight-bytes=4kB"};

	setup_stop(state);
	f = *state;
	snprintf(brokers, sizeof(brokers), "%s", f->config.brokers);
	kafka_destroy(f->kafka);
	config_free(&f->config);
	assert_int_equal(config_parse(5, argv, envp, &f->config, err, sizeof(err)), 0);
	f->kafka = kafka_create(&f->config, f->tracker, f->metrics, err, sizeof(err));
	assert_non_null(f->kafka);
	return 0;
}

static void
expect_property(Fixture *f, const char *name, const char *want)
{
	char value[64];
	size_t size = sizeof(value);

	assert_int_equal(rd_kafka_conf_get(rd_kafka_conf(kafka_handle(f->kafka)), name, value, &size),
					 RD_KAFKA_CONF_OK);
	assert_string_equal(value, want);
}

/*
 * The caps bound memory for real: librdkafka's queue is sized from them
 * (it refuses a record past the event cap), and producing only while the
 * tracker has room, as the main loop does, never exceeds them while the
 * broker is slow to acknowledge.
 */
static void
test_caps_bound_the_queue(void **state)
{
	Fixture *f = *state;
	size_t len = strlen(event_json);
	ShipperEvent event;
	char err[256];
	TrackerTxn txn;
	size_t peak = 0;
	int produced = 0;
	int i;

	/* 5 events; 4 kB or one record of message.max.bytes (1000000), in kB */
	expect_property(f, "queue.buffering.max.messages", "5");
	expect_property(f, "queue.buffering.max.kbytes", "977");
	assert_int_equal(event_parse(event_json, len, &event, err, sizeof(err)), 0);
	rd_kafka_mock_broker_set_rtt(f->mcluster, 1, 300);
	for (i = 0; i < 5; i++)
		assert_int_equal(kafka_produce(f->kafka, &event, event_json, len, TRACKER_TXN_NONE),
						 KAFKA_QUEUED);
	assert_int_equal(kafka_produce(f->kafka, &event, event_json, len, TRACKER_TXN_NONE),
					 KAFKA_QUEUE_FULL);
	for (i = 0; i < 100 && kafka_outq_len(f->kafka) > 0; i++)
		kafka_poll(f->kafka, 100);
	assert_int_equal(kafka_outq_len(f->kafka), 0);

	while (produced < 40)
	{
		if (!tracker_has_room(f->tracker, 5, 4096, len))
		{
			kafka_poll(f->kafka, 20);
			continue;
		}
		txn = tracker_add_event(f->tracker, (Lsn) (produced + 1) * 0x100, len);
		tracker_end_txn(f->tracker, txn, (Lsn) (produced + 1) * 0x100 + 0x30);
		assert_int_equal(kafka_produce(f->kafka, &event, event_json, len, txn), KAFKA_QUEUED);
		produced++;
		if (tracker_inflight_events(f->tracker) > peak)
			peak = tracker_inflight_events(f->tracker);
		assert_true(tracker_inflight_bytes(f->tracker) <= 4096);
	}
	event_free(&event);
	for (i = 0; i < 100 && kafka_outq_len(f->kafka) > 0; i++)
		kafka_poll(f->kafka, 100);
	assert_int_equal(peak, 5);
	assert_int_equal(kafka_delivered(f->kafka), 45);
	assert_true(tracker_confirmed(f->tracker) == 40 * 0x100 + 0x30);
}

#define POSITION ",\"commit_lsn\":\"0/200\",\"commit_time\":\"2026-11-22T08:00:00Z\",\"seq\":0,\"last\":true,\"end_lsn\":\"0/230\"}"

/* What the plugin writes for pg_logical_emit_message('outbox_pg', ...) by
 * anyone but outbox.emit(): a valid-looking event body, kept as a string. */
static const char *const forged_json =
	"{\"v\":1,\"id\":\"0/200:0\",\"id_generated\":true,\"aggregate_type\":null,\"aggregate_id\":null,"
	"\"event_type\":null,\"payload\":\"\\\"id\\\":\\\"x\\\",\\\"aggregate_type\\\":\\\"order\\\"\","
	"\"headers\":null,\"created_at\":null,\"rejected\":\"unauthenticated\",\"size\":34" POSITION;

static const char *const too_large_json =
	"{\"v\":1,\"id\":\"big-1\",\"aggregate_type\":\"order\",\"aggregate_id\":\"42\",\"event_type\":\"created\","
	"\"payload\":null,\"headers\":null,\"created_at\":null,\"rejected\":\"too_large\",\"size\":10240" POSITION;

/* Fails unless nothing at all was produced to the event's topic. */
static void
expect_event_topic_empty(Fixture *f)
{
	int64_t low = -1;
	int64_t high = -1;

	assert_int_equal(rd_kafka_query_watermark_offsets(kafka_handle(f->kafka), "outbox.event.order", 0,
													  &low, &high, 5000),
					 RD_KAFKA_RESP_ERR_NO_ERROR);
	assert_int_equal(high, 0);
}

/* Unauthenticated, with a dead-letter topic, under the stop policy: it goes
 * there with the reason, never to its topic, and never stops anything. */
static void
test_unauthenticated_dead_lettered(void **state)
{
	Fixture *f = *state;
	Record r;

	assert_int_equal(produce_json_and_wait(f, forged_json), KAFKA_QUEUED);
	wait_dead_lettered(f, 1);
	assert_null(kafka_failure(f->kafka));
	assert_int_equal(kafka_dead_lettered(f->kafka), 1);
	assert_int_equal(kafka_delivered(f->kafka), 0);
	assert_true(tracker_confirmed(f->tracker) == 0x230);
	expect_metric(f, "outbox_shipper_events_rejected_total{reason=\"unauthenticated\"} 1");
	consume_first(f, "dlq", &r);
	assert_string_equal(r.value, forged_json);
	assert_int_equal(r.key_len, -1);
	expect_header(&r, "id=0/200:0");
	expect_header(&r, "outbox_commit_lsn=0/200");
	expect_header(&r, "outbox_seq=0");
	expect_header(&r, "outbox_error=not written by outbox.emit() or outbox.replay() (unauthenticated)");
	expect_header(&r, "outbox_error_code=UNAUTHENTICATED");
	expect_event_topic_empty(f);
}

/* Without a dead-letter topic it is dropped: handled (confirmed) at once. */
static void
test_unauthenticated_dropped(void **state)
{
	Fixture *f = *state;

	assert_int_equal(produce_json_and_wait(f, forged_json), KAFKA_QUEUED);
	assert_null(kafka_failure(f->kafka));
	assert_int_equal(kafka_outq_len(f->kafka), 0);
	assert_int_equal(tracker_inflight_events(f->tracker), 0);
	assert_true(tracker_confirmed(f->tracker) == 0x230);
	assert_int_equal(kafka_dead_lettered(f->kafka), 0);
	expect_metric(f, "outbox_shipper_events_rejected_total{reason=\"unauthenticated\"} 1");
	expect_event_topic_empty(f);
}

/* If even the dead-letter topic refuses it, it is dropped, not a stop. */
static void
test_unauthenticated_dead_letter_refused(void **state)
{
	Fixture *f = *state;
	int i;

	rd_kafka_mock_push_request_errors(f->mcluster, API_PRODUCE, 1,
									  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
	produce_json_and_wait(f, forged_json);
	for (i = 0; i < 100 && tracker_confirmed(f->tracker) == 0; i++)
		kafka_poll(f->kafka, 100);
	assert_null(kafka_failure(f->kafka));
	assert_true(tracker_confirmed(f->tracker) == 0x230);
	assert_int_equal(kafka_dead_lettered(f->kafka), 0);
	expect_metric(f, "outbox_shipper_delivery_errors_total{kind=\"DEAD_LETTER_FAILED\"} 1");
}

/* too_large under the stop policy: a failure naming id, position, reason
 * and size; nothing produced, nothing confirmed. */
static void
test_too_large_stops(void **state)
{
	Fixture *f = *state;

	assert_int_equal(produce_json_and_wait(f, too_large_json), KAFKA_FAILED);
	assert_string_equal(kafka_failure(f->kafka),
						"event big-1 (commit LSN 0/200, seq 0) cannot be delivered: the plugin rejected it as too_large "
						"(10240 bytes), above its max-event-size; stopping without confirming it or anything after it");
	assert_true(tracker_confirmed(f->tracker) == 0);
	assert_int_equal(kafka_outq_len(f->kafka), 0);
	expect_metric(f, "outbox_shipper_events_rejected_total{reason=\"too_large\"} 1");
	expect_metric(f, "outbox_shipper_delivery_errors_total{kind=\"EVENT_TOO_LARGE\"} 1");
}

/* too_large under the dead-letter policy: to the dead-letter topic. */
static void
test_too_large_dead_lettered(void **state)
{
	Fixture *f = *state;
	Record r;

	assert_int_equal(produce_json_and_wait(f, too_large_json), KAFKA_QUEUED);
	wait_dead_lettered(f, 1);
	assert_null(kafka_failure(f->kafka));
	assert_true(tracker_confirmed(f->tracker) == 0x230);
	consume_first(f, "dlq", &r);
	assert_string_equal(r.value, too_large_json);
	expect_header(&r, "id=big-1");
	expect_header(&r, "outbox_topic=outbox.event.order");
	expect_header(&r, "outbox_error_code=EVENT_TOO_LARGE");
	expect_event_topic_empty(f);
}

/* A reason this shipper does not know is a permanent error too. */
static void
test_unknown_reason_stops(void **state)
{
	static const char *const json =
		"{\"v\":1,\"id\":\"u-1\",\"aggregate_type\":\"order\",\"aggregate_id\":null,\"event_type\":null,"
		"\"payload\":null,\"headers\":null,\"created_at\":null,\"rejected\":\"quarantined\"" POSITION;
	Fixture *f = *state;

	assert_int_equal(produce_json_and_wait(f, json), KAFKA_FAILED);
	assert_non_null(strstr(kafka_failure(f->kafka),
						   "event u-1 (commit LSN 0/200, seq 0) cannot be delivered: the plugin rejected it as quarantined;"));
	expect_metric(f, "outbox_shipper_events_rejected_total{reason=\"other\"} 1");
	expect_metric(f, "outbox_shipper_delivery_errors_total{kind=\"REJECTED\"} 1");
}

/* A message that is not an event, under the dead-letter policy: its bytes
 * to the dead-letter topic with the parse error, confirmed after. */
static void
test_malformed_dead_lettered(void **state)
{
	static const char message[] = "{\"v\":1,\"id\":null,\"payload\":\"x\"" POSITION;
	Fixture *f = *state;
	EventPosition position;
	char err[256];
	TrackerTxn txn;
	Record r;

	assert_int_equal(event_recover_position(message, strlen(message), &position, err, sizeof(err)), 0);
	txn = tracker_add_event(f->tracker, position.commit_lsn, strlen(message));
	tracker_end_txn(f->tracker, txn, position.end_lsn);
	assert_int_equal(kafka_dead_letter_malformed(f->kafka, message, strlen(message), &position,
												 "\"id\" must be a string at byte 12", txn),
					 KAFKA_QUEUED);
	wait_dead_lettered(f, 1);
	assert_null(kafka_failure(f->kafka));
	assert_true(tracker_confirmed(f->tracker) == 0x230);
	expect_metric(f, "outbox_shipper_delivery_errors_total{kind=\"MALFORMED_EVENT\"} 1");
	consume_first(f, "dlq", &r);
	assert_string_equal(r.value, message);
	expect_header(&r, "id=(null)");
	expect_header(&r, "outbox_commit_lsn=0/200");
	expect_header(&r, "outbox_error=\"id\" must be a string at byte 12");
	expect_header(&r, "outbox_error_code=MALFORMED_EVENT");
}

/*
 * Topic names are rendered once and kept, with librdkafka's handles, for a
 * few topics at a time: each event still reaches its own topic when there
 * are more topics than are kept, and when a kept one comes back.
 */
static void
test_topics_by_aggregate_type(void **state)
{
	Fixture *f = *state;
	static const int types[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
								18, 19, 0, 19, 5, 5};
	char json[1024];
	char line[128];
	int counts[20] = {0};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
	{
		snprintf(json, sizeof(json),
				 "{\"v\":1,\"id\":\"e-%zu\",\"aggregate_type\":\"t%d\",\"aggregate_id\":\"42\","
				 "\"event_type\":\"created\",\"payload\":{},\"headers\":null,\"created_at\":null,"
				 "\"commit_lsn\":\"0/%zX00\",\"seq\":0,\"last\":true,\"end_lsn\":\"0/%zX30\"}",
				 i, types[i], i + 1, i + 1);
		assert_int_equal(produce_json_and_wait(f, json), KAFKA_QUEUED);
		assert_null(kafka_failure(f->kafka));
		counts[types[i]]++;
	}
	assert_int_equal(kafka_delivered(f->kafka), (long) (sizeof(types) / sizeof(types[0])));
	for (i = 0; i < 20; i++)
	{
		snprintf(line, sizeof(line), "outbox_shipper_events_shipped_total{topic=\"outbox.event.t%zu\"} %d",
				 i, counts[i]);
		expect_metric(f, line);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_retriable_errors_are_retried, setup_stop, teardown),
		cmocka_unit_test_setup_teardown(test_permanent_error_stops, setup_stop, teardown),
		cmocka_unit_test_setup_teardown(test_permanent_error_dead_letters, setup_dead_letter, teardown),
		cmocka_unit_test_setup_teardown(test_cluster_error_not_dead_lettered, setup_dead_letter, teardown),
		cmocka_unit_test_setup_teardown(test_topic_metadata_error_retried, setup_dead_letter, teardown),
		cmocka_unit_test_setup_teardown(test_unauthenticated_dead_lettered, setup_stop, teardown),
		cmocka_unit_test_setup_teardown(test_unauthenticated_dropped, setup_stop_no_dead_letter_topic, teardown),
		cmocka_unit_test_setup_teardown(test_unauthenticated_dead_letter_refused, setup_dead_letter, teardown),
		cmocka_unit_test_setup_teardown(test_too_large_stops, setup_stop, teardown),
		cmocka_unit_test_setup_teardown(test_too_large_dead_lettered, setup_dead_letter, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_reason_stops, setup_stop, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_dead_lettered, setup_dead_letter, teardown),
		cmocka_unit_test_setup_teardown(test_broker_down_confirms_nothing, setup_stop, teardown),
		cmocka_unit_test_setup_teardown(test_fatal_error_stops, setup_stop, teardown),
		cmocka_unit_test_setup_teardown(test_caps_bound_the_queue, setup_caps, teardown),
		cmocka_unit_test_setup_teardown(test_topics_by_aggregate_type, setup_stop, teardown),
	};

	return cmocka_run_group_tests_name("kafka on the mock cluster", tests, NULL, NULL);
}
