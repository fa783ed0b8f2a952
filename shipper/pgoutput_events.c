/*
 * pgoutput_events.c
 *	  Outbox events from pgoutput's messages, written exactly as the
 *	  outbox_pg plugin writes them (docs/format.md).
 *
 * The plugin formats values from their stored form; here they arrive as
 * the text of their type's output function, so each rule of the plugin is
 * restated on that text:
 * - jsonb: jsonb_out's text is the plugin's compact form plus a space
 *   after every ':' and ','; both escape strings alike.  Taking out the
 *   whitespace outside strings gives the plugin's bytes.
 * - json, and text holding JSON: compacted the same way; text that is not
 *   JSON, or nests deeper than the plugin parses (1000), is shipped as a
 *   JSON string and flagged, as the plugin does.
 * - timestamptz and timestamp: read from the ISO DateStyle's text and
 *   written in RFC 3339, in UTC for timestamptz.
 * - uuid, integers and everything else: their text, as a JSON string.
 * The transaction's events are held back by one, as the plugin holds them,
 * so the last can be marked when the Commit message comes.
 */
#include "pgoutput_events.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

/* The plugin parses text payloads no deeper than this (plugin/format.c). */
#define MAX_JSON_DEPTH 1000

/* Base type OIDs, as pg_type.h has them. */
#define TEXTOID 25
#define VARCHAROID 1043
#define JSONOID 114
#define JSONBOID 3802
#define TIMESTAMPOID 1114
#define TIMESTAMPTZOID 1184

/* The prefix of outbox.emit()'s messages. */
#define OUTBOX_MESSAGE_PREFIX "outbox_pg"

typedef struct Buffer
{
	char *data;
	size_t len;
	size_t size;
	bool failed; /* an allocation failed: the contents are incomplete */
} Buffer;

/* What the last Relation message said about a relation. */
typedef struct RelationEntry
{
	uint32_t relid;
	bool is_outbox;
	int column_of[PGO_NFIELDS]; /* index in the tuple, -1: none */
	uint32_t base_types[PGO_NFIELDS];
} RelationEntry;

struct PgoEvents
{
	PgoLayoutLookup lookup;
	void *lookup_arg;
	PgoEventSink sink;
	void *sink_arg;

	RelationEntry *relations;
	int nrelations;
	int relations_size;

	/* The transaction being read */
	bool in_txn;
	Lsn commit_lsn;
	uint32_t xid;
	int64_t commit_time;
	uint64_t seq;
	Buffer metadata; /* ,"commit_lsn":…,"seq": */
	Buffer pending; /* the held-back event, without its closing brace */
	bool has_pending;

	PgoValue *values; /* the current tuple's values */
	int values_size;
};

/* ---- Buffers ---- */

static bool
buffer_reserve(Buffer *b, size_t more)
{
	size_t size;
	char *data;

	if (b->failed)
		return false;
	if (b->len + more <= b->size)
		return true;
	size = b->size > 0 ? b->size : 256;
	while (size < b->len + more)
		size *= 2;
	if ((data = realloc(b->data, size)) == NULL)
	{
		b->failed = true;
		return false;
	}
	b->data = data;
	b->size = size;
	return true;
}

