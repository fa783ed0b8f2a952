/*
 * event.c
 *	  A strict scanner for the plugin's event objects: first a small JSON
 *	  scanner (RFC 8259), then the schema of format version 1.
 *
 * The scanner validates and measures values instead of building a tree,
 * so the payload's exact bytes can be forwarded and only the strings the
 * shipper needs are unescaped.  Containers are tracked on an explicit
 * stack, not by recursion, so no payload nesting depth can exhaust the C
 * stack (PostgreSQL's json type accepts deeper nesting than any fixed
 * limit we would pick).
 *
 * Strings are validated as JSON requires.  When a string's text is needed,
 * \u escapes are decoded to UTF-8 with surrogate pairs joined, and an
 * unpaired surrogate is an error, as it has no UTF-8 form.  Strings that
 * are only validated (inside a forwarded payload) may hold unpaired
 * surrogates: the json type keeps them and the shipper forwards bytes as
 * they are.
 *
 * The schema is strict on purpose: an unknown or repeated key, a missing
 * one, or a value of the wrong type is an error, because the shipper
 * confirms positions to PostgreSQL on the strength of commit_lsn, seq, last
 * and end_lsn, and an event it does not fully understand (another format
 * version, other plugin options) must never be half-read and shipped.
 * What the shipper does with such a message is a permanent error of that
 * event (main.c); event_recover_position reads its position alone, from
 * the end of the message, so that it can be dead-lettered and confirmed.
 */
#include "event.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * A cursor over the event's bytes, where errors go, and where unescaped
 * strings go: the event's arena (NULL when nothing is to be kept).
 */
typedef struct JsonScanner
{
	const char *p; /* next byte to read */
	const char *start;
	const char *end;
	char *errstr;
	size_t errstr_size;
	char *arena; /* next free byte */
	char *arena_end;
} JsonScanner;

