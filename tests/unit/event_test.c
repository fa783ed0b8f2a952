/* Unit tests: parsing the plugin's events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"

static int
parse(const char *json, ShipperEvent *e, char *err)
{
	return event_parse(json, strlen(json), e, err, 256);
}

static void
test_full_event(void **state)
{
	const char *json = "{\"v\":1,\"id\":\"5f0c\",\"aggregate_type\":\"order\",\"aggregate_id\":\"42\","
					   "\"event_type\":\"created\",\"payload\":{\"total\":1.10,\"big\":12345678901234567890123,\"s\":\"a\\\"b\"},"
					   "\"headers\":{\"traceparent\":\"00-abc\",\"n\":5,\"o\":{\"x\":[1]}},\"created_at\":\"2026-01-01T00:00:00Z\","
					   "\"commit_lsn\":\"0/1A2B3C8\",\"xid\":751,\"commit_time\":\"2026-01-01T00:00:01Z\",\"seq\":3,"
					   "\"last\":true,\"end_lsn\":\"0/1A2B400\"}";
	ShipperEvent e;
	char err[256];
	const char *payload = "{\"total\":1.10,\"big\":12345678901234567890123,\"s\":\"a\\\"b\"}";

	assert_int_equal(parse(json, &e, err), 0);
	assert_string_equal(e.id, "5f0c");
	assert_string_equal(e.aggregate_type, "order");
	assert_string_equal(e.aggregate_id, "42");
	assert_int_equal(e.aggregate_id_len, 2);
	assert_string_equal(e.event_type, "created");
	/* the payload's bytes exactly as written */
	assert_int_equal(e.payload_len, strlen(payload));
	assert_memory_equal(e.payload, payload, strlen(payload));
	assert_false(e.payload_null);
	assert_false(e.payload_invalid);
	assert_int_equal(e.nheaders, 3);
	assert_string_equal(e.headers[0].name, "traceparent");
	assert_string_equal(e.headers[0].value, "00-abc");
	assert_string_equal(e.headers[1].value, "5");
	assert_string_equal(e.headers[2].value, "{\"x\":[1]}");
	assert_true(e.commit_lsn == 0x1A2B3C8);
	assert_true(e.end_lsn == 0x1A2B400);
	assert_int_equal(e.seq, 3);
	assert_true(e.last);
	event_free(&e);
}

static void
test_escapes_and_nulls(void **state)
{
	const char *json = "{\"v\":1,\"id\":null,\"aggregate_type\":\"t\\u00e9\\n\",\"aggregate_id\":\"a\\u0000b\","
					   "\"event_type\":\"\\ud83d\\ude80\",\"payload\":null,\"headers\":null,\"created_at\":null,"
					   "\"commit_lsn\":\"0/10\",\"seq\":0}";
	ShipperEvent e;
	char err[256];

	assert_int_equal(parse(json, &e, err), 0);
	assert_null(e.id);
	assert_string_equal(e.aggregate_type, "t\xc3\xa9\n");
	assert_int_equal(e.aggregate_id_len, 3);
	assert_memory_equal(e.aggregate_id, "a\0b", 3);
	assert_string_equal(e.event_type, "\xf0\x9f\x9a\x80");
	assert_true(e.payload_null);
	assert_int_equal(e.nheaders, 0);
	assert_false(e.last);
	event_free(&e);
}

static void
test_payload_invalid(void **state)
{
	const char *json = "{\"v\":1,\"id\":\"7\",\"aggregate_type\":\"o\",\"aggregate_id\":\"1\",\"event_type\":\"x\","
					   "\"payload\":\"not {json\\\"\",\"payload_invalid\":true,\"headers\":null,\"created_at\":null,"
					   "\"commit_lsn\":\"0/10\",\"seq\":0,\"last\":true,\"end_lsn\":\"0/20\"}";
	ShipperEvent e;
	char err[256];

	assert_int_equal(parse(json, &e, err), 0);
	assert_true(e.payload_invalid);
	assert_int_equal(e.payload_len, strlen("not {json\""));
	assert_memory_equal(e.payload, "not {json\"", e.payload_len);
	event_free(&e);
}