static void
buffer_append(Buffer *b, const char *data, size_t len)
{
	if (!buffer_reserve(b, len))
		return;
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

static void
buffer_puts(Buffer *b, const char *text)
{
	buffer_append(b, text, strlen(text));
}

static void
buffer_putc(Buffer *b, char c)
{
	buffer_append(b, &c, 1);
}

static void
buffer_put_uint(Buffer *b, uint64_t value)
{
	char digits[20];
	int n = 0;

	do
	{
		digits[n++] = (char) ('0' + value % 10);
		value /= 10;
	} while (value != 0);
	if (!buffer_reserve(b, (size_t) n))
		return;
	while (n > 0)
		b->data[b->len++] = digits[--n];
}

static void
buffer_put_lsn(Buffer *b, Lsn lsn)
{
	char text[LSN_TEXT_SIZE];
	size_t len = lsn_format(lsn, text);

	buffer_putc(b, '"');
	buffer_append(b, text, len);
	buffer_putc(b, '"');
}

/* ---- Values ---- */

/* Appends bytes as a JSON string, escaped as the plugin escapes. */
static void
put_json_string(Buffer *b, const char *str, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const char *end = str + len;
	const char *run = str;
	const char *p;

	buffer_putc(b, '"');
	for (p = str; p < end; p++)
	{
		unsigned char c = (unsigned char) *p;
		char esc[6] = {'\\', (char) c, '0', '0', '0', '0'};

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buffer_append(b, run, (size_t) (p - run));
		run = p + 1;
		switch (c)
		{
			case '"':
			case '\\':
				buffer_append(b, esc, 2);
				break;
			case '\n':
				buffer_append(b, "\\n", 2);
				break;
			case '\r':
				buffer_append(b, "\\r", 2);
				break;
			case '\t':
				buffer_append(b, "\\t", 2);
				break;
			case '\b':
				buffer_append(b, "\\b", 2);
				break;
			case '\f':
				buffer_append(b, "\\f", 2);
				break;
			default:
				esc[1] = 'u';
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 0xF];
				buffer_append(b, esc, sizeof(esc));
				break;
		}
	}
	buffer_append(b, run, (size_t) (end - run));
	buffer_putc(b, '"');
}

/*
 * Copies JSON text to b (when not NULL) without the whitespace outside
 * strings; returns the deepest nesting of brackets outside strings.  The
 * copy is JSON only when the text is.
 */
static int
put_json_compact(Buffer *b, const char *json, size_t len)
{
	const char *end = json + len;
	const char *run = json;
	const char *p;
	bool in_string = false;
	int depth = 0;
	int max_depth = 0;

	for (p = json; p < end; p++)
	{
		if (in_string)
		{
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '"')
				in_string = false;
			continue;
		}
		switch (*p)
		{
			case '"':
				in_string = true;
				break;
			case '{':
			case '[':
				if (++depth > max_depth)
					max_depth = depth;
				break;
			case '}':
			case ']':
				depth--;
				break;
			case ' ':
			case '\t':
			case '\n':
			case '\r':
				if (b)
					buffer_append(b, run, (size_t) (p - run));
				run = p + 1;
				break;
		}
	}
	if (b)
		buffer_append(b, run, (size_t) (end - run));
	return max_depth;
}

/* Days from 1970-01-01 to a date of the proleptic Gregorian calendar. */
static int64_t
days_from_date(int64_t year, int month, int day)
{
	int64_t y = month <= 2 ? year - 1 : year;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t year_of_era = y - era * 400;
	int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
	int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;

	return era * 146097 + day_of_era - 719468;
}

/* The date days after 1970-01-01. */
static void
date_from_days(int64_t days, int64_t *year, int *month, int *day)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t day_of_era = z - era * 146097;
	int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 -
						   day_of_era / 146096) /
						  365;
	int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
	int64_t mp = (5 * day_of_year + 2) / 153;

	*day = (int) (day_of_year - (153 * mp + 2) / 5 + 1);
	*month = (int) (mp < 10 ? mp + 3 : mp - 9);
	*year = year_of_era + era * 400 + (*month <= 2 ? 1 : 0);
}

/* Writes value zero-padded to width digits at least; returns the end. */
static char *
put_padded(char *p, uint64_t value, int width)
{
	char digits[20];
	int n = 0;

	do
	{
		digits[n++] = (char) ('0' + value % 10);
		value /= 10;
	} while (value != 0);
	while (width-- > n)
		*p++ = '0';
	while (n > 0)
		*p++ = digits[--n];
	return p;
}

/*
 * RFC 3339, as the plugin writes it (years outside 0000-9999 with a sign,
 * astronomical: 1 BC is 0000), quoted, into out; returns its length.
 */