static int json_error(JsonScanner *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- JSON ---- */

static void
json_init(JsonScanner *s, const char *buf, size_t len, char *errstr,
		  size_t errstr_size)
{
	s->p = buf;
	s->start = buf;
	s->end = buf + len;
	s->errstr = errstr;
	s->errstr_size = errstr_size;
	s->arena = NULL;
	s->arena_end = NULL;
}

/* Formats an error and appends the byte offset it happened at; returns -1. */
static int
json_error(JsonScanner *s, const char *fmt, ...)
{
	va_list args;
	size_t used;

	va_start(args, fmt);
	vsnprintf(s->errstr, s->errstr_size, fmt, args);
	va_end(args);
	used = strlen(s->errstr);
	if (used < s->errstr_size)
		snprintf(s->errstr + used, s->errstr_size - used, " at byte %ld",
				 (long) (s->p - s->start));
	return -1;
}

static inline void
json_skip_ws(JsonScanner *s)
{
	/* The plugin writes compact JSON: this is nearly always the way out. */
	if (s->p < s->end && (unsigned char) *s->p > ' ')
		return;
	while (s->p < s->end &&
		   (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* Whether the next significant byte is c (not consumed). */
static bool
json_at(JsonScanner *s, char c)
{
	json_skip_ws(s);
	return s->p < s->end && *s->p == c;
}

static int
json_expect(JsonScanner *s, char c)
{
	if (!json_at(s, c))
		return json_error(s, s->p < s->end ? "expected '%c'" : "expected '%c', found the end", c);
	s->p++;
	return 0;
}

static int
scan_literal(JsonScanner *s, const char *word)
{
	size_t n = strlen(word);

	if ((size_t) (s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return json_error(s, "invalid literal");
	s->p += n;
	return 0;
}

/* Consumes a null literal if one comes next. */
static bool
json_take_null(JsonScanner *s)
{
	json_skip_ws(s);
	if ((size_t) (s->end - s->p) >= 4 && memcmp(s->p, "null", 4) == 0)
	{
		s->p += 4;
		return true;
	}
	return false;
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

/*
 * Reads a \u escape, s->p at the 'u'.  With out, decodes it (joining a
 * surrogate pair) and appends the UTF-8 bytes at out + *outlen.
 */
static int
scan_unicode_escape(JsonScanner *s, char *out, size_t *outlen)
{
	unsigned cp;
	unsigned low;

	if (s->end - s->p < 5 || hex4(s->p + 1, &cp) != 0)
		return json_error(s, "invalid \\u escape");
	s->p += 5;
	if (out == NULL)
		return 0;
	if (cp >= 0xD800 && cp <= 0xDBFF)
	{
		if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' ||
			hex4(s->p + 2, &low) != 0 || low < 0xDC00 || low > 0xDFFF)
			return json_error(s, "unpaired UTF-16 surrogate in \\u escape");
		s->p += 6;
		cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
	}
	else if (cp >= 0xDC00 && cp <= 0xDFFF)
		return json_error(s, "unpaired UTF-16 surrogate in \\u escape");
	*outlen += put_utf8(out + *outlen, cp);
	return 0;
}

/* The byte a one-character escape stands for, or -1. */
static int
simple_escape(char c)
{
	switch (c)
	{
		case '"':
		case '\\':
		case '/':
			return c;
		case 'b':
			return '\b';
		case 'f':
			return '\f';
		case 'n':
			return '\n';
		case 'r':
			return '\r';
		case 't':
			return '\t';
		default:
			return -1;
	}
}

/* A byte that stands for itself inside a string. */
static inline bool
plain_byte(unsigned char c)
{
	return c >= 0x20 && c != '"' && c != '\\';
}

/* A word of eight bytes b. */
static inline uint64_t
bytes8(unsigned char b)
{
	return UINT64_C(0x0101010101010101) * b;
}

/*
 * The high bit of each byte of word below n (n <= 128) is set, and maybe
 * of bytes above the lowest such byte (a borrow); none when no byte is.
 */
static inline uint64_t
bytes_below(uint64_t word, unsigned char n)
{
	return (word - bytes8(n)) & ~word & bytes8(0x80);
}

/*
 * The first byte from p on that does not stand for itself in a string
 * (a quote, a backslash, a control character), or end.  Eight bytes at a
 * time: most of an event is string text.
 */
static const char *
plain_run(const char *p, const char *end)
{
	uint64_t word;
	uint64_t special;

	while (end - p >= 8)
	{
		memcpy(&word, p, 8);
		special = bytes_below(word, 0x20) | bytes_below(word ^ bytes8('"'), 1) |
				  bytes_below(word ^ bytes8('\\'), 1);
		if (special != 0)
		{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			/* The lowest marked byte is exact: the first in memory. */
			return p + __builtin_ctzll(special) / 8;
#else
			break;
#endif
		}
		p += 8;
	}
	while (p < end && plain_byte((unsigned char) *p))
		p++;
	return p;
}

/* Handles the escape at s->p (a backslash); buf may be NULL. */
static int
scan_escape(JsonScanner *s, char *buf, size_t *len)
{
	int escaped;

	if (++s->p >= s->end)
		return json_error(s, "unterminated string");
	if (*s->p == 'u')
		return scan_unicode_escape(s, buf, len);
	if ((escaped = simple_escape(*s->p)) < 0)
		return json_error(s, "invalid escape in string");
	if (buf)
		buf[(*len)++] = (char) escaped;
	s->p++;
	return 0;
}

/*
 * Scans a string's body up to its closing quote; buf may be NULL.  Runs of
 * plain bytes, what nearly every string is, are copied at once.
 */
static int
scan_string_body(JsonScanner *s, char *buf, size_t *len)
{
	const char *p = s->p;
	const char *run;

	for (;;)
	{
		run = p;
		p = plain_run(p, s->end);
		if (buf && p > run)
		{
			memcpy(buf + *len, run, (size_t) (p - run));
			*len += (size_t) (p - run);
		}
		s->p = p;
		if (p >= s->end)
			return json_error(s, "unterminated string");
		if (*p == '"')
			break;
		if ((unsigned char) *p < 0x20)
			return json_error(s, "control character in string");
		if (scan_escape(s, buf, len) != 0)
			return -1;
		p = s->p;
	}
	s->p++; /* the closing quote */
	return 0;
}

/* The closing quote of the string whose contents start at p, or NULL. */
static const char *
string_end(const JsonScanner *s, const char *p)
{
	for (; p < s->end; p++)
	{
		if (*p == '"')
			return p;
		if (*p == '\\')
			p++;
	}
	return NULL;
}

/*
 * Room in the arena for size bytes, or NULL.  The arena holds the message's
 * length and a byte: every string kept is shorter than its quoted text, so
 * it never runs out (event_reparse); checked all the same.
 */
static char *
arena_take(JsonScanner *s, size_t size)
{
	char *taken = s->arena;

	if (taken == NULL || size > (size_t) (s->arena_end - taken))
	{
		json_error(s, "internal error: no room for a string");
		return NULL;
	}
	s->arena += size;
	return taken;
}

/*
 * Scans a string.  With out, stores a NUL-terminated unescaped copy in the
 * event's arena and, with out_len, its length in bytes.  Unescaping never
 * lengthens a string, so what is left of the message bounds it.
 */
static int
json_string(JsonScanner *s, char **out, size_t *out_len)
{
	char *buf = NULL;
	size_t len = 0;

	if (!json_at(s, '"'))
		return json_error(s, "expected a string");
	s->p++;
	if (out && (buf = arena_take(s, (size_t) (s->end - s->p))) == NULL)
		return -1;
	if (scan_string_body(s, buf, &len) != 0)
		return -1;
	if (out)
	{
		buf[len] = '\0';
		/* Gives back what the string did not use. */
		s->arena = buf + len + 1;
		*out = buf;
		if (out_len)
			*out_len = len;
	}
	return 0;
}

/* Scans a string that is not kept; a plain one (nearly all) in one run. */
static int
json_skip_string(JsonScanner *s)
{
	const char *close;

	if (!json_at(s, '"'))
		return json_error(s, "expected a string");
	close = plain_run(s->p + 1, s->end);
	if (close < s->end && *close == '"')
	{
		s->p = close + 1;
		return 0;
	}
	return json_string(s, NULL, NULL);
}

static void
skip_digits(JsonScanner *s)
{
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
}

static bool
at_digit(JsonScanner *s)
{
	return s->p < s->end && *s->p >= '0' && *s->p <= '9';
}

/* Scans a number exactly as RFC 8259 defines it. */
static int
scan_number(JsonScanner *s)
{
	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (!at_digit(s))
		return json_error(s, "invalid number");
	if (*s->p == '0')
		s->p++;
	else
		skip_digits(s);
	if (s->p < s->end && *s->p == '.')
	{
		s->p++;
		if (!at_digit(s))
			return json_error(s, "invalid number");
		skip_digits(s);
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E'))
	{
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!at_digit(s))
			return json_error(s, "invalid number");
		skip_digits(s);
	}
	return 0;
}

/* Scans an unsigned integer without sign, fraction or exponent. */
static int
json_uint(JsonScanner *s, uint64_t *value)
{
	const char *begin;
	uint64_t v = 0;

	json_skip_ws(s);
	begin = s->p;
	if (s->p >= s->end || ((*s->p < '0' || *s->p > '9') && *s->p != '-'))
		return json_error(s, "expected an unsigned integer");
	if (scan_number(s) != 0)
		return -1;
	if (*begin == '-' || (s->p < s->end && *s->p >= '0' && *s->p <= '9'))
		return json_error(s, "expected an unsigned integer");
	for (; begin < s->p; begin++)
	{
		unsigned digit = (unsigned) (*begin - '0');

		if (*begin < '0' || *begin > '9')
			return json_error(s, "expected an unsigned integer");
		if (v > UINT64_MAX / 10 || (v == UINT64_MAX / 10 && digit > UINT64_MAX % 10))
			return json_error(s, "integer out of range");
		v = v * 10 + digit;
	}
	*value = v;
	return 0;
}

/* Scans a scalar: string, number or literal. */
static int
scan_scalar(JsonScanner *s)
{
	if (s->p >= s->end)
		return json_error(s, "expected a value, found the end");
	switch (*s->p)
	{
		case '"':
			return json_skip_string(s);
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

/* A stack of the closing brackets of the open containers. */
typedef struct BracketStack
{
	char *items;
	size_t depth;
	size_t capacity;
	char inline_items[64];
} BracketStack;

static int
bracket_push(JsonScanner *s, BracketStack *stack, char close)
{
	if (stack->depth == stack->capacity)
	{
		size_t capacity = stack->capacity * 2;
		char *items = malloc(capacity);

		if (items == NULL)
			return json_error(s, "out of memory");
		memcpy(items, stack->items, stack->depth);
		if (stack->items != stack->inline_items)
			free(stack->items);
		stack->items = items;
		stack->capacity = capacity;
	}
	stack->items[stack->depth++] = close;
	return 0;
}

/*
 * After a value: consumes closing brackets and a comma (with the next key
 * when in an object).  Returns 1 when the outermost value is complete,
 * 0 when another value follows, -1 on error.
 */
static int
after_value(JsonScanner *s, BracketStack *stack)
{
	while (stack->depth > 0)
	{
		char close = stack->items[stack->depth - 1];

		if (json_at(s, ','))
		{
			s->p++;
			if (close == '}' &&
				(json_skip_string(s) != 0 || json_expect(s, ':') != 0))
				return -1;
			return 0;
		}
		if (json_expect(s, close) != 0)
			return -1;
		stack->depth--;
	}
	return 1;
}

/*
 * Opens a container, s->p at its bracket.  Returns 1 when it is empty
 * (and closed again), 0 when a value follows, -1 on error.
 */
static int
open_container(JsonScanner *s, BracketStack *stack)
{
	char close = *s->p == '{' ? '}' : ']';

	s->p++;
	if (json_at(s, close))
	{
		s->p++;
		return 1;
	}
	if (bracket_push(s, stack, close) != 0)
		return -1;
	if (close == '}' &&
		(json_skip_string(s) != 0 || json_expect(s, ':') != 0))
		return -1;
	return 0;
}

/* Scans and validates any JSON value, however deeply nested. */
static int
json_skip_value(JsonScanner *s)
{
	BracketStack stack;
	int rc;

	stack.items = stack.inline_items;
	stack.depth = 0;
	stack.capacity = sizeof(stack.inline_items);
	for (;;)
	{
		json_skip_ws(s);
		if (s->p < s->end && (*s->p == '{' || *s->p == '['))
			rc = open_container(s, &stack);
		else
			rc = scan_scalar(s) == 0 ? 1 : -1;
		if (rc == 1)
			rc = after_value(s, &stack);
		if (rc != 0)
			break;
	}
	if (stack.items != stack.inline_items)
		free(stack.items);
	return rc < 0 ? -1 : 0;
}

/* ---- The event schema ---- */

typedef enum EventKey
{
	KEY_V,
	KEY_ID,
	KEY_ID_GENERATED,
	KEY_AGGREGATE_TYPE,
	KEY_AGGREGATE_ID,
	KEY_EVENT_TYPE,
	KEY_PAYLOAD,
	KEY_PAYLOAD_INVALID,
	KEY_HEADERS,
	KEY_HEADERS_INVALID,
	KEY_CREATED_AT,
	KEY_REJECTED,
	KEY_SIZE,
	KEY_COMMIT_LSN,
	KEY_XID,
	KEY_COMMIT_TIME,
	KEY_SEQ,
	KEY_LAST,
	KEY_END_LSN,
	NUM_EVENT_KEYS
} EventKey;

typedef struct EventKeySpec
{
	const char *name;
	size_t name_len;
	bool required;
	const char *missing_hint; /* appended when it is missing */
} EventKeySpec;

/* In the order the plugin writes them (docs/format.md). */
#define KEY_NAME(name) name, sizeof(name) - 1

static const EventKeySpec event_keys[NUM_EVENT_KEYS] = {
	[KEY_V] = {KEY_NAME("v"), true, ""},
	[KEY_ID] = {KEY_NAME("id"), true, ""},
	[KEY_ID_GENERATED] = {KEY_NAME("id_generated"), false, ""},
	[KEY_AGGREGATE_TYPE] = {KEY_NAME("aggregate_type"), true, ""},
	[KEY_AGGREGATE_ID] = {KEY_NAME("aggregate_id"), true, ""},
	[KEY_EVENT_TYPE] = {KEY_NAME("event_type"), true, ""},
	[KEY_PAYLOAD] = {KEY_NAME("payload"), true, ""},
	[KEY_PAYLOAD_INVALID] = {KEY_NAME("payload_invalid"), false, ""},
	[KEY_HEADERS] = {KEY_NAME("headers"), true, ""},
	[KEY_HEADERS_INVALID] = {KEY_NAME("headers_invalid"), false, ""},
	[KEY_CREATED_AT] = {KEY_NAME("created_at"), true, ""},
	[KEY_REJECTED] = {KEY_NAME("rejected"), false, ""},
	[KEY_SIZE] = {KEY_NAME("size"), false, ""},
	[KEY_COMMIT_LSN] = {KEY_NAME("commit_lsn"), true,
						" (the shipper needs the plugin option include-lsn)"},
	[KEY_XID] = {KEY_NAME("xid"), false, ""},
	[KEY_COMMIT_TIME] = {KEY_NAME("commit_time"), false, ""},
	[KEY_SEQ] = {KEY_NAME("seq"), true, ""},
	[KEY_LAST] = {KEY_NAME("last"), false, ""},
	[KEY_END_LSN] = {KEY_NAME("end_lsn"), false, ""},
};

static bool
key_is(int k, const char *name, size_t len)
{
	return event_keys[k].name_len == len && memcmp(event_keys[k].name, name, len) == 0;
}

/* The key's number, trying first the one after the previous (the plugin's order). */
static int
find_key(const char *name, size_t len, int previous)
{
	int k;

	for (k = previous + 1; k < NUM_EVENT_KEYS; k++)
		if (key_is(k, name, len))
			return k;
	for (k = 0; k <= previous && k < NUM_EVENT_KEYS; k++)
		if (key_is(k, name, len))
			return k;
	return -1;
}

/* A string or null: *out is NULL for null. */
static int
scan_optional_string(JsonScanner *s, const char *key, char **out, size_t *len)
{
	if (json_take_null(s))
		return 0;
	if (!json_at(s, '"'))
		return json_error(s, "\"%s\" must be a string or null", key);
	return json_string(s, out, len);
}

static int
scan_required_string(JsonScanner *s, const char *key, char **out, size_t *len)
{
	if (!json_at(s, '"'))
		return json_error(s, "\"%s\" must be a string", key);
	return json_string(s, out, len);
}

/* The only value the format allows for the flags (payload_invalid, last, ...). */
static int
scan_true(JsonScanner *s, const char *key, bool *value)
{
	json_skip_ws(s);
	if ((size_t) (s->end - s->p) < 4 || memcmp(s->p, "true", 4) != 0)
		return json_error(s, "\"%s\" must be true when present", key);
	s->p += 4;
	*value = true;
	return 0;
}

static int scan_key(JsonScanner *s, char *buf, size_t size, size_t *len);

static int
scan_lsn(JsonScanner *s, const char *key, Lsn *lsn)
{
	char text[40];
	size_t len;

	if (!json_at(s, '"'))
		return json_error(s, "\"%s\" must be a string", key);
	/* Cut short (len too long to parse) if longer than any LSN. */
	if (scan_key(s, text, sizeof(text), &len) != 0)
		return -1;
	if (lsn_parse(text, len, lsn) != 0)
		return json_error(s, "\"%s\" is not an LSN", key);
	return 0;
}

/* Days from 1970-01-01 to a date of the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int64_t year, int month, int day)
{
	int64_t era;
	int64_t year_of_era;
	int64_t day_of_year;

	year -= month <= 2;
	era = (year >= 0 ? year : year - 399) / 400;
	year_of_era = year - era * 400;
	day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
	return era * 146097 + year_of_era * 365 + year_of_era / 4 - year_of_era / 100 +
		   day_of_year - 719468;
}

static int
two_digits(const char *p)
{
	return (p[0] - '0') * 10 + (p[1] - '0');
}

/*
 * "YYYY-MM-DDTHH:MM:SS" with every digit in place and a month from 1 to
 * 12, as the plugin writes it: its seconds since the epoch, computed the
 * way timegm does (days, hours, minutes and seconds beyond their range
 * carry over).  -1 for any other text, which the caller reads with sscanf.
 */
static int
canonical_utc_seconds(const char *text, time_t *seconds)
{
	static const char shape[] = "0000-00-00T00:00:00";
	int month;
	int i;

	for (i = 0; i < 19; i++)
		if (shape[i] == '0' ? text[i] < '0' || text[i] > '9' : text[i] != shape[i])
			return -1;
	month = two_digits(text + 5);
	if (month < 1 || month > 12)
		return -1;
	*seconds = (time_t) (days_from_civil(two_digits(text) * 100 + two_digits(text + 2), month,
										 two_digits(text + 8)) *
							 86400 +
						 two_digits(text + 11) * 3600 + two_digits(text + 14) * 60 +
						 two_digits(text + 17));
	return 0;
}

/* What canonical_utc_seconds does not read: signs, spaces, odd months. */
static int
sscanf_utc_seconds(const char *text, time_t *seconds)
{
	struct tm tm;
	int consumed = 0;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
		consumed != 19)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*seconds = timegm(&tm);
	return 0;
}

/*
 * "YYYY-MM-DDTHH:MM:SS[.f]Z" (RFC 3339 in UTC, as the plugin writes
 * commit_time) to microseconds since the Unix epoch.
 */
static int
parse_utc_time(const char *text, int64_t *usec)
{
	int64_t fraction = 0;
	int digits = 0;
	const char *p;
	time_t seconds;

	if (canonical_utc_seconds(text, &seconds) != 0 &&
		sscanf_utc_seconds(text, &seconds) != 0)
		return -1;
	p = text + 19;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (digits++ < 6)
				fraction = fraction * 10 + (*p - '0');
	if (strcmp(p, "Z") != 0 || (p[-1] == '.'))
		return -1;
	for (; digits < 6; digits++)
		fraction *= 10;
	/* timegm's error value: the second before the epoch is refused too. */
	if (seconds == (time_t) -1)
		return -1;
	*usec = (int64_t) seconds * 1000000 + fraction;
	return 0;
}

/* commit_time, read without allocating (every event has one). */
static int
scan_commit_time(JsonScanner *s, const char *key, int64_t *usec)
{
	char text[40];
	size_t len;

	if (!json_at(s, '"'))
		return json_error(s, "\"%s\" must be a string", key);
	if (scan_key(s, text, sizeof(text), &len) != 0)
		return -1;
	if (len >= sizeof(text) || parse_utc_time(text, usec) != 0)
		return json_error(s, "\"%s\" is not a UTC time like 2026-11-22T12:00:00.123456Z",
						  key);
	return 0;
}

static int
scan_version(JsonScanner *s)
{
	uint64_t version;

	if (json_uint(s, &version) != 0)
		return -1;
	if (version != 1)
		return json_error(s, "event format version %llu is not supported by this shipper, which reads version 1",
						  (unsigned long long) version);
	return 0;
}

/* The payload: any JSON value, kept as the bytes the plugin wrote. */
static int
scan_payload(JsonScanner *s, ShipperEvent *event)
{
	json_skip_ws(s);
	event->payload = s->p;
	if (json_skip_value(s) != 0)
		return -1;
	event->payload_len = (size_t) (s->p - event->payload);
	event->payload_null = event->payload_len == 4 &&
						  memcmp(event->payload, "null", 4) == 0;
	return 0;
}

static int
add_header(JsonScanner *s, ShipperEvent *event, EventHeader *header)
{
	EventHeader *grown;
	int capacity;

	if (event->nheaders == event->headers_capacity)
	{
		capacity = event->headers_capacity == 0 ? 4 : event->headers_capacity * 2;
		grown = realloc(event->headers, (size_t) capacity * sizeof(EventHeader));
		if (grown == NULL)
			return json_error(s, "out of memory");
		event->headers = grown;
		event->headers_capacity = capacity;
	}
	event->headers[event->nheaders++] = *header;
	return 0;
}

/* One "name": value entry; a string value unescaped, others as JSON. */
static int
scan_header_entry(JsonScanner *s, ShipperEvent *event)
{
	EventHeader header = {NULL, 0, NULL, 0};
	const char *begin;

	if (json_string(s, &header.name, &header.name_len) != 0 ||
		json_expect(s, ':') != 0)
		return -1;
	json_skip_ws(s);
	begin = s->p;
	if (json_at(s, '"'))
	{
		if (json_string(s, &header.value, &header.value_len) != 0)
			return -1;
	}
	else
	{
		if (json_skip_value(s) != 0)
			return -1;
		header.value_len = (size_t) (s->p - begin);
		if ((header.value = arena_take(s, header.value_len + 1)) == NULL)
			return -1;
		memcpy(header.value, begin, header.value_len);
		header.value[header.value_len] = '\0';
	}
	return add_header(s, event, &header);
}

static int
scan_headers(JsonScanner *s, ShipperEvent *event)
{
	if (json_take_null(s))
		return 0;
	if (!json_at(s, '{'))
		return json_error(s, "\"headers\" must be an object or null");
	s->p++;
	if (json_at(s, '}'))
	{
		s->p++;
		return 0;
	}
	for (;;)
	{
		if (scan_header_entry(s, event) != 0)
			return -1;
		if (!json_at(s, ','))
			return json_expect(s, '}');
		s->p++;
	}
}

/* seq is an unsigned long long in the event, a uint64_t in the scanner. */
static int
scan_seq(JsonScanner *s, unsigned long long *seq)
{
	uint64_t value;

	if (json_uint(s, &value) != 0)
		return -1;
	*seq = (unsigned long long) value;
	return 0;
}

/* Scans the value of one top-level key into the event. */
static int
scan_field(JsonScanner *s, EventKey key, ShipperEvent *event)
{
	const char *name = event_keys[key].name;
	uint64_t ignored;

	switch (key)
	{
		case KEY_V:
			return scan_version(s);
		case KEY_ID:
			return scan_required_string(s, name, &event->id, &event->id_len);
		case KEY_ID_GENERATED:
			return scan_true(s, name, &event->id_generated);
		case KEY_AGGREGATE_TYPE:
			return scan_optional_string(s, name, &event->aggregate_type,
										&event->aggregate_type_len);
		case KEY_AGGREGATE_ID:
			return scan_optional_string(s, name, &event->aggregate_id,
										&event->aggregate_id_len);
		case KEY_EVENT_TYPE:
			return scan_optional_string(s, name, &event->event_type,
										&event->event_type_len);
		case KEY_PAYLOAD:
			return scan_payload(s, event);
		case KEY_PAYLOAD_INVALID:
			return scan_true(s, name, &event->payload_invalid);
		case KEY_HEADERS:
			return scan_headers(s, event);
		case KEY_HEADERS_INVALID:
			return scan_true(s, name, &event->headers_invalid);
		case KEY_CREATED_AT:
			return scan_optional_string(s, name, &event->created_at,
										&event->created_at_len);
		case KEY_REJECTED:
			return scan_required_string(s, name, &event->rejected, NULL);
		case KEY_SIZE:
			event->has_size = true;
			return json_uint(s, &event->size);
		case KEY_COMMIT_LSN:
			return scan_lsn(s, name, &event->commit_lsn);
		case KEY_XID:
			return json_uint(s, &ignored);
		case KEY_COMMIT_TIME:
			return scan_commit_time(s, name, &event->commit_time_usec);
		case KEY_SEQ:
			return scan_seq(s, &event->seq);
		case KEY_LAST:
			return scan_true(s, name, &event->last);
		case KEY_END_LSN:
			return scan_lsn(s, name, &event->end_lsn);
		case NUM_EVENT_KEYS:
			break;
	}
	return json_error(s, "internal error: unhandled key");
}

/*
 * Reads an object key into buf (NUL-terminated) without allocating.  A key
 * too long for buf is cut short there: no known key is that long.
 */
static int
scan_key(JsonScanner *s, char *buf, size_t size, size_t *len)
{
	const char *close;

	if (!json_at(s, '"'))
		return json_error(s, "expected a string");
	/* A key without escapes, as every known one is: copied at once. */
	close = plain_run(s->p + 1, s->end);
	if (close < s->end && *close == '"' && (size_t) (close - s->p) < size)
	{
		*len = (size_t) (close - s->p - 1);
		memcpy(buf, s->p + 1, *len);
		buf[*len] = '\0';
		s->p = close + 1;
		return 0;
	}
	if ((close = string_end(s, s->p + 1)) == NULL)
		return json_error(s, "unterminated string");
	if ((size_t) (close - s->p) >= size)
	{
		snprintf(buf, size, "%.*s", (int) (size - 1), s->p + 1);
		*len = size; /* matches no key */
		return json_skip_string(s);
	}
	s->p++;
	*len = 0;
	if (scan_string_body(s, buf, len) != 0)
		return -1;
	buf[*len] = '\0';
	return 0;
}

/*
 * The key at s->p when it is written as the plugin writes one of those
 * that may come after previous (no escapes), consumed; else -1 and nothing
 * is.  The event's keys are read where they are, without a copy.
 */
static int
take_known_key(JsonScanner *s, int previous)
{
	size_t left = (size_t) (s->end - s->p);
	size_t len;
	int k;

	if (left < 3 || s->p[0] != '"')
		return -1;
	for (k = previous + 1; k < NUM_EVENT_KEYS; k++)
	{
		len = event_keys[k].name_len;
		if (len + 2 <= left && s->p[len + 1] == '"' && s->p[1] == event_keys[k].name[0] &&
			memcmp(s->p + 1, event_keys[k].name, len) == 0)
		{
			s->p += len + 2;
			return k;
		}
	}
	return -1;
}

/*
 * Reads one "key": value pair, refusing unknown and repeated keys;
 * *previous is the last key read.
 */
static int
scan_member(JsonScanner *s, ShipperEvent *event, bool *seen, int *previous)
{
	const char *at;
	char name[32];
	size_t len;
	int key;

	json_skip_ws(s);
	at = s->p;
	if ((key = take_known_key(s, *previous)) >= 0)
		memcpy(name, event_keys[key].name, event_keys[key].name_len + 1);
	else
	{
		if (scan_key(s, name, sizeof(name), &len) != 0)
			return -1;
		key = find_key(name, len, *previous);
	}
	if (key < 0 || seen[key])
	{
		s->p = at;
		return json_error(s, key < 0 ? "unknown key \"%s\" in event" : "repeated key \"%s\" in event",
						  name);
	}
	seen[key] = true;
	*previous = key;
	if (json_expect(s, ':') != 0)
		return -1;
	return scan_field(s, (EventKey) key, event);
}

/* Checks what the keys say together, once all are read. */
static int
check_event(JsonScanner *s, ShipperEvent *event, const bool *seen)
{
	int k;

	for (k = 0; k < NUM_EVENT_KEYS; k++)
		if (event_keys[k].required && !seen[k])
		{
			snprintf(s->errstr, s->errstr_size, "event has no \"%s\"%s",
					 event_keys[k].name, event_keys[k].missing_hint);
			return -1;
		}
	if (event->last != seen[KEY_END_LSN])
	{
		snprintf(s->errstr, s->errstr_size,
				 event->last ? "the last event of a transaction has no \"end_lsn\"" : "\"end_lsn\" on an event that is not its transaction's last");
		return -1;
	}
	if (event->payload_invalid && event->payload[0] != '"')
	{
		snprintf(s->errstr, s->errstr_size,
				 "\"payload_invalid\" is set but the payload is not a string");
		return -1;
	}
	if (event->headers_invalid && event->nheaders > 0)
	{
		snprintf(s->errstr, s->errstr_size,
				 "\"headers_invalid\" is set but the headers are not null");
		return -1;
	}
	if (seen[KEY_SIZE] && !seen[KEY_REJECTED])
	{
		snprintf(s->errstr, s->errstr_size, "\"size\" on an event that is not rejected");
		return -1;
	}
	return 0;
}

/* A payload_invalid event ships the text the plugin put in a string. */
static int
unescape_invalid_payload(JsonScanner *s, ShipperEvent *event)
{
	JsonScanner sub;
	size_t len = 0;

	json_init(&sub, event->payload, event->payload_len, s->errstr, s->errstr_size);
	sub.arena = s->arena;
	sub.arena_end = s->arena_end;
	if (json_string(&sub, &event->payload_copy, &len) != 0)
		return -1;
	s->arena = sub.arena;
	event->payload = event->payload_copy;
	event->payload_len = len;
	return 0;
}

/*
 * Clears the event's fields but keeps its memory, with an arena for a
 * message of len bytes: every string kept is shorter than its quoted text.
 */
static int
event_reset(ShipperEvent *event, size_t len, char *errstr, size_t errstr_size)
{
	ShipperEvent kept = *event;

	memset(event, 0, sizeof(*event));
	event->arena = kept.arena;
	event->arena_size = kept.arena_size;
	event->headers = kept.headers;
	event->headers_capacity = kept.headers_capacity;
	if (event->arena_size < len + 1)
	{
		free(event->arena);
		event->arena_size = 0;
		if ((event->arena = malloc(len + 1)) == NULL)
		{
			snprintf(errstr, errstr_size, "out of memory");
			return -1;
		}
		event->arena_size = len + 1;
	}
	return 0;
}

int
event_parse(const char *json, size_t len, ShipperEvent *event,
			char *errstr, size_t errstr_size)
{
	memset(event, 0, sizeof(*event));
	if (event_reparse(json, len, event, errstr, errstr_size) == 0)
		return 0;
	event_free(event);
	return -1;
}

int
event_reparse(const char *json, size_t len, ShipperEvent *event,
			  char *errstr, size_t errstr_size)
{
	JsonScanner s;
	bool seen[NUM_EVENT_KEYS] = {false};
	int previous = -1;

	if (event_reset(event, len, errstr, errstr_size) != 0)
		return -1;
	json_init(&s, json, len, errstr, errstr_size);
	s.arena = event->arena;
	s.arena_end = event->arena + event->arena_size;
	if (json_expect(&s, '{') != 0)
		goto fail;
	for (;;)
	{
		if (scan_member(&s, event, seen, &previous) != 0)
			goto fail;
		if (!json_at(&s, ','))
			break;
		s.p++;
	}
	if (json_expect(&s, '}') != 0)
		goto fail;
	json_skip_ws(&s);
	if (s.p != s.end)
	{
		json_error(&s, "unexpected bytes after the event");
		goto fail;
	}
	if (check_event(&s, event, seen) != 0 ||
		(event->payload_invalid && unescape_invalid_payload(&s, event) != 0))
		goto fail;
	return 0;

fail:
	/* Nothing half-read stays visible; the memory stays for the next. */
	(void) event_reset(event, 0, errstr, errstr_size);
	return -1;
}

void
event_free(ShipperEvent *event)
{
	free(event->arena);
	free(event->headers);
	memset(event, 0, sizeof(*event));
}

/* ---- Recovering the position of a message that is not an event ---- */

/* The last occurrence of needle in [begin, end), or NULL. */
static const char *
find_last(const char *begin, const char *end, const char *needle)
{
	size_t n = strlen(needle);
	const char *p;

	if ((size_t) (end - begin) < n)
		return NULL;
	for (p = end - n; p >= begin; p--)
		if (memcmp(p, needle, n) == 0)
			return p;
	return NULL;
}

/*
 * Reads the members from commit_lsn to the closing brace: only the
 * position keys, each once, in the plugin's order.
 */
static int
scan_position_members(JsonScanner *s, ShipperEvent *tail, bool *seen)
{
	char name[32];
	size_t len;
	int key;
	int previous = KEY_COMMIT_LSN - 1;

	for (;;)
	{
		if (scan_key(s, name, sizeof(name), &len) != 0)
			return -1;
		key = find_key(name, len, previous);
		if (key <= previous)
			return json_error(s, "\"%s\" where the plugin writes only the position keys, in order",
							  name);
		previous = key;
		seen[key] = true;
		if (json_expect(s, ':') != 0 || scan_field(s, (EventKey) key, tail) != 0)
			return -1;
		if (!json_at(s, ','))
			break;
		s->p++;
	}
	if (json_expect(s, '}') != 0)
		return -1;
	if (s->p != s->end)
		return json_error(s, "unexpected bytes after the position keys");
	return 0;
}

int
event_recover_position(const char *json, size_t len, EventPosition *position,
					   char *errstr, size_t errstr_size)
{
	JsonScanner s;
	ShipperEvent tail;
	bool seen[NUM_EVENT_KEYS] = {false};
	const char *at = find_last(json, json + len, ",\"commit_lsn\":");
	char why[256];

	memset(position, 0, sizeof(*position));
	memset(&tail, 0, sizeof(tail));
	if (at == NULL)
	{
		snprintf(errstr, errstr_size, "no \"commit_lsn\" key in the message");
		return -1;
	}
	/* Errors say where in the whole message they are. */
	json_init(&s, json, len, why, sizeof(why));
	s.p = at + 1;
	if (scan_position_members(&s, &tail, seen) != 0)
	{
		snprintf(errstr, errstr_size, "its position keys are unreadable: %s", why);
		return -1;
	}
	if (!seen[KEY_SEQ] || tail.last != seen[KEY_END_LSN])
	{
		snprintf(errstr, errstr_size, "its position keys are incomplete (%s)",
				 !seen[KEY_SEQ] ? "no \"seq\"" : tail.last ? "\"last\" without \"end_lsn\""
														   : "\"end_lsn\" without \"last\"");
		return -1;
	}
	position->commit_lsn = tail.commit_lsn;
	position->seq = tail.seq;
	position->last = tail.last;
	position->end_lsn = tail.end_lsn;
	position->commit_time_usec = tail.commit_time_usec;
	return 0;
}

/* ---- Any JSON text ---- */

/*
 * Whether text is one JSON value (RFC 8259), with whitespace around it
 * allowed, however deeply nested.  pgoutput mode decides with it whether a
 * text payload is embedded as JSON or shipped as a string, as the plugin
 * decides with PostgreSQL's parser.
 */
bool
event_json_is_valid(const char *text, size_t len)
{
	JsonScanner s;
	char why[128];

	json_init(&s, text, len, why, sizeof(why));
	if (json_skip_value(&s) != 0)
		return false;
	json_skip_ws(&s);
	return s.p == s.end;
}
