/*
 * event.c
 *	  A strict scanner for the plugin's event objects.
 *
 * The Kafka record value must be the payload bytes exactly as the plugin
 * wrote them: a JSON library would parse and re-serialise them, changing
 * numbers such as 1.10 or 12345678901234567890123.  So this scanner
 * validates the whole object and returns where each value lies, and
 * unescapes only the strings the shipper needs as text.
 */
#include "event.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deeper payloads are refused rather than risking the stack. */
#define EVENT_MAX_DEPTH 2000

typedef struct Scanner
{
	const char *p;
	const char *start;
	const char *end;
	char *errstr;
	size_t errstr_size;
} Scanner;

static int
scan_error(Scanner *s, const char *what)
{
	snprintf(s->errstr, s->errstr_size, "%s at byte %ld of the event",
			 what, (long) (s->p - s->start));
	return -1;
}

static void
skip_ws(Scanner *s)
{
	while (s->p < s->end &&
		   (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
expect(Scanner *s, char c)
{
	skip_ws(s);
	if (s->p >= s->end || *s->p != c)
	{
		char what[32];

		snprintf(what, sizeof(what), "expected '%c'", c);
		return scan_error(s, what);
	}
	s->p++;
	return 0;
}

static int
hex4(const char *p, unsigned *value)
{
	int i;

	*value = 0;
	for (i = 0; i < 4; i++)
	{
		char c = p[i];

		*value <<= 4;
		if (c >= '0' && c <= '9')
			*value |= (unsigned) (c - '0');
		else if (c >= 'a' && c <= 'f')
			*value |= (unsigned) (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*value |= (unsigned) (c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

static size_t
put_utf8(char *out, unsigned cp)
{
	if (cp < 0x80)
	{
		out[0] = (char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		out[0] = (char) (0xC0 | (cp >> 6));
		out[1] = (char) (0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000)
	{
		out[0] = (char) (0xE0 | (cp >> 12));
		out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char) (0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char) (0xF0 | (cp >> 18));
	out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char) (0x80 | (cp & 0x3F));
	return 4;
}

/* Reads a \u escape (p at the 'u'), joining surrogate pairs. */
static int
unescape_unicode(Scanner *s, char *out, size_t *outlen)
{
	unsigned cp;
	unsigned low;

	if (s->end - s->p < 5 || hex4(s->p + 1, &cp) != 0)
		return scan_error(s, "invalid \\u escape");
	s->p += 5;
	if (cp >= 0xD800 && cp <= 0xDBFF)
	{
		if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' ||
			hex4(s->p + 2, &low) != 0 || low < 0xDC00 || low > 0xDFFF)
			return scan_error(s, "unpaired UTF-16 surrogate in \\u escape");
		s->p += 6;
		cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
	}
	else if (cp >= 0xDC00 && cp <= 0xDFFF)
		return scan_error(s, "unpaired UTF-16 surrogate in \\u escape");
	*outlen += put_utf8(out + *outlen, cp);
	return 0;
}

/*
 * Finds the end of a JSON string's contents (s->p just past the opening
 * quote): returns a pointer to the closing quote, or NULL; sets *escaped
 * when it holds a backslash.
 */
static const char *
string_end(const Scanner *s, bool *escaped)
{
	const char *p;

	*escaped = false;
	for (p = s->p; p < s->end; p++)
	{
		if (*p == '"')
			return p;
		if (*p == '\\')
		{
			*escaped = true;
			p++;
		}
	}
	return NULL;
}

/* Unescapes the contents of a string into buf, up to the closing quote. */
static int
unescape(Scanner *s, const char *close, char *buf, size_t *len)
{
	while (s->p < close)
	{
		unsigned char c = (unsigned char) *s->p;

		if (c < 0x20)
			return scan_error(s, "control character in string");
		if (c != '\\')
		{
			if (buf)
				buf[(*len)++] = (char) c;
			s->p++;
			continue;
		}
		s->p++;
		switch (*s->p)
		{
			case '"':
			case '\\':
			case '/':
				c = (unsigned char) *s->p;
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'u':
			{
				char tmp[4];
				size_t tmplen = 0;

				if (unescape_unicode(s, tmp, &tmplen) != 0)
					return -1;
				if (buf)
				{
					memcpy(buf + *len, tmp, tmplen);
					*len += tmplen;
				}
				continue;
			}
			default:
				return scan_error(s, "invalid escape in string");
		}
		if (buf)
			buf[(*len)++] = (char) c;
		s->p++;
	}
	return 0;
}

/*
 * Scans a JSON string (s->p at its opening quote).  With out, stores a
 * malloc'd, NUL-terminated unescaped copy and its length; the copy is
 * sized to the string, which unescaping never lengthens.
 */
static int
scan_string(Scanner *s, char **out, size_t *out_len)
{
	const char *close;
	bool escaped;
	char *buf = NULL;
	size_t len = 0;

	if (expect(s, '"') != 0)
		return -1;
	close = string_end(s, &escaped);
	if (close == NULL)
		return scan_error(s, "unterminated string");
	if (out)
	{
		buf = malloc((size_t) (close - s->p) + 1);
		if (buf == NULL)
			return scan_error(s, "out of memory");
	}
	if (unescape(s, close, buf, &len) != 0)
	{
		free(buf);
		return -1;
	}
	s->p = close + 1;
	if (out)
	{
		buf[len] = '\0';
		*out = buf;
		if (out_len)
			*out_len = len;
	}
	return 0;
}

/*
 * Scans an object key into buf without allocating; a key too long for buf
 * is returned empty, which matches no field and is skipped.
 */
static int
scan_key(Scanner *s, char *buf, size_t size)
{
	const char *close;
	bool escaped;
	size_t len = 0;

	skip_ws(s);
	if (expect(s, '"') != 0)
		return -1;
	close = string_end(s, &escaped);
	if (close == NULL)
		return scan_error(s, "unterminated string");
	if ((size_t) (close - s->p) >= size)
	{
		if (unescape(s, close, NULL, &len) != 0)
			return -1;
		buf[0] = '\0';
	}
	else
	{
		if (unescape(s, close, buf, &len) != 0)
			return -1;
		buf[len] = '\0';
	}
	s->p = close + 1;
	return 0;
}

static int
scan_literal(Scanner *s, const char *word)
{
	size_t n = strlen(word);

	if ((size_t) (s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return scan_error(s, "invalid literal");
	s->p += n;
	return 0;
}

static int
scan_number(Scanner *s)
{
	const char *begin = s->p;

	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p >= s->end || *s->p < '0' || *s->p > '9')
		return scan_error(s, "invalid number");
	if (*s->p == '0')
		s->p++;
	else
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
	if (s->p < s->end && *s->p == '.')
	{
		s->p++;
		if (s->p >= s->end || *s->p < '0' || *s->p > '9')
			return scan_error(s, "invalid number");
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E'))
	{
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (s->p >= s->end || *s->p < '0' || *s->p > '9')
			return scan_error(s, "invalid number");
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
	}
	return s->p > begin ? 0 : -1;
}

static int scan_value(Scanner *s, int depth);

static int
scan_container(Scanner *s, int depth, char open, char close)
{
	if (depth > EVENT_MAX_DEPTH)
		return scan_error(s, "JSON nested too deeply");
	s->p++; /* the opening bracket */
	skip_ws(s);
	if (s->p < s->end && *s->p == close)
	{
		s->p++;
		return 0;
	}
	for (;;)
	{
		if (open == '{')
		{
			skip_ws(s);
			if (scan_string(s, NULL, NULL) != 0 || expect(s, ':') != 0)
				return -1;
		}
		if (scan_value(s, depth + 1) != 0)
			return -1;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',')
		{
			s->p++;
			continue;
		}
		return expect(s, close);
	}
}

/* Scans any JSON value, validating it. */
static int
scan_value(Scanner *s, int depth)
{
	skip_ws(s);
	if (s->p >= s->end)
		return scan_error(s, "missing value");
	switch (*s->p)
	{
		case '"':
			return scan_string(s, NULL, NULL);
		case '{':
			return scan_container(s, depth, '{', '}');
		case '[':
			return scan_container(s, depth, '[', ']');
		case 't':
			return scan_literal(s, "true");
		case 'f':
			return scan_literal(s, "false");
		case 'n':
			return scan_literal(s, "null");
		default:
			return scan_number(s);
	}
}

static bool
at_null(Scanner *s)
{
	skip_ws(s);
	if ((size_t) (s->end - s->p) >= 4 && memcmp(s->p, "null", 4) == 0)
	{
		s->p += 4;
		return true;
	}
	return false;
}

/* A string or null field: *out is NULL for null. */
static int
scan_optional_string(Scanner *s, char **out, size_t *len)
{
	if (at_null(s))
	{
		*out = NULL;
		if (len)
			*len = 0;
		return 0;
	}
	return scan_string(s, out, len);
}

static int
scan_bool(Scanner *s, bool *value)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == 't')
	{
		*value = true;
		return scan_literal(s, "true");
	}
	*value = false;
	return scan_literal(s, "false");
}

static int
scan_uint(Scanner *s, unsigned long long *value)
{
	unsigned long long v = 0;
	const char *begin;

	skip_ws(s);
	begin = s->p;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
	{
		if (v > (ULLONG_MAX - 9) / 10)
			return scan_error(s, "number out of range");
		v = v * 10 + (unsigned long long) (*s->p - '0');
		s->p++;
	}
	if (s->p == begin)
		return scan_error(s, "expected an unsigned integer");
	*value = v;
	return 0;
}

static int
scan_lsn(Scanner *s, Lsn *lsn)
{
	char *text = NULL;
	size_t len;
	int rc;

	if (scan_string(s, &text, &len) != 0)
		return -1;
	rc = lsn_parse(text, len, lsn);
	free(text);
	return rc == 0 ? 0 : scan_error(s, "invalid LSN");
}

static int
add_header(ShipperEvent *event, char *name, char *value, size_t value_len)
{
	EventHeader *grown = realloc(event->headers,
								 (size_t) (event->nheaders + 1) * sizeof(EventHeader));

	if (grown == NULL)
		return -1;
	event->headers = grown;
	grown[event->nheaders].name = name;
	grown[event->nheaders].value = value;
	grown[event->nheaders].value_len = value_len;
	event->nheaders++;
	return 0;
}

/* Scans the headers object: string values unescaped, others as JSON. */
static int
scan_headers(Scanner *s, ShipperEvent *event)
{
	if (at_null(s))
		return 0;
	if (expect(s, '{') != 0)
		return -1;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}')
	{
		s->p++;
		return 0;
	}
	for (;;)
	{
		char *name = NULL;
		char *value = NULL;
		size_t value_len = 0;

		skip_ws(s);
		if (scan_string(s, &name, NULL) != 0 || expect(s, ':') != 0)
		{
			free(name);
			return -1;
		}
		skip_ws(s);
		if (s->p < s->end && *s->p == '"')
		{
			if (scan_string(s, &value, &value_len) != 0)
			{
				free(name);
				return -1;
			}
		}
		else
		{
			const char *begin = s->p;

			if (scan_value(s, 1) != 0 || (value = malloc((size_t) (s->p - begin) + 1)) == NULL)
			{
				free(name);
				return -1;
			}
			value_len = (size_t) (s->p - begin);
			memcpy(value, begin, value_len);
			value[value_len] = '\0';
		}
		if (add_header(event, name, value, value_len) != 0)
		{
			free(name);
			free(value);
			return scan_error(s, "out of memory");
		}
		skip_ws(s);
		if (s->p < s->end && *s->p == ',')
		{
			s->p++;
			continue;
		}
		return expect(s, '}');
	}
}

/* Scans the value of one top-level key into the event. */
static int
scan_field(Scanner *s, const char *key, ShipperEvent *event, bool *seen_version,
		   bool *seen_seq, bool *seen_commit_lsn, bool *seen_end_lsn)
{
	unsigned long long version;

	if (strcmp(key, "v") == 0)
	{
		if (scan_uint(s, &version) != 0)
			return -1;
		if (version != 1)
		{
			snprintf(s->errstr, s->errstr_size,
					 "event format version %llu is not supported by this shipper (it reads version 1)",
					 version);
			return -1;
		}
		*seen_version = true;
		return 0;
	}
	if (strcmp(key, "id") == 0)
		return scan_optional_string(s, &event->id, NULL);
	if (strcmp(key, "aggregate_type") == 0)
		return scan_optional_string(s, &event->aggregate_type, NULL);
	if (strcmp(key, "aggregate_id") == 0)
		return scan_optional_string(s, &event->aggregate_id, &event->aggregate_id_len);
	if (strcmp(key, "event_type") == 0)
		return scan_optional_string(s, &event->event_type, NULL);
	if (strcmp(key, "payload") == 0)
	{
		skip_ws(s);
		event->payload = s->p;
		if (scan_value(s, 1) != 0)
			return -1;
		event->payload_len = (size_t) (s->p - event->payload);
		event->payload_null = event->payload_len == 4 &&
							  memcmp(event->payload, "null", 4) == 0;
		return 0;
	}
	if (strcmp(key, "payload_invalid") == 0)
		return scan_bool(s, &event->payload_invalid);
	if (strcmp(key, "headers") == 0)
		return scan_headers(s, event);
	if (strcmp(key, "commit_lsn") == 0)
	{
		*seen_commit_lsn = true;
		return scan_lsn(s, &event->commit_lsn);
	}
	if (strcmp(key, "end_lsn") == 0)
	{
		*seen_end_lsn = true;
		return scan_lsn(s, &event->end_lsn);
	}
	if (strcmp(key, "seq") == 0)
	{
		*seen_seq = true;
		return scan_uint(s, &event->seq);
	}
	if (strcmp(key, "last") == 0)
		return scan_bool(s, &event->last);
	/* created_at, xid, commit_time, and keys of later minor versions */
	return scan_value(s, 1);
}

/* A payload_invalid event ships the text the plugin put in a string. */
static int
unescape_invalid_payload(Scanner *s, ShipperEvent *event)
{
	Scanner sub = *s;
	size_t len;

	if (event->payload == NULL || event->payload_len == 0 || event->payload[0] != '"')
		return scan_error(s, "payload_invalid is set but the payload is not a string");
	sub.p = event->payload;
	sub.end = event->payload + event->payload_len;
	if (scan_string(&sub, &event->payload_copy, &len) != 0)
		return -1;
	event->payload = event->payload_copy;
	event->payload_len = len;
	return 0;
}

static int
check_required(Scanner *s, ShipperEvent *event, bool seen_version, bool seen_seq,
			   bool seen_commit_lsn, bool seen_end_lsn)
{
	const char *missing = NULL;

	if (!seen_version)
		missing = "v";
	else if (event->payload == NULL)
		missing = "payload";
	else if (!seen_seq)
		missing = "seq";
	else if (!seen_commit_lsn)
		missing = "commit_lsn (is the plugin option include-lsn off?)";
	else if (event->last && !seen_end_lsn)
		missing = "end_lsn";
	if (missing)
	{
		snprintf(s->errstr, s->errstr_size, "event has no \"%s\"", missing);
		return -1;
	}
	return 0;
}

int
event_parse(const char *json, size_t len, ShipperEvent *event,
			char *errstr, size_t errstr_size)
{
	Scanner s = {json, json, json + len, errstr, errstr_size};
	bool seen_version = false;
	bool seen_seq = false;
	bool seen_commit_lsn = false;
	bool seen_end_lsn = false;

	memset(event, 0, sizeof(*event));
	if (expect(&s, '{') != 0)
		goto fail;
	for (;;)
	{
		char key[32];

		if (scan_key(&s, key, sizeof(key)) != 0 || expect(&s, ':') != 0 ||
			scan_field(&s, key, event, &seen_version, &seen_seq,
					   &seen_commit_lsn, &seen_end_lsn) != 0)
			goto fail;
		skip_ws(&s);
		if (s.p < s.end && *s.p == ',')
		{
			s.p++;
			continue;
		}
		if (expect(&s, '}') != 0)
			goto fail;
		break;
	}
	skip_ws(&s);
	if (s.p != s.end)
	{
		scan_error(&s, "trailing bytes after the event");
		goto fail;
	}
	if (check_required(&s, event, seen_version, seen_seq, seen_commit_lsn, seen_end_lsn) != 0)
		goto fail;
	if (event->payload_invalid && unescape_invalid_payload(&s, event) != 0)
		goto fail;
	return 0;

fail:
	event_free(event);
	return -1;
}

void
event_free(ShipperEvent *event)
{
	int i;

	free(event->id);
	free(event->aggregate_type);
	free(event->aggregate_id);
	free(event->event_type);
	free(event->payload_copy);
	for (i = 0; i < event->nheaders; i++)
	{
		free(event->headers[i].name);
		free(event->headers[i].value);
	}
	free(event->headers);
	memset(event, 0, sizeof(*event));
}