static size_t
put_rfc3339(char *out, int64_t year, int month, int day, int64_t second_of_day,
			const char *fraction, size_t fraction_len, bool utc)
{
	char *p = out;

	*p++ = '"';
	if (year < 0)
		*p++ = '-';
	else if (year > 9999)
		*p++ = '+';
	p = put_padded(p, (uint64_t) (year < 0 ? -year : year), 4);
	*p++ = '-';
	p = put_padded(p, (uint64_t) month, 2);
	*p++ = '-';
	p = put_padded(p, (uint64_t) day, 2);
	*p++ = 'T';
	p = put_padded(p, (uint64_t) (second_of_day / 3600), 2);
	*p++ = ':';
	p = put_padded(p, (uint64_t) (second_of_day / 60 % 60), 2);
	*p++ = ':';
	p = put_padded(p, (uint64_t) (second_of_day % 60), 2);
	while (fraction_len > 0 && fraction[fraction_len - 1] == '0')
		fraction_len--;
	if (fraction_len > 0)
	{
		*p++ = '.';
		memcpy(p, fraction, fraction_len);
		p += fraction_len;
	}
	if (utc)
		*p++ = 'Z';
	*p++ = '"';
	return (size_t) (p - out);
}

/* Reads exactly n digits (or, with n 0, one or more) from *p. */
static bool
read_digits(const char **p, const char *end, int n, int64_t *value)
{
	const char *start = *p;

	*value = 0;
	while (*p < end && **p >= '0' && **p <= '9' && (n == 0 || *p - start < n))
	{
		if (*value > INT64_MAX / 10 - 9)
			return false;
		*value = *value * 10 + (**p - '0');
		(*p)++;
	}
	return *p > start && (n == 0 || *p - start == n);
}

static bool
read_char(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return false;
	(*p)++;
	return true;
}

/* A UTC offset "+HH", "+HH:MM" or "+HH:MM:SS" in seconds. */
static bool
read_offset(const char **p, const char *end, int64_t *offset)
{
	int sign;
	int64_t part;

	if (*p >= end || (**p != '+' && **p != '-'))
		return false;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (!read_digits(p, end, 2, &part))
		return false;
	*offset = part * 3600;
	if (read_char(p, end, ':'))
	{
		if (!read_digits(p, end, 2, &part))
			return false;
		*offset += part * 60;
		if (read_char(p, end, ':'))
		{
			if (!read_digits(p, end, 2, &part))
				return false;
			*offset += part;
		}
	}
	*offset *= sign;
	return true;
}

/*
 * A timestamp's text in the ISO DateStyle ("2026-11-29 12:00:00.5+00",
 * "0044-03-15 12:00:00+00:00 BC", "infinity") as the plugin writes it,
 * quoted, into out (at least 48 bytes); utc for timestamptz, whose offset
 * is applied.  -1 when the text is not of that form.
 */
int
pgo_format_timestamp(const char *text, size_t len, bool utc, char *out,
					 size_t *out_len)
{
	const char *p = text;
	const char *end = text + len;
	const char *fraction = NULL;
	size_t fraction_len = 0;
	int64_t year, month, day, hour, minute, second;
	int64_t offset = 0;
	int64_t seconds;
	int m, d;

	if ((len == 8 && memcmp(text, "infinity", 8) == 0) ||
		(len == 9 && memcmp(text, "-infinity", 9) == 0))
	{
		out[0] = '"';
		memcpy(out + 1, text, len);
		out[len + 1] = '"';
		*out_len = len + 2;
		return 0;
	}
	if (!read_digits(&p, end, 0, &year) || year > 9999999 || !read_char(&p, end, '-') ||
		!read_digits(&p, end, 2, &month) || !read_char(&p, end, '-') ||
		!read_digits(&p, end, 2, &day) || !read_char(&p, end, ' ') ||
		!read_digits(&p, end, 2, &hour) || !read_char(&p, end, ':') ||
		!read_digits(&p, end, 2, &minute) || !read_char(&p, end, ':') ||
		!read_digits(&p, end, 2, &second) || month < 1 || month > 12 ||
		day < 1 || day > 31 || hour > 24 || minute > 59 || second > 60)
		return -1;
	if (read_char(&p, end, '.'))
	{
		fraction = p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		fraction_len = (size_t) (p - fraction);
		if (fraction_len == 0 || fraction_len > 6)
			return -1;
	}
	if (utc && !read_offset(&p, end, &offset))
		return -1;
	if (p < end)
	{
		if (end - p != 3 || memcmp(p, " BC", 3) != 0)
			return -1;
		year = 1 - year; /* 1 BC is year 0 */
	}
	seconds = days_from_date(year, (int) month, (int) day) * 86400 +
			  hour * 3600 + minute * 60 + second - offset;
	date_from_days(seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400),
				   &year, &m, &d);
	seconds -= days_from_date(year, m, d) * 86400;
	*out_len = put_rfc3339(out, year, m, d, seconds, fraction, fraction_len, utc);
	return 0;
}

