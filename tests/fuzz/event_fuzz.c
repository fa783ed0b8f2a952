/*
 * event_fuzz.c
 *	  libFuzzer target for shipper/event.c: any bytes a replication message
 *	  can carry, parsed as one event.
 *
 * Besides the sanitizers' findings (reads past the message, leaks, UB),
 * a successful parse must give an event the rest of the shipper can rely
 * on without checking again: the invariants below are what kafka.c,
 * tracker.c and main.c assume.  A failed parse must leave nothing to free
 * and a NUL-terminated error.
 *
 * event_reparse, parsing every input into one event that keeps the memory
 * of the inputs before, must give what event_parse gives.
 *
 * event_recover_position reads the same bytes from their end: when both
 * succeed they must agree, and whatever comes before them, the position
 * keys exactly as the plugin writes them must be read back as written.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudevents.h"
#include "event.h"
#include "fuzz.h"
#include "topic.h"
#include "walproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A string field: NULL with length 0, or NUL-terminated at its length. */
static void
check_string(const char *text, size_t len)
{
	if (text == NULL)
		FUZZ_CHECK(len == 0);
	else
		FUZZ_CHECK(text[len] == '\0');
}

static bool
has_nul(const char *text, size_t len)
{
	return text != NULL && memchr(text, '\0', len) != NULL;
}

static void
check_payload(const ShipperEvent *e, const char *json, size_t len)
{
	FUZZ_CHECK(e->payload != NULL);
	FUZZ_CHECK(e->payload_len > 0 || e->payload_invalid);
	if (e->payload_invalid)
	{
		/* The unescaped text of a string, owned by the event. */
		FUZZ_CHECK(e->payload == e->payload_copy);
		FUZZ_CHECK(e->payload_copy[e->payload_len] == '\0');
		FUZZ_CHECK(e->payload_len + 2 <= len);
		FUZZ_CHECK(!e->payload_null);
		return;
	}
	/* The bytes as written: a span of the message. */
	FUZZ_CHECK(e->payload_copy == NULL);
	FUZZ_CHECK(e->payload >= json && e->payload + e->payload_len <= json + len);
	FUZZ_CHECK(e->payload_null ==
			   (e->payload_len == 4 && memcmp(e->payload, "null", 4) == 0));
	FUZZ_CHECK(e->payload[0] != ' ' && e->payload[0] != '\n' &&
			   e->payload[0] != '\t' && e->payload[0] != '\r');
}

static void
check_headers(const ShipperEvent *e)
{
	int i;

	FUZZ_CHECK(e->nheaders >= 0);
	FUZZ_CHECK((e->nheaders == 0) == (e->headers == NULL));
	for (i = 0; i < e->nheaders; i++)
	{
		FUZZ_CHECK(e->headers[i].name != NULL);
		FUZZ_CHECK(e->headers[i].value != NULL);
		check_string(e->headers[i].name, e->headers[i].name_len);
		check_string(e->headers[i].value, e->headers[i].value_len);
	}
}

/* LSNs the shipper confirms survive the round trip through their text. */
static void
check_lsn(Lsn lsn)
{
	char text[LSN_TEXT_SIZE];
	Lsn again = ~lsn;

	lsn_format(lsn, text);
	FUZZ_CHECK(lsn_parse(text, strlen(text), &again) == 0);
	FUZZ_CHECK(again == lsn);
}

/*
 * The topic is rendered from the event's fields: a field cut short at an
 * embedded NUL would silently name another topic (topic.c promises never
 * to rewrite a name).
 */
static void
check_topic(const ShipperEvent *e)
{
	char topic[TOPIC_NAME_MAX + 1];
	char errstr[512];

	if (topic_render("outbox.{aggregate_type}.{event_type}", e->aggregate_type,
					 e->aggregate_type_len, e->event_type, e->event_type_len, topic,
					 errstr, sizeof(errstr)) != 0)
		return;
	FUZZ_CHECK(!has_nul(e->aggregate_type, e->aggregate_type_len));
	FUZZ_CHECK(!has_nul(e->event_type, e->event_type_len));
	FUZZ_CHECK(strlen(topic) <= TOPIC_NAME_MAX);
}

/*
 * The event as a CloudEvent (--format=cloudevents*): refused with a reason,
 * or with the attributes the spec requires, and a structured value that
 * stays within the buffer and is one JSON object.
 */
