/*
 * topic.c
 *	  Rendering and validating topic names.
 *
 * Placeholders are {aggregate_type} and {event_type}.  A rendered name
 * that Kafka would refuse (empty, too long, "." or "..", or a character
 * outside [a-zA-Z0-9._-]) is an error for that event, which the shipper's
 * permanent-error policy handles; it is never silently rewritten, since
 * consumers subscribe by name.
 */
#include "topic.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *const placeholders[] = {"{aggregate_type}", "{event_type}"};

static bool
topic_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		   (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/*
 * Renders the template with one-letter field values: an error then comes
 * from its fixed text, which every event's topic name would share.
 */
static int
check_fixed_text(const char *template, char *errstr, size_t errstr_size)
{
	char topic[TOPIC_NAME_MAX + 1];
	char reason[512];

	if (topic_render(template, "a", 1, "a", 1, topic, reason, sizeof(reason)) == 0)
		return 0;
	snprintf(errstr, errstr_size, "topic template \"%s\" cannot give a valid name: %s",
			 template, reason);
	return -1;
}

/*
 * Checks a template once at start: braces must be known placeholders, and
 * the fixed text must be valid in a topic name.
 */
int
topic_template_check(const char *template, char *errstr, size_t errstr_size)
{
	const char *p = template;

	if (*template == '\0')
	{
		snprintf(errstr, errstr_size, "the topic template is empty");
		return -1;
	}
	while ((p = strchr(p, '{')) != NULL)
	{
		size_t i;
		bool known = false;

		for (i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++)
			if (strncmp(p, placeholders[i], strlen(placeholders[i])) == 0)
			{
				known = true;
				p += strlen(placeholders[i]);
				break;
			}
		if (!known)
		{
			snprintf(errstr, errstr_size,
					 "unknown placeholder in topic template \"%s\"; use {aggregate_type} or {event_type}",
					 template);
			return -1;
		}
	}
	return check_fixed_text(template, errstr, errstr_size);
}

/*
 * Renders the template into topic (TOPIC_NAME_MAX + 1 bytes).  A
 * placeholder whose field is NULL is an error: "outbox.event." would be a
 * valid name, but not the topic anyone subscribes to.  Fields come with
 * their lengths because an event's strings may hold NUL bytes (\u0000):
 * cut short there, "order\u0000x" would silently name order's topic.
 */
int
topic_render(const char *template, const char *aggregate_type,
			 size_t aggregate_type_len, const char *event_type,
			 size_t event_type_len, char *topic, char *errstr,
			 size_t errstr_size)
{
	const char *fields[] = {aggregate_type, event_type};
	const size_t lengths[] = {aggregate_type_len, event_type_len};
	size_t len = 0;
	const char *p = template;
	size_t i;

	while (*p)
	{
		const char *piece = p;
		size_t piece_len = 1;

		for (i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++)
			if (strncmp(p, placeholders[i], strlen(placeholders[i])) == 0)
			{
				if (fields[i] == NULL)
				{
					snprintf(errstr, errstr_size, "the topic template needs %.*s, which is null",
							 (int) strlen(placeholders[i]) - 2, placeholders[i] + 1);
					return -1;
				}
				piece = fields[i];
				piece_len = lengths[i];
				p += strlen(placeholders[i]) - 1;
				break;
			}
		p++;
		if (piece_len > TOPIC_NAME_MAX - len)
		{
			snprintf(errstr, errstr_size, "topic name is longer than %d characters",
					 TOPIC_NAME_MAX);
			return -1;
		}
		memcpy(topic + len, piece, piece_len);
		len += piece_len;
	}
	topic[len] = '\0';

	if (len == 0 || strcmp(topic, ".") == 0 || strcmp(topic, "..") == 0)
	{
		snprintf(errstr, errstr_size, "topic name \"%s\" is not a valid Kafka topic", topic);
		return -1;
	}
	for (i = 0; i < len; i++)
		if (!topic_char_ok(topic[i]))
		{
			snprintf(errstr, errstr_size,
					 topic[i] == '\0' ? "topic name \"%s\" is followed by a NUL byte, which no topic name may hold" : "topic name \"%s\" has a character Kafka does not allow (only a-z, A-Z, 0-9, '.', '_', '-')",
					 topic);
			return -1;
		}
	return 0;
}

/*
 * The name the template gives these fields, unchecked, for the
 * dead-letter record of an event whose topic name is invalid: where it
 * was going, as Kafka would have refused it.  A NULL field keeps its
 * placeholder ("outbox.event." would look like a topic of its own); the
 * name is cut to topic_size - 1 bytes (topic_size > 0) and NUL-terminated.
 * Returns its length.
 */
size_t
topic_render_unchecked(const char *template, const char *aggregate_type,
					   size_t aggregate_type_len, const char *event_type,
					   size_t event_type_len, char *topic, size_t topic_size)
{
	const char *fields[] = {aggregate_type, event_type};
	const size_t lengths[] = {aggregate_type_len, event_type_len};
	size_t len = 0;
	const char *p = template;
	size_t i;

	while (*p && len < topic_size - 1)
	{
		const char *piece = p;
		size_t piece_len = 1;

		for (i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++)
			if (strncmp(p, placeholders[i], strlen(placeholders[i])) == 0)
			{
				if (fields[i] != NULL)
				{
					piece = fields[i];
					piece_len = lengths[i];
				}
				else
					piece_len = strlen(placeholders[i]);
				p += strlen(placeholders[i]) - 1;
				break;
			}
		p++;
		if (piece_len > topic_size - 1 - len)
			piece_len = topic_size - 1 - len;
		memcpy(topic + len, piece, piece_len);
		len += piece_len;
	}
	topic[len] = '\0';
	return len;
}
