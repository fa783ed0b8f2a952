/* Unit tests: topic templates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "topic.h"

/* topic_render for NUL-terminated fields. */
static int
render(const char *template, const char *aggregate_type, const char *event_type,
	   char *topic, char *err, size_t err_size)
{
	return topic_render(template, aggregate_type, aggregate_type ? strlen(aggregate_type) : 0,
						event_type, event_type ? strlen(event_type) : 0, topic, err, err_size);
}

/* Errors name what is wrong, exactly. */
static void
test_messages(void **state)
{
	static const char *const cases[][4] = {
		{"outbox.event.{aggregate_type}", NULL, "the topic template needs aggregate_type, which is null"},
		{"outbox.{event_type}", "order", "the topic template needs event_type, which is null"},
		{"outbox.event.{aggregate_type}", "no/slashes",
		 "topic name \"outbox.event.no/slashes\" has a character Kafka does not allow (only a-z, A-Z, 0-9, '.', '_', '-')"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char topic[TOPIC_NAME_MAX + 1];
		char err[256] = "";

		assert_int_equal(render(cases[i][0], cases[i][1], NULL, topic, err, sizeof(err)), -1);
		assert_string_equal(err, cases[i][2]);
	}
	assert_int_equal(topic_template_check("a b.{event_type}", NULL, 0) == 0, 0);
}

static void
test_render(void **state)
{
	static const struct
	{
		const char *template;
		const char *aggregate_type;
		const char *event_type;
		int rc;
		const char *topic;
	} cases[] = {
		{"outbox.event.{aggregate_type}", "order", "created", 0, "outbox.event.order"},
		{"{aggregate_type}-{event_type}", "Order", "Created_1", 0, "Order-Created_1"},
		{"fixed", NULL, NULL, 0, "fixed"},
		{"a{event_type}{event_type}", "x", "yz", 0, "ayzyz"},
		{"outbox.event.{aggregate_type}", "has space", "e", -1, NULL},
		{"outbox.event.{aggregate_type}", "slash/no", "e", -1, NULL},
		{"outbox.event.{aggregate_type}", "ünicode", "e", -1, NULL},
		{"{aggregate_type}", NULL, "e", -1, NULL},
		{"{aggregate_type}", ".", "e", -1, NULL},
		{"{aggregate_type}", "..", "e", -1, NULL},
		{"outbox.{event_type}", NULL, "e", 0, "outbox.e"}, /* unused fields may be null */
		{"outbox.{event_type}", "a", NULL, -1, NULL},
		{"{aggregate_type}", "", "e", -1, NULL},
		{"x{", "a", "e", -1, NULL},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char topic[TOPIC_NAME_MAX + 1];
		char err[256];

		assert_int_equal(render(cases[i].template, cases[i].aggregate_type,
								cases[i].event_type, topic, err, sizeof(err)),
						 cases[i].rc);
		if (cases[i].rc == 0)
			assert_string_equal(topic, cases[i].topic);
	}
}

static void
test_too_long(void **state)
{
	char topic[TOPIC_NAME_MAX + 1];
	char err[256];
	char long_type[300];

	memset(long_type, 'a', sizeof(long_type) - 1);
	long_type[sizeof(long_type) - 1] = '\0';
	assert_int_equal(render("{aggregate_type}", long_type, "e", topic, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than 249"));
	long_type[249] = '\0';
	assert_int_equal(render("{aggregate_type}", long_type, "e", topic, err, sizeof(err)), 0);
}

/*
 * An event's strings may hold NUL bytes (\u0000): the whole field counts,
 * never the C string before the NUL, which would name another topic.
 * Found by tests/fuzz/event_fuzz.c.
 */
static void
test_nul_in_field(void **state)
{
	char topic[TOPIC_NAME_MAX + 1];
	char err[256];

	assert_int_equal(topic_render("outbox.event.{aggregate_type}", "order\0x", 7, "e", 1,
								  topic, err, sizeof(err)),
					 -1);
	assert_string_equal(err, "topic name \"outbox.event.order\" is followed by a NUL byte, which no topic name may hold");
	assert_int_equal(topic_render("{event_type}.x", "a", 1, "\0", 1, topic, err, sizeof(err)), -1);
	assert_string_equal(err, "topic name \"\" is followed by a NUL byte, which no topic name may hold");
	/* Lengths, not NULs, end the fields. */
	assert_int_equal(topic_render("{aggregate_type}-{event_type}", "order", 3, "created!", 7,
								  topic, err, sizeof(err)),
					 0);
	assert_string_equal(topic, "ord-created");
}

/*
 * Where an event with an invalid topic name was going, for its dead-letter
 * record: the name as rendered, a null field as its placeholder, cut to the
 * size.
 */
static void
test_render_unchecked(void **state)
{
	static const struct
	{
		const char *template;
		const char *aggregate_type;
		const char *event_type;
		size_t size;
		const char *topic;
	} cases[] = {
		{"outbox.event.{aggregate_type}", "bad topic", "e", 300, "outbox.event.bad topic"},
		{"outbox.event.{aggregate_type}", "no/slashes", NULL, 300, "outbox.event.no/slashes"},
		{"outbox.event.{aggregate_type}", NULL, "e", 300, "outbox.event.{aggregate_type}"},
		{"{aggregate_type}.{event_type}", NULL, "e", 12, "{aggregate_"},
		{"{aggregate_type}-{event_type}", "a", "b", 300, "a-b"},
		{"{aggregate_type}-{event_type}", "abc", "def", 6, "abc-d"},
		{"outbox.event.{aggregate_type}", "order", "e", 10, "outbox.ev"},
		{"{event_type}", "a", "", 300, ""},
		{"x", "a", "b", 1, ""},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char topic[300];
		const char *at = cases[i].aggregate_type;
		const char *et = cases[i].event_type;

		assert_int_equal(topic_render_unchecked(cases[i].template, at, at ? strlen(at) : 0,
												et, et ? strlen(et) : 0, topic, cases[i].size),
						 strlen(cases[i].topic));
		assert_string_equal(topic, cases[i].topic);
	}
}

static void
test_template_check(void **state)
{
	char err[256];

	assert_int_equal(topic_template_check("outbox.event.{aggregate_type}", err, sizeof(err)), 0);
	assert_int_equal(topic_template_check("{event_type}", err, sizeof(err)), 0);
	assert_int_equal(topic_template_check("", err, sizeof(err)), -1);
	assert_int_equal(topic_template_check("x.{aggregateType}", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown placeholder"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_render_unchecked),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_nul_in_field),
		cmocka_unit_test(test_template_check),
	};

	return cmocka_run_group_tests_name("topic", tests, NULL, NULL);
}