static void
check_cloudevent(const ShipperEvent *e)
{
	static CloudEventBuffer buf;
	CloudEvent ce;
	char errstr[512];

	memset(errstr, 'x', sizeof(errstr));
	if (cloudevents_from_event(e, "/outbox_pg/db", 13, e->payload_null ? NULL : e->payload,
							   e->payload_len, e->payload_invalid, &ce, errstr,
							   sizeof(errstr)) != 0)
	{
		FUZZ_CHECK(memchr(errstr, '\0', sizeof(errstr)) != NULL && errstr[0] != '\0');
		return;
	}
	FUZZ_CHECK(ce.id_len > 0 && ce.type_len > 0);
	FUZZ_CHECK(ce.subject == NULL || ce.subject_len > 0);
	FUZZ_CHECK(ce.time == NULL || cloudevents_is_rfc3339(ce.time, ce.time_len));
	FUZZ_CHECK((ce.data == NULL) == (ce.datacontenttype == NULL));
	FUZZ_CHECK(cloudevents_structured(&ce, &buf) == 0);
	FUZZ_CHECK(buf.len <= buf.capacity && buf.len > 20);
	FUZZ_CHECK(memcmp(buf.data, "{\"specversion\":\"1.0\",\"id\":\"", 26) == 0);
	FUZZ_CHECK(buf.data[buf.len - 1] == '}');
}

static void
check_event(const ShipperEvent *e, const char *json, size_t len)
{
	FUZZ_CHECK(e->id != NULL);
	check_string(e->id, e->id_len);
	FUZZ_CHECK(!e->headers_invalid || e->nheaders == 0);
	FUZZ_CHECK(!e->has_size || e->rejected != NULL);
	FUZZ_CHECK(e->has_size || e->size == 0);
	check_string(e->aggregate_type, e->aggregate_type_len);
	check_string(e->aggregate_id, e->aggregate_id_len);
	check_string(e->event_type, e->event_type_len);
	check_payload(e, json, len);
	check_headers(e);
	/* end_lsn exactly on the last event (0 is a position too). */
	if (!e->last)
		FUZZ_CHECK(e->end_lsn == 0);
	else
		FUZZ_CHECK(memmem(json, len, "\"end_lsn\"", 9) != NULL);
	FUZZ_CHECK(memmem(json, len, "\"commit_lsn\"", 12) != NULL);
	check_lsn(e->commit_lsn);
	check_lsn(e->end_lsn);
	check_topic(e);
	check_cloudevent(e);
}

/*
 * Recovery reads commit_time only where the plugin writes it, after
 * commit_lsn; event_parse takes the keys in any order.
 */
static bool
same_position(const EventPosition *recovered, const EventPosition *want)
{
	return recovered->commit_lsn == want->commit_lsn && recovered->seq == want->seq &&
		   recovered->last == want->last && recovered->end_lsn == want->end_lsn &&
		   (recovered->commit_time_usec == want->commit_time_usec ||
			recovered->commit_time_usec == 0);
}

/* Recovers the position of any bytes; on success it is self-consistent. */
static int
recover(const char *json, size_t len, EventPosition *position)
{
	EventPosition zero;
	char errstr[512];

	memset(errstr, 'x', sizeof(errstr));
	if (event_recover_position(json, len, position, errstr, sizeof(errstr)) != 0)
	{
		memset(&zero, 0, sizeof(zero));
		FUZZ_CHECK(memcmp(position, &zero, sizeof(zero)) == 0);
		FUZZ_CHECK(memchr(errstr, '\0', sizeof(errstr)) != NULL);
		FUZZ_CHECK(errstr[0] != '\0');
		return -1;
	}
	FUZZ_CHECK(position->last || position->end_lsn == 0);
	FUZZ_CHECK(len > 0 && json[len - 1] == '}');
	FUZZ_CHECK(memmem(json, len, ",\"commit_lsn\":", 14) != NULL);
	return 0;
}

/*
 * The input, then the position keys as the plugin writes them (without
 * commit_time, which the plugin may leave out): read back exactly.
 */
static void
check_written_position(const char *json, size_t len, const EventPosition *want)
{
	char lsn[LSN_TEXT_SIZE];
	char end[LSN_TEXT_SIZE];
	char tail[160];
	int tail_len;
	char *message;
	EventPosition have;

	lsn_format(want->commit_lsn, lsn);
	lsn_format(want->end_lsn, end);
	if (want->last)
		tail_len = snprintf(tail, sizeof(tail),
							",\"commit_lsn\":\"%s\",\"xid\":751,\"seq\":%llu,\"last\":true,\"end_lsn\":\"%s\"}",
							lsn, want->seq, end);
	else
		tail_len = snprintf(tail, sizeof(tail), ",\"commit_lsn\":\"%s\",\"seq\":%llu}",
							lsn, want->seq);
	FUZZ_CHECK(tail_len > 0 && (size_t) tail_len < sizeof(tail));
	message = malloc(len + (size_t) tail_len);
	FUZZ_CHECK(message != NULL);
	memcpy(message, json, len);
	memcpy(message + len, tail, (size_t) tail_len);
	FUZZ_CHECK(recover(message, len + (size_t) tail_len, &have) == 0);
	FUZZ_CHECK(same_position(&have, want));
	free(message);
}

