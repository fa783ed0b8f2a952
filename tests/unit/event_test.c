/*
 * event_test.c
 *	  Unit tests of shipper/event.c and json.c: the plugin's event objects
 *	  (docs/format.md), exact fields and exact payload bytes, and one clear
 *	  error for every way an event can be wrong.
 */
#include "unit.h"

#include <time.h>

#include "event.h"

#define HEAD "{\"v\":1,\"id\":\"e1\",\"aggregate_type\":\"order\",\"aggregate_id\":\"42\",\"event_type\":\"created\""
#define MID ",\"headers\":null,\"created_at\":\"2026-11-22T12:00:00.123456Z\",\"commit_lsn\":\"0/1A2B3C8\",\"xid\":751,\"commit_time\":\"2026-11-22T12:00:00.124001Z\""
#define LAST ",\"seq\":0,\"last\":true,\"end_lsn\":\"0/1A2B400\"}"
#define MID_NO_HEADERS ",\"created_at\":null,\"commit_lsn\":\"0/1A2B3C8\""
#define EVENT(payload) HEAD ",\"payload\":" payload MID LAST

/* What the plugin wrote for a real event (tests/e2e and docs/format.md). */
static const char real_event[] =
	"{\"v\":1,\"id\":\"00000000-0000-0000-0000-000000000001\",\"aggregate_type\":\"order\","
	"\"aggregate_id\":\"1\",\"event_type\":\"created\",\"payload\":{\"n\":1.10,\"line\":\"a\\nb\"},"
	"\"headers\":{\"n\":5,\"traceparent\":\"00-abc\"},\"created_at\":\"2026-11-22T13:30:16.958604Z\","
	"\"commit_lsn\":\"0/1578340\",\"xid\":725,\"commit_time\":\"2026-11-22T13:30:16.959568Z\","
	"\"seq\":0,\"last\":true,\"end_lsn\":\"0/1578370\"}";

static const char real_payload[] = "{\"n\":1.10,\"line\":\"a\\nb\"}";

static ShipperEvent
parse_ok(const char *what, const char *json, size_t len)
{
	ShipperEvent event;
	char errstr[512];

	if (event_parse(json, len, &event, errstr, sizeof(errstr)) != 0)
		fail_msg("%s: unexpected error: %s", what, errstr);
	return event;
}

static void
test_real_event(void **state)
{
	ShipperEvent e = parse_ok("real", real_event, strlen(real_event));

	(void) state;
	EXPECT_STR("id", "00000000-0000-0000-0000-000000000001", e.id);
	EXPECT_U64("id_len", 36, e.id_len);
	EXPECT_STR("aggregate_type", "order", e.aggregate_type);
	EXPECT_BYTES("aggregate_id", "1", 1, e.aggregate_id, e.aggregate_id_len);
	EXPECT_STR("event_type", "created", e.event_type);
	EXPECT_BYTES("payload", real_payload, strlen(real_payload), e.payload, e.payload_len);
	assert_false(e.payload_null);
	assert_false(e.payload_invalid);
	assert_int_equal(2, e.nheaders);
	EXPECT_STR("header 0 name", "n", e.headers[0].name);
	EXPECT_BYTES("header 0 value", "5", 1, e.headers[0].value, e.headers[0].value_len);
	EXPECT_STR("header 1 name", "traceparent", e.headers[1].name);
	EXPECT_BYTES("header 1 value", "00-abc", 6, e.headers[1].value, e.headers[1].value_len);
	EXPECT_U64("commit_lsn", 0x1578340, e.commit_lsn);
	EXPECT_U64("seq", 0, e.seq);
	assert_true(e.last);
	EXPECT_U64("end_lsn", 0x1578370, e.end_lsn);
	/* 2026-11-22T13:30:16.959568Z */
	EXPECT_U64("commit_time_usec", UINT64_C(1795354216959568), (uint64_t) e.commit_time_usec);
	event_free(&e);
}

/* Payloads come back as the exact bytes written, whatever they hold. */
static const char *const payloads[] = {
	"{}",
	"[]",
	"null",
	"0",
	"-0.0e+10",
	"1.10",
	"12345678901234567890123456789012345678901234567890",
	"\"a string\"",
	"\"\\u00e9\\ud83d\\ude00 \\\"quoted\\\" \\\\ \\/\"",
	"\"\\ud800 lone surrogates pass through json payloads \\udc00\"",
	"{\"a\":[1,{\"b\":[true,false,null]}],\"n\":1.10,\"e\":1E-7,\"s\":\"}\"}",
	"[[],[[]],{},{\"\":{}}]",
	"{ \"spaced\" : [ 1 , 2 ] }",
	"\"\xc3\xa9 raw UTF-8\"",
};

static void
test_payload_bytes(void **state)
{
	size_t i;

	(void) state;
	for (i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++)
	{
		char json[1024];
		ShipperEvent e;

		snprintf(json, sizeof(json), EVENT("%s"), payloads[i]);
		e = parse_ok(payloads[i], json, strlen(json));
		EXPECT_BYTES(payloads[i], payloads[i], strlen(payloads[i]), e.payload, e.payload_len);
		assert_true(e.payload_null == (strcmp(payloads[i], "null") == 0));
		event_free(&e);
	}
}