/* Keys a later minor version may add are skipped. */
static void
test_unknown_keys_skipped(void **state)
{
	const char *json = "{\"v\":1,\"id\":\"1\",\"future\":{\"a\":[1,{\"b\":null}]},\"aggregate_type\":\"o\","
					   "\"aggregate_id\":\"1\",\"event_type\":\"e\",\"payload\":[],\"headers\":{},\"commit_lsn\":\"0/1\",\"seq\":1}";
	ShipperEvent e;
	char err[256];

	assert_int_equal(parse(json, &e, err), 0);
	assert_int_equal(e.payload_len, 2);
	event_free(&e);
}

static void
test_malformed(void **state)
{
	static const struct
	{
		const char *json;
		const char *error;
	} cases[] = {
		{"", "expected '{'"},
		{"{\"v\":1", "expected '}'"},
		{"{\"v\":2,\"seq\":0}", "version 2 is not supported"},
		{"{\"v\":1,\"payload\":{},\"commit_lsn\":\"0/1\"}", "no \"seq\""},
		{"{\"v\":1,\"payload\":{},\"seq\":0}", "no \"commit_lsn"},
		{"{\"v\":1,\"payload\":{},\"seq\":0,\"commit_lsn\":\"0/1\",\"last\":true}", "no \"end_lsn\""},
		{"{\"v\":1,\"seq\":0,\"commit_lsn\":\"0/1\"}", "no \"payload\""},
		{"{\"v\":1,\"payload\":{\"a\":},\"seq\":0,\"commit_lsn\":\"0/1\"}", "invalid number"},
		{"{\"v\":1,\"payload\":[1,2,\"seq\":0}", "expected ']'"},
		{"{\"v\":1,\"payload\":\"a\\qb\",\"seq\":0,\"commit_lsn\":\"0/1\"}", "invalid escape"},
		{"{\"v\":1,\"payload\":\"\\ud800\",\"seq\":0,\"commit_lsn\":\"0/1\"}", "surrogate"},
		{"{\"v\":1,\"payload\":\"a\nb\",\"seq\":0,\"commit_lsn\":\"0/1\"}", "control character"},
		{"{\"v\":1,\"payload\":{},\"seq\":0,\"commit_lsn\":\"zz\"}", "invalid LSN"},
		{"{\"v\":1,\"payload\":{},\"seq\":0,\"commit_lsn\":\"0/1\"} x", "trailing bytes"},
		{"{\"v\":1,\"payload\":{},\"payload_invalid\":true,\"seq\":0,\"commit_lsn\":\"0/1\"}", "not a string"},
		{"{\"v\":1,\"payload\":tru,\"seq\":0,\"commit_lsn\":\"0/1\"}", "invalid literal"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		ShipperEvent e;
		char err[256] = "";

		assert_int_equal(parse(cases[i].json, &e, err), -1);
		if (strstr(err, cases[i].error) == NULL)
			fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err, cases[i].error);
	}
}

static void
test_deep_nesting_refused(void **state)
{
	char json[10000];
	size_t n = 0;
	ShipperEvent e;
	char err[256];
	int i;

	n += (size_t) snprintf(json, sizeof(json), "{\"v\":1,\"seq\":0,\"commit_lsn\":\"0/1\",\"payload\":");
	for (i = 0; i < 3000; i++)
		json[n++] = '[';
	for (i = 0; i < 3000; i++)
		json[n++] = ']';
	json[n++] = '}';
	assert_int_equal(event_parse(json, n, &e, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nested too deeply"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_event),
		cmocka_unit_test(test_escapes_and_nulls),
		cmocka_unit_test(test_payload_invalid),
		cmocka_unit_test(test_unknown_keys_skipped),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_deep_nesting_refused),
	};

	return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
