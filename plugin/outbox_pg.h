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

/*
 * The largest event the plugin writes, by default (plugin option
 * max-event-size); a larger one is written as a "too_large" event.  Far
 * below the 1 GB PostgreSQL can allocate, which a value escaped to 6 times
 * its size could otherwise reach.
 */
#define OUTBOX_DEFAULT_MAX_EVENT_SIZE ((Size) 256 * 1024 * 1024)
#define OUTBOX_MIN_MAX_EVENT_SIZE ((Size) 1024)
#define OUTBOX_MAX_MAX_EVENT_SIZE ((Size) 512 * 1024 * 1024)
/* A too_large event keeps its id, aggregate and type up to this size. */
#define OUTBOX_MAX_KEPT_FIELD_SIZE 1024

/* format.c */
extern const char *const outbox_field_names[OUTBOX_NFIELDS];
extern OutboxValueKind outbox_value_kind(Oid typid);
extern void outbox_append_json_string(StringInfo out, const char *str, int len);
extern void outbox_append_lsn(StringInfo out, XLogRecPtr lsn);
extern void outbox_append_uint(StringInfo out, uint64 value);
extern void outbox_append_utc_time(StringInfo out, TimestampTz ts);
extern bool outbox_append_event_fields(StringInfo out,
									   const OutboxValue values[OUTBOX_NFIELDS],
									   XLogRecPtr commit_lsn, uint64 seq,
									   Size max_size);
extern void outbox_append_too_large_fields(StringInfo out,
										   const OutboxValue values[OUTBOX_NFIELDS],
										   XLogRecPtr commit_lsn, uint64 seq);
extern void outbox_append_too_large_message_fields(StringInfo out, Size size,
												   XLogRecPtr commit_lsn,
												   uint64 seq);
extern void outbox_append_unauthenticated_fields(StringInfo out,
												 const char *message,
												 Size size,
												 XLogRecPtr commit_lsn,
												 uint64 seq, Size max_size);

/*
 * sign.c: outbox.emit() messages carry an HMAC-SHA-256 of the event's
 * fields under a key only the extension's owner can read, so that a role
 * calling pg_logical_emit_message() cannot forge an event.
 */
#define OUTBOX_KEY_BYTES 32
#define OUTBOX_MAC_BYTES 32

extern bool outbox_read_signing_key(uint8 key[OUTBOX_KEY_BYTES],
									bool hold_lock);
extern void outbox_sign(const uint8 key[OUTBOX_KEY_BYTES], const char *body,
						Size size, uint8 mac[OUTBOX_MAC_BYTES]);
extern bool outbox_message_is_signed(const char *message, Size size);
extern void outbox_signing_key_forget(void);

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
extern bool outbox_relation_exists_now(Oid relid);
extern Oid outbox_schema_relid(const char *relname);
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
	Size max_event_size;
} OutboxOptions;

extern void outbox_parse_options(List *options, OutboxOptions *opts);

#endif /* OUTBOX_PG_H */