/* Nesting far deeper than any recursion limit; no stack is harmed. */
static void
test_deep_payload(void **state)
{
	const size_t depth = 100000;
	size_t plen = 2 * depth + 1;
	char *payload = malloc(plen + 1);
	char *json = malloc(plen + 512);
	ShipperEvent e;
	size_t i;

	(void) state;
	for (i = 0; i < depth; i++)
	{
		payload[i] = i % 2 ? '[' : '[';
		payload[plen - 1 - i] = ']';
	}
	payload[depth] = '1';
	payload[plen] = '\0';
	sprintf(json, EVENT("%s"), payload);
	e = parse_ok("deep", json, strlen(json));
	EXPECT_U64("deep payload length", plen, e.payload_len);
	assert_memory_equal(payload, e.payload, plen);
	event_free(&e);
	free(payload);
	free(json);
}

typedef struct StringCase
{
	const char *escaped; /* as JSON, without the quotes */
	const char *text; /* unescaped */
	size_t len;
} StringCase;

static const StringCase strings[] = {
	{"plain", "plain", 5},
	{"", "", 0},
	{"\\\"\\\\\\/\\b\\f\\n\\r\\t", "\"\\/\b\f\n\r\t", 8},
	{"\\u0041\\u00e9\\u20AC", "A\xc3\xa9\xe2\x82\xac", 6},
	{"\\ud83d\\ude00", "\xf0\x9f\x98\x80", 4},
	{"\\uD834\\uDD1E!", "\xf0\x9d\x84\x9e!", 5},
	{"a\\u0000b", "a\0b", 3},
	{"\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac", 6},
	{"\\u007f\\u0080\\u07ff\\u0800\\uffff", "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf", 11},
};

static void
test_string_fields(void **state)
{
	size_t i;

	(void) state;
	for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
	{
		const StringCase *c = &strings[i];
		char json[1024];
		ShipperEvent e;

		snprintf(json, sizeof(json),
				 "{\"v\":1,\"id\":\"%s\",\"aggregate_type\":\"%s\",\"aggregate_id\":\"%s\","
				 "\"event_type\":\"%s\",\"payload\":null,\"headers\":{\"%s\":\"%s\"}" MID_NO_HEADERS LAST,
				 c->escaped, c->escaped, c->escaped, c->escaped, c->escaped, c->escaped);
		e = parse_ok(c->escaped, json, strlen(json));
		EXPECT_BYTES("id", c->text, c->len, e.id, e.id_len);
		EXPECT_BYTES("aggregate_type", c->text, c->len, e.aggregate_type, e.aggregate_type_len);
		EXPECT_BYTES("aggregate_id", c->text, c->len, e.aggregate_id, e.aggregate_id_len);
		EXPECT_BYTES("event_type", c->text, c->len, e.event_type, e.event_type_len);
		assert_int_equal(1, e.nheaders);
		EXPECT_BYTES("header name", c->text, c->len, e.headers[0].name, e.headers[0].name_len);
		EXPECT_BYTES("header value", c->text, c->len, e.headers[0].value, e.headers[0].value_len);
		assert_int_equal('\0', e.id[e.id_len]);
		event_free(&e);
	}
}

static void
test_null_fields(void **state)
{
	static const char json[] =
		"{\"v\":1,\"id\":\"7\",\"aggregate_type\":null,\"aggregate_id\":null,\"event_type\":null,"
		"\"payload\":null,\"headers\":null,\"created_at\":null,\"commit_lsn\":\"0/10\",\"seq\":3}";
	ShipperEvent e = parse_ok("nulls", json, strlen(json));

	(void) state;
	EXPECT_STR("id", "7", e.id);
	assert_null(e.aggregate_type);
	assert_null(e.aggregate_id);
	EXPECT_U64("aggregate_id_len", 0, e.aggregate_id_len);
	assert_null(e.event_type);
	assert_true(e.payload_null);
	EXPECT_BYTES("payload", "null", 4, e.payload, e.payload_len);
	assert_int_equal(0, e.nheaders);
	EXPECT_U64("commit_lsn", 0x10, e.commit_lsn);
	EXPECT_U64("seq", 3, e.seq);
	assert_false(e.last);
	EXPECT_U64("end_lsn", 0, e.end_lsn);
	event_free(&e);
}

static void
test_payload_invalid(void **state)
{
	static const char *const cases[][2] = {
		{"\"not {json\"", "not {json"},
		{"\"\"", ""},
		{"\"tab\\there \\\"q\\\" \\\\ \\u00e9\"", "tab\there \"q\" \\ \xc3\xa9"},
	};
	size_t i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char json[1024];
		ShipperEvent e;

		snprintf(json, sizeof(json), HEAD ",\"payload\":%s,\"payload_invalid\":true" MID LAST,
				 cases[i][0]);
		e = parse_ok(cases[i][0], json, strlen(json));
		assert_true(e.payload_invalid);
		assert_false(e.payload_null);
		EXPECT_BYTES(cases[i][0], cases[i][1], strlen(cases[i][1]), e.payload, e.payload_len);
		event_free(&e);
	}
}

