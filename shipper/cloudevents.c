/*
 * cloudevents.c
 *	  Events as CloudEvents 1.0: the attributes and the JSON event format.
 *
 * The mapping (README, CloudEvents): id is the event's id, source the
 * configured URI-reference (default /outbox_pg/<database>), type the event
 * type, time created_at, subject the aggregate id, data the record value
 * (the payload, or the envelope with --value=envelope).  Attributes are
 * checked against the CloudEvents type system here, once per event, so a
 * record never carries an attribute a conforming consumer would refuse; an
 * event that cannot be a CloudEvent is a permanent error of that event
 * (kafka.c), never a reason to stop reading.
 *
 * created_at is passed on as written when it is an RFC 3339 timestamp,
 * which the plugin writes for a timestamptz column (UTC, "Z", fractional
 * seconds without trailing zeros).  Anything else (a timestamp column
 * without time zone, infinity, a year beyond 9999) has no RFC 3339 form
 * that would not invent a zone or a date, so time, an optional attribute,
 * is left out.
 */
#include "cloudevents.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SOURCE_PREFIX "/outbox_pg/"

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The number written by n digits at p, or -1 if one is not a digit. */
static int
digits(const char *p, int n)
{
	int value = 0;
	int i;

	for (i = 0; i < n; i++)
	{
		if (!is_digit(p[i]))
			return -1;
		value = value * 10 + (p[i] - '0');
	}
	return value;
}

static int
days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* "YYYY-MM-DD" with a real date. */
static bool
rfc3339_date(const char *p)
{
	int year = digits(p, 4);
	int month = digits(p + 5, 2);
	int day = digits(p + 8, 2);

	return year >= 0 && p[4] == '-' && p[7] == '-' && month >= 1 && month <= 12 &&
		   day >= 1 && day <= days_in_month(year, month);
}

/* "HH:MM" within a day's hours and minutes. */
static bool
rfc3339_hour_minute(const char *p)
{
	int hour = digits(p, 2);
	int minute = digits(p + 3, 2);

	return hour >= 0 && hour <= 23 && p[2] == ':' && minute >= 0 && minute <= 59;
}

/* RFC 3339, section 5.6: date-time; T and Z may be lower case. */
bool
cloudevents_is_rfc3339(const char *text, size_t len)
{
	const char *end = text + len;
	const char *p;
	int second;

	/* YYYY-MM-DDTHH:MM:SS and at least Z */
	if (len < 20 || !rfc3339_date(text) || (text[10] != 'T' && text[10] != 't') ||
		!rfc3339_hour_minute(text + 11) || text[16] != ':')
		return false;
	second = digits(text + 17, 2);
	if (second < 0 || second > 60)
		return false;
	p = text + 19;
	if (*p == '.')
	{
		if (++p >= end || !is_digit(*p))
			return false;
		while (p < end && is_digit(*p))
			p++;
	}
	if (end - p == 1)
		return *p == 'Z' || *p == 'z';
	return end - p == 6 && (*p == '+' || *p == '-') && rfc3339_hour_minute(p + 1);
}

/* RFC 3986 unreserved and sub-delims, and what a path, query or fragment adds. */
static bool
uri_char(char c)
{
	return is_alpha(c) || is_digit(c) || strchr("-._~!$&'()*+,;=:@/?", c) != NULL;
}

/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), before the colon at p + len. */
static bool
uri_scheme(const char *p, size_t len)
{
	size_t i;

	if (len == 0 || !is_alpha(p[0]))
		return false;
	for (i = 1; i < len; i++)
		if (!is_alpha(p[i]) && !is_digit(p[i]) && strchr("+-.", p[i]) == NULL)
			return false;
	return true;
}

/*
 * Where the authority (after "//") ends: brackets, for an IP literal, are
 * allowed only there.
 */
static size_t
authority_end(const char *text, size_t len, size_t start)
{
	size_t i = start;

	while (i < len && text[i] != '/' && text[i] != '?' && text[i] != '#')
		i++;
	return i;
}

/*
 * URI-reference = URI / relative-ref (RFC 3986, section 4.1): the
 * characters of each part, percent-encodings, one fragment, a scheme
 * where a colon comes before the first slash (a relative reference's first
 * segment has no colon), brackets only around the host.  Not checked: the
 * shape of an IP literal and of the port.
 */
