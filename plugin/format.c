/*-------------------------------------------------------------------------
 *
 * format.c
 *	  Writing outbox events as compact JSON.
 *
 * Used both by the output plugin (inside the walsender, per row) and by
 * outbox.emit() (inside the writing backend), so that an event looks the
 * same byte for byte whichever way it was written.  Everything here must
 * accept any value without raising an error: a decoding error on a row
 * would leave the slot stuck on it forever.
 *
 *-------------------------------------------------------------------------
 */
#include "outbox_pg.h"
#include "compat.h"

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "miscadmin.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/*
 * pg_parse_json recurses once per nesting level and checks the stack depth,
 * which would raise an error inside the walsender.  Text is therefore only
 * parsed when it nests no deeper than this; deeper text is shipped as a
 * string, like any other text that is not JSON.
 */
#define OUTBOX_MAX_JSON_DEPTH 1000

const char *const outbox_field_names[OUTBOX_NFIELDS] = {
	"id", "aggregate_type", "aggregate_id", "event_type",
	"payload", "headers", "created_at"};

static const char hex_lower[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

/*
 * The size the event being formatted may reach, and whether a value would
 * have taken it past that.  Such a value is not appended; formatting goes
 * on and outbox_append_event_fields() reports it, so the caller writes a
 * "too_large" event instead of raising an error (which would leave the
 * slot stuck on the row for good).  Values are checked where their text
 * can outgrow their stored size without bound: strings (up to 6 times,
 * escaped), numerics (1e131071 is a few bytes stored, 128 kB as text) and
 * copied JSON text.  Everything else appends no more than its stored size,
 * so the buffer stays far below the 1 GB an allocation may reach.
 */
static Size format_limit = OUTBOX_DEFAULT_MAX_EVENT_SIZE;
static bool format_too_large = false;

/* Takes back what was appended to out since len. */
static void
truncate_to(StringInfo out, int len)
{
	out->len = len;
	out->data[len] = '\0';
}

/* Whether n more bytes fit in out; remembers when they do not. */
static bool
has_room(StringInfo out, Size n)
{
	if (format_too_large || (Size) out->len + n > format_limit)
	{
		format_too_large = true;
		return false;
	}
	return true;
}

/* The exact length of str written as a JSON string, quotes included. */
static Size
json_string_length(const char *str, int len)
{
	const char *end = str + len;
	Size result = (Size) len + 2;
	const char *p;

	for (p = str; p < end; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' ||
			c == '\b' || c == '\f')
			result += 1;
		else if (c < 0x20)
			result += 5;
	}
	return result;
}

OutboxValueKind
outbox_value_kind(Oid typid)
{
	switch (getBaseType(typid))
	{
		case TEXTOID:
		case VARCHAROID:
			return OUTBOX_KIND_TEXT;
		case JSONBOID:
			return OUTBOX_KIND_JSONB;
		case JSONOID:
			return OUTBOX_KIND_JSON;
		case UUIDOID:
			return OUTBOX_KIND_UUID;
		case INT4OID:
			return OUTBOX_KIND_INT4;
		case INT8OID:
			return OUTBOX_KIND_INT8;
		case TIMESTAMPTZOID:
			return OUTBOX_KIND_TIMESTAMPTZ;
		case TIMESTAMPOID:
			return OUTBOX_KIND_TIMESTAMP;
		default:
			return OUTBOX_KIND_OTHER;
	}
}

/*
 * Appends str as a JSON string.  Runs of characters that need no escaping
 * are copied in one piece, which is nearly all of them in practice.
 */
void
outbox_append_json_string(StringInfo out, const char *str, int len)
{
	const char *end = str + len;
	const char *run = str;
	const char *p;

	/* Only a long string can overflow: measure it exactly then. */
	if ((Size) out->len + (Size) len * 6 + 2 > format_limit &&
		!has_room(out, json_string_length(str, len)))
		return;

	appendStringInfoCharMacro(out, '"');
	for (p = str; p < end; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		appendBinaryStringInfo(out, run, p - run);
		run = p + 1;
		switch (c)
		{
			case '"':
				appendBinaryStringInfo(out, "\\\"", 2);
				break;
			case '\\':
				appendBinaryStringInfo(out, "\\\\", 2);
				break;
			case '\n':
				appendBinaryStringInfo(out, "\\n", 2);
				break;
			case '\r':
				appendBinaryStringInfo(out, "\\r", 2);
				break;
			case '\t':
				appendBinaryStringInfo(out, "\\t", 2);
				break;
			case '\b':
				appendBinaryStringInfo(out, "\\b", 2);
				break;
			case '\f':
				appendBinaryStringInfo(out, "\\f", 2);
				break;
			default:
			{
				char esc[6] = {'\\', 'u', '0', '0',
							   hex_lower[c >> 4], hex_lower[c & 0xF]};

				appendBinaryStringInfo(out, esc, sizeof(esc));
			}
			break;
		}
	}
	appendBinaryStringInfo(out, run, end - run);
	appendStringInfoCharMacro(out, '"');
}

