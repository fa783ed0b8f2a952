/*
 * Unit tests: outbox events from pgoutput's messages.  The whole-format
 * identity with the plugin is tests/e2e/pgoutput_identity.sh; these pin
 * the time conversions and what happens on messages out of order.
 */
#include "unit.h"

#include "pgoutput.h"
#include "pgoutput_events.h"

static void
test_timestamps(void **state)
{
	static const struct
	{
		const char *text;
		bool utc;
		const char *want; /* NULL: refused */
	} cases[] = {
		{"2026-11-29 12:00:00+00", true, "\"2026-11-29T12:00:00Z\""},
		{"2026-11-29 12:00:00.120+05:30", true, "\"2026-11-29T06:30:00.12Z\""},
		{"2026-11-29 23:30:00.000001-01", true, "\"2026-11-30T00:30:00.000001Z\""},
		{"2024-02-29 23:59:59.5-00:00:01", true, "\"2024-03-01T00:00:00.5Z\""},
		{"2000-01-01 00:00:00+14", true, "\"1999-12-31T10:00:00Z\""},
		{"0044-03-15 12:00:00-03:30:52 BC", true, "\"-0043-03-15T15:30:52Z\""},
		{"0001-01-01 00:00:00+00 BC", true, "\"0000-01-01T00:00:00Z\""},
		{"0001-01-01 00:00:00+01", true, "\"0000-12-31T23:00:00Z\""},
		{"294276-12-31 23:59:59.999999+00", true, "\"+294276-12-31T23:59:59.999999Z\""},
		{"infinity", true, "\"infinity\""},
		{"-infinity", false, "\"-infinity\""},
		{"2026-01-02 03:04:05.5", false, "\"2026-01-02T03:04:05.5\""},
		{"4713-11-24 00:00:00 BC", false, "\"-4712-11-24T00:00:00\""},
		{"2026-11-29 12:00:00", true, NULL}, /* no offset */
		{"2026-11-29 12:00:00+00", false, NULL}, /* an offset on a timestamp */
		{"Sun Nov 29 12:00:00 2026 UTC", true, NULL}, /* another DateStyle */
		{"2026-11-29T12:00:00+00", true, NULL},
		{"2026-13-29 12:00:00+00", true, NULL},
		{"2026-11-29 12:00:00.1234567+00", true, NULL},
		{"2026-11-29 12:00:00+00 AD", true, NULL},
		{"", true, NULL},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char out[64];
		size_t len = 0;
		int rc = pgo_format_timestamp(cases[i].text, strlen(cases[i].text), cases[i].utc,
									  out, &len);

		if (cases[i].want == NULL)
		{
			if (rc != -1)
				fail_msg("\"%s\" was accepted as \"%.*s\"", cases[i].text, (int) len, out);
			continue;
		}
		if (rc != 0)
			fail_msg("\"%s\" was refused", cases[i].text);
		EXPECT_BYTES(cases[i].text, cases[i].want, strlen(cases[i].want), out, len);
	}
}

static void
test_commit_times(void **state)
{
	static const struct
	{
		int64_t pg_usec;
		const char *want;
	} cases[] = {
		{0, "\"2000-01-01T00:00:00Z\""},
		{1, "\"2000-01-01T00:00:00.000001Z\""},
		{-1, "\"1999-12-31T23:59:59.999999Z\""},
		{INT64_C(848232011393371), "\"2026-11-17T12:00:11.393371Z\""},
		{INT64_C(86400000000) * 60 - 500000, "\"2000-02-29T23:59:59.5Z\""},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char out[64];
		size_t len = pgo_format_commit_time(cases[i].pg_usec, out);

		EXPECT_BYTES(cases[i].want, cases[i].want, strlen(cases[i].want), out, len);
	}
}

/* ---- Feeding messages ---- */

typedef struct Collected
{
	char events[4][512];
	int n;
} Collected;

static int
collect(void *arg, const char *json, size_t len)
{
	Collected *c = arg;

	assert_true(c->n < 4 && len < sizeof(c->events[0]));
	memcpy(c->events[c->n], json, len);
	c->events[c->n++][len] = '\0';
	return 0;
}

/* Relation 16384 "public"."t" is declared with id and payload (text). */
static int
lookup(void *arg, const PgoMessage *relation, PgoLayout *layout, char *errstr,
	   size_t errstr_size)
{
	int *calls = arg;

	(*calls)++;
	if (relation->relid == 0xDEAD)
	{
		snprintf(errstr, errstr_size, "the catalog connection is down");
		return -1;
	}
	if (relation->relid != 16384)
		return 0;
	strcpy(layout->columns[PGO_FIELD_ID], "id");
	layout->base_types[PGO_FIELD_ID] = 25;
	strcpy(layout->columns[PGO_FIELD_PAYLOAD], "payload");
	layout->base_types[PGO_FIELD_PAYLOAD] = 25;
	return 1;
}

/* A Relation message for relid with columns "payload" and "id" (text). */
static size_t
relation_message(char *buf, uint32_t relid)
{
	static const char tail[] = "public\0t\0d\0\2"
							   "\0payload\0\0\0\0\x19\xff\xff\xff\xff"
							   "\1id\0\0\0\0\x19\xff\xff\xff\xff";

	buf[0] = 'R';
	buf[1] = (char) (relid >> 24);
	buf[2] = (char) (relid >> 16);
	buf[3] = (char) (relid >> 8);
	buf[4] = (char) relid;
	memcpy(buf + 5, tail, sizeof(tail) - 1);
	return 5 + sizeof(tail) - 1;
}