/*
 * A commit time (microseconds since 2000-01-01) as the plugin writes it,
 * quoted, into out (at least 48 bytes); returns its length.
 */
size_t
pgo_format_commit_time(int64_t pg_usec, char *out)
{
	/* 2000-01-01 is 10957 days after 1970-01-01. */
	int64_t usec = pg_usec % 1000000;
	int64_t seconds = pg_usec / 1000000 + INT64_C(10957) * 86400;
	int64_t days;
	int64_t year;
	char fraction[6];
	int month, day;

	if (usec < 0)
	{
		usec += 1000000;
		seconds--;
	}
	days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
	date_from_days(days, &year, &month, &day);
	put_padded(fraction, (uint64_t) usec, 6);
	return put_rfc3339(out, year, month, day, seconds - days * 86400, fraction,
					   usec != 0 ? 6 : 0, true);
}

/* A value written as a JSON string (or null), whatever its type. */
static int
put_string_value(Buffer *b, const PgoValue *value, uint32_t base_type,
				 char *errstr, size_t errstr_size)
{
	char stamp[64];
	size_t len;

	if (value == NULL || value->kind == PGO_VALUE_NULL)
	{
		buffer_puts(b, "null");
		return 0;
	}
	if (base_type == TIMESTAMPTZOID || base_type == TIMESTAMPOID)
	{
		if (pgo_format_timestamp(value->data, value->len, base_type == TIMESTAMPTZOID,
								 stamp, &len) != 0)
		{
			snprintf(errstr, errstr_size,
					 "timestamp \"%.*s\" is not in the ISO DateStyle the shipper asks the walsender for",
					 (int) (value->len < 64 ? value->len : 64), value->data);
			return -1;
		}
		buffer_append(b, stamp, len);
		return 0;
	}
	put_json_string(b, value->data, value->len);
	return 0;
}

/*
 * A payload or headers value as JSON; *valid is false when it was text
 * that is not JSON, written as a JSON string instead.
 */
static int
put_json_value(Buffer *b, const PgoValue *value, uint32_t base_type, bool *valid,
			   char *errstr, size_t errstr_size)
{
	*valid = true;
	if (value == NULL || value->kind == PGO_VALUE_NULL)
	{
		buffer_puts(b, "null");
		return 0;
	}
	switch (base_type)
	{
		case JSONBOID:
		case JSONOID:
			/* the server validated it when it was stored */
			put_json_compact(b, value->data, value->len);
			return 0;
		case TEXTOID:
		case VARCHAROID:
			if (put_json_compact(NULL, value->data, value->len) <= MAX_JSON_DEPTH &&
				event_json_is_valid(value->data, value->len))
			{
				put_json_compact(b, value->data, value->len);
				return 0;
			}
			*valid = false;
			put_json_string(b, value->data, value->len);
			return 0;
		default:
			return put_string_value(b, value, base_type, errstr, errstr_size);
	}
}