static void
append_hex32(StringInfo out, uint32 value)
{
	char buf[8];
	int i = sizeof(buf);

	do
	{
		buf[--i] = hex_upper[value & 0xF];
		value >>= 4;
	} while (value != 0);
	appendBinaryStringInfo(out, buf + i, sizeof(buf) - i);
}

/* Appends an LSN in PostgreSQL's X/X notation, unquoted. */
static void
append_lsn_text(StringInfo out, XLogRecPtr lsn)
{
	append_hex32(out, (uint32) (lsn >> 32));
	appendStringInfoCharMacro(out, '/');
	append_hex32(out, (uint32) lsn);
}

/* Appends an LSN as a JSON string in PostgreSQL's X/X notation. */
void
outbox_append_lsn(StringInfo out, XLogRecPtr lsn)
{
	appendStringInfoCharMacro(out, '"');
	append_lsn_text(out, lsn);
	appendStringInfoCharMacro(out, '"');
}

void
outbox_append_uint(StringInfo out, uint64 value)
{
	char buf[MAXINT8LEN + 1];
	int len = pg_ulltoa_n(value, buf);

	appendBinaryStringInfo(out, buf, len);
}

static void
append_int(StringInfo out, int64 value)
{
	char buf[MAXINT8LEN + 1];
	int len = pg_lltoa(value, buf);

	appendBinaryStringInfo(out, buf, len);
}

/* Writes value in decimal, zero-padded to at least width digits. */
static char *
put_padded(char *p, unsigned value, int width)
{
	char digits[10];
	int n = 0;

	do
	{
		digits[n++] = '0' + value % 10;
		value /= 10;
	} while (value != 0);
	while (width-- > n)
		*p++ = '0';
	while (n > 0)
		*p++ = digits[--n];
	return p;
}

/*
 * Appends a timestamp as a JSON string in RFC 3339 form.  With utc, the
 * value is a timestamptz and is written in UTC with a "Z"; without, it is a
 * timestamp and is written as stored.  The result never depends on the
 * session's DateStyle or TimeZone.  RFC 3339 has the years 0000 to 9999;
 * others are written as ISO 8601 expanded years, with a sign: 44 BC is
 * -0043 (astronomical numbering, where 1 BC is 0000), 294276 is +294276.
 */
static void
append_timestamp(StringInfo out, Timestamp ts, bool utc)
{
	struct pg_tm tm;
	fsec_t fsec;
	char buf[48];
	char *p = buf;
	int year;

	if (TIMESTAMP_NOT_FINITE(ts))
	{
		appendStringInfoString(out, TIMESTAMP_IS_NOBEGIN(ts) ? "\"-infinity\"" : "\"infinity\"");
		return;
	}
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
	{
		/* Out of range: cannot be stored, but never fail on it. */
		appendStringInfoString(out, "null");
		return;
	}
	*p++ = '"';
	year = tm.tm_year;
	if (year < 0)
		*p++ = '-';
	else if (year > 9999)
		*p++ = '+';
	p = put_padded(p, year < 0 ? -year : year, 4);
	*p++ = '-';
	p = put_padded(p, tm.tm_mon, 2);
	*p++ = '-';
	p = put_padded(p, tm.tm_mday, 2);
	*p++ = 'T';
	p = put_padded(p, tm.tm_hour, 2);
	*p++ = ':';
	p = put_padded(p, tm.tm_min, 2);
	*p++ = ':';
	p = put_padded(p, tm.tm_sec, 2);
	if (fsec != 0)
	{
		/* microseconds, without trailing zeros */
		*p++ = '.';
		p = put_padded(p, fsec, 6);
		while (p[-1] == '0')
			p--;
	}
	if (utc)
		*p++ = 'Z';
	*p++ = '"';
	appendBinaryStringInfo(out, buf, p - buf);
}

