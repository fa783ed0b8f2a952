/*
 * cloudevents_test.c
 *	  Unit tests of shipper/cloudevents.c: events parsed as the shipper
 *	  parses them (event.c), then their CloudEvents attributes, the time
 *	  from created_at, the source, reserved header names and the structured
 *	  JSON, byte for byte.
 */
#include "unit.h"

#include "cloudevents.h"
#include "event.h"

#define SOURCE "/outbox_pg/postgres"

/* An event of the plugin's format; each argument is JSON text. */
static char *
event_json(const char *id, const char *aggregate_id, const char *event_type,
		   const char *payload, const char *created_at)
{
	static char buf[2048];

	snprintf(buf, sizeof(buf),
			 "{\"v\":1,\"id\":%s,\"aggregate_type\":\"order\",\"aggregate_id\":%s,"
			 "\"event_type\":%s,\"payload\":%s%s,\"headers\":null,\"created_at\":%s,"
			 "\"commit_lsn\":\"0/1A2B3C8\",\"seq\":0,\"last\":true,\"end_lsn\":\"0/1A2B400\"}",
			 id, aggregate_id, event_type, payload,
			 payload[0] == '"' ? ",\"payload_invalid\":true" : "", created_at);
	return buf;
}

static void
parse(const char *json, ShipperEvent *event)
{
	char errstr[512];

	if (event_parse(json, strlen(json), event, errstr, sizeof(errstr)) != 0)
		fail_msg("event does not parse: %s: %s", errstr, json);
}

/* The CloudEvent of an event whose value is its payload, as kafka.c asks. */
static int
from_event(const ShipperEvent *event, CloudEvent *ce, char *errstr, size_t size)
{
	return cloudevents_from_event(event, SOURCE, strlen(SOURCE),
								  event->payload_null ? NULL : event->payload,
								  event->payload_len, event->payload_invalid, ce,
								  errstr, size);
}

static void
test_rfc3339(void **state)
{
	static const struct
	{
		const char *text;
		bool valid;
	} cases[] = {
		{"2026-11-22T12:00:00Z", true},
		{"2026-11-22T12:00:00.1Z", true},
		{"2026-11-22T12:00:00.123456Z", true},
		{"2026-11-22t12:00:00.5z", true},
		{"2026-11-22T12:00:00+05:30", true},
		{"2026-11-22T12:00:00.25-08:00", true},
		{"2024-02-29T00:00:00Z", true},
		{"2016-12-31T23:59:60Z", true},
		{"0001-01-01T00:00:00Z", true},
		{"2026-11-22T12:00:00", false}, /* timestamp without time zone */
		{"2026-11-22T12:00:00.123456", false},
		{"2026-11-22 12:00:00Z", false},
		{"2026-11-22T12:00:00.Z", false},
		{"2026-11-22T12:00Z", false},
		{"infinity", false},
		{"-infinity", false},
		{"+294276-01-01T00:00:00Z", false},
		{"2023-02-29T00:00:00Z", false},
		{"1900-02-29T00:00:00Z", false},
		{"2026-13-01T00:00:00Z", false},
		{"2026-00-01T00:00:00Z", false},
		{"2026-11-31T00:00:00Z", false},
		{"2026-11-22T24:00:00Z", false},
		{"2026-11-22T12:60:00Z", false},
		{"2026-11-22T12:00:61Z", false},
		{"2026-11-22T12:00:00+0530", false},
		{"2026-11-22T12:00:00+24:00", false},
		{"2026-11-22T12:00:00+05:30x", false},
		{"2026-11-22T12:00:00ZZ", false},
		{"", false},
	};
	size_t i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cloudevents_is_rfc3339(cases[i].text, strlen(cases[i].text)) != cases[i].valid)
			fail_msg("\"%s\": want %s", cases[i].text, cases[i].valid ? "valid" : "invalid");
}

static void
test_uri_reference(void **state)
{
	static const struct
	{
		const char *text;
		bool valid;
	} cases[] = {
		{"/outbox_pg/postgres", true},
		{"/outbox_pg/my%20db", true},
		{"https://example.com/orders?x=1&y=2#top", true},
		{"urn:outbox:orders", true},
		{"//host:80/p", true},
		{"http://[::1]:8080/x", true},
		{"mailto:orders@example.com", true},
		{"orders", true},
		{"./a:b", true},
		{"", false},
		{"a b", false},
		{"1http://x", false},
		{"a_b:c", false}, /* a relative reference's first segment has no colon */
		{"/p#a#b", false},
		{"/p%zz", false},
		{"/p%2", false},
		{"/a[b]", false},
		{"/caf\xc3\xa9", false},
		{"/a\"b", false},
		{"/a\\b", false},
	};
	size_t i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cloudevents_is_uri_reference(cases[i].text, strlen(cases[i].text)) !=
			cases[i].valid)
			fail_msg("\"%s\": want %s", cases[i].text, cases[i].valid ? "valid" : "invalid");
}

