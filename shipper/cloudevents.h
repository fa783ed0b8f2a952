/*
 * cloudevents.h
 *	  An event as a CloudEvent 1.0 (the Kafka protocol binding): its
 *	  attributes, checked, and its structured-mode JSON.  Pure: no I/O, no
 *	  librdkafka, so the unit tests drive it directly.
 *
 *	  Attributes refer to the event's strings (and the source and data the
 *	  caller gives): a CloudEvent lives as long as they do.
 */
#ifndef SHIPPER_CLOUDEVENTS_H
#define SHIPPER_CLOUDEVENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "event.h"

/* Longest source attribute, given or built from the database's name. */
#define CLOUDEVENTS_SOURCE_MAX 1024

/* datacontenttype of a JSON payload (or envelope), and of a text one. */
#define CLOUDEVENTS_JSON_TYPE "application/json"
#define CLOUDEVENTS_TEXT_TYPE "text/plain; charset=utf-8"
/* The content-type header of a structured record. */
#define CLOUDEVENTS_STRUCTURED_TYPE "application/cloudevents+json"

typedef struct CloudEvent
{
	const char *id;
	size_t id_len;
	const char *source;
	size_t source_len;
	const char *type;
	size_t type_len;
	const char *time; /* NULL: no time attribute */
	size_t time_len;
	const char *subject; /* NULL: no subject attribute */
	size_t subject_len;
	const char *data; /* NULL: no data (a null payload) */
	size_t data_len;
	const char *datacontenttype; /* NULL without data */
	bool data_is_json; /* else text, a JSON string in structured mode */
} CloudEvent;

/* A growing buffer, reused from one record to the next. */
typedef struct CloudEventBuffer
{
	char *data;
	size_t len;
	size_t capacity;
} CloudEventBuffer;

/*
 * The CloudEvent of an event whose record value is data (data_len bytes,
 * NULL for none), JSON unless data_is_text.  -1 with errstr when the event
 * cannot be one: an empty id or type (both required), or an id, type or
 * subject holding characters the CloudEvents type system disallows
 * (controls, noncharacters) or that are not UTF-8.  time is created_at
 * when that is an RFC 3339 timestamp, and absent otherwise (a timestamp
 * without time zone, infinity, a year beyond 9999, null); subject is the
 * aggregate id unless it is null or empty.
 */
extern int cloudevents_from_event(const ShipperEvent *event, const char *source,
								  size_t source_len, const char *data,
								  size_t data_len, bool data_is_text,
								  CloudEvent *ce, char *errstr,
								  size_t errstr_size);

/*
 * The JSON event format of ce into buf (replacing what it held), data as
 * JSON or as a string; -1 when memory is short.
 */
extern int cloudevents_structured(const CloudEvent *ce, CloudEventBuffer *buf);
extern void cloudevents_buffer_free(CloudEventBuffer *buf);

/*
 * Whether an event header of this name would pose as a CloudEvents
 * attribute in a record: a ce_ prefix or content-type, in any case.
 */
extern bool cloudevents_reserved_header(const char *name, size_t len);

/* Whether text is an RFC 3339 date-time (with seconds and an offset). */
extern bool cloudevents_is_rfc3339(const char *text, size_t len);

/* Whether text is a non-empty URI-reference (RFC 3986, section 4.1). */
extern bool cloudevents_is_uri_reference(const char *text, size_t len);

/*
 * The default source, /outbox_pg/<database> with the name percent-encoded
 * where it is not an RFC 3986 unreserved character; -1 if it does not fit.
 */
extern int cloudevents_default_source(const char *database, char *buf,
									  size_t size);

#endif /* SHIPPER_CLOUDEVENTS_H */