void
outbox_append_utc_time(StringInfo out, TimestampTz ts)
{
	append_timestamp(out, ts, true);
}

static void
append_uuid(StringInfo out, const pg_uuid_t *uuid)
{
	char buf[38];
	int len = 0;
	int i;

	buf[len++] = '"';
	for (i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[len++] = '-';
		buf[len++] = hex_lower[uuid->data[i] >> 4];
		buf[len++] = hex_lower[uuid->data[i] & 0xF];
	}
	buf[len++] = '"';
	appendBinaryStringInfo(out, buf, len);
}

static void
append_output_function_text(StringInfo out, const OutboxValue *v)
{
	Oid typoutput;
	bool typisvarlena;
	char *str;

	getTypeOutputInfo(v->typid, &typoutput, &typisvarlena);
	str = OidOutputFunctionCall(typoutput, v->value);
	outbox_append_json_string(out, str, strlen(str));
}

/* Appends a value as a JSON string (or null), whatever its type. */
static void
append_string_value(StringInfo out, const OutboxValue *v)
{
	if (v->isnull)
	{
		appendBinaryStringInfo(out, "null", 4);
		return;
	}
	switch (v->kind)
	{
		case OUTBOX_KIND_TEXT:
		{
			text *t = DatumGetTextPP(v->value);

			outbox_append_json_string(out, VARDATA_ANY(t),
									  VARSIZE_ANY_EXHDR(t));
		}
		break;
		case OUTBOX_KIND_UUID:
			append_uuid(out, DatumGetUUIDP(v->value));
			break;
		case OUTBOX_KIND_INT4:
			appendStringInfoCharMacro(out, '"');
			append_int(out, DatumGetInt32(v->value));
			appendStringInfoCharMacro(out, '"');
			break;
		case OUTBOX_KIND_INT8:
			appendStringInfoCharMacro(out, '"');
			append_int(out, DatumGetInt64(v->value));
			appendStringInfoCharMacro(out, '"');
			break;
		case OUTBOX_KIND_TIMESTAMPTZ:
			append_timestamp(out, DatumGetTimestampTz(v->value), true);
			break;
		case OUTBOX_KIND_TIMESTAMP:
			append_timestamp(out, DatumGetTimestamp(v->value), false);
			break;
		default:
			append_output_function_text(out, v);
			break;
	}
}

/*
 * Scans JSON text, copying it to out (when not NULL) without the whitespace
 * outside strings; sets *compact_len to the length of that copy and returns
 * the deepest nesting seen.  The copy is valid JSON only when the input is.
 */
static int
json_scan(StringInfo out, const char *json, int len, int *compact_len)
{
	const char *end = json + len;
	const char *run = json;
	const char *p;
	bool in_string = false;
	int depth = 0;
	int max_depth = 0;
	int removed = 0;

	for (p = json; p < end; p++)
	{
		char c = *p;

		if (in_string)
		{
			if (c == '\\' && p + 1 < end)
				p++;
			else if (c == '"')
				in_string = false;
			continue;
		}
		switch (c)
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
				if (out)
					appendBinaryStringInfo(out, run, p - run);
				run = p + 1;
				removed++;
				break;
		}
	}
	if (out)
		appendBinaryStringInfo(out, run, end - run);
	*compact_len = len - removed;
	return max_depth;
}

/*
 * json_scan() into out, unless the copy would take the event past its
 * limit.  Returns the deepest nesting.
 */
static int
json_compact(StringInfo out, const char *json, int len)
{
	int compact_len;

	/* Only whitespace goes: measure the copy first when the text may not fit. */
	if (out && (Size) out->len + len > format_limit)
	{
		int depth = json_scan(NULL, json, len, &compact_len);

		if (!has_room(out, compact_len))
			return depth;
	}
	return json_scan(out, json, len, &compact_len);
}

static bool
json_text_is_valid(const char *json, int len)
{
	JsonLexContext *lex;

	lex = outbox_json_lex_context(unconstify(char *, json), len);
	return pg_parse_json(lex, &nullSemAction) == JSON_SUCCESS;
}