/* Whether non-null headers are a JSON object, as the plugin decides it. */
static bool
headers_are_object(const PgoValue *value, uint32_t base_type)
{
	const char *p = value->data;
	const char *end = value->data + value->len;

	if (base_type != JSONBOID && base_type != JSONOID && base_type != TEXTOID &&
		base_type != VARCHAROID)
		return false;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
					   *p == '\v' || *p == '\f'))
		p++;
	return p < end && *p == '{';
}

static int
put_headers(Buffer *b, const PgoValue *value, uint32_t base_type, char *errstr,
			size_t errstr_size)
{
	size_t start = b->len;
	bool valid;

	if (value != NULL && value->kind != PGO_VALUE_NULL &&
		!headers_are_object(value, base_type))
	{
		buffer_puts(b, "null,\"headers_invalid\":true");
		return 0;
	}
	if (put_json_value(b, value, base_type, &valid, errstr, errstr_size) != 0)
		return -1;
	if (!valid)
	{
		/* text that starts like an object but is not JSON */
		b->len = start;
		buffer_puts(b, "null,\"headers_invalid\":true");
	}
	return 0;
}

/* ---- Relations ---- */

static RelationEntry *
find_relation(PgoEvents *events, uint32_t relid)
{
	int i;

	for (i = 0; i < events->nrelations; i++)
		if (events->relations[i].relid == relid)
			return &events->relations[i];
	return NULL;
}

static RelationEntry *
add_relation(PgoEvents *events, uint32_t relid, char *errstr, size_t errstr_size)
{
	RelationEntry *entry = find_relation(events, relid);

	if (entry != NULL)
		return entry;
	if (events->nrelations == events->relations_size)
	{
		int size = events->relations_size > 0 ? events->relations_size * 2 : 8;
		RelationEntry *relations = realloc(events->relations, (size_t) size * sizeof(*relations));

		if (relations == NULL)
		{
			snprintf(errstr, errstr_size, "out of memory for the relation cache");
			return NULL;
		}
		events->relations = relations;
		events->relations_size = size;
	}
	entry = &events->relations[events->nrelations++];
	entry->relid = relid;
	return entry;
}

/*
 * A Relation message comes before a relation's first change in a session
 * and again after its definition changed: the declaration is looked up
 * each time and mapped onto the columns by name.
 */
static int
on_relation(PgoEvents *events, const PgoMessage *msg, char *errstr, size_t errstr_size)
{
	RelationEntry *entry;
	PgoLayout layout;
	PgoColumns columns = msg->columns;
	PgoColumn column;
	int declared;
	int index = 0;
	int f;

	memset(&layout, 0, sizeof(layout));
	if ((declared = events->lookup(events->lookup_arg, msg, &layout, errstr, errstr_size)) < 0)
		return -1;
	if ((entry = add_relation(events, msg->relid, errstr, errstr_size)) == NULL)
		return -1;
	entry->is_outbox = declared == 1;
	for (f = 0; f < PGO_NFIELDS; f++)
	{
		entry->column_of[f] = -1;
		entry->base_types[f] = layout.base_types[f];
	}
	while (pgoutput_next_column(&columns, &column))
	{
		for (f = 0; f < PGO_NFIELDS; f++)
			if (layout.columns[f][0] != '\0' && strcmp(layout.columns[f], column.name) == 0)
				entry->column_of[f] = index;
		index++;
	}
	return 0;
}

/* ---- Events ---- */

/* Hands the held-back event to the sink, marked last or not. */
static int
write_pending(PgoEvents *events, bool last, Lsn end_lsn, char *errstr,
			  size_t errstr_size)
{
	Buffer *b = &events->pending;

	if (last)
	{
		buffer_puts(b, ",\"last\":true,\"end_lsn\":");
		buffer_put_lsn(b, end_lsn);
	}
	buffer_putc(b, '}');
	if (b->failed)
	{
		snprintf(errstr, errstr_size, "out of memory for an event of %zu bytes", b->len);
		return -1;
	}
	events->has_pending = false;
	if (events->sink(events->sink_arg, b->data, b->len) != 0)
	{
		snprintf(errstr, errstr_size, "the event sink refused an event");
		return -1;
	}
	return 0;
}

