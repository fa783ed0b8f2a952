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

/* Appends an LSN as a JSON string in PostgreSQL's X/X notation. */
void
outbox_append_lsn(StringInfo out, XLogRecPtr lsn)
{
	appendStringInfoCharMacro(out, '"');
	append_hex32(out, (uint32) (lsn >> 32));
	appendStringInfoCharMacro(out, '/');
	append_hex32(out, (uint32) lsn);
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

/*
 * Appends a timestamp as a JSON string in ISO 8601 form.  With utc, the
 * value is a timestamptz and is written in UTC with a "Z"; without, it is a
 * timestamp and is written as stored.  The result never depends on the
 * session's DateStyle or TimeZone.
 */
static void
append_timestamp(StringInfo out, Timestamp ts, bool utc)
{
	struct pg_tm tm;
	fsec_t fsec;
	char buf[MAXDATELEN + 1];

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
	EncodeDateTime(&tm, fsec, false, 0, NULL, USE_XSD_DATES, buf);
	appendStringInfoCharMacro(out, '"');
	appendStringInfoString(out, buf);
	if (utc)
		appendStringInfoCharMacro(out, 'Z');
	appendStringInfoCharMacro(out, '"');
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
 * outside strings, and returns the deepest nesting seen.  The copy is valid
 * JSON only when the input is.
 */
static int
json_compact(StringInfo out, const char *json, int len)
{
	const char *end = json + len;
	const char *run = json;
	const char *p;
	bool in_string = false;
	int depth = 0;
	int max_depth = 0;

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
				break;
		}
	}
	if (out)
		appendBinaryStringInfo(out, run, end - run);
	return max_depth;
}

static bool
json_text_is_valid(const char *json, int len)
{
	JsonLexContext *lex;

	lex = makeJsonLexContextCstringLen(unconstify(char *, json), len,
									   GetDatabaseEncoding(), false);
	return pg_parse_json(lex, &nullSemAction) == JSON_SUCCESS;
}

static void
append_jsonb_scalar(StringInfo out, const JsonbValue *v)
{
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
			/* numeric_out writes JSON's number syntax: jsonb has no NaN */
			appendStringInfoString(out,
								   DatumGetCString(DirectFunctionCall1(numeric_out,
																	   NumericGetDatum(v->val.numeric))));
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
				json_text_is_valid(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)))
				return true;
			out->len = start;
			out->data[start] = '\0';
			outbox_append_json_string(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			return false;
		default:
			append_string_value(out, v);
			return true;
	}
}

/*
 * Appends the event's own fields, "id" to "created_at", without braces.
 * The output plugin wraps them with the format version and the
 * transaction's metadata.
 */
void
outbox_append_event_fields(StringInfo out,
						   const OutboxValue values[OUTBOX_NFIELDS])
{
	appendStringInfoString(out, "\"id\":");
	append_string_value(out, &values[OUTBOX_FIELD_ID]);
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
	append_json_value(out, &values[OUTBOX_FIELD_HEADERS]);
	appendStringInfoString(out, ",\"created_at\":");
	append_string_value(out, &values[OUTBOX_FIELD_CREATED_AT]);
}

/*
 * Messages with our prefix are written by outbox.emit(), but any role
 * allowed to call pg_logical_emit_message() can write one too.  A message
 * is used as it is only when it holds exactly the fields that
 * outbox_append_event_fields() writes, in that order.
 */
typedef struct MessageShape
{
	JsonLexContext *lex;
	int nfields;
	bool ok;
	bool after_payload;
} MessageShape;

static void
message_field_start(void *state, char *fname, bool isnull)
{
	MessageShape *shape = (MessageShape *) state;

	if (shape->lex->lex_level != 1)
		return;
	if (shape->after_payload && strcmp(fname, "payload_invalid") == 0)
	{
		shape->after_payload = false;
		return;
	}
	if (shape->nfields >= OUTBOX_NFIELDS ||
		strcmp(fname, outbox_field_names[shape->nfields]) != 0)
		shape->ok = false;
	shape->after_payload = (shape->nfields == OUTBOX_FIELD_PAYLOAD);
	shape->nfields++;
}

bool
outbox_message_is_valid(const char *message, Size size)
{
	StringInfoData buf;
	JsonSemAction sem = {0};
	MessageShape shape = {0};

	if (size == 0 || size >= MaxAllocSize - 2 ||
		!pg_verifymbstr(message, size, true) ||
		json_compact(NULL, message, size) >= OUTBOX_MAX_JSON_DEPTH)
		return false;

	initStringInfo(&buf);
	appendStringInfoCharMacro(&buf, '{');
	appendBinaryStringInfo(&buf, message, size);
	appendStringInfoCharMacro(&buf, '}');

	shape.lex = makeJsonLexContextCstringLen(buf.data, buf.len,
											 GetDatabaseEncoding(), true);
	shape.ok = true;
	sem.semstate = &shape;
	sem.object_field_start = message_field_start;
	if (pg_parse_json(shape.lex, &sem) != JSON_SUCCESS)
		return false;
	return shape.ok && shape.nfields == OUTBOX_NFIELDS;
}

/*
 * Fields for a message with our prefix that is not an event: shipped, so
 * nothing is silently lost, with the message in "payload" and
 * "payload_invalid" set.  Bytes that are not valid in the database encoding
 * are written as hex, "\x..." like bytea, to keep the output valid.
 */
void
outbox_append_invalid_message_fields(StringInfo out, const char *message,
									 Size size)
{
	appendStringInfoString(out,
						   "\"id\":null,\"aggregate_type\":null,"
						   "\"aggregate_id\":null,\"event_type\":null,"
						   "\"payload\":");
	if (pg_verifymbstr(message, size, true))
		outbox_append_json_string(out, message, size);
	else
	{
		StringInfoData hex;
		Size i;

		initStringInfo(&hex);
		appendStringInfoString(&hex, "\\x");
		for (i = 0; i < size; i++)
		{
			appendStringInfoCharMacro(&hex, hex_lower[(unsigned char) message[i] >> 4]);
			appendStringInfoCharMacro(&hex, hex_lower[(unsigned char) message[i] & 0xF]);
		}
		outbox_append_json_string(out, hex.data, hex.len);
	}
	appendStringInfoString(out,
						   ",\"payload_invalid\":true,\"headers\":null,"
						   "\"created_at\":null");
}