static void
append_jsonb_scalar(StringInfo out, const JsonbValue *v)
{
	if (format_too_large)
		return; /* the event is dropped anyway: spare the work */
	switch (v->type)
	{
		case jbvNull:
			appendBinaryStringInfo(out, "null", 4);
			break;
		case jbvBool:
			appendStringInfoString(out, v->val.boolean ? "true" : "false");
			break;
		case jbvString:
			outbox_append_json_string(out, v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
		{
			/* numeric_out writes JSON's number syntax: jsonb has no NaN */
			char *num = DatumGetCString(DirectFunctionCall1(numeric_out,
															NumericGetDatum(v->val.numeric)));
			Size len = strlen(num);

			if (has_room(out, len))
				appendBinaryStringInfo(out, num, len);
			pfree(num);
		}
		break;
		default:
			/* the iterator returns containers as tokens, never as values */
			elog(ERROR, "unexpected jsonb scalar type %d", v->type);
	}
}

/*
 * Appends a jsonb value as compact JSON.  jsonb_out would put spaces after
 * every colon and comma; the iterator is not recursive, so no nesting depth
 * can exhaust the stack here.
 */
static void
append_jsonb(StringInfo out, Jsonb *jb)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbIteratorToken token;
	JsonbValue v;
	bool need_comma = false;
	bool raw_scalar = JB_ROOT_IS_SCALAR(jb);

	while ((token = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (token)
		{
			case WJB_BEGIN_OBJECT:
			case WJB_BEGIN_ARRAY:
				if (raw_scalar)
					break; /* the array wrapping a lone scalar */
				if (need_comma)
					appendStringInfoCharMacro(out, ',');
				appendStringInfoCharMacro(out,
										  token == WJB_BEGIN_OBJECT ? '{' : '[');
				need_comma = false;
				break;
			case WJB_END_OBJECT:
			case WJB_END_ARRAY:
				if (!raw_scalar)
					appendStringInfoCharMacro(out,
											  token == WJB_END_OBJECT ? '}' : ']');
				need_comma = true;
				break;
			case WJB_KEY:
				if (need_comma)
					appendStringInfoCharMacro(out, ',');
				outbox_append_json_string(out, v.val.string.val,
										  v.val.string.len);
				appendStringInfoCharMacro(out, ':');
				need_comma = false;
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				if (need_comma)
					appendStringInfoCharMacro(out, ',');
				append_jsonb_scalar(out, &v);
				need_comma = true;
				break;
			case WJB_DONE:
				break;
		}
	}
}

/*
 * Appends a payload or headers value as JSON.  Returns false when the value
 * was text that is not JSON, which is then written as a JSON string holding
 * the text unchanged.
 */
static bool
append_json_value(StringInfo out, const OutboxValue *v)
{
	text *t;
	int start = out->len;

	if (v->isnull)
	{
		appendBinaryStringInfo(out, "null", 4);
		return true;
	}
	switch (v->kind)
	{
		case OUTBOX_KIND_JSONB:
			append_jsonb(out, DatumGetJsonbP(v->value));
			return true;
		case OUTBOX_KIND_JSON:
			/* json_in validated it when it was stored */
			t = DatumGetTextPP(v->value);
			json_compact(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			return true;
		case OUTBOX_KIND_TEXT:
			t = DatumGetTextPP(v->value);
			if (json_compact(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)) <= OUTBOX_MAX_JSON_DEPTH &&
				(format_too_large ||
				 json_text_is_valid(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t))))
				return true;
			truncate_to(out, start);
			outbox_append_json_string(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			return false;
		default:
			append_string_value(out, v);
			return true;
	}
}

/*
 * An event id for a row whose id is NULL: unique within the slot, and the
 * same each time the slot is read.
 */
static void
append_generated_id(StringInfo out, XLogRecPtr commit_lsn, uint64 seq)
{
	appendStringInfoCharMacro(out, '"');
	append_lsn_text(out, commit_lsn);
	appendStringInfoCharMacro(out, ':');
	outbox_append_uint(out, seq);
	appendStringInfoCharMacro(out, '"');
}

/*
 * The id written from id_start on must be a string: where nothing or null
 * was written (a NULL id, a value that did not fit), an id is generated
 * instead, made of commit_lsn and seq (the plugin) or a random UUID
 * (outbox.replay(), which passes InvalidXLogRecPtr), and flagged.
 */
static void
ensure_id(StringInfo out, int id_start, XLogRecPtr commit_lsn, uint64 seq)
{
	if (out->len > id_start && out->data[id_start] == '"')
		return;
	truncate_to(out, id_start);
	if (XLogRecPtrIsInvalid(commit_lsn))
		append_uuid(out, DatumGetUUIDP(DirectFunctionCall1(gen_random_uuid, (Datum) 0)));
	else
		append_generated_id(out, commit_lsn, seq);
	appendStringInfoString(out, ",\"id_generated\":true");
}

/* Whether a non-null headers value is a JSON object, without formatting it. */
static bool
headers_are_object(const OutboxValue *v)
{
	const char *p;
	const char *end;
	text *t;

	if (v->kind == OUTBOX_KIND_JSONB)
		return JB_ROOT_IS_OBJECT(DatumGetJsonbP(v->value));
	if (v->kind != OUTBOX_KIND_JSON && v->kind != OUTBOX_KIND_TEXT)
		return false;
	t = DatumGetTextPP(v->value);
	end = VARDATA_ANY(t) + VARSIZE_ANY_EXHDR(t);
	for (p = VARDATA_ANY(t); p < end && isspace((unsigned char) *p); p++)
		;
	return p < end && *p == '{';
}

/*
 * Appends the headers, which Kafka takes only as an object of names: any
 * other JSON value (a jsonb array, a json scalar, text of a column whose
 * type was altered) is written as null and flagged.
 */
static void
append_headers(StringInfo out, const OutboxValue *v)
{
	int start = out->len;

	/* Checked before formatting: dropped headers take no room. */
	if (!v->isnull && !headers_are_object(v))
	{
		appendStringInfoString(out, "null,\"headers_invalid\":true");
		return;
	}
	append_json_value(out, v);
	/* text that starts like an object but is not JSON */
	if (format_too_large || v->isnull || out->data[start] == '{')
		return;
	truncate_to(out, start);
	appendStringInfoString(out, "null,\"headers_invalid\":true");
}

/*
 * Appends the event's own fields, "id" to "created_at", without braces.
 * The output plugin wraps them with the format version and the
 * transaction's metadata.  A NULL id is replaced (ensure_id()).  Returns
 * false, with out as it was, when the fields would take out past max_size
 * bytes.
 */
bool
outbox_append_event_fields(StringInfo out,
						   const OutboxValue values[OUTBOX_NFIELDS],
						   XLogRecPtr commit_lsn, uint64 seq, Size max_size)
{
	int start = out->len;
	const OutboxValue *id = &values[OUTBOX_FIELD_ID];

	format_limit = max_size;
	format_too_large = false;

	appendStringInfoString(out, "\"id\":");
	if (!id->isnull)
		append_string_value(out, id);
	ensure_id(out, start + 5, commit_lsn, seq);
	appendStringInfoString(out, ",\"aggregate_type\":");
	append_string_value(out, &values[OUTBOX_FIELD_AGGREGATE_TYPE]);
	appendStringInfoString(out, ",\"aggregate_id\":");
	append_string_value(out, &values[OUTBOX_FIELD_AGGREGATE_ID]);
	appendStringInfoString(out, ",\"event_type\":");
	append_string_value(out, &values[OUTBOX_FIELD_EVENT_TYPE]);
	appendStringInfoString(out, ",\"payload\":");
	if (!append_json_value(out, &values[OUTBOX_FIELD_PAYLOAD]))
		appendStringInfoString(out, ",\"payload_invalid\":true");
	appendStringInfoString(out, ",\"headers\":");
	append_headers(out, &values[OUTBOX_FIELD_HEADERS]);
	appendStringInfoString(out, ",\"created_at\":");
	append_string_value(out, &values[OUTBOX_FIELD_CREATED_AT]);

	if (format_too_large || (Size) out->len > max_size)
	{
		truncate_to(out, start);
		return false;
	}
	return true;
}

/* How many bytes a value takes, as stored (detoasted). */
static Size
value_size(const OutboxValue *v)
{
	int16 typlen;

	if (v->isnull)
		return 0;
	typlen = get_typlen(v->typid);
	if (typlen == -1)
		return toast_raw_datum_size(v->value) - VARHDRSZ;
	if (typlen == -2)
		return strlen(DatumGetCString(v->value));
	return typlen;
}

/* A field of a too_large event: the value when it is small, else null. */
static void
append_small_string_value(StringInfo out, const OutboxValue *v)
{
	int start = out->len;

	format_limit = out->len + OUTBOX_MAX_KEPT_FIELD_SIZE * 6 + 2;
	format_too_large = false;
	if (value_size(v) <= OUTBOX_MAX_KEPT_FIELD_SIZE)
		append_string_value(out, v);
	if (format_too_large || out->len == start)
	{
		truncate_to(out, start);
		appendBinaryStringInfo(out, "null", 4);
	}
}

/*
 * Fields for a row whose event would be too large to write (see
 * outbox_append_event_fields): its small fields as they are, no payload or
 * headers, and the size of what was left out, so that the shipper can
 * report it and stop or dead-letter it.
 */
void
outbox_append_too_large_fields(StringInfo out,
							   const OutboxValue values[OUTBOX_NFIELDS],
							   XLogRecPtr commit_lsn, uint64 seq)
{
	const OutboxValue *id = &values[OUTBOX_FIELD_ID];
	Size size = 0;
	int id_start;
	int field;

	for (field = 0; field < OUTBOX_NFIELDS; field++)
		size += value_size(&values[field]);

	appendStringInfoString(out, "\"id\":");
	id_start = out->len;
	if (!id->isnull && value_size(id) <= OUTBOX_MAX_KEPT_FIELD_SIZE)
		append_small_string_value(out, id);
	ensure_id(out, id_start, commit_lsn, seq);
	appendStringInfoString(out, ",\"aggregate_type\":");
	append_small_string_value(out, &values[OUTBOX_FIELD_AGGREGATE_TYPE]);
	appendStringInfoString(out, ",\"aggregate_id\":");
	append_small_string_value(out, &values[OUTBOX_FIELD_AGGREGATE_ID]);
	appendStringInfoString(out, ",\"event_type\":");
	append_small_string_value(out, &values[OUTBOX_FIELD_EVENT_TYPE]);
	appendStringInfoString(out, ",\"payload\":null,\"headers\":null,\"created_at\":");
	append_small_string_value(out, &values[OUTBOX_FIELD_CREATED_AT]);
	appendStringInfoString(out, ",\"rejected\":\"too_large\",\"size\":");
	outbox_append_uint(out, size);
}

/*
 * The fields of a message that holds no usable event, up to "payload":
 * a generated id and nulls.
 */
static void
append_fields_without_event(StringInfo out, XLogRecPtr commit_lsn, uint64 seq)
{
	appendStringInfoString(out, "\"id\":");
	append_generated_id(out, commit_lsn, seq);
	appendStringInfoString(out,
						   ",\"id_generated\":true,\"aggregate_type\":null,"
						   "\"aggregate_id\":null,\"event_type\":null,"
						   "\"payload\":");
}

/*
 * Fields for a signed message too large for the plugin's max-event-size
 * (outbox.emit() refuses events over the default size, but the option can
 * be lower).
 */
void
outbox_append_too_large_message_fields(StringInfo out, Size size,
									   XLogRecPtr commit_lsn, uint64 seq)
{
	append_fields_without_event(out, commit_lsn, seq);
	appendStringInfoString(out,
						   "null,\"headers\":null,\"created_at\":null,"
						   "\"rejected\":\"too_large\",\"size\":");
	outbox_append_uint(out, size);
}

/*
 * Fields for a message with our prefix that outbox.emit() did not write
 * (any role may call pg_logical_emit_message()): never an event, but shipped
 * as a rejected one so that it can be dead-lettered and counted.  Its bytes
 * are kept in "payload" as a string, in hex ("\x..." like bytea) where they
 * are not valid in the database encoding, or left out when they would take
 * the event past max_size.
 */
void
outbox_append_unauthenticated_fields(StringInfo out, const char *message,
									 Size size, XLogRecPtr commit_lsn,
									 uint64 seq, Size max_size)
{
	int payload_start;

	append_fields_without_event(out, commit_lsn, seq);
	payload_start = out->len;
	format_limit = max_size;
	format_too_large = false;
	if (size <= MaxAllocSize / 6 && pg_verifymbstr(message, size, true))
		outbox_append_json_string(out, message, size);
	else if (has_room(out, size * 2 + 4))
	{
		Size i;

		appendBinaryStringInfo(out, "\"\\\\x", 4);
		enlargeStringInfo(out, size * 2 + 1);
		for (i = 0; i < size; i++)
		{
			out->data[out->len++] = hex_lower[(unsigned char) message[i] >> 4];
			out->data[out->len++] = hex_lower[(unsigned char) message[i] & 0xF];
		}
		appendStringInfoCharMacro(out, '"');
	}
	if (format_too_large)
	{
		truncate_to(out, payload_start);
		appendBinaryStringInfo(out, "null", 4);
	}
	appendStringInfoString(out,
						   ",\"headers\":null,\"created_at\":null,"
						   "\"rejected\":\"unauthenticated\",\"size\":");
	outbox_append_uint(out, size);
}
