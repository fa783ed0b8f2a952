/*
 * Unit tests: the Prometheus text of a MetricsView (exposition.c).
 * promtool checks the served text end to end (tests/e2e/relay_http.sh);
 * here, exact lines for exact inputs.
 */
#include "unit.h"

#include "metrics.h"

/* Fails unless text has line as a whole line. */
static void
expect_line(const char *text, const char *line)
{
	const char *p = text;
	size_t len = strlen(line);

	while ((p = strstr(p, line)) != NULL)
	{
		if ((p == text || p[-1] == '\n') && p[len] == '\n')
			return;
		p += len;
	}
	fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void
expect_no(const char *text, const char *fragment)
{
	if (strstr(text, fragment) != NULL)
		fail_msg("unexpected \"%s\" in:\n%s", fragment, text);
}

static char *
render(const MetricsView *view)
{
	TextBuffer out = {0};

	metrics_render(view, &out);
	assert_false(out.failed);
	return out.data;
}

static void
test_values(void **state)
{
	MetricsView v;
	char *text;

	memset(&v, 0, sizeof(v));
	v.version = "0.1.0";
	v.librdkafka_version = "2.0.2";
	v.libpq_version = "15.20";
	v.state = STATE_STREAMING;
	v.kafka_reachable = 1;
	v.kafka_below_min_isr = 3;
	v.counters.events_received = 12;
	v.counters.events_skipped = 2;
	v.counters.inflight_events = 3;
	v.counters.inflight_bytes = 4096;
	v.counters.connections = 3;
	v.counters.server_lsn = 0x16B3F00;
	v.counters.confirmed_lsn = 0x16B3A00;
	v.counters.events_dead_lettered = 1;
	v.last_commit_usec = INT64_C(1795334400123456);
	v.now_usec = INT64_C(1795334402623456);
	v.loop_silent_usec = 1250000;
	v.process_start_seconds = 1795334000.5;
	v.process_cpu_seconds = 1.25;
	v.process_rss_bytes = 24117248;
	labels_add(&v.shipped, "outbox.event.order", 7, 700);
	labels_add(&v.shipped, "outbox.event.customer", 3, 90);
	labels_add(&v.delivery_errors, "MSG_SIZE_TOO_LARGE", 1, 0);
	labels_add(&v.client_errors, "_ALL_BROKERS_DOWN", 2, 0);
	labels_add(&v.rejected, "unauthenticated", 4, 0);
	labels_add(&v.rejected, "too_large", 1, 0);
	text = render(&v);

	expect_line(text, "outbox_shipper_build_info{version=\"0.1.0\",librdkafka=\"2.0.2\",libpq=\"15.20\"} 1");
	expect_line(text, "outbox_shipper_state{state=\"streaming\"} 1");
	expect_line(text, "outbox_shipper_state{state=\"standby\"} 0");
	expect_line(text, "outbox_shipper_kafka_reachable 1");
	expect_line(text, "outbox_shipper_kafka_partitions_below_min_isr 3");
	expect_line(text, "# TYPE outbox_shipper_main_loop_stalled_seconds gauge");
	expect_line(text, "outbox_shipper_main_loop_stalled_seconds 1.250000");
	expect_line(text, "outbox_shipper_events_received_total 12");
	expect_line(text, "outbox_shipper_events_skipped_total 2");
	expect_line(text, "outbox_shipper_events_shipped_total{topic=\"outbox.event.customer\"} 3");
	expect_line(text, "outbox_shipper_events_shipped_total{topic=\"outbox.event.order\"} 7");
	expect_line(text, "outbox_shipper_bytes_shipped_total{topic=\"outbox.event.order\"} 700");
	expect_line(text, "outbox_shipper_events_dead_lettered_total 1");
	expect_line(text, "# TYPE outbox_shipper_events_rejected_total counter");
	expect_line(text, "outbox_shipper_events_rejected_total{reason=\"too_large\"} 1");
	expect_line(text, "outbox_shipper_events_rejected_total{reason=\"unauthenticated\"} 4");
	expect_line(text, "outbox_shipper_inflight_events 3");
	expect_line(text, "outbox_shipper_inflight_bytes 4096");
	expect_line(text, "outbox_shipper_confirmed_lsn 23804416");
	expect_line(text, "outbox_shipper_server_lsn 23805696");
	expect_line(text, "outbox_shipper_slot_lag_bytes 1280");
	expect_line(text, "outbox_shipper_last_delivered_commit_timestamp_seconds 1795334400.123456");
	expect_line(text, "outbox_shipper_last_delivered_commit_age_seconds 2.500000");
	expect_line(text, "outbox_shipper_connections_total 3");
	expect_line(text, "outbox_shipper_reconnects_total 2");
	expect_line(text, "outbox_shipper_delivery_errors_total{kind=\"MSG_SIZE_TOO_LARGE\"} 1");
	expect_line(text, "outbox_shipper_kafka_client_errors_total{kind=\"_ALL_BROKERS_DOWN\"} 2");
	expect_line(text, "process_start_time_seconds 1795334000.500000");
	expect_line(text, "process_cpu_seconds_total 1.250000");
	expect_line(text, "process_resident_memory_bytes 24117248");
	expect_line(text, "# TYPE outbox_shipper_events_shipped_total counter");
	expect_line(text, "# TYPE outbox_shipper_inflight_events gauge");
	/* Sorted by label: customer before order. */
	assert_true(strstr(text, "topic=\"outbox.event.customer\"") < strstr(text, "topic=\"outbox.event.order\""));
	free(text);
	labels_free(&v.shipped);
	labels_free(&v.delivery_errors);
	labels_free(&v.client_errors);
	labels_free(&v.rejected);
}

/* Before anything is known, no made-up samples. */
static void
test_nothing_known_yet(void **state)
{
	MetricsView v;
	char *text;

	memset(&v, 0, sizeof(v));
	v.kafka_reachable = -1;
	v.kafka_below_min_isr = -1;
	text = render(&v);
	expect_line(text, "outbox_shipper_state{state=\"starting\"} 1");
	expect_line(text, "outbox_shipper_build_info{version=\"\",librdkafka=\"\",libpq=\"\"} 1");
	expect_line(text, "outbox_shipper_reconnects_total 0");
	expect_line(text, "# TYPE outbox_shipper_events_shipped_total counter");
	expect_no(text, "outbox_shipper_events_shipped_total{");
	expect_line(text, "# TYPE outbox_shipper_events_rejected_total counter");
	expect_no(text, "outbox_shipper_events_rejected_total{");
	expect_no(text, "outbox_shipper_kafka_reachable");
	expect_no(text, "outbox_shipper_kafka_partitions_below_min_isr");
	expect_no(text, "outbox_shipper_confirmed_lsn");
	expect_no(text, "outbox_shipper_slot_lag_bytes");
	expect_no(text, "last_delivered_commit");
	expect_no(text, "process_");
	free(text);
}

/* Label values are escaped: backslash, quote, newline. */
static void
test_escaping(void **state)
{
	MetricsView v;
	char *text;

	memset(&v, 0, sizeof(v));
	v.version = "a\"b\\c\nd";
	labels_add(&v.delivery_errors, "x\"y", 1, 0);
	text = render(&v);
	expect_line(text, "outbox_shipper_build_info{version=\"a\\\"b\\\\c\\nd\",librdkafka=\"\",libpq=\"\"} 1");
	expect_line(text, "outbox_shipper_delivery_errors_total{kind=\"x\\\"y\"} 1");
	free(text);
	labels_free(&v.delivery_errors);
}

/* Server behind the confirmed position (just after a reconnect): lag 0. */
static void
test_lag_never_negative(void **state)
{
	MetricsView v;
	char *text;

	memset(&v, 0, sizeof(v));
	v.counters.server_lsn = 100;
	v.counters.confirmed_lsn = 200;
	text = render(&v);
	expect_line(text, "outbox_shipper_slot_lag_bytes 0");
	free(text);
}

/* The buffer grows past its first allocation. */
static void
test_text_buffer(void **state)
{
	TextBuffer out = {0};
	int i;

	for (i = 0; i < 2000; i++)
		text_append(&out, "%04d;", i);
	assert_false(out.failed);
	assert_int_equal(out.len, 10000);
	assert_int_equal(strncmp(out.data + 9995, "1999;", 5), 0);
	assert_int_equal(out.data[out.len], '\0');
	text_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_nothing_known_yet),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_lag_never_negative),
		cmocka_unit_test(test_text_buffer),
	};

	return cmocka_run_group_tests_name("exposition", tests, NULL, NULL);
}