/* An Insert into relid of (payload, id) = (payload text, id text or NULL). */
static size_t
insert_message(char *buf, uint32_t relid, const char *payload, const char *id)
{
	size_t len = 0;
	size_t n;

	buf[len++] = 'I';
	buf[len++] = (char) (relid >> 24);
	buf[len++] = (char) (relid >> 16);
	buf[len++] = (char) (relid >> 8);
	buf[len++] = (char) relid;
	buf[len++] = 'N';
	buf[len++] = 0;
	buf[len++] = 2;
	buf[len++] = 't';
	n = strlen(payload);
	buf[len++] = 0;
	buf[len++] = 0;
	buf[len++] = 0;
	buf[len++] = (char) n;
	memcpy(buf + len, payload, n);
	len += n;
	if (id == NULL)
	{
		buf[len++] = 'n';
		return len;
	}
	buf[len++] = 't';
	n = strlen(id);
	buf[len++] = 0;
	buf[len++] = 0;
	buf[len++] = 0;
	buf[len++] = (char) n;
	memcpy(buf + len, id, n);
	return len + n;
}

static const char begin_hex[] = "B\0\0\0\0\1\x53\xe3\xf8\0\0\0\0\0\0\0\0\0\0\2\xd7";
static const char commit_hex[] = "C\0\0\0\0\0\1\x53\xe3\xf8\0\0\0\0\1\x53\xe4\x28\0\0\0\0\0\0\0\0";

static int
feed(PgoEvents *events, const char *buf, size_t len, char *errstr)
{
	static const PgoContext context = {false, false};
	PgoMessage msg;

	if (pgoutput_parse(buf, len, &context, &msg, errstr, 256) != 0)
		fail_msg("unparseable test message: %s", errstr);
	return pgo_events_feed(events, &msg, errstr, 256);
}

static void
test_transaction(void **state)
{
	Collected collected = {.n = 0};
	int calls = 0;
	PgoEvents *events = pgo_events_new(lookup, &calls, collect, &collected);
	char buf[256];
	char errstr[256];

	assert_int_equal(feed(events, buf, relation_message(buf, 16384), errstr), 0);
	assert_int_equal(feed(events, buf, relation_message(buf, 16385), errstr), 0);
	assert_int_equal(calls, 2);
	assert_int_equal(feed(events, begin_hex, sizeof(begin_hex) - 1, errstr), 0);
	assert_int_equal(feed(events, buf, insert_message(buf, 16384, "{ \"a\" : 1 }", "e1"), errstr), 0);
	/* held back until the next event or the commit */
	assert_int_equal(collected.n, 0);
	assert_int_equal(feed(events, buf, insert_message(buf, 16385, "{}", "other"), errstr), 0);
	assert_int_equal(feed(events, buf, insert_message(buf, 16384, "no json", NULL), errstr), 0);
	assert_int_equal(collected.n, 1);
	assert_int_equal(feed(events, commit_hex, sizeof(commit_hex) - 1, errstr), 0);
	assert_int_equal(collected.n, 2);
	EXPECT_STR("first event",
			   "{\"v\":1,\"id\":\"e1\",\"aggregate_type\":null,\"aggregate_id\":null,"
			   "\"event_type\":null,\"payload\":{\"a\":1},\"headers\":null,\"created_at\":null,"
			   "\"commit_lsn\":\"0/153E3F8\",\"xid\":727,\"commit_time\":\"2000-01-01T00:00:00Z\",\"seq\":0}",
			   collected.events[0]);
	EXPECT_STR("last event",
			   "{\"v\":1,\"id\":\"0/153E3F8:1\",\"id_generated\":true,\"aggregate_type\":null,"
			   "\"aggregate_id\":null,\"event_type\":null,\"payload\":\"no json\",\"payload_invalid\":true,"
			   "\"headers\":null,\"created_at\":null,\"commit_lsn\":\"0/153E3F8\",\"xid\":727,"
			   "\"commit_time\":\"2000-01-01T00:00:00Z\",\"seq\":1,\"last\":true,\"end_lsn\":\"0/153E428\"}",
			   collected.events[1]);

	/* A transaction without events writes nothing. */
	assert_int_equal(feed(events, begin_hex, sizeof(begin_hex) - 1, errstr), 0);
	assert_int_equal(feed(events, buf, insert_message(buf, 16385, "{}", "other"), errstr), 0);
	assert_int_equal(feed(events, commit_hex, sizeof(commit_hex) - 1, errstr), 0);
	assert_int_equal(collected.n, 2);
	pgo_events_free(events);
}

static void
test_out_of_order_and_failures(void **state)
{
	Collected collected = {.n = 0};
	int calls = 0;
	PgoEvents *events = pgo_events_new(lookup, &calls, collect, &collected);
	char buf[256];
	char errstr[256];

	assert_int_equal(feed(events, buf, insert_message(buf, 16384, "{}", "x"), errstr), -1);
	EXPECT_STR("insert before its relation",
			   "pgoutput sent an Insert for relation 16384 before its Relation message", errstr);
	assert_int_equal(feed(events, buf, relation_message(buf, 16384), errstr), 0);
	assert_int_equal(feed(events, buf, insert_message(buf, 16384, "{}", "x"), errstr), -1);
	EXPECT_STR("insert outside a transaction", "pgoutput sent an Insert outside a transaction", errstr);
	assert_int_equal(feed(events, buf, relation_message(buf, 0xDEAD), errstr), -1);
	EXPECT_STR("lookup failure", "the catalog connection is down", errstr);
	assert_int_equal(feed(events, "E", 1, errstr), -1);
	assert_non_null(strstr(errstr, "'E' message"));
	assert_int_equal(collected.n, 0);
	pgo_events_free(events);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_commit_times),
		cmocka_unit_test(test_transaction),
		cmocka_unit_test(test_out_of_order_and_failures),
	};

	return cmocka_run_group_tests_name("pgoutput_events", tests, NULL, NULL);
}