static void
test_default_source(void **state)
{
	char buf[CLOUDEVENTS_SOURCE_MAX + 1];
	char small[16];

	(void) state;
	assert_int_equal(0, cloudevents_default_source("postgres", buf, sizeof(buf)));
	EXPECT_STR("plain name", "/outbox_pg/postgres", buf);
	assert_int_equal(0, cloudevents_default_source("my db/caf\xc3\xa9%~x", buf, sizeof(buf)));
	EXPECT_STR("encoded name", "/outbox_pg/my%20db%2Fcaf%C3%A9%25~x", buf);
	assert_true(cloudevents_is_uri_reference(buf, strlen(buf)));
	assert_int_equal(-1, cloudevents_default_source("a_rather_long_name", small, sizeof(small)));
	assert_int_equal(0, cloudevents_default_source("abcd", small, sizeof(small)));
	EXPECT_STR("exactly fits", "/outbox_pg/abcd", small);
}

static void
test_reserved_header(void **state)
{
	static const struct
	{
		const char *name;
		bool reserved;
	} cases[] = {
		{"ce_id", true},
		{"ce_source", true},
		{"CE_SOURCE", true},
		{"Ce_specversion", true},
		{"ce_", true},
		{"ce_myextension", true},
		{"content-type", true},
		{"Content-Type", true},
		{"ce", false},
		{"cex", false},
		{"ce-id", false},
		{"x-ce_id", false},
		{"traceparent", false},
		{"content-typ", false},
		{"content-types", false},
		{"id", false},
	};
	size_t i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cloudevents_reserved_header(cases[i].name, strlen(cases[i].name)) !=
			cases[i].reserved)
			fail_msg("\"%s\": want %s", cases[i].name,
					 cases[i].reserved ? "reserved" : "not reserved");
}

static void
test_attributes(void **state)
{
	ShipperEvent e;
	CloudEvent ce;
	char errstr[512];

	(void) state;
	parse(event_json("\"5f0c-1\"", "\"42\"", "\"created\"", "{\"total\":1.10}",
					 "\"2026-11-22T12:00:00.12345Z\""),
		  &e);
	assert_int_equal(0, from_event(&e, &ce, errstr, sizeof(errstr)));
	EXPECT_BYTES("id", "5f0c-1", 6, ce.id, ce.id_len);
	EXPECT_BYTES("source", SOURCE, strlen(SOURCE), ce.source, ce.source_len);
	EXPECT_BYTES("type", "created", 7, ce.type, ce.type_len);
	EXPECT_BYTES("time", "2026-11-22T12:00:00.12345Z", 26, ce.time, ce.time_len);
	EXPECT_BYTES("subject", "42", 2, ce.subject, ce.subject_len);
	EXPECT_BYTES("data", "{\"total\":1.10}", 14, ce.data, ce.data_len);
	EXPECT_STR("datacontenttype", "application/json", ce.datacontenttype);
	assert_true(ce.data_is_json);
	event_free(&e);
}

/* Optional attributes are left out when the event has nothing valid for them. */
static void
test_optional_attributes(void **state)
{
	static const struct
	{
		const char *aggregate_id;
		const char *created_at;
	} cases[] = {
		{"null", "null"},
		{"\"\"", "\"2026-11-22T12:00:00\""}, /* timestamp without time zone */
		{"null", "\"infinity\""},
		{"null", "\"+294276-12-31T23:59:59Z\""},
	};
	ShipperEvent e;
	CloudEvent ce;
	char errstr[512];
	size_t i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		parse(event_json("\"1\"", cases[i].aggregate_id, "\"t\"", "null", cases[i].created_at), &e);
		assert_int_equal(0, from_event(&e, &ce, errstr, sizeof(errstr)));
		if (ce.subject != NULL || ce.time != NULL || ce.data != NULL || ce.datacontenttype != NULL)
			fail_msg("case %zu: want no subject, time, data or datacontenttype", i);
		event_free(&e);
	}
}

static void
test_text_payload(void **state)
{
	ShipperEvent e;
	CloudEvent ce;
	char errstr[512];

	(void) state;
	parse(event_json("\"1\"", "\"a\"", "\"t\"", "\"not {json\\n\"", "null"), &e);
	assert_int_equal(0, from_event(&e, &ce, errstr, sizeof(errstr)));
	EXPECT_BYTES("data", "not {json\n", 10, ce.data, ce.data_len);
	EXPECT_STR("datacontenttype", "text/plain; charset=utf-8", ce.datacontenttype);
	assert_false(ce.data_is_json);
	event_free(&e);
}