static void
test_headers(void **state)
{
	static const char json[] = HEAD ",\"payload\":1,\"headers\":{\"s\":\"text\",\"n\":-1.50,"
									"\"o\":{\"a\":[1,\"x\"]},\"z\":null,\"b\":true,\"s\":\"dup\",\"\\u00e9\":\"\\n\"},"
									"\"created_at\":null,\"commit_lsn\":\"0/1\",\"seq\":0,\"last\":true,\"end_lsn\":\"0/2\"}";
	static const char empty_headers[] = HEAD ",\"payload\":1,\"headers\":{},\"created_at\":null,"
											 "\"commit_lsn\":\"0/1\",\"seq\":0}";
	static const char *const want[][2] = {
		{"s", "text"},
		{"n", "-1.50"},
		{"o", "{\"a\":[1,\"x\"]}"},
		{"z", "null"},
		{"b", "true"},
		{"s", "dup"},
		{"\xc3\xa9", "\n"},
	};
	ShipperEvent e = parse_ok("headers", json, strlen(json));
	size_t i;

	(void) state;
	assert_int_equal(7, e.nheaders);
	for (i = 0; i < 7; i++)
	{
		EXPECT_STR("header name", want[i][0], e.headers[i].name);
		EXPECT_BYTES(want[i][0], want[i][1], strlen(want[i][1]), e.headers[i].value,
					 e.headers[i].value_len);
	}
	event_free(&e);

	e = parse_ok("empty headers", empty_headers, strlen(empty_headers));
	assert_int_equal(0, e.nheaders);
	event_free(&e);
}

/* Optional keys may be absent: include-xid and include-timestamp off. */
static void
test_optional_keys(void **state)
{
	static const char json[] = HEAD ",\"payload\":{},\"headers\":null,\"created_at\":null,"
									"\"commit_lsn\":\"0/1A2B3C8\",\"seq\":0,\"last\":true,\"end_lsn\":\"0/1A2B400\"}";
	static const char spaced[] = " { \"v\" : 1 , \"id\" : \"x\" , \"aggregate_type\" : null , "
								 "\"aggregate_id\" : null , \"event_type\" : null , \"payload\" : [ ] , \"headers\" : null , "
								 "\"created_at\" : null , \"commit_lsn\" : \"0/1\" , \"seq\" : 0 }\n";
	ShipperEvent e = parse_ok("optional", json, strlen(json));

	(void) state;
	EXPECT_U64("end_lsn", 0x1A2B400, e.end_lsn);
	event_free(&e);
	e = parse_ok("spaced", spaced, strlen(spaced));
	EXPECT_BYTES("payload", "[ ]", 3, e.payload, e.payload_len);
	event_free(&e);
}

/*
 * The whole uint64 range (the plugin's seq is a uint64): the last values
 * below 2^64 were once "out of range", for event_parse and for
 * event_recover_position alike.  Found by tests/fuzz/event_fuzz.c.
 */
static void
test_uint64_limits(void **state)
{
	static const char json[] = HEAD ",\"payload\":{},\"headers\":null,\"created_at\":null,"
									"\"rejected\":\"too_large\",\"size\":18446744073709551610,"
									"\"commit_lsn\":\"0/1A2B3C8\",\"xid\":18446744073709551615,"
									"\"seq\":18446744073709551615}";
	ShipperEvent e = parse_ok("uint64 limits", json, strlen(json));
	EventPosition pos;
	char errstr[256];

	(void) state;
	EXPECT_U64("size", UINT64_C(18446744073709551610), e.size);
	EXPECT_U64("seq", UINT64_MAX, e.seq);
	event_free(&e);
	assert_int_equal(0, event_recover_position(json, strlen(json), &pos, errstr, sizeof(errstr)));
	EXPECT_U64("recovered seq", UINT64_MAX, pos.seq);
}

