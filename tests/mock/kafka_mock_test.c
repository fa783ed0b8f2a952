/*
 * Deterministic broker faults for the shipper's producer, on librdkafka's
 * mock cluster (rdkafka_mock.h): retried errors, permanent refusals under
 * both policies, a broker down.  The end-to-end tests cover the same
 * against a real broker; these pin down exact behaviour that a real broker
 * cannot be made to show on demand.
 */
#include <setjmp.h>
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
setup_with(void **state, const char *policy)
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

		assert_int_equal(config_parse(9, argv, envp, &f.config, err, sizeof(err)), 0);
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
	return setup_with(state, "stop");
}

static int
setup_dead_letter(void **state)
{
	return setup_with(state, "dead-letter");
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

/* Produces the event and polls until Kafka has answered (or 10 s). */
static void
produce_and_wait(Fixture *f)
{
	ShipperEvent event;
	char err[256];
	TrackerTxn txn;
	int i;

	assert_int_equal(event_parse(event_json, strlen(event_json), &event, err, sizeof(err)), 0);
	txn = tracker_add_event(f->tracker, event.commit_lsn, strlen(event_json));
	tracker_end_txn(f->tracker, txn, event.end_lsn);
	kafka_produce(f->kafka, &event, event_json, strlen(event_json), txn);
	event_free(&event);
	for (i = 0; i < 100 && kafka_outq_len(f->kafka) > 0 && !kafka_failure(f->kafka); i++)
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

/* A permanent refusal under the stop policy: a failure naming the event,
 * and the position stays before it. */
static void
test_permanent_error_stops(void **state)
{
	Fixture *f = *state;

	rd_kafka_mock_push_request_errors(f->mcluster, API_PRODUCE, 1,
									  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
	produce_and_wait(f);
	assert_non_null(kafka_failure(f->kafka));
	assert_non_null(strstr(kafka_failure(f->kafka), "event e-1 (commit LSN 0/100) cannot be delivered"));
	assert_int_equal(kafka_delivered(f->kafka), 0);
	assert_true(tracker_confirmed(f->tracker) == 0);
	expect_metric(f, "outbox_shipper_delivery_errors_total{kind=\"TOPIC_AUTHORIZATION_FAILED\"} 1");
}

/* Under the dead-letter policy the refused event goes to the dead-letter
 * topic, and counts as delivered once that record is acknowledged. */
static void
test_permanent_error_dead_letters(void **state)
{
	Fixture *f = *state;
	int i;

	rd_kafka_mock_push_request_errors(f->mcluster, API_PRODUCE, 1,
									  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
	produce_and_wait(f);
	for (i = 0; i < 100 && kafka_dead_lettered(f->kafka) == 0; i++)
		kafka_poll(f->kafka, 100);
	assert_null(kafka_failure(f->kafka));
	assert_int_equal(kafka_delivered(f->kafka), 0);
	assert_int_equal(kafka_dead_lettered(f->kafka), 1);
	assert_true(tracker_confirmed(f->tracker) == 0x130);
	expect_metric(f, "outbox_shipper_delivery_errors_total{kind=\"TOPIC_AUTHORIZATION_FAILED\"} 1");
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_retriable_errors_are_retried, setup_stop, teardown),
		cmocka_unit_test_setup_teardown(test_permanent_error_stops, setup_stop, teardown),
		cmocka_unit_test_setup_teardown(test_permanent_error_dead_letters, setup_dead_letter, teardown),
		cmocka_unit_test_setup_teardown(test_broker_down_confirms_nothing, setup_stop, teardown),
		cmocka_unit_test_setup_teardown(test_fatal_error_stops, setup_stop, teardown),
		cmocka_unit_test_setup_teardown(test_caps_bound_the_queue, setup_caps, teardown),
	};

	return cmocka_run_group_tests_name("kafka on the mock cluster", tests, NULL, NULL);
}