bool
cloudevents_is_uri_reference(const char *text, size_t len)
{
	size_t colon = len;
	size_t start = 0;
	size_t host_end = 0;
	bool fragment = false;
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len && text[i] != '/' && text[i] != '?' && text[i] != '#'; i++)
		if (text[i] == ':')
		{
			colon = i;
			break;
		}
	if (colon < len)
	{
		if (!uri_scheme(text, colon))
			return false;
		start = colon + 1;
	}
	if (len - start >= 2 && text[start] == '/' && text[start + 1] == '/')
		host_end = authority_end(text, len, start + 2);
	for (i = start; i < len; i++)
	{
		char c = text[i];

		if (c == '%')
		{
			if (i + 2 >= len || !is_hex(text[i + 1]) || !is_hex(text[i + 2]))
				return false;
			i += 2;
		}
		else if (c == '#')
		{
			if (fragment)
				return false;
			fragment = true;
		}
		else if (c == '[' || c == ']')
		{
			if (i >= host_end)
				return false;
		}
		else if (!uri_char(c))
			return false;
	}
	return true;
}

int
cloudevents_default_source(const char *database, char *buf, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(SOURCE_PREFIX);
	const unsigned char *p;

	if (size <= len)
		return -1;
	memcpy(buf, SOURCE_PREFIX, len);
	for (p = (const unsigned char *) database; *p; p++)
	{
		bool unreserved = is_alpha((char) *p) || is_digit((char) *p) ||
						  strchr("-._~", *p) != NULL;

		/* The byte or its encoding, and the NUL. */
		if (len + (unreserved ? 1 : 3) + 1 > size)
			return -1;
		if (unreserved)
			buf[len++] = (char) *p;
		else
		{
			buf[len++] = '%';
			buf[len++] = hex[*p >> 4];
			buf[len++] = hex[*p & 0x0F];
		}
	}
	buf[len] = '\0';
	return 0;
}

bool
cloudevents_reserved_header(const char *name, size_t len)
{
	return (len >= 3 && (name[0] == 'c' || name[0] == 'C') &&
			(name[1] == 'e' || name[1] == 'E') && name[2] == '_') ||
		   (len == 12 && strncasecmp(name, "content-type", 12) == 0);
}

/*
 * The code point of the UTF-8 sequence at *p (advanced past it), or -1 if
 * it is not one (overlong, a surrogate, beyond U+10FFFF, cut short).
 */
