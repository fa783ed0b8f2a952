/*
 * topic_fuzz.c
 *	  libFuzzer target for shipper/topic.c: a topic template (a flag) and
 *	  the event fields that fill it (anything a publisher writes).
 *
 * The input is NUL-separated: template, aggregate_type, event_type; a
 * field that is missing is NULL (a JSON null).  Rendering is compared
 * with a plain reference rendering, and a name it accepts must be one
 * Kafka accepts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
kafka_name_ok(const char *name)
{
	size_t len = strlen(name);
	size_t i;

	if (len == 0 || len > TOPIC_NAME_MAX || strcmp(name, ".") == 0 ||
		strcmp(name, "..") == 0)
		return false;
	for (i = 0; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
			  (name[i] >= '0' && name[i] <= '9') || name[i] == '.' ||
			  name[i] == '_' || name[i] == '-'))
			return false;
	return true;
}

/*
 * The reference: placeholders replaced left to right, into a buffer big
 * enough for any rendering.  Returns false when a placeholder's field is
 * NULL.
 */
static bool
reference_render(const char *template, const char *aggregate_type,
				 const char *event_type, char *out, size_t out_size)
{
	size_t len = 0;
	const char *p = template;

	while (*p && len < out_size - 1)
	{
		const char *value = NULL;
		size_t skip = 1;

		if (strncmp(p, "{aggregate_type}", 16) == 0)
		{
			if ((value = aggregate_type) == NULL)
				return false;
			skip = 16;
		}
		else if (strncmp(p, "{event_type}", 12) == 0)
		{
			if ((value = event_type) == NULL)
				return false;
			skip = 12;
		}
		if (value)
			while (*value && len < out_size - 1)
				out[len++] = *value++;
		else
			out[len++] = *p;
		p += skip;
	}
	out[len] = '\0';
	return true;
}

static size_t
length(const char *field)
{
	return field ? strlen(field) : 0;
}

static const char *
next_part(const char **p, const char *end)
{
	const char *part = *p;

	if (part >= end)
		return NULL;
	*p += strlen(part) + 1;
	return part;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	const char *p = text;
	const char *template;
	const char *aggregate_type;
	const char *event_type;
	char topic[TOPIC_NAME_MAX + 1];
	char *want;
	size_t want_size;
	char errstr[512];
	int rendered;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	template = next_part(&p, text + size);
	if (template == NULL)
		template = "";
	aggregate_type = next_part(&p, text + size);
	event_type = next_part(&p, text + size);

	rendered = topic_render(template, aggregate_type, length(aggregate_type),
							event_type, length(event_type), topic, errstr, sizeof(errstr));
	want_size = strlen(template) * (1 + (aggregate_type ? strlen(aggregate_type) : 0) +
									(event_type ? strlen(event_type) : 0)) +
				1;
	want = malloc(want_size);
	FUZZ_CHECK(want != NULL);
	if (rendered == 0)
	{
		FUZZ_CHECK(kafka_name_ok(topic));
		FUZZ_CHECK(reference_render(template, aggregate_type, event_type, want, want_size));
		FUZZ_CHECK(strcmp(topic, want) == 0);
	}
	else
	{
		FUZZ_CHECK(errstr[0] != '\0');
		FUZZ_CHECK(!reference_render(template, aggregate_type, event_type, want, want_size) ||
				   !kafka_name_ok(want));
	}
	/* A template that passes the start-up check renders for plain fields. */
	if (topic_template_check(template, errstr, sizeof(errstr)) == 0)
	{
		FUZZ_CHECK(topic_render(template, "a", 1, "a", 1, topic, errstr, sizeof(errstr)) == 0);
		FUZZ_CHECK(strchr(template, '{') == NULL || strstr(template, "_type}") != NULL);
	}
	free(want);
	free(text);
	return 0;
}
