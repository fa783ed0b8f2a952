/*
 * event.h
 *	  One outbox_pg event, parsed from the plugin's compact JSON object
 *	  (docs/format.md, version 1).  Pure: bytes in, fields out, no I/O.
 *
 * The Kafka record value must be the payload exactly as the plugin wrote
 * it, so the payload is returned as a span of the input, never
 * re-serialised (a JSON library would turn 1.10 into 1.1 and round big
 * integers).  Only the strings the shipper needs as text are unescaped.
 */
#ifndef SHIPPER_EVENT_H
#define SHIPPER_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walproto.h"

typedef struct EventHeader
{
	char *name; /* unescaped, NUL-terminated, in the event's arena */
	size_t name_len;
	char *value; /* string values unescaped; others as their
								 * compact JSON text; in the arena */
	size_t value_len;
} EventHeader;

/*
 * Strings are unescaped, NUL-terminated copies in the event's arena (one
 * block it owns), NULL for JSON null; their lengths count bytes, as a
 * string may hold \u0000.
 *
 * payload points into the parsed buffer (the JSON value as written), except
 * for a payload_invalid event, whose payload is the unescaped text of the
 * string the plugin wrote (in the arena too, as payload_copy).
 */
typedef struct ShipperEvent
{
	char *id; /* never NULL after a successful parse */
	size_t id_len;
	bool id_generated; /* the row's id was NULL: the plugin made one up */
	char *aggregate_type;
	size_t aggregate_type_len;
	char *aggregate_id;
	size_t aggregate_id_len;
	char *event_type;
	size_t event_type_len;
	const char *payload;
	size_t payload_len;
	bool payload_null; /* the payload is JSON null */
	bool payload_invalid;
	char *payload_copy;
	EventHeader *headers;
	int nheaders;
	bool headers_invalid; /* the row's headers were not an object */
	char *created_at; /* as the plugin wrote it; NULL for null */
	size_t created_at_len;

	/*
	 * Why the plugin says this event must not reach its topic ("unauthenticated",
	 * "too_large" or a reason this shipper does not know), NULL for a normal
	 * event; size is what was left out (has_size without it: unknown).
	 */
	char *rejected;
	bool has_size;
	uint64_t size;
	Lsn commit_lsn;
	int64_t commit_time_usec; /* since the Unix epoch; 0 without commit_time */
	Lsn end_lsn; /* only on the transaction's last event */
	unsigned long long seq;
	bool last;

	/* The memory behind the strings and headers, kept by event_reparse. */
	char *arena;
	size_t arena_size;
	int headers_capacity;
} ShipperEvent;

/*
 * Parses one event.  On success the event refers into json, which must
 * outlive it; free it with event_free.  On failure nothing is left to free
 * and errstr says what is wrong and at which byte.
 */
extern int event_parse(const char *json, size_t len, ShipperEvent *event,
					   char *errstr, size_t errstr_size);

/*
 * The same, reusing the memory of the event last parsed into event (which
 * must be zeroed, freed, or parsed into before): a stream of events of
 * similar sizes is parsed without allocating.  On failure the fields are
 * cleared but the memory is kept; event_free releases it.
 */
extern int event_reparse(const char *json, size_t len, ShipperEvent *event,
						 char *errstr, size_t errstr_size);
extern void event_free(ShipperEvent *event);

/*
 * Where an event sits in the stream: the fields the plugin writes after the
 * event's own (commit_lsn, xid, commit_time, seq, last, end_lsn).
 */
typedef struct EventPosition
{
	Lsn commit_lsn;
	unsigned long long seq;
	bool last;
	Lsn end_lsn; /* only when last */
	int64_t commit_time_usec; /* 0 without commit_time */
} EventPosition;

/*
 * For a message event_parse refused: reads the position fields alone from
 * the end of the message, where the plugin writes them after every value of
 * the event, so a bad value earlier on does not hide them.  Strict about
 * what it reads; -1 with errstr when they cannot be read with certainty.
 */
extern int event_recover_position(const char *json, size_t len,
								  EventPosition *position, char *errstr,
								  size_t errstr_size);

/* Whether text is one JSON value, with whitespace around it allowed. */
extern bool event_json_is_valid(const char *text, size_t len);

#endif /* SHIPPER_EVENT_H */