static int32_t
next_code_point(const unsigned char **p, const unsigned char *end)
{
	const unsigned char *s = *p;
	int32_t cp;
	int n;
	int i;

	if (s[0] < 0x80)
	{
		*p = s + 1;
		return s[0];
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 1, cp = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 2, cp = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 3, cp = s[0] & 0x07;
	else
		return -1;
	if (end - s <= n)
		return -1;
	for (i = 1; i <= n; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		(cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*p = s + n + 1;
	return cp;
}

/*
 * Whether text is a CloudEvents String: UTF-8 without control characters
 * (U+0000-U+001F, U+007F-U+009F) and noncharacters.  Printable ASCII,
 * nearly every id and type, is one quick pass.
 */
static bool
ce_string(const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *) text;
	const unsigned char *end = p + len;
	int32_t cp;

	while (p < end && *p >= 0x20 && *p < 0x7F)
		p++;
	while (p < end)
	{
		if ((cp = next_code_point(&p, end)) < 0x20 || (cp >= 0x7F && cp <= 0x9F) ||
			(cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE)
			return false;
	}
	return true;
}

/* An attribute that must be a non-empty String (id, type, subject). */
static int
check_attribute(const char *name, const char *value, size_t len, char *errstr,
				size_t errstr_size)
{
	if (value == NULL || len == 0)
		snprintf(errstr, errstr_size, "it has no %s, which a CloudEvent requires",
				 strcmp(name, "type") == 0 ? "event_type" : name);
	else if (!ce_string(value, len))
		snprintf(errstr, errstr_size,
				 "its %s holds characters a CloudEvents string may not (controls, noncharacters, or bytes that are not UTF-8)",
				 name);
	else
		return 0;
	return -1;
}

int
cloudevents_from_event(const ShipperEvent *event, const char *source,
					   size_t source_len, const char *data, size_t data_len,
					   bool data_is_text, CloudEvent *ce, char *errstr,
					   size_t errstr_size)
{
	memset(ce, 0, sizeof(*ce));
	if (check_attribute("id", event->id, event->id_len, errstr, errstr_size) != 0 ||
		check_attribute("type", event->event_type, event->event_type_len, errstr,
						errstr_size) != 0)
		return -1;
	/* An empty subject is not allowed; no subject is. */
	if (event->aggregate_id != NULL && event->aggregate_id_len > 0)
	{
		if (check_attribute("subject (aggregate_id)", event->aggregate_id,
							event->aggregate_id_len, errstr, errstr_size) != 0)
			return -1;
		ce->subject = event->aggregate_id;
		ce->subject_len = event->aggregate_id_len;
	}
	ce->id = event->id;
	ce->id_len = event->id_len;
	ce->type = event->event_type;
	ce->type_len = event->event_type_len;
	ce->source = source;
	ce->source_len = source_len;
	if (event->created_at != NULL &&
		cloudevents_is_rfc3339(event->created_at, event->created_at_len))
	{
		ce->time = event->created_at;
		ce->time_len = event->created_at_len;
	}
	if (data != NULL)
	{
		ce->data = data;
		ce->data_len = data_len;
		ce->data_is_json = !data_is_text;
		ce->datacontenttype = data_is_text ? CLOUDEVENTS_TEXT_TYPE : CLOUDEVENTS_JSON_TYPE;
	}
	return 0;
}

/* ---- The JSON event format ---- */

static void
put_bytes(CloudEventBuffer *buf, const char *bytes, size_t len)
{
	memcpy(buf->data + buf->len, bytes, len);
	buf->len += len;
}

#define put_literal(buf, text) put_bytes(buf, text, sizeof(text) - 1)

/* text as a JSON string; at most 6 bytes for each of its bytes, plus 2. */
static void
put_json_string(CloudEventBuffer *buf, const char *text, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const char *end = text + len;
	const char *run;
	unsigned char c;

	buf->data[buf->len++] = '"';
	while (text < end)
	{
		run = text;
		while (text < end && (unsigned char) *text >= 0x20 && *text != '"' && *text != '\\')
			text++;
		put_bytes(buf, run, (size_t) (text - run));
		if (text >= end)
			break;
		c = (unsigned char) *text++;
		buf->data[buf->len++] = '\\';
		if (c == '"' || c == '\\')
			buf->data[buf->len++] = (char) c;
		else if (c == '\n')
			buf->data[buf->len++] = 'n';
		else if (c == '\t')
			buf->data[buf->len++] = 't';
		else if (c == '\r')
			buf->data[buf->len++] = 'r';
		else
		{
			put_literal(buf, "u00");
			buf->data[buf->len++] = hex[c >> 4];
			buf->data[buf->len++] = hex[c & 0x0F];
		}
	}
	buf->data[buf->len++] = '"';
}

/* ,"name":"value" */
static void
put_member(CloudEventBuffer *buf, const char *name, size_t name_len,
		   const char *value, size_t value_len)
{
	buf->data[buf->len++] = ',';
	put_bytes(buf, name, name_len);
	put_json_string(buf, value, value_len);
}

#define put_named(buf, name, value, value_len) \
	put_member(buf, "\"" name "\":", sizeof(name) + 2, value, value_len)

/* Room for len more bytes; the buffer only grows, so most records allocate nothing. */
static int
reserve(CloudEventBuffer *buf, size_t len)
{
	size_t capacity = buf->capacity ? buf->capacity : 1024;
	char *grown;

	while (capacity < len)
		capacity *= 2;
	if (capacity == buf->capacity)
		return 0;
	if ((grown = realloc(buf->data, capacity)) == NULL)
		return -1;
	buf->data = grown;
	buf->capacity = capacity;
	return 0;
}

int
cloudevents_structured(const CloudEvent *ce, CloudEventBuffer *buf)
{
	/* Every attribute escaped at worst, the data too if it is text. */
	size_t bound = 256 + 6 * (ce->id_len + ce->source_len + ce->type_len + ce->time_len + ce->subject_len) +
				   (ce->data_is_json ? ce->data_len : 6 * ce->data_len);

	buf->len = 0;
	if (reserve(buf, bound) != 0)
		return -1;
	put_literal(buf, "{\"specversion\":\"1.0\"");
	put_named(buf, "id", ce->id, ce->id_len);
	put_named(buf, "source", ce->source, ce->source_len);
	put_named(buf, "type", ce->type, ce->type_len);
	if (ce->time)
		put_named(buf, "time", ce->time, ce->time_len);
	if (ce->subject)
		put_named(buf, "subject", ce->subject, ce->subject_len);
	if (ce->data)
	{
		put_named(buf, "datacontenttype", ce->datacontenttype, strlen(ce->datacontenttype));
		put_literal(buf, ",\"data\":");
		if (ce->data_is_json)
			put_bytes(buf, ce->data, ce->data_len);
		else
			put_json_string(buf, ce->data, ce->data_len);
	}
	buf->data[buf->len++] = '}';
	return 0;
}

void
cloudevents_buffer_free(CloudEventBuffer *buf)
{
	free(buf->data);
	memset(buf, 0, sizeof(*buf));
}