/* The transaction's metadata, the same for each of its events. */
static void
format_metadata(PgoEvents *events)
{
	Buffer *b = &events->metadata;
	char stamp[64];

	b->len = 0;
	b->failed = false;
	buffer_puts(b, ",\"commit_lsn\":");
	buffer_put_lsn(b, events->commit_lsn);
	buffer_puts(b, ",\"xid\":");
	buffer_put_uint(b, events->xid);
	buffer_puts(b, ",\"commit_time\":");
	buffer_append(b, stamp, pgo_format_commit_time(events->commit_time, stamp));
	buffer_puts(b, ",\"seq\":");
}

/* The tuple's values, in column order, into events->values. */
static int
read_values(PgoEvents *events, const PgoTuple *tuple, char *errstr, size_t errstr_size)
{
	PgoTuple cursor = *tuple;
	int n = 0;

	if (tuple->ncolumns > events->values_size)
	{
		PgoValue *values = realloc(events->values, (size_t) tuple->ncolumns * sizeof(*values));

		if (values == NULL)
		{
			snprintf(errstr, errstr_size, "out of memory for a row of %d columns",
					 tuple->ncolumns);
			return -1;
		}
		events->values = values;
		events->values_size = tuple->ncolumns;
	}
	while (n < tuple->ncolumns && pgoutput_next_value(&cursor, &events->values[n]))
		n++;
	return 0;
}

/* The value of field f, NULL when the relation has no such column. */
static const PgoValue *
field_value(const PgoEvents *events, const RelationEntry *entry,
			const PgoTuple *tuple, PgoField f)
{
	int column = entry->column_of[f];

	return column >= 0 && column < tuple->ncolumns ? &events->values[column] : NULL;
}

/* The id: the column's text, or "<commit_lsn>:<seq>" when it is NULL. */
static void
put_id(PgoEvents *events, const PgoValue *id)
{
	Buffer *b = &events->pending;
	char lsn[LSN_TEXT_SIZE];

	if (id != NULL && id->kind != PGO_VALUE_NULL)
	{
		put_json_string(b, id->data, id->len);
		return;
	}
	buffer_putc(b, '"');
	buffer_append(b, lsn, lsn_format(events->commit_lsn, lsn));
	buffer_putc(b, ':');
	buffer_put_uint(b, events->seq);
	buffer_puts(b, "\",\"id_generated\":true");
}

static int
put_fields(PgoEvents *events, const RelationEntry *entry, const PgoTuple *tuple,
		   char *errstr, size_t errstr_size)
{
	Buffer *b = &events->pending;
	const uint32_t *types = entry->base_types;
	bool valid;

	buffer_puts(b, "\"id\":");
	put_id(events, field_value(events, entry, tuple, PGO_FIELD_ID));
	buffer_puts(b, ",\"aggregate_type\":");
	if (put_string_value(b, field_value(events, entry, tuple, PGO_FIELD_AGGREGATE_TYPE),
						 types[PGO_FIELD_AGGREGATE_TYPE], errstr, errstr_size) != 0)
		return -1;
	buffer_puts(b, ",\"aggregate_id\":");
	if (put_string_value(b, field_value(events, entry, tuple, PGO_FIELD_AGGREGATE_ID),
						 types[PGO_FIELD_AGGREGATE_ID], errstr, errstr_size) != 0)
		return -1;
	buffer_puts(b, ",\"event_type\":");
	if (put_string_value(b, field_value(events, entry, tuple, PGO_FIELD_EVENT_TYPE),
						 types[PGO_FIELD_EVENT_TYPE], errstr, errstr_size) != 0)
		return -1;
	buffer_puts(b, ",\"payload\":");
	if (put_json_value(b, field_value(events, entry, tuple, PGO_FIELD_PAYLOAD),
					   types[PGO_FIELD_PAYLOAD], &valid, errstr, errstr_size) != 0)
		return -1;
	if (!valid)
		buffer_puts(b, ",\"payload_invalid\":true");
	buffer_puts(b, ",\"headers\":");
	if (put_headers(b, field_value(events, entry, tuple, PGO_FIELD_HEADERS),
					types[PGO_FIELD_HEADERS], errstr, errstr_size) != 0)
		return -1;
	buffer_puts(b, ",\"created_at\":");
	return put_string_value(b, field_value(events, entry, tuple, PGO_FIELD_CREATED_AT),
							types[PGO_FIELD_CREATED_AT], errstr, errstr_size);
}