/* The flags and the rejected events of docs/format.md (hostile input). */
static void
test_flagged_and_rejected(void **state)
{
	static const char generated[] =
		"{\"v\":1,\"id\":\"0/1A2B3C8:2\",\"id_generated\":true,\"aggregate_type\":\"order\","
		"\"aggregate_id\":\"1\",\"event_type\":\"x\",\"payload\":{},\"headers\":null,"
		"\"headers_invalid\":true,\"created_at\":null,\"commit_lsn\":\"0/1A2B3C8\",\"seq\":2}";
	static const char forged[] =
		"{\"v\":1,\"id\":\"0/1A2B3C8:0\",\"id_generated\":true,\"aggregate_type\":null,"
		"\"aggregate_id\":null,\"event_type\":null,\"payload\":\"x\",\"headers\":null,\"created_at\":null,"
		"\"rejected\":\"unauthenticated\",\"size\":1,\"commit_lsn\":\"0/1A2B3C8\",\"xid\":751,"
		"\"commit_time\":\"2026-11-22T12:00:00.124001Z\",\"seq\":0,\"last\":true,\"end_lsn\":\"0/1A2B400\"}";
	static const char too_large[] =
		"{\"v\":1,\"id\":\"7\",\"aggregate_type\":\"order\",\"aggregate_id\":\"9\",\"event_type\":\"big\","
		"\"payload\":null,\"headers\":null,\"created_at\":\"2026-11-22T12:00:00Z\","
		"\"rejected\":\"too_large\",\"size\":10485760,\"commit_lsn\":\"0/10\",\"seq\":4}";
	static const char unknown_reason[] =
		"{\"v\":1,\"id\":\"8\",\"aggregate_type\":null,\"aggregate_id\":null,\"event_type\":null,"
		"\"payload\":null,\"headers\":null,\"created_at\":null,\"rejected\":\"a reason from the future\","
		"\"commit_lsn\":\"0/10\",\"seq\":5}";
	ShipperEvent e = parse_ok("generated id", generated, strlen(generated));

	(void) state;
	EXPECT_STR("generated id", "0/1A2B3C8:2", e.id);
	assert_true(e.id_generated);
	assert_true(e.headers_invalid);
	assert_int_equal(0, e.nheaders);
	assert_null(e.rejected);
	assert_false(e.has_size);
	event_free(&e);

	e = parse_ok("forged", forged, strlen(forged));
	EXPECT_STR("rejected", "unauthenticated", e.rejected);
	assert_true(e.has_size);
	EXPECT_U64("size", 1, e.size);
	assert_true(e.id_generated);
	assert_false(e.headers_invalid);
	EXPECT_BYTES("payload", "\"x\"", 3, e.payload, e.payload_len);
	EXPECT_U64("end_lsn", 0x1A2B400, e.end_lsn);
	assert_true(e.last);
	event_free(&e);

	e = parse_ok("too large", too_large, strlen(too_large));
	EXPECT_STR("rejected", "too_large", e.rejected);
	EXPECT_U64("size", 10485760, e.size);
	EXPECT_STR("id", "7", e.id);
	assert_false(e.id_generated);
	assert_true(e.payload_null);
	EXPECT_U64("seq", 4, e.seq);
	event_free(&e);

	e = parse_ok("unknown reason", unknown_reason, strlen(unknown_reason));
	EXPECT_STR("rejected", "a reason from the future", e.rejected);
	assert_false(e.has_size);
	event_free(&e);
}

typedef struct ErrorCase
{
	const char *name;
	const char *json;
	const char *error; /* a substring of the message */
} ErrorCase;