/* Events that cannot be CloudEvents, and why. */
static void
test_invalid_events(void **state)
{
	static const struct
	{
		const char *id;
		const char *aggregate_id;
		const char *event_type;
		const char *error;
	} cases[] = {
		{"\"1\"", "\"a\"", "null", "it has no event_type, which a CloudEvent requires"},
		{"\"1\"", "\"a\"", "\"\"", "it has no event_type, which a CloudEvent requires"},
		{"\"\"", "\"a\"", "\"t\"", "it has no id, which a CloudEvent requires"},
		{"\"a\\nb\"", "\"a\"", "\"t\"", "its id holds characters"},
		{"\"1\"", "\"a\"", "\"t\\u0000\"", "its type holds characters"},
		{"\"1\"", "\"a\"", "\"t\\u0085\"", "its type holds characters"},
		{"\"1\"", "\"a\\u007f\"", "\"t\"", "its subject (aggregate_id) holds characters"},
		{"\"1\\ufdd0\"", "\"a\"", "\"t\"", "its id holds characters"},
		{"\"1\\uffff\"", "\"a\"", "\"t\"", "its id holds characters"},
		{"\"1\\ud83f\\udffe\"", "\"a\"", "\"t\"", "its id holds characters"}, /* U+1FFFE */
	};
	ShipperEvent e;
	CloudEvent ce;
	char errstr[512];
	size_t i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		parse(event_json(cases[i].id, cases[i].aggregate_id, cases[i].event_type, "{}", "null"),
			  &e);
		errstr[0] = '\0';
		if (from_event(&e, &ce, errstr, sizeof(errstr)) != -1)
			fail_msg("case %zu: want an error", i);
		EXPECT_CONTAINS("error", cases[i].error, errstr);
		event_free(&e);
	}
	/* Non-ASCII text that is allowed. */
	parse(event_json("\"caf\xc3\xa9-\xf0\x9f\x98\x80\"", "\"\\u00e9\"", "\"t\"", "{}", "null"), &e);
	assert_int_equal(0, from_event(&e, &ce, errstr, sizeof(errstr)));
	event_free(&e);
}

static void
expect_structured(const char *what, const char *json, const char *want)
{
	CloudEventBuffer buf = {NULL, 0, 0};
	ShipperEvent e;
	CloudEvent ce;
	char errstr[512];

	parse(json, &e);
	assert_int_equal(0, from_event(&e, &ce, errstr, sizeof(errstr)));
	assert_int_equal(0, cloudevents_structured(&ce, &buf));
	EXPECT_BYTES(what, want, strlen(want), buf.data, buf.len);
	/* The buffer is reused: a shorter event after a longer one. */
	assert_int_equal(0, cloudevents_structured(&ce, &buf));
	EXPECT_BYTES(what, want, strlen(want), buf.data, buf.len);
	cloudevents_buffer_free(&buf);
	event_free(&e);
}

static void
test_structured(void **state)
{
	(void) state;
	expect_structured("json data",
					  event_json("\"5f0c\"", "\"42\"", "\"created\"",
								 "{\"total\":1.10,\"big\":123456789012345678901234567890}",
								 "\"2026-11-22T12:00:00.5Z\""),
					  "{\"specversion\":\"1.0\",\"id\":\"5f0c\",\"source\":\"" SOURCE "\","
					  "\"type\":\"created\",\"time\":\"2026-11-22T12:00:00.5Z\",\"subject\":\"42\","
					  "\"datacontenttype\":\"application/json\","
					  "\"data\":{\"total\":1.10,\"big\":123456789012345678901234567890}}");
	expect_structured("no data, no time, no subject",
					  event_json("\"1\"", "null", "\"t\"", "null", "\"2026-11-22T12:00:00\""),
					  "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"" SOURCE "\",\"type\":\"t\"}");
	expect_structured("text data and attributes escaped",
					  event_json("\"q\\\"\\\\\"", "\"caf\\u00e9\"", "\"t\"",
								 "\"a\\tb\\n\\u0001\\\"\\\\ \\u00e9\"", "null"),
					  "{\"specversion\":\"1.0\",\"id\":\"q\\\"\\\\\",\"source\":\"" SOURCE "\","
					  "\"type\":\"t\",\"subject\":\"caf\xc3\xa9\","
					  "\"datacontenttype\":\"text/plain; charset=utf-8\","
					  "\"data\":\"a\\tb\\n\\u0001\\\"\\\\ \xc3\xa9\"}");
}

/* A large text payload: every byte escaped at worst, within the bound. */
static void
test_structured_large_text(void **state)
{
	CloudEventBuffer buf = {NULL, 0, 0};
	CloudEvent ce;
	size_t n = 100000;
	char *text = malloc(n);
	size_t i;

	(void) state;
	for (i = 0; i < n; i++)
		text[i] = (char) (i % 32);
	memset(&ce, 0, sizeof(ce));
	ce.id = "1";
	ce.id_len = 1;
	ce.source = SOURCE;
	ce.source_len = strlen(SOURCE);
	ce.type = "t";
	ce.type_len = 1;
	ce.data = text;
	ce.data_len = n;
	ce.datacontenttype = CLOUDEVENTS_TEXT_TYPE;
	assert_int_equal(0, cloudevents_structured(&ce, &buf));
	assert_true(buf.len <= buf.capacity);
	assert_true(buf.len > 5 * n);
	assert_int_equal('}', buf.data[buf.len - 1]);
	cloudevents_buffer_free(&buf);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_uri_reference),
		cmocka_unit_test(test_default_source),
		cmocka_unit_test(test_reserved_header),
		cmocka_unit_test(test_attributes),
		cmocka_unit_test(test_optional_attributes),
		cmocka_unit_test(test_text_payload),
		cmocka_unit_test(test_invalid_events),
		cmocka_unit_test(test_structured),
		cmocka_unit_test(test_structured_large_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