/* Positions for bytes that are not an event: from the bytes themselves. */
static void
position_from_bytes(const uint8_t *data, size_t size, EventPosition *position)
{
	uint64_t words[2] = {0, 0};

	memcpy(words, data, size < sizeof(words) ? size : sizeof(words));
	memset(position, 0, sizeof(*position));
	position->commit_lsn = words[0];
	position->seq = words[1];
	position->last = size % 2 == 1;
	position->end_lsn = position->last ? words[0] ^ words[1] : 0;
}

static bool
same_bytes(const char *a, size_t a_len, const char *b, size_t b_len)
{
	if (a == NULL || b == NULL)
		return a == b && a_len == b_len;
	return a_len == b_len && memcmp(a, b, a_len) == 0;
}

/* Every field of two parses of the same message, but where their memory is. */
static bool
same_event(const ShipperEvent *a, const ShipperEvent *b)
{
	int i;

	if (!same_bytes(a->id, a->id_len, b->id, b->id_len) ||
		!same_bytes(a->aggregate_type, a->aggregate_type_len, b->aggregate_type,
					b->aggregate_type_len) ||
		!same_bytes(a->aggregate_id, a->aggregate_id_len, b->aggregate_id, b->aggregate_id_len) ||
		!same_bytes(a->event_type, a->event_type_len, b->event_type, b->event_type_len) ||
		!same_bytes(a->payload, a->payload_len, b->payload, b->payload_len) ||
		(a->rejected == NULL) != (b->rejected == NULL) ||
		(a->rejected && strcmp(a->rejected, b->rejected) != 0) ||
		(a->payload_copy == NULL) != (b->payload_copy == NULL) ||
		a->nheaders != b->nheaders)
		return false;
	for (i = 0; i < a->nheaders; i++)
		if (!same_bytes(a->headers[i].name, a->headers[i].name_len, b->headers[i].name,
						b->headers[i].name_len) ||
			!same_bytes(a->headers[i].value, a->headers[i].value_len, b->headers[i].value,
						b->headers[i].value_len))
			return false;
	return a->id_generated == b->id_generated && a->payload_null == b->payload_null &&
		   a->payload_invalid == b->payload_invalid && a->headers_invalid == b->headers_invalid &&
		   a->has_size == b->has_size && a->size == b->size && a->commit_lsn == b->commit_lsn &&
		   a->commit_time_usec == b->commit_time_usec && a->end_lsn == b->end_lsn &&
		   a->seq == b->seq && a->last == b->last;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Zeroed at first, then holding the memory of every input before. */
	static ShipperEvent reused;
	const char *json = (const char *) data;
	ShipperEvent event;
	ShipperEvent zero;
	EventPosition parsed;
	EventPosition recovered;
	char errstr[512];
	char reparse_errstr[512];
	int rc;

	memset(errstr, 'x', sizeof(errstr));
	rc = event_parse(json, size, &event, errstr, sizeof(errstr));
	FUZZ_CHECK(event_reparse(json, size, &reused, reparse_errstr, sizeof(reparse_errstr)) == rc);
	if (rc == 0)
	{
		check_event(&event, json, size);
		FUZZ_CHECK(same_event(&event, &reused));
		memset(&parsed, 0, sizeof(parsed));
		parsed.commit_lsn = event.commit_lsn;
		parsed.seq = event.seq;
		parsed.last = event.last;
		parsed.end_lsn = event.end_lsn;
		parsed.commit_time_usec = event.commit_time_usec;
		event_free(&event);
		if (recover(json, size, &recovered) == 0)
			FUZZ_CHECK(same_position(&recovered, &parsed));
		parsed.commit_time_usec = 0;
	}
	else
	{
		/* Nothing left to free, and one readable error. */
		memset(&zero, 0, sizeof(zero));
		FUZZ_CHECK(memcmp(&event, &zero, sizeof(event)) == 0);
		FUZZ_CHECK(memchr(errstr, '\0', sizeof(errstr)) != NULL);
		FUZZ_CHECK(errstr[0] != '\0');
		FUZZ_CHECK(strcmp(errstr, reparse_errstr) == 0);
		FUZZ_CHECK(reused.id == NULL && reused.nheaders == 0 && reused.payload == NULL);
		(void) recover(json, size, &recovered);
		position_from_bytes(data, size, &parsed);
	}
	check_written_position(json, size, &parsed);
	return 0;
}