static const ErrorCase errors[] = {
	{"empty", "", "expected '{', found the end at byte 0"},
	{"not an object", "[1]", "expected '{' at byte 0"},
	{"empty object", "{}", "expected a string at byte 1"},
	{"unknown key", HEAD ",\"payload\":1,\"extra\":1" MID LAST, "unknown key \"extra\" in event at byte"},
	{"repeated key", HEAD ",\"payload\":1,\"payload\":2" MID LAST, "repeated key \"payload\" in event"},
	{"missing v", "{\"id\":\"1\",\"aggregate_type\":null,\"aggregate_id\":null,\"event_type\":null,\"payload\":1" MID LAST, "event has no \"v\""},
	{"missing id", "{\"v\":1,\"aggregate_type\":null,\"aggregate_id\":null,\"event_type\":null,\"payload\":1" MID LAST, "event has no \"id\""},
	{"missing payload", HEAD MID LAST, "event has no \"payload\""},
	{"missing headers", HEAD ",\"payload\":1,\"created_at\":null,\"commit_lsn\":\"0/1\"" LAST, "event has no \"headers\""},
	{"missing commit_lsn", HEAD ",\"payload\":1,\"headers\":null,\"created_at\":null" LAST, "event has no \"commit_lsn\" (the shipper needs the plugin option include-lsn)"},
	{"missing seq", HEAD ",\"payload\":1" MID ",\"last\":true,\"end_lsn\":\"0/1A2B400\"}", "event has no \"seq\""},
	{"last without end_lsn", HEAD ",\"payload\":1" MID ",\"seq\":0,\"last\":true}", "the last event of a transaction has no \"end_lsn\""},
	{"end_lsn without last", HEAD ",\"payload\":1" MID ",\"seq\":0,\"end_lsn\":\"0/1A2B400\"}", "\"end_lsn\" on an event that is not its transaction's last"},
	{"version 2", "{\"v\":2,\"id\":\"1\"}", "event format version 2 is not supported by this shipper, which reads version 1"},
	{"version string", "{\"v\":\"1\"}", "expected an unsigned integer"},
	{"id null", "{\"v\":1,\"id\":null}", "\"id\" must be a string at byte 12"},
	{"id number", "{\"v\":1,\"id\":7}", "\"id\" must be a string"},
	{"aggregate_type number", "{\"v\":1,\"id\":\"1\",\"aggregate_type\":1}", "\"aggregate_type\" must be a string or null"},
	{"seq negative", HEAD ",\"payload\":1" MID ",\"seq\":-1}", "expected an unsigned integer"},
	{"seq fraction", HEAD ",\"payload\":1" MID ",\"seq\":1.5}", "expected an unsigned integer"},
	{"seq leading zero", HEAD ",\"payload\":1" MID ",\"seq\":01}", "expected an unsigned integer"},
	{"seq too large", HEAD ",\"payload\":1" MID ",\"seq\":18446744073709551616}", "integer out of range"},
	{"last false", HEAD ",\"payload\":1" MID ",\"seq\":0,\"last\":false}", "\"last\" must be true when present"},
	{"payload_invalid false", HEAD ",\"payload\":1,\"payload_invalid\":false" MID LAST, "\"payload_invalid\" must be true when present"},
	{"payload_invalid on JSON", HEAD ",\"payload\":{},\"payload_invalid\":true" MID LAST, "\"payload_invalid\" is set but the payload is not a string"},
	{"headers array", HEAD ",\"payload\":1,\"headers\":[]", "\"headers\" must be an object or null"},
	{"headers bad value", HEAD ",\"payload\":1,\"headers\":{\"a\":tru}", "invalid literal"},
	{"commit_lsn bad", HEAD ",\"payload\":1,\"headers\":null,\"created_at\":null,\"commit_lsn\":\"zz\"", "\"commit_lsn\" is not an LSN"},
	{"commit_lsn number", HEAD ",\"payload\":1,\"headers\":null,\"created_at\":null,\"commit_lsn\":5", "\"commit_lsn\" must be a string"},
	{"trailing comma", HEAD ",\"payload\":1" MID LAST "x", "unexpected bytes after the event"},
	{"comma before brace", HEAD ",\"payload\":1,}", "expected a string"},
	{"truncated", HEAD ",\"payload\":{\"a\":", "expected a value, found the end"},
	{"unterminated string", "{\"v\":1,\"id\":\"abc", "unterminated string"},
	{"control character", "{\"v\":1,\"id\":\"a\nb\"}", "control character in string at byte 14"},
	{"bad escape", "{\"v\":1,\"id\":\"\\x\"}", "invalid escape in string"},
	{"short unicode escape", "{\"v\":1,\"id\":\"\\u12\"}", "invalid \\u escape"},
	{"lone high surrogate", "{\"v\":1,\"id\":\"\\ud800\"}", "unpaired UTF-16 surrogate"},
	{"lone low surrogate", "{\"v\":1,\"id\":\"\\udc00x\"}", "unpaired UTF-16 surrogate"},
	{"high then not low", "{\"v\":1,\"id\":\"\\ud800\\u0041\"}", "unpaired UTF-16 surrogate"},
	{"bad number", HEAD ",\"payload\":1." MID LAST, "invalid number"},
	{"bad exponent", HEAD ",\"payload\":1e" MID LAST, "invalid number"},
	{"plus sign", HEAD ",\"payload\":+1" MID LAST, "invalid number"},
	{"unclosed array", HEAD ",\"payload\":[1,2" MID LAST, "expected ']'"},
	{"mismatched bracket", HEAD ",\"payload\":[1}" MID LAST, "expected ']'"},
	{"missing colon", "{\"v\" 1}", "expected ':'"},
	{"bare word", HEAD ",\"payload\":nul" MID LAST, "invalid literal"},
	{"id_generated false", "{\"v\":1,\"id\":\"1\",\"id_generated\":false}", "\"id_generated\" must be true when present"},
	{"headers_invalid with headers", HEAD ",\"payload\":1,\"headers\":{\"a\":\"b\"},\"headers_invalid\":true,\"created_at\":null,\"commit_lsn\":\"0/1\"" LAST, "\"headers_invalid\" is set but the headers are not null"},
	{"headers_invalid false", HEAD ",\"payload\":1,\"headers\":null,\"headers_invalid\":0", "\"headers_invalid\" must be true when present"},
	{"rejected null", HEAD ",\"payload\":1,\"headers\":null,\"created_at\":null,\"rejected\":null", "\"rejected\" must be a string"},
	{"rejected number", HEAD ",\"payload\":1,\"headers\":null,\"created_at\":null,\"rejected\":1", "\"rejected\" must be a string"},
	{"size without rejected", HEAD ",\"payload\":1,\"headers\":null,\"created_at\":null,\"size\":3,\"commit_lsn\":\"0/1\"" LAST, "\"size\" on an event that is not rejected"},
	{"size negative", HEAD ",\"payload\":1,\"headers\":null,\"created_at\":null,\"rejected\":\"too_large\",\"size\":-3", "expected an unsigned integer"},
	{"size string", HEAD ",\"payload\":1,\"headers\":null,\"created_at\":null,\"rejected\":\"too_large\",\"size\":\"3\"", "expected an unsigned integer"},
	{"non-string key in payload", HEAD ",\"payload\":{1:2}" MID LAST, "expected a string"},
};

