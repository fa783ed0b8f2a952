/*
 * pgoutput.h
 *	  The messages of PostgreSQL's built-in output plugin, pgoutput (the
 *	  logical replication protocol, versions 1 to 4), as bytes: no libpq
 *	  here, so the unit tests feed it byte strings captured from servers.
 *
 * Parsing never copies: names, tuple values and message contents point
 * into the buffer given, which must outlive the PgoMessage.  Variable-length
 * parts (a relation's columns, a tuple's values, a truncate's relation ids)
 * are read with cursors that cannot fail: pgoutput_parse has checked that
 * every part lies inside the message and is well formed.
 */
#ifndef SHIPPER_PGOUTPUT_H
#define SHIPPER_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walproto.h"

/* The message type, its first byte. */
typedef enum PgoKind
{
	PGO_BEGIN = 'B',
	PGO_COMMIT = 'C',
	PGO_ORIGIN = 'O',
	PGO_RELATION = 'R',
	PGO_TYPE = 'Y',
	PGO_INSERT = 'I',
	PGO_UPDATE = 'U',
	PGO_DELETE = 'D',
	PGO_TRUNCATE = 'T',
	PGO_MESSAGE = 'M',
	PGO_STREAM_START = 'S', /* version 2 on */
	PGO_STREAM_STOP = 'E',
	PGO_STREAM_COMMIT = 'c',
	PGO_STREAM_ABORT = 'A',
	PGO_BEGIN_PREPARE = 'b', /* version 3 on: two-phase commit */
	PGO_PREPARE = 'P',
	PGO_COMMIT_PREPARED = 'K',
	PGO_ROLLBACK_PREPARED = 'r',
	PGO_STREAM_PREPARE = 'p'
} PgoKind;

/*
 * What the bytes alone do not say.  Inside a streamed transaction (between
 * Stream Start and Stream Stop) every data message starts with the
 * transaction's id; a Stream Abort carries its position and time only when
 * the subscriber asked for parallel apply (streaming 'parallel', 16 on).
 */
typedef struct PgoContext
{
	bool in_stream;
	bool abort_info;
} PgoContext;

/* A tuple's values ('N' new, 'K' key or 'O' old), read with pgoutput_next_value. */
typedef struct PgoTuple
{
	const char *data; /* the first value */
	const char *end;
	int ncolumns;
} PgoTuple;

/* One value of a tuple. */
typedef enum PgoValueKind
{
	PGO_VALUE_NULL = 'n',
	PGO_VALUE_UNCHANGED_TOAST = 'u',
	PGO_VALUE_TEXT = 't',
	PGO_VALUE_BINARY = 'b'
} PgoValueKind;

typedef struct PgoValue
{
	PgoValueKind kind;
	const char *data; /* text or binary only; not NUL-terminated */
	size_t len;
} PgoValue;

/* A relation's columns, read with pgoutput_next_column. */
typedef struct PgoColumns
{
	const char *data;
	const char *end;
	int ncolumns;
} PgoColumns;

typedef struct PgoColumn
{
	bool key; /* part of the replica identity */
	const char *name; /* NUL-terminated, in the buffer */
	uint32_t type_oid;
	int32_t type_modifier;
} PgoColumn;

typedef struct PgoMessage
{
	PgoKind kind;
	uint32_t xid; /* Begin, Stream *, Prepare *, and data messages in a stream */
	bool has_xid;

	/*
	 * Positions and times.  Begin: the commit's LSN and time.  Commit: the
	 * commit's LSN, end_lsn just past its record, and time.  Message and
	 * Origin: their LSN.  Prepare messages: as Begin/Commit for the prepare.
	 */
	Lsn lsn;
	Lsn end_lsn;
	int64_t time; /* microseconds since 2000-01-01 */
	uint8_t flags;

	/* Relation, Type, Insert, Update, Delete */
	uint32_t relid; /* Type: the type's OID */
	const char *nspname; /* Relation, Type: "" for pg_catalog */
	const char *relname; /* Relation, Type: the name */
	char replica_identity; /* Relation: 'd', 'n', 'f' or 'i' */
	PgoColumns columns; /* Relation */

	/* Insert, Update (new; old when has_old), Delete (old) */
	PgoTuple newtuple;
	PgoTuple oldtuple;
	bool has_old;
	char old_kind; /* 'K' (key only) or 'O' (whole row) */

	/* Message */
	bool transactional;
	const char *prefix; /* also Origin's name and Prepare's gid */
	const char *content;
	size_t content_len;

	/* Truncate: relation ids, 4 bytes each, big-endian (pgoutput_relid) */
	int nrelids;
	const char *relids;

	/* Stream Start: first segment; Stream Abort: the subtransaction */
	bool first_segment;
	uint32_t subxid;
} PgoMessage;

extern int pgoutput_parse(const char *buf, size_t len, const PgoContext *context,
						  PgoMessage *msg, char *errstr, size_t errstr_size);
extern bool pgoutput_next_value(PgoTuple *tuple, PgoValue *value);
extern bool pgoutput_next_column(PgoColumns *columns, PgoColumn *column);
extern uint32_t pgoutput_relid(const PgoMessage *msg, int i);

#endif /* SHIPPER_PGOUTPUT_H */