static int
on_insert(PgoEvents *events, const PgoMessage *msg, char *errstr, size_t errstr_size)
{
	RelationEntry *entry = find_relation(events, msg->relid);

	if (entry == NULL)
	{
		snprintf(errstr, errstr_size,
				 "pgoutput sent an Insert for relation %u before its Relation message",
				 msg->relid);
		return -1;
	}
	if (!entry->is_outbox)
		return 0;
	if (!events->in_txn)
	{
		snprintf(errstr, errstr_size, "pgoutput sent an Insert outside a transaction");
		return -1;
	}
	if (events->has_pending && write_pending(events, false, 0, errstr, errstr_size) != 0)
		return -1;
	if (read_values(events, &msg->newtuple, errstr, errstr_size) != 0)
		return -1;
	if (events->seq == 0)
		format_metadata(events);
	if (events->metadata.failed)
	{
		snprintf(errstr, errstr_size, "out of memory for a transaction's metadata");
		return -1;
	}
	events->pending.len = 0;
	events->pending.failed = false; /* a failed event was reported, and is gone */
	buffer_puts(&events->pending, "{\"v\":1,");
	if (put_fields(events, entry, &msg->newtuple, errstr, errstr_size) != 0)
		return -1;
	buffer_append(&events->pending, events->metadata.data, events->metadata.len);
	buffer_put_uint(&events->pending, events->seq++);
	events->has_pending = true;
	return 0;
}

int
pgo_events_feed(PgoEvents *events, const PgoMessage *msg, char *errstr,
				size_t errstr_size)
{
	switch (msg->kind)
	{
		case PGO_BEGIN:
			events->in_txn = true;
			events->commit_lsn = msg->lsn;
			events->xid = msg->xid;
			events->commit_time = msg->time;
			events->seq = 0;
			events->has_pending = false;
			return 0;
		case PGO_COMMIT:
			events->in_txn = false;
			if (!events->has_pending)
				return 0;
			return write_pending(events, true, msg->end_lsn, errstr, errstr_size);
		case PGO_RELATION:
			return on_relation(events, msg, errstr, errstr_size);
		case PGO_INSERT:
			return on_insert(events, msg, errstr, errstr_size);
		case PGO_MESSAGE:
			if (!msg->transactional || strcmp(msg->prefix, OUTBOX_MESSAGE_PREFIX) != 0)
				return 0;
			snprintf(errstr, errstr_size,
					 "outbox.emit() messages are not read in pgoutput mode yet");
			return -1;
		case PGO_UPDATE:
		case PGO_DELETE:
		case PGO_TRUNCATE:
		case PGO_ORIGIN:
		case PGO_TYPE:
			/* not events: they cost nothing more than being read */
			return 0;
		default:
			snprintf(errstr, errstr_size,
					 "pgoutput sent a '%c' message, of streaming or two-phase decoding, which the shipper does not ask for",
					 (char) msg->kind);
			return -1;
	}
}

PgoEvents *
pgo_events_new(PgoLayoutLookup lookup, void *lookup_arg, PgoEventSink sink,
			   void *sink_arg)
{
	PgoEvents *events = calloc(1, sizeof(*events));

	if (events == NULL)
		return NULL;
	events->lookup = lookup;
	events->lookup_arg = lookup_arg;
	events->sink = sink;
	events->sink_arg = sink_arg;
	return events;
}

void
pgo_events_free(PgoEvents *events)
{
	if (events == NULL)
		return;
	free(events->relations);
	free(events->metadata.data);
	free(events->pending.data);
	free(events->values);
	free(events);
}