static void
test_errors(void **state)
{
	size_t i;

	(void) state;
	for (i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
	{
		const ErrorCase *c = &errors[i];
		ShipperEvent e;
		char errstr[512] = "";
		size_t len = strlen(c->json);
		char *exact = malloc(len + 1);

		/* An exact-size copy without a terminator: ASan sees any overread. */
		memcpy(exact, c->json, len);
		if (event_parse(exact, len, &e, errstr, sizeof(errstr)) == 0)
		{
			event_free(&e);
			free(exact);
			fail_msg("%s: parsed, but should fail with \"%s\"", c->name, c->error);
		}
		free(exact);
		EXPECT_CONTAINS(c->name, c->error, errstr);
		assert_null(e.id); /* nothing is left to free */
		assert_null(e.headers);
	}
}

/* commit_time: RFC 3339 UTC with 0-6 fractional digits; else an error. */
static void
test_commit_time(void **state)
{
	static const struct
	{
		const char *text;
		int64_t usec; /* -1: an error */
	} cases[] = {
		{"2026-11-22T13:30:16.959568Z", INT64_C(1795354216959568)},
		{"2026-11-22T13:30:16Z", INT64_C(1795354216000000)},
		{"2026-11-22T13:30:16.5Z", INT64_C(1795354216500000)},
		{"2000-01-01T00:00:00.000001Z", INT64_C(946684800000001)},
		{"2026-11-22T13:30:16.1234567Z", INT64_C(1795354216123456)},
		{"2026-11-22T13:30:16.Z", -1},
		{"2026-11-22T13:30:16+00", -1},
		{"2026-11-22 13:30:16Z", -1},
		{"yesterday", -1},
		{"", -1},
	};
	size_t i;

	(void) state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char json[512];
		ShipperEvent e;
		char errstr[256];
		int rc;

		snprintf(json, sizeof(json),
				 "{\"v\":1,\"id\":\"1\",\"aggregate_type\":null,\"aggregate_id\":null,"
				 "\"event_type\":null,\"payload\":null,\"headers\":null,\"created_at\":null,"
				 "\"commit_lsn\":\"0/1\",\"commit_time\":\"%s\",\"seq\":0}",
				 cases[i].text);
		rc = event_parse(json, strlen(json), &e, errstr, sizeof(errstr));
		if (cases[i].usec < 0)
		{
			if (rc == 0)
				fail_msg("%s: parsed, want an error", cases[i].text);
			if (strstr(errstr, "\"commit_time\" is not a UTC time") == NULL)
				fail_msg("%s: error \"%s\" does not name commit_time", cases[i].text, errstr);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: %s", cases[i].text, errstr);
		EXPECT_U64(cases[i].text, (uint64_t) cases[i].usec, (uint64_t) e.commit_time_usec);
		event_free(&e);
	}
}

/* commit_time of an event whose commit_time is text; -1 if refused. */
static int64_t
commit_time_of(const char *text)
{
	char json[512];
	ShipperEvent e;
	char errstr[256];
	int64_t usec;

	snprintf(json, sizeof(json),
			 "{\"v\":1,\"id\":\"1\",\"aggregate_type\":null,\"aggregate_id\":null,"
			 "\"event_type\":null,\"payload\":null,\"headers\":null,\"created_at\":null,"
			 "\"commit_lsn\":\"0/1\",\"commit_time\":\"%s\",\"seq\":0}",
			 text);
	if (event_parse(json, strlen(json), &e, errstr, sizeof(errstr)) != 0)
		return -1;
	usec = e.commit_time_usec;
	event_free(&e);
	return usec;
}

/*
 * The plugin's form of commit_time is read without sscanf and timegm: it
 * must give what they give, over years 0000 to 9999 and fields beyond
 * their range (timegm carries them over), and leave other forms to them.
 */
static void
test_commit_time_as_timegm(void **state)
{
	uint64_t x = UINT64_C(88172645463325252);
	struct tm tm;
	char text[64];
	time_t want;
	int i;

	(void) state;
	for (i = 0; i < 5000; i++)
	{
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = (int) (x % 10000) - 1900;
		tm.tm_mon = (int) ((x >> 14) % 12);
		/* days, hours, minutes and seconds up to 99 */
		tm.tm_mday = (int) ((x >> 18) % (i % 2 ? 100 : 29));
		tm.tm_hour = (int) ((x >> 25) % (i % 3 ? 100 : 24));
		tm.tm_min = (int) ((x >> 32) % (i % 5 ? 100 : 60));
		tm.tm_sec = (int) ((x >> 39) % (i % 7 ? 100 : 61));
		snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.5Z", tm.tm_year + 1900,
				 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		want = timegm(&tm);
		if (want == (time_t) -1)
			EXPECT_U64(text, (uint64_t) -1, (uint64_t) commit_time_of(text));
		else
			EXPECT_U64(text, (uint64_t) ((int64_t) want * 1000000 + 500000),
					   (uint64_t) commit_time_of(text));
	}
	/* Not the plugin's form, read as sscanf reads it. */
	EXPECT_U64("month 13", UINT64_C(1798761600000000),
			   (uint64_t) commit_time_of("2026-13-01T00:00:00Z"));
	EXPECT_U64("month 0", UINT64_C(1764547200000000),
			   (uint64_t) commit_time_of("2026-00-01T00:00:00Z"));
	EXPECT_U64("signed year", (uint64_t) commit_time_of("0026-11-22T13:30:16Z"),
			   (uint64_t) commit_time_of("+026-11-22T13:30:16Z"));
	EXPECT_U64("epoch - 1 s", (uint64_t) -1, (uint64_t) commit_time_of("1969-12-31T23:59:59Z"));
}

/*
 * event_reparse reuses one event's memory: what it parses is what
 * event_parse parses, a failure leaves no field of the event before it
 * set, and a larger message after smaller ones gets room.
 */
static void
test_reparse(void **state)
{
	static const char small[] = EVENT("1");
	char big[4096];
	ShipperEvent e;
	char errstr[512];

	(void) state;
	memset(&e, 0, sizeof(e));
	assert_int_equal(0, event_reparse(real_event, strlen(real_event), &e, errstr, sizeof(errstr)));
	assert_int_equal(2, e.nheaders);
	EXPECT_STR("header 1 name", "traceparent", e.headers[1].name);
	assert_int_equal(0, event_reparse(small, strlen(small), &e, errstr, sizeof(errstr)));
	EXPECT_STR("id", "e1", e.id);
	EXPECT_STR("event_type", "created", e.event_type);
	EXPECT_BYTES("payload", "1", 1, e.payload, e.payload_len);
	assert_int_equal(0, e.nheaders);
	assert_int_equal(-1, event_reparse("{\"v\":1,\"id\":null}", 18, &e, errstr, sizeof(errstr)));
	EXPECT_STR("error", "\"id\" must be a string at byte 12", errstr);
	assert_null(e.id);
	assert_null(e.event_type);
	assert_int_equal(0, e.nheaders);
	snprintf(big, sizeof(big),
			 HEAD ",\"payload\":\"%0999d\",\"payload_invalid\":true"
				  ",\"headers\":{\"a\":\"%0999d\",\"b\":[\"%0995d\"],\"c\":1,\"d\":2,\"e\":3}" MID_NO_HEADERS LAST,
			 7, 8, 9);
	if (event_reparse(big, strlen(big), &e, errstr, sizeof(errstr)) != 0)
		fail_msg("big: %s", errstr);
	assert_int_equal(5, e.nheaders);
	EXPECT_U64("payload_len", 999, e.payload_len);
	assert_true(e.payload == e.payload_copy);
	EXPECT_U64("header a", 999, e.headers[0].value_len);
	EXPECT_U64("header b", 999, e.headers[1].value_len);
	EXPECT_STR("header e", "3", e.headers[4].value);
	assert_int_equal(0, event_reparse(real_event, strlen(real_event), &e, errstr, sizeof(errstr)));
	EXPECT_STR("id again", "00000000-0000-0000-0000-000000000001", e.id);
	assert_int_equal(2, e.nheaders);
	event_free(&e);
}

typedef struct RecoverCase
{
	const char *name;
	const char *json;
	unsigned long long commit_lsn;
	unsigned long long seq;
	bool last;
	unsigned long long end_lsn;
	const char *error; /* NULL: recovered; else a substring of the error */
} RecoverCase;

#define TAIL ",\"commit_lsn\":\"0/1A2B3C8\",\"xid\":751,\"commit_time\":\"2026-11-22T12:00:00.124001Z\",\"seq\":3,\"last\":true,\"end_lsn\":\"0/1A2B400\"}"

/*
 * What old plugins wrote for messages they could not read, and what a
 * buggy one might: the position fields come back whatever came before them.
 */
static const RecoverCase recover_cases[] = {
	{"id null (plugins before issue 9)",
	 "{\"v\":1,\"id\":null,\"aggregate_type\":null,\"aggregate_id\":null,\"event_type\":null,"
	 "\"payload\":\"x\",\"payload_invalid\":true,\"headers\":null,\"created_at\":null" TAIL,
	 0x1A2B3C8, 3, true, 0x1A2B400, NULL},
	{"not last", "{\"v\":1,\"id\":null,\"commit_lsn\":\"0/5\",\"seq\":0}", 5, 0, false, 0, NULL},
	{"no xid nor commit_time", "{\"v\":1,\"x\":[,\"commit_lsn\":\"1/0\",\"seq\":4294967296,\"last\":true,\"end_lsn\":\"1/30\"}",
	 UINT64_C(0x100000000), UINT64_C(4294967296), true, UINT64_C(0x100000030), NULL},
	{"garbage before", "\xff\xfe{{{\"\\" TAIL, 0x1A2B3C8, 3, true, 0x1A2B400, NULL},
	{"a forged position earlier is ignored",
	 "{\"v\":1,\"id\":7,\"commit_lsn\":\"F/0\",\"seq\":0,\"last\":true,\"end_lsn\":\"F/10\",\"oops\":1" TAIL,
	 0x1A2B3C8, 3, true, 0x1A2B400, NULL},
	{"invalid UTF-8 hex in payload",
	 "{\"v\":1,\"id\":null,\"payload\":\"\\\\xff00\",\"payload_invalid\":true" TAIL,
	 0x1A2B3C8, 3, true, 0x1A2B400, NULL},
	{"empty", "", 0, 0, false, 0, "no \"commit_lsn\" key in the message"},
	{"no position", "{\"v\":1,\"id\":null}", 0, 0, false, 0, "no \"commit_lsn\" key in the message"},
	{"only at the start", "{\"commit_lsn\":\"0/1\",\"seq\":0}", 0, 0, false, 0, "no \"commit_lsn\" key in the message"},
	{"bad LSN", "{\"v\":1,\"commit_lsn\":\"0/zz\",\"seq\":0}", 0, 0, false, 0, "\"commit_lsn\" is not an LSN"},
	{"no seq", "{\"v\":1,\"commit_lsn\":\"0/1\",\"xid\":1}", 0, 0, false, 0, "no \"seq\""},
	{"last without end_lsn", "{\"v\":1,\"commit_lsn\":\"0/1\",\"seq\":0,\"last\":true}", 0, 0, false, 0, "\"last\" without \"end_lsn\""},
	{"end_lsn without last", "{\"v\":1,\"commit_lsn\":\"0/1\",\"seq\":0,\"end_lsn\":\"0/2\"}", 0, 0, false, 0, "\"end_lsn\" without \"last\""},
	{"out of order", "{\"v\":1,\"commit_lsn\":\"0/1\",\"last\":true,\"seq\":0,\"end_lsn\":\"0/2\"}", 0, 0, false, 0, "\"seq\" where the plugin writes only the position keys, in order"},
	{"repeated", "{\"v\":1,\"commit_lsn\":\"0/1\",\"seq\":0,\"seq\":1}", 0, 0, false, 0, "\"seq\" where the plugin writes only the position keys"},
	{"another key after", "{\"v\":1,\"commit_lsn\":\"0/1\",\"seq\":0,\"payload\":1}", 0, 0, false, 0, "\"payload\" where the plugin writes only the position keys"},
	{"truncated", "{\"v\":1,\"commit_lsn\":\"0/1\",\"seq\":0,\"last\":tr", 0, 0, false, 0, "\"last\" must be true when present"},
	{"no closing brace", "{\"v\":1,\"commit_lsn\":\"0/1\",\"seq\":0", 0, 0, false, 0, "expected '}', found the end"},
	{"bytes after", "{\"v\":1,\"commit_lsn\":\"0/1\",\"seq\":0}}", 0, 0, false, 0, "unexpected bytes after the position keys at byte 34"},
};

static void
test_recover_position(void **state)
{
	size_t i;

	(void) state;
	for (i = 0; i < sizeof(recover_cases) / sizeof(recover_cases[0]); i++)
	{
		const RecoverCase *c = &recover_cases[i];
		size_t len = strlen(c->json);
		char *exact = malloc(len + 1);
		EventPosition pos;
		char errstr[512] = "";
		int rc;

		/* Without a terminator, so ASan sees any overread. */
		memcpy(exact, c->json, len);
		rc = event_recover_position(exact, len, &pos, errstr, sizeof(errstr));
		free(exact);
		if (c->error != NULL)
		{
			if (rc == 0)
				fail_msg("%s: recovered, want an error with \"%s\"", c->name, c->error);
			EXPECT_CONTAINS(c->name, c->error, errstr);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: %s", c->name, errstr);
		EXPECT_U64(c->name, c->commit_lsn, pos.commit_lsn);
		EXPECT_U64(c->name, c->seq, pos.seq);
		assert_true(pos.last == c->last);
		EXPECT_U64(c->name, c->end_lsn, pos.end_lsn);
	}
}

/* Whatever event_parse accepts, recovery reads the same position. */
static void
test_recover_agrees_with_parse(void **state)
{
	ShipperEvent e = parse_ok("real", real_event, strlen(real_event));
	EventPosition pos;
	char errstr[256];

	(void) state;
	assert_int_equal(0, event_recover_position(real_event, strlen(real_event), &pos, errstr, sizeof(errstr)));
	EXPECT_U64("commit_lsn", e.commit_lsn, pos.commit_lsn);
	EXPECT_U64("seq", e.seq, pos.seq);
	assert_true(e.last == pos.last);
	EXPECT_U64("end_lsn", e.end_lsn, pos.end_lsn);
	EXPECT_U64("commit_time", (uint64_t) e.commit_time_usec, (uint64_t) pos.commit_time_usec);
	event_free(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_event),
		cmocka_unit_test(test_commit_time),
		cmocka_unit_test(test_commit_time_as_timegm),
		cmocka_unit_test(test_reparse),
		cmocka_unit_test(test_payload_bytes),
		cmocka_unit_test(test_deep_payload),
		cmocka_unit_test(test_string_fields),
		cmocka_unit_test(test_null_fields),
		cmocka_unit_test(test_payload_invalid),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_optional_keys),
		cmocka_unit_test(test_uint64_limits),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_flagged_and_rejected),
		cmocka_unit_test(test_recover_position),
		cmocka_unit_test(test_recover_agrees_with_parse),
	};

	return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
