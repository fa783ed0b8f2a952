/*-------------------------------------------------------------------------
 *
 * outbox_pg.h
 *	  Declarations shared by the outbox_pg output plugin and the SQL
 *	  functions of the extension (both live in one shared library).
 *
 *-------------------------------------------------------------------------
 */
#ifndef OUTBOX_PG_H
#define OUTBOX_PG_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/relcache.h"

/* Prefix of the transactional logical decoding messages written by
 * outbox.emit() and outbox.replay(). */
#define OUTBOX_MESSAGE_PREFIX "outbox_pg"

/* The only output format so far; see docs/format.md. */
#define OUTBOX_FORMAT_VERSION 1

/* The event fields, in the order they are written. */
typedef enum OutboxField
{
	OUTBOX_FIELD_ID,
	OUTBOX_FIELD_AGGREGATE_TYPE,
	OUTBOX_FIELD_AGGREGATE_ID,
	OUTBOX_FIELD_EVENT_TYPE,
	OUTBOX_FIELD_PAYLOAD,
	OUTBOX_FIELD_HEADERS,
	OUTBOX_FIELD_CREATED_AT,
	OUTBOX_NFIELDS
} OutboxField;

/*
 * How a column's value is turned into JSON.  The common types are written
 * directly from their binary form; anything else goes through the type's
 * output function, so no column type can make decoding fail.
 */
typedef enum OutboxValueKind
{
	OUTBOX_KIND_TEXT, /* text, varchar: the bytes themselves */
	OUTBOX_KIND_JSONB,
	OUTBOX_KIND_JSON,
	OUTBOX_KIND_UUID,
	OUTBOX_KIND_INT4,
	OUTBOX_KIND_INT8,
	OUTBOX_KIND_TIMESTAMPTZ,
	OUTBOX_KIND_TIMESTAMP,
	OUTBOX_KIND_OTHER /* the type's output function */
} OutboxValueKind;

/* One field's value, ready to be formatted. */
typedef struct OutboxValue
{
	Datum value;
	bool isnull;
	Oid typid;
	OutboxValueKind kind;
} OutboxValue;

/* format.c */
extern const char *const outbox_field_names[OUTBOX_NFIELDS];
extern OutboxValueKind outbox_value_kind(Oid typid);
extern void outbox_append_json_string(StringInfo out, const char *str, int len);
extern void outbox_append_lsn(StringInfo out, XLogRecPtr lsn);
extern void outbox_append_uint(StringInfo out, uint64 value);
extern void outbox_append_utc_time(StringInfo out, TimestampTz ts);
extern void outbox_append_event_fields(StringInfo out,
									   const OutboxValue values[OUTBOX_NFIELDS]);
extern bool outbox_message_is_valid(const char *message, Size size);
extern void outbox_append_invalid_message_fields(StringInfo out,
												 const char *message,
												 Size size);

/* relation.c: which relations are outbox tables, and their columns */
typedef struct OutboxColumn
{
	AttrNumber attnum; /* InvalidAttrNumber: not mapped */
	Oid typid;
	OutboxValueKind kind;
} OutboxColumn;

typedef struct OutboxRelation
{
	Oid relid; /* hash key */
	bool valid;
	bool is_outbox;
	OutboxColumn columns[OUTBOX_NFIELDS];
} OutboxRelation;

extern void outbox_relation_cache_init(MemoryContext parent);
extern void outbox_relation_cache_destroy(void);
extern OutboxRelation *outbox_relation_lookup(Relation relation);
extern void outbox_relation_values(const OutboxRelation *entry,
								   TupleDesc tupdesc, HeapTuple tuple,
								   OutboxValue values[OUTBOX_NFIELDS]);

/* options.c */
typedef struct OutboxOptions
{
	int format_version;
	bool include_xid;
	bool include_lsn;
	bool include_timestamp;
} OutboxOptions;

extern void outbox_parse_options(List *options, OutboxOptions *opts);

#endif /* OUTBOX_PG_H */
