/*
 * pgoutput_events.h
 *	  Outbox events from pgoutput's messages: where the outbox_pg plugin
 *	  cannot be loaded (managed PostgreSQL), the shipper reads a pgoutput
 *	  slot and turns inserts into declared outbox tables into the same
 *	  JSON objects, byte for byte, that the plugin writes (docs/format.md),
 *	  so that everything after this point is the same in both modes.
 *
 * Pure: pgoutput messages in (pgoutput.h), events out through a callback.
 * Which tables are outbox tables, and where their fields are, comes from a
 * lookup the caller provides (the shipper reads outbox.tables over a normal
 * connection; the tests use a table).
 *
 * What the walsender must be told for values to arrive as this expects:
 * text values (no "binary" option), no streaming, and the session settings
 * DateStyle=ISO (timestamps are read from their text) and
 * extra_float_digits as the plugin's walsender has it (both run the same
 * output functions for types that are not text).
 */
#ifndef SHIPPER_PGOUTPUT_EVENTS_H
#define SHIPPER_PGOUTPUT_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pgoutput.h"

/* The event fields an outbox table declares, in outbox.tables' order. */
typedef enum PgoField
{
	PGO_FIELD_ID,
	PGO_FIELD_AGGREGATE_TYPE,
	PGO_FIELD_AGGREGATE_ID,
	PGO_FIELD_EVENT_TYPE,
	PGO_FIELD_PAYLOAD,
	PGO_FIELD_HEADERS,
	PGO_FIELD_CREATED_AT,
	PGO_NFIELDS
} PgoField;

/*
 * A declaration: the column holding each field ("" where none is
 * declared) and its type's base type OID (a domain's underlying type),
 * which decides how the value is written.
 */
typedef struct PgoLayout
{
	char columns[PGO_NFIELDS][64]; /* "" where none is declared */
	uint32_t base_types[PGO_NFIELDS];
} PgoLayout;

/*
 * Looks up the relation a Relation message describes: 1 and *layout when
 * it is a declared outbox table, 0 when it is not, -1 with errstr when the
 * answer cannot be had now (the caller reconnects and tries again).
 */
typedef int (*PgoLayoutLookup)(void *arg, const PgoMessage *relation,
							   PgoLayout *layout, char *errstr,
							   size_t errstr_size);

/* Receives each event, a complete JSON object; 0, or -1 to stop. */
typedef int (*PgoEventSink)(void *arg, const char *json, size_t len);

typedef struct PgoEvents PgoEvents;

extern PgoEvents *pgo_events_new(PgoLayoutLookup lookup, void *lookup_arg,
								 PgoEventSink sink, void *sink_arg);
extern void pgo_events_free(PgoEvents *events);
extern int pgo_events_feed(PgoEvents *events, const PgoMessage *msg,
						   char *errstr, size_t errstr_size);

/* Pure helpers, exported for their unit tests. */
extern int pgo_format_timestamp(const char *text, size_t len, bool utc,
								char *out, size_t *out_len);
extern size_t pgo_format_commit_time(int64_t pg_usec, char *out);

#endif /* SHIPPER_PGOUTPUT_EVENTS_H */
