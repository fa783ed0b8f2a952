/*
 * event.h
 *	  One outbox_pg event, parsed from the plugin's JSON (docs/format.md).
 *	  Pure: bytes in, fields out.
 */
#ifndef SHIPPER_EVENT_H
#define SHIPPER_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include "walproto.h"

typedef struct EventHeader
{
	char *name; /* unescaped, NUL-terminated */
	char *value; /* string values unescaped; others as JSON */
	size_t value_len;
} EventHeader;

/*
 * Strings are unescaped copies owned by the event (NULL for JSON null);
 * payload points into the parsed buffer, as the plugin wrote it, except
 * for a payload_invalid event, whose payload is the unescaped string the
 * plugin flagged (owned by the event).
 */
typedef struct ShipperEvent
{
	char *id;
	char *aggregate_type;
	char *aggregate_id;
	size_t aggregate_id_len;
	char *event_type;
	const char *payload;
	size_t payload_len;
	bool payload_null;
	bool payload_invalid;
	char *payload_copy;
	EventHeader *headers;
	int nheaders;
	Lsn commit_lsn;
	Lsn end_lsn; /* only on the transaction's last event */
	unsigned long long seq;
	bool last;
} ShipperEvent;

extern int event_parse(const char *json, size_t len, ShipperEvent *event,
					   char *errstr, size_t errstr_size);
extern void event_free(ShipperEvent *event);

#endif /* SHIPPER_EVENT_H */
