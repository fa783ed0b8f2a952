/*
 * kafka.c
 *	  The producer.
 *
 * Defaults: idempotent, acks=all, the Java client's partitioner for keyed
 * records (murmur2_random: same partition for the same key as Java
 * producers; keyless records spread at random), lz4 (built into every
 * librdkafka), a 5 ms linger, and no message timeout (message.timeout.ms=0):
 * while Kafka is unreachable librdkafka retries for ever, reading pauses at
 * the in-flight caps, nothing is confirmed and WAL waits in the slot.  A
 * finite timeout would only turn an outage into a restart that ships the
 * same events again, and idempotent retries keep the order that a restart
 * could not.  Any librdkafka property overrides these.
 *
 * A dead broker connection (a partition, a broker that froze: the socket
 * stays open and nothing answers) is noticed within 11 s while events
 * flow, measured at 10-11 s (tests/e2e/relay_netfaults.sh, kafka silent):
 * a produce request waits socket.timeout.ms=10000 for its answer
 * (message.timeout.ms=0 leaves that as its only limit; librdkafka scans
 * once a second), then socket.max.fails=1 closes the connection and the
 * unanswered requests are retried on a new one, in order (idempotence).
 * request.timeout.ms=5000, the broker's own wait for acks=all, stays below
 * it so a slow ISR gets the broker's REQUEST_TIMED_OUT (retried) rather
 * than a dropped connection.  A broker that accepts a connection and never
 * answers is given up after socket.connection.setup.timeout.ms=10000;
 * reconnect.backoff.max.ms=2000 then caps the wait between attempts, so
 * the shipper is back within ~2 s of the network.  An idle connection
 * carries no request, so its death is noticed when the next event is
 * produced, within the same 11 s from then.  socket.keepalive.enable
 * turns on TCP keepalives at the kernel's settings
 * (net.ipv4.tcp_keepalive_time, 2 h by default): no part of the bound, they
 * only keep idle connections from outliving the peer indefinitely.
 *
 * Errors are of three kinds, and only the first is ever dead-lettered:
 *
 * - Record-level: this event can never be written, whatever the cluster
 *   does: MSG_SIZE_TOO_LARGE, RECORD_LIST_TOO_LARGE, INVALID_RECORD,
 *   TOPIC_EXCEPTION and our own INVALID_TOPIC (a topic name Kafka can never
 *   accept), an event the plugin marked rejected ("too_large", or a reason
 *   this shipper does not know), and a message that is not an event
 *   (MALFORMED_EVENT, main.c).  The --on-permanent-error policy applies:
 *   stop (nothing from it on is confirmed, the shipper exits naming it) or
 *   send it to the dead-letter topic with the error in headers; it counts
 *   as delivered once that record is acknowledged.
 * - Cluster-level: the cluster or the shipper's rights are wrong, not the
 *   event: TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED,
 *   UNKNOWN_TOPIC_OR_PART or _UNKNOWN_TOPIC once librdkafka has waited for
 *   metadata to propagate, and anything else librdkafka gives up on.
 *   Dead-lettering them would send the whole stream to the dead-letter
 *   topic after an ACL change, and confirm it.  Under every policy the
 *   shipper stops without confirming the event, naming the error and the
 *   fix; the event stays in the slot and a restart (the supervisor's
 *   backoff) ships it again, in order, once the cluster is fixed.  Retrying
 *   in process instead would let later events of the key overtake it.
 * - Transient (brokers down, leader changes, timeouts): librdkafka retries
 *   them for ever (message.timeout.ms=0) and nothing is confirmed meanwhile.
 *
 * Sizes and topic names are checked before producing, so such an event
 * fails before it is queued and later events of its key cannot overtake it.
 *
 * An "unauthenticated" event (a message with our prefix that outbox.emit()
 * did not write: any role may call pg_logical_emit_message()) never reaches
 * a topic and never stops the shipper, whatever the policy: it goes to the
 * dead-letter topic when one is configured, and is dropped otherwise or if
 * that fails; either way it counts as handled for the confirmed position.
 */
#include "kafka.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "cloudevents.h"
#include "log.h"
#include "secret.h"
#include "topic.h"

/* Transient errors from error_cb, and unauthenticated events: one log
 * line per interval. */
#define ERROR_LOG_INTERVAL_USEC (30 * INT64_C(1000000))

/* Spare deliveries kept for reuse, so most events allocate none. */
#define DELIVERY_SPARE_MAX 1024
/* Ids up to this long are kept inside the delivery (a UUID is 36). */
#define DELIVERY_ID_INLINE 48
/* Topic names rendered lately, and librdkafka's handles for them. */
#define TOPIC_CACHE_SIZE 16

/* What a produced record carries until its delivery report. */
typedef struct Delivery
{
	TrackerTxn txn;
	size_t bytes; /* as counted by the tracker */
	size_t record_bytes; /* key and value, for the metrics */
	char *id; /* id_inline, or owned */
	char id_inline[DELIVERY_ID_INLINE];
	Lsn commit_lsn;
	int64_t commit_usec; /* commit time, 0 if unknown */
	uint64_t seq;
	bool dead_letter; /* this is the dead-letter record */
	bool droppable; /* unauthenticated: dropped if its dead-letter record fails */
	/* Kept for the dead-letter record, under that policy only: */
	char *envelope;
	size_t envelope_len;
	char *key;
	size_t key_len;
	char *event_type;
	char *aggregate_type;
	char topic[TOPIC_NAME_MAX + 1]; /* the intended topic, if known */
	struct Delivery *next_spare;
} Delivery;

/*
 * A topic name rendered from the template, with the field values it was
 * rendered from (those the template uses) and librdkafka's handle for it
 * (NULL if it could not make one), so that an event of a known topic costs
 * neither a rendering nor librdkafka's lookup of the name.
 */
typedef struct CachedTopic
{
	bool used;
	const char *fields[2]; /* aggregate_type, event_type: field_text, or NULL */
	size_t field_lens[2];
	char field_text[2][TOPIC_NAME_MAX + 1];
	char name[TOPIC_NAME_MAX + 1];
	size_t name_len;
	rd_kafka_topic_t *rkt;
} CachedTopic;

struct Kafka
{
	const ShipperConfig *config;
	Tracker *tracker;
	Metrics *metrics; /* may be NULL */
	rd_kafka_t *rk;
	rd_kafka_queue_t *main_queue;
	int wake_fds[2]; /* librdkafka writes when reports wait */
	size_t max_message_bytes;
	bool closing; /* purging: reports only free */
	long delivered; /* acknowledged on their own topic */
	long dead_lettered; /* acknowledged on the dead-letter topic */
	int last_error; /* a connection error counts as _TRANSPORT */
	int64_t last_error_at;
	unsigned long errors_unsaid; /* of that kind, since it was logged */
	bool auth_failed; /* since the SASL credential files were read */
	char *sasl_username; /* in use, when read from a file; else NULL */
	char *sasl_password; /* the same */
	char refresh_error[600]; /* the last one logged, said once */
	int64_t unauthenticated_said_at; /* last warning about one */
	unsigned long unauthenticated_unsaid; /* since then */
	char failure[1024]; /* set once: why the shipper must stop */
	Delivery *spare; /* DELIVERY_SPARE_MAX at most */
	int nspare;
	bool template_uses[2]; /* {aggregate_type}, {event_type} */
	CachedTopic topics[TOPIC_CACHE_SIZE];
	int next_topic; /* the entry to replace next */
	/*
	 * Acknowledged records not yet added to the metrics: a run of one
	 * topic, added at once when the topic changes or kafka_poll returns.
	 */
	char acked_topic[TOPIC_NAME_MAX + 1];
	bool acked_dead_letter;
	uint64_t acked_count;
	uint64_t acked_bytes;
	int64_t acked_commit_usec;
	/* --format=cloudevents and cloudevents-structured (kafka_set_database): */
	char ce_source[CLOUDEVENTS_SOURCE_MAX + 1];
	size_t ce_source_len;
	CloudEventBuffer ce_value; /* the structured value, reused */
	int64_t ce_dropped_said_at; /* last warning about a reserved header */
	unsigned long ce_dropped_unsaid; /* events with one since then */
};

/* A zeroed delivery, a spare one if any. */
static Delivery *
delivery_take(Kafka *kafka)
{
	Delivery *d = kafka->spare;

	if (d == NULL)
		return calloc(1, sizeof(Delivery));
	kafka->spare = d->next_spare;
	kafka->nspare--;
	/* The topic is written when known: cleared only up to its name. */
	memset(d, 0, offsetof(Delivery, topic));
	d->topic[0] = '\0';
	d->next_spare = NULL;
	return d;
}

/* Frees what d holds, and d itself or keeps it as a spare. */
static void
delivery_free(Kafka *kafka, Delivery *d)
{
	if (d == NULL)
		return;
	if (d->id != d->id_inline)
		free(d->id);
	free(d->envelope);
	free(d->key);
	free(d->event_type);
	free(d->aggregate_type);
	if (kafka->nspare >= DELIVERY_SPARE_MAX)
	{
		free(d);
		return;
	}
	d->next_spare = kafka->spare;
	kafka->spare = d;
	kafka->nspare++;
}

static void set_failure(Kafka *kafka, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Records the first reason to stop; later ones are consequences. */
static void
set_failure(Kafka *kafka, const char *fmt, ...)
{
	va_list args;

	if (kafka->failure[0] != '\0')
		return;
	va_start(args, fmt);
	vsnprintf(kafka->failure, sizeof(kafka->failure), fmt, args);
	va_end(args);
}

static void
count_delivery_error(Kafka *kafka, const char *kind)
{
	if (kafka->metrics)
		metrics_delivery_error(kafka->metrics, kind);
}

/* Errors of the record itself, that no cluster change will cure. */
static bool
record_level(rd_kafka_resp_err_t err)
{
	switch (err)
	{
		case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
		case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
		case RD_KAFKA_RESP_ERR_INVALID_RECORD:
		case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
			return true;
		default:
			return false;
	}
}

/* What an operator does about a cluster-level error, or NULL. */
static const char *
remedy(rd_kafka_resp_err_t err)
{
	switch (err)
	{
		case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
			return "grant the shipper's principal WRITE and DESCRIBE on the topic, then restart it";
		case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
			return "grant the shipper's principal IDEMPOTENT_WRITE on the cluster, then restart it";
		case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
		case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
		case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
			return "create the topic (or let the brokers auto-create topics), then restart it";
		case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
			return "Kafka did not acknowledge it within message.timeout.ms; restart it when Kafka is back";
		default:
			return "restart it once the cause is fixed";
	}
}

static char *
copy_bytes(const char *data, size_t len)
{
	char *copy = malloc(len + 1);

	if (copy != NULL)
	{
		if (len > 0)
			memcpy(copy, data, len);
		copy[len] = '\0';
	}
	return copy;
}

static const char *
or_null(const char *s)
{
	return s ? s : "(null)";
}

/* "event ID (commit LSN X, seq N)", for messages; id may be NULL. */
static void
describe(const Delivery *d, char *buf, size_t size)
{
	char lsn[LSN_TEXT_SIZE];

	lsn_format(d->commit_lsn, lsn);
	snprintf(buf, size, "event %s (commit LSN %s, seq %llu)",
			 d->id ? d->id : "without an id", lsn, (unsigned long long) d->seq);
}

/* Adds one header (name_len -1: up to its NUL); a NULL value is a null header. */
static void
add_named_header(rd_kafka_headers_t *h, const char *name, ssize_t name_len,
				 const char *value, size_t value_len)
{
	rd_kafka_header_add(h, name, name_len, value, value ? (ssize_t) value_len : 0);
}

static void
add_header(rd_kafka_headers_t *h, const char *name, const char *value,
		   size_t value_len)
{
	add_named_header(h, name, -1, value, value_len);
}

/* The same, for a name that is a string literal: no strlen per event. */
#define add_literal_header(h, name, value, value_len) \
	add_named_header(h, name, sizeof(name) - 1, value, value_len)

/* Decimal digits of value into buf (24 bytes), as %llu; returns the length. */
static size_t
format_u64(uint64_t value, char *buf)
{
	char reversed[24];
	size_t len = 0;
	size_t i;

	do
	{
		reversed[len++] = (char) ('0' + value % 10);
		value /= 10;
	} while (value > 0);
	for (i = 0; i < len; i++)
		buf[i] = reversed[len - 1 - i];
	buf[len] = '\0';
	return len;
}

static void
add_position_headers(rd_kafka_headers_t *h, Lsn commit_lsn, uint64_t seq)
{
	char lsn[LSN_TEXT_SIZE];
	char seqtext[24];
	size_t lsn_len = lsn_format(commit_lsn, lsn);
	size_t seq_len = format_u64(seq, seqtext);

	add_literal_header(h, "outbox_commit_lsn", lsn, lsn_len);
	add_literal_header(h, "outbox_seq", seqtext, seq_len);
}

/*
 * Where d was going, for its dead-letter record: its topic, or, for an
 * event whose fields make no valid topic name (INVALID_TOPIC), the name
 * they render to, the one Kafka would refuse, cut after one byte more than
 * Kafka allows (the whole fields are in the value); NULL when unknown (a
 * malformed message).
 */
static const char *
intended_topic(const Kafka *kafka, const Delivery *d, const char *code,
			   char *name, size_t name_size)
{
	if (d->topic[0] != '\0')
		return d->topic;
	if (strcmp(code, "INVALID_TOPIC") != 0)
		return NULL;
	topic_render_unchecked(kafka->config->topic_template, d->aggregate_type,
						   d->aggregate_type ? strlen(d->aggregate_type) : 0,
						   d->event_type, d->event_type ? strlen(d->event_type) : 0,
						   name, name_size);
	return name;
}

/*
 * The dead-letter record's headers: what identifies the event, where it
 * was going (topic, unless unknown), and why it did not get there.
 */
static rd_kafka_headers_t *
dead_letter_headers(const Delivery *d, const char *topic, const char *error,
					const char *code, bool value_omitted)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(10);

	add_header(h, "id", d->id, d->id ? strlen(d->id) : 0);
	add_header(h, "event_type", d->event_type, d->event_type ? strlen(d->event_type) : 0);
	add_header(h, "aggregate_type", d->aggregate_type,
			   d->aggregate_type ? strlen(d->aggregate_type) : 0);
	add_position_headers(h, d->commit_lsn, d->seq);
	if (topic != NULL)
		add_header(h, "outbox_topic", topic, strlen(topic));
	add_header(h, "outbox_error", error, strlen(error));
	add_header(h, "outbox_error_code", code, strlen(code));
	if (value_omitted)
		add_header(h, "outbox_value_omitted", "too large", strlen("too large"));
	return h;
}

/*
 * An unauthenticated event whose dead-letter record failed: it would have
 * been dropped without a dead-letter topic, so it is now.  Never a reason
 * to stop.
 */
static KafkaStatus
drop_rejected(Kafka *kafka, Delivery *d, const char *error)
{
	char what[256];

	describe(d, what, sizeof(what));
	log_warning("unauthenticated %s not sent to dead-letter topic %s (%s): dropped",
				what, kafka->config->dead_letter_topic, error);
	count_delivery_error(kafka, "DEAD_LETTER_FAILED");
	tracker_ack(kafka->tracker, d->txn, d->bytes);
	delivery_free(kafka, d);
	return KAFKA_QUEUED;
}

/*
 * Produces d's envelope to the dead-letter topic, with the error in
 * headers; d then travels with that record.  An event refused for its size
 * would be refused again: its dead-letter record says so and leaves the
 * value out (the event is still in the outbox table, for outbox.replay()).
 * Inside a delivery report a full queue cannot be waited for, so there it
 * stops the shipper.
 */
static KafkaStatus
dead_letter(Kafka *kafka, Delivery *d, const char *error, const char *code,
			bool in_report)
{
	bool omit = kafka->max_message_bytes > 0 &&
				d->envelope_len + d->key_len > kafka->max_message_bytes / 2;
	char name[TOPIC_NAME_MAX + 2];
	rd_kafka_headers_t *h = dead_letter_headers(d, intended_topic(kafka, d, code, name, sizeof(name)),
												error, code, omit);
	rd_kafka_resp_err_t err;

	d->dead_letter = true;
	err = rd_kafka_producev(kafka->rk,
							RD_KAFKA_V_TOPIC(kafka->config->dead_letter_topic),
							RD_KAFKA_V_KEY(d->key, d->key_len),
							RD_KAFKA_V_VALUE(omit ? NULL : d->envelope, omit ? 0 : d->envelope_len),
							RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
							RD_KAFKA_V_HEADERS(h),
							RD_KAFKA_V_OPAQUE(d),
							RD_KAFKA_V_END);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		return KAFKA_QUEUED;
	rd_kafka_headers_destroy(h);
	if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !in_report)
	{
		delivery_free(kafka, d);
		return KAFKA_QUEUE_FULL;
	}
	if (d->droppable)
		return drop_rejected(kafka, d, rd_kafka_err2str(err));
	set_failure(kafka, "could not produce event %s to dead-letter topic %s: %s",
				or_null(d->id), kafka->config->dead_letter_topic, rd_kafka_err2str(err));
	delivery_free(kafka, d);
	return KAFKA_FAILED;
}

/*
 * The permanent-error policy, for a record Kafka will never take.  On
 * KAFKA_QUEUE_FULL nothing was counted or said: the caller tries again.
 */
static KafkaStatus
refuse(Kafka *kafka, Delivery *d, const char *error, const char *code,
	   bool in_report)
{
	char what[256];
	KafkaStatus status;

	describe(d, what, sizeof(what));
	if (kafka->config->on_permanent_error == ON_ERROR_DEAD_LETTER && !d->dead_letter)
	{
		if ((status = dead_letter(kafka, d, error, code, in_report)) == KAFKA_QUEUE_FULL)
			return status;
		count_delivery_error(kafka, code);
		log_warning("%s refused: %s; sent it to dead-letter topic %s", what, error,
					kafka->config->dead_letter_topic);
		return status;
	}
	count_delivery_error(kafka, code);
	set_failure(kafka, "%s cannot be delivered%s: %s; stopping without confirming it or anything after it",
				what, d->dead_letter ? " to the dead-letter topic" : "", error);
	delivery_free(kafka, d);
	return KAFKA_FAILED;
}

/*
 * A cluster-level error (see the top of the file): never dead-lettered,
 * whatever the policy.
 */
static KafkaStatus
stop_on_cluster_error(Kafka *kafka, Delivery *d, rd_kafka_resp_err_t err)
{
	char what[256];

	count_delivery_error(kafka, rd_kafka_err2name(err));
	describe(d, what, sizeof(what));
	set_failure(kafka, "%s cannot be delivered to %s%s: %s (%s), an error of the cluster or of the shipper's rights, not of the event, so it is not dead-lettered; %s; stopping without confirming it or anything after it (it is shipped again on restart)",
				what, d->dead_letter ? "dead-letter topic " : "topic ",
				d->dead_letter ? kafka->config->dead_letter_topic : d->topic,
				rd_kafka_err2str(err), rd_kafka_err2name(err), remedy(err));
	delivery_free(kafka, d);
	return KAFKA_FAILED;
}

/* Adds the acknowledged records counted so far to the metrics. */
static void
publish_acked(Kafka *kafka)
{
	if (kafka->acked_count == 0)
		return;
	metrics_delivered(kafka->metrics, kafka->acked_topic, kafka->acked_count,
					  kafka->acked_bytes, kafka->acked_commit_usec, kafka->acked_dead_letter);
	kafka->acked_count = 0;
	kafka->acked_bytes = 0;
	kafka->acked_commit_usec = 0;
}

/* Counts an acknowledged record for the metrics (publish_acked). */
static void
count_acked(Kafka *kafka, const Delivery *d)
{
	if (kafka->metrics == NULL)
		return;
	if (kafka->acked_count > 0 && (kafka->acked_dead_letter != d->dead_letter ||
								   strcmp(kafka->acked_topic, d->topic) != 0))
		publish_acked(kafka);
	if (kafka->acked_count == 0)
	{
		memcpy(kafka->acked_topic, d->topic, strlen(d->topic) + 1);
		kafka->acked_dead_letter = d->dead_letter;
	}
	kafka->acked_count++;
	kafka->acked_bytes += d->record_bytes;
	if (d->commit_usec > kafka->acked_commit_usec)
		kafka->acked_commit_usec = d->commit_usec;
}

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	Kafka *kafka = opaque;
	Delivery *d = msg->_private;

	(void) rk;
	if (kafka->closing)
		delivery_free(kafka, d);
	else if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR && d->droppable)
		(void) drop_rejected(kafka, d, rd_kafka_err2str(msg->err));
	else if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		tracker_ack(kafka->tracker, d->txn, d->bytes);
		count_acked(kafka, d);
		if (d->dead_letter)
			kafka->dead_lettered++;
		else
			kafka->delivered++;
		delivery_free(kafka, d);
	}
	else if (record_level(msg->err))
		(void) refuse(kafka, d, rd_kafka_err2str(msg->err), rd_kafka_err2name(msg->err), true);
	else
		(void) stop_on_cluster_error(kafka, d, msg->err);
}

/*
 * Errors of a broker connection.  One cause comes as several of them at
 * every reconnect: a certificate that does not verify is _SSL once, then
 * _TRANSPORT, each followed by _ALL_BROKERS_DOWN; a refused password is
 * _AUTHENTICATION then _ALL_BROKERS_DOWN.  Logged as one kind, they make
 * one line per interval instead of a few per reconnect.
 */
static bool
connection_error(int err)
{
	switch (err)
	{
		case RD_KAFKA_RESP_ERR__TRANSPORT:
		case RD_KAFKA_RESP_ERR__SSL:
		case RD_KAFKA_RESP_ERR__AUTHENTICATION:
		case RD_KAFKA_RESP_ERR__RESOLVE:
		case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
			return true;
		default:
			return false;
	}
}

/*
 * Whether an error was said recently enough to stay quiet (counting it).
 * _ALL_BROKERS_DOWN names no cause: it never keeps the cause that follows
 * it from being logged.
 */
static bool
error_said_recently(Kafka *kafka, int err, int64_t now)
{
	int kind = connection_error(err) ? RD_KAFKA_RESP_ERR__TRANSPORT : err;

	if (kind == kafka->last_error && now - kafka->last_error_at < ERROR_LOG_INTERVAL_USEC)
	{
		kafka->errors_unsaid++;
		return true;
	}
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		return false;
	kafka->last_error = kind;
	kafka->last_error_at = now;
	return false;
}

static void
on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	Kafka *kafka = opaque;
	char fatal[512];
	char unsaid[96] = "";

	if (kafka->metrics)
		metrics_client_error(kafka->metrics, rd_kafka_err2name((rd_kafka_resp_err_t) err));
	if (err == RD_KAFKA_RESP_ERR__FATAL)
	{
		rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
		set_failure(kafka, "fatal Kafka producer error: %s", fatal);
		return;
	}
	/* Served by kafka_poll, after this callback. */
	if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION)
		kafka->auth_failed = true;
	/* Brokers down and the like: librdkafka retries; say so, not too often. */
	if (error_said_recently(kafka, err, now_usec()))
		return;
	if (kafka->errors_unsaid > 0)
		snprintf(unsaid, sizeof(unsaid), "; %lu errors not logged since the last line",
				 kafka->errors_unsaid);
	kafka->errors_unsaid = 0;
	log_warning("Kafka: %s: %s (retrying; nothing is confirmed meanwhile; alike errors logged once per %d s%s)",
				rd_kafka_err2name((rd_kafka_resp_err_t) err), reason,
				(int) (ERROR_LOG_INTERVAL_USEC / 1000000), unsaid);
}

/*
 * librdkafka's own log lines (from its threads) go through ours.  Broker
 * connection failures ("FAIL") also reach on_error, which logs them once
 * per interval, so here they are debug lines.
 */
static void
on_log(const rd_kafka_t *rk, int level, const char *facility, const char *buf)
{
	LogLevel ours = level <= 3 ? LOG_ERROR : level <= 4 ? LOG_WARNING
										 : level <= 6   ? LOG_INFO
														: LOG_DEBUG;

	(void) rk;
	if (strcmp(facility, "FAIL") == 0)
		ours = LOG_DEBUG;
	log_message(ours, "Kafka %s: %s", facility, buf);
}

/* Sets one property; the error names it and where it came from. */
static int
conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
		 const char *origin, char *errstr, size_t errstr_size)
{
	char err[512];

	if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) == RD_KAFKA_CONF_OK)
		return 0;
	/* librdkafka may quote the value: never show a secret one. */
	if (config_is_secret(name) && *value && strstr(err, value) != NULL)
		snprintf(err, sizeof(err), "invalid value (not shown: secret)");
	snprintf(errstr, errstr_size, "invalid Kafka property %s (%s): %s", name, origin, err);
	return -1;
}

static int
set_defaults(rd_kafka_conf_t *conf, const ShipperConfig *config, char *errstr,
			 size_t errstr_size)
{
	static const char *const defaults[][2] = {
		{"enable.idempotence", "true"},
		{"acks", "all"},
		{"partitioner", "murmur2_random"},
		{"compression.codec", "lz4"},
		{"linger.ms", "5"},
		{"message.timeout.ms", "0"},
		{"client.id", "outbox-shipper"},
		/* A dead broker connection is noticed within a bound: see the
		 * header comment.  The broker's own ack timeout stays below ours,
		 * so a slow ISR answers REQUEST_TIMED_OUT (retried) before we
		 * would drop a healthy connection. */
		{"socket.timeout.ms", "10000"},
		{"request.timeout.ms", "5000"},
		{"socket.connection.setup.timeout.ms", "10000"},
		{"socket.keepalive.enable", "true"},
		{"reconnect.backoff.max.ms", "2000"},
	};
	size_t i;

	for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (conf_set(conf, defaults[i][0], defaults[i][1], "default", errstr, errstr_size) != 0)
			return -1;
	if (config->brokers &&
		conf_set(conf, "bootstrap.servers", config->brokers, "--brokers", errstr, errstr_size) != 0)
		return -1;
	return 0;
}

static bool
user_set(const ShipperConfig *config, const char *name)
{
	int i;

	for (i = 0; i < config->nkafka; i++)
		if (strcmp(config->kafka[i].name, name) == 0)
			return true;
	return false;
}

/*
 * librdkafka's queue, bounded by the in-flight caps unless the user sized
 * it: the main loop keeps the caps hard (what an earlier connection left
 * in the queue counts too), so this is what the producer holds at most.
 * Room for one record over the byte cap (an event larger than the cap goes
 * alone, up to message.max.bytes), and, under the dead-letter policy, for
 * the dead-letter records a batch of refusals produces while librdkafka
 * still holds their originals.  librdkafka counts values only, which are
 * never larger than the events the caps count.
 */
static int
set_queue_limits(rd_kafka_conf_t *conf, const Kafka *kafka, char *errstr,
				 size_t errstr_size)
{
	const ShipperConfig *config = kafka->config;
	long long factor = config->on_permanent_error == ON_ERROR_DEAD_LETTER ? 2 : 1;
	long long bytes = config->max_inflight_bytes;
	long long messages = config->max_inflight_events * factor;
	long long kbytes;
	char value[32];

	if (bytes < (long long) kafka->max_message_bytes)
		bytes = (long long) kafka->max_message_bytes;
	kbytes = (bytes / 1024 + 1) * factor;
	snprintf(value, sizeof(value), "%lld", messages > 10000000 ? 10000000 : messages);
	if (!user_set(config, "queue.buffering.max.messages") &&
		conf_set(conf, "queue.buffering.max.messages", value, "--max-inflight-events",
				 errstr, errstr_size) != 0)
		return -1;
	snprintf(value, sizeof(value), "%lld", kbytes > INT32_MAX ? INT32_MAX : kbytes);
	if (!user_set(config, "queue.buffering.max.kbytes") &&
		conf_set(conf, "queue.buffering.max.kbytes", value, "--max-inflight-bytes",
				 errstr, errstr_size) != 0)
		return -1;
	return 0;
}

/*
 * A property's value: given, or read from its file.  *owned is what the
 * caller frees with secret_free (NULL for a given value).
 */
static int
property_value(const NameValue *p, const char **value, char **owned,
			   char *errstr, size_t errstr_size)
{
	char err[512];

	*owned = NULL;
	*value = p->value;
	if (!p->from_file)
		return 0;
	if (secret_read(p->value, owned, err, sizeof(err)) != 0)
	{
		snprintf(errstr, errstr_size, "Kafka property %s (%s): %s", p->name, p->origin, err);
		return -1;
	}
	*value = *owned;
	return 0;
}

/*
 * The SASL credentials that came from files, kept to tell whether a file
 * changed when Kafka refuses them (refresh_credentials).  Takes value.
 */
static void
keep_credential(Kafka *kafka, const NameValue *p, char *value)
{
	char **slot = NULL;

	/* A given value after a file's wins: nothing to read again then. */
	if (strcmp(p->name, "sasl.username") == 0)
		slot = &kafka->sasl_username;
	else if (strcmp(p->name, "sasl.password") == 0)
		slot = &kafka->sasl_password;
	if (slot == NULL)
	{
		secret_free(value);
		return;
	}
	secret_free(*slot);
	*slot = value;
}

/* The user's properties, in order (later ones win). */
static int
set_user_properties(rd_kafka_conf_t *conf, Kafka *kafka, char *errstr,
					size_t errstr_size)
{
	const ShipperConfig *config = kafka->config;
	const char *value;
	char *owned;
	int i;
	int rc;

	for (i = 0; i < config->nkafka; i++)
	{
		if (property_value(&config->kafka[i], &value, &owned, errstr, errstr_size) != 0)
			return -1;
		rc = conf_set(conf, config->kafka[i].name, value, config->kafka[i].origin,
					  errstr, errstr_size);
		keep_credential(kafka, &config->kafka[i], owned);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static rd_kafka_conf_t *
build_conf(Kafka *kafka, char *errstr, size_t errstr_size)
{
	const ShipperConfig *config = kafka->config;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char value[64];
	size_t value_size = sizeof(value);

	if (set_defaults(conf, config, errstr, errstr_size) != 0)
		goto fail;
	if (set_user_properties(conf, kafka, errstr, errstr_size) != 0)
		goto fail;
	if (rd_kafka_conf_get(conf, "message.max.bytes", value, &value_size) == RD_KAFKA_CONF_OK)
		kafka->max_message_bytes = (size_t) strtoul(value, NULL, 10);
	if (set_queue_limits(conf, kafka, errstr, errstr_size) != 0)
		goto fail;
	rd_kafka_conf_set_opaque(conf, kafka);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_log_cb(conf, on_log);
	return conf;

fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/* Lets the main loop sleep on a descriptor until reports wait. */
static int
enable_wakeups(Kafka *kafka, char *errstr, size_t errstr_size)
{
	int i;

	if (pipe(kafka->wake_fds) != 0)
	{
		snprintf(errstr, errstr_size, "could not create a pipe: %s", strerror(errno));
		kafka->wake_fds[0] = kafka->wake_fds[1] = -1;
		return -1;
	}
	/* librdkafka must never block writing it, nor we reading it. */
	for (i = 0; i < 2; i++)
	{
		fcntl(kafka->wake_fds[i], F_SETFL, fcntl(kafka->wake_fds[i], F_GETFL) | O_NONBLOCK);
		fcntl(kafka->wake_fds[i], F_SETFD, FD_CLOEXEC);
	}
	kafka->main_queue = rd_kafka_queue_get_main(kafka->rk);
	rd_kafka_queue_io_event_enable(kafka->main_queue, kafka->wake_fds[1], "1", 1);
	return 0;
}

/* What a Kafka holds besides librdkafka's handle. */
static void
free_shell(Kafka *kafka)
{
	Delivery *d;

	while ((d = kafka->spare) != NULL)
	{
		kafka->spare = d->next_spare;
		free(d);
	}
	secret_free(kafka->sasl_username);
	secret_free(kafka->sasl_password);
	cloudevents_buffer_free(&kafka->ce_value);
	free(kafka);
}

Kafka *
kafka_create(const ShipperConfig *config, Tracker *tracker, Metrics *metrics,
			 char *errstr, size_t errstr_size)
{
	Kafka *kafka = calloc(1, sizeof(Kafka));
	rd_kafka_conf_t *conf;
	char err[512];

	if (kafka == NULL)
	{
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	kafka->config = config;
	kafka->tracker = tracker;
	kafka->metrics = metrics;
	kafka->wake_fds[0] = kafka->wake_fds[1] = -1;
	kafka->template_uses[0] = strstr(config->topic_template, "{aggregate_type}") != NULL;
	kafka->template_uses[1] = strstr(config->topic_template, "{event_type}") != NULL;
	/* Until kafka_set_database says which database: never an empty source. */
	kafka->ce_source_len = (size_t) snprintf(kafka->ce_source, sizeof(kafka->ce_source), "%s",
											 config->cloudevents_source ? config->cloudevents_source : "/outbox_pg");
	if ((conf = build_conf(kafka, errstr, errstr_size)) == NULL)
	{
		free_shell(kafka);
		return NULL;
	}
	kafka->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (kafka->rk == NULL)
	{
		snprintf(errstr, errstr_size, "could not create the Kafka producer: %s", err);
		rd_kafka_conf_destroy(conf);
		free_shell(kafka);
		return NULL;
	}
	if (enable_wakeups(kafka, errstr, errstr_size) != 0)
	{
		kafka_destroy(kafka);
		return NULL;
	}
	return kafka;
}

/*
 * Purges what is still queued (the caller drained first, with a bound:
 * those events stay unconfirmed in the slot) and frees everything.
 */
void
kafka_destroy(Kafka *kafka)
{
	int i;

	if (kafka == NULL)
		return;
	kafka->closing = true;
	rd_kafka_purge(kafka->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	/* Serves the purged records' reports, which free their Delivery. */
	rd_kafka_flush(kafka->rk, 5000);
	for (i = 0; i < TOPIC_CACHE_SIZE; i++)
		if (kafka->topics[i].rkt)
			rd_kafka_topic_destroy(kafka->topics[i].rkt);
	if (kafka->main_queue)
		rd_kafka_queue_destroy(kafka->main_queue);
	rd_kafka_destroy(kafka->rk);
	if (kafka->wake_fds[0] >= 0)
	{
		close(kafka->wake_fds[0]);
		close(kafka->wake_fds[1]);
	}
	free_shell(kafka);
}

/* The main record's headers (see docs): the event's, then its position. */
static rd_kafka_headers_t *
event_headers(const ShipperEvent *event)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new((size_t) event->nheaders + 5);
	int i;

	add_literal_header(h, "id", event->id, event->id_len);
	add_literal_header(h, "event_type", event->event_type, event->event_type_len);
	add_literal_header(h, "aggregate_type", event->aggregate_type, event->aggregate_type_len);
	for (i = 0; i < event->nheaders; i++)
		rd_kafka_header_add(h, event->headers[i].name, (ssize_t) event->headers[i].name_len,
							event->headers[i].value, (ssize_t) event->headers[i].value_len);
	add_position_headers(h, event->commit_lsn, event->seq);
	return h;
}

/* Bytes of a record as message.max.bytes counts them, near enough. */
static size_t
record_size(const ShipperEvent *event, size_t value_len)
{
	size_t size = value_len + event->aggregate_id_len + event->id_len +
				  event->event_type_len + event->aggregate_type_len + 128;
	int i;

	for (i = 0; i < event->nheaders; i++)
		size += event->headers[i].name_len + event->headers[i].value_len + 8;
	return size;
}

/* keep: what a dead-letter record needs is copied too. */
static Delivery *
delivery_new(Kafka *kafka, const ShipperEvent *event, const char *envelope,
			 size_t envelope_len, TrackerTxn txn, bool keep)
{
	Delivery *d = delivery_take(kafka);
	bool ok = true;

	if (d == NULL)
		return NULL;
	d->txn = txn;
	d->bytes = envelope_len;
	d->commit_lsn = event->commit_lsn;
	d->commit_usec = event->commit_time_usec;
	d->seq = event->seq;
	if (event->id_len < sizeof(d->id_inline))
	{
		memcpy(d->id_inline, event->id, event->id_len);
		d->id_inline[event->id_len] = '\0';
		d->id = d->id_inline;
	}
	else
		ok = (d->id = copy_bytes(event->id, event->id_len)) != NULL;
	if (ok && keep)
	{
		ok = (d->envelope = copy_bytes(envelope, envelope_len)) != NULL;
		d->envelope_len = envelope_len;
		if (ok && event->aggregate_id)
			ok = (d->key = copy_bytes(event->aggregate_id, event->aggregate_id_len)) != NULL;
		d->key_len = event->aggregate_id_len;
		if (ok && event->event_type)
			ok = (d->event_type = strdup(event->event_type)) != NULL;
		if (ok && event->aggregate_type)
			ok = (d->aggregate_type = strdup(event->aggregate_type)) != NULL;
	}
	if (!ok)
	{
		delivery_free(kafka, d);
		return NULL;
	}
	return d;
}

/*
 * Says that unauthenticated events came, at most once per interval, with
 * how many since the last time: a role writing them in a loop must not
 * flood the log.
 */
static void
warn_unauthenticated(Kafka *kafka, const ShipperEvent *event, size_t bytes)
{
	int64_t now = now_usec();
	char lsn[LSN_TEXT_SIZE];

	kafka->unauthenticated_unsaid++;
	if (kafka->unauthenticated_said_at != 0 &&
		now - kafka->unauthenticated_said_at < ERROR_LOG_INTERVAL_USEC)
		return;
	lsn_format(event->commit_lsn, lsn);
	log_warning("unauthenticated message with the outbox_pg prefix at commit LSN %s, seq %llu (%zu bytes): not written by outbox.emit() or outbox.replay(), so a forgery attempt or a bug; %s%s (%lu such messages since the last warning like this; one warning per %d s at most)",
				lsn, event->seq, bytes,
				kafka->config->dead_letter_topic ? "sent to dead-letter topic " : "dropped (no --dead-letter-topic)",
				kafka->config->dead_letter_topic ? kafka->config->dead_letter_topic : "",
				kafka->unauthenticated_unsaid, (int) (ERROR_LOG_INTERVAL_USEC / 1000000));
	kafka->unauthenticated_said_at = now;
	kafka->unauthenticated_unsaid = 0;
}

/* The rejected metric's label: a known reason, or "other". */
static const char *
rejected_label(const char *reason)
{
	if (strcmp(reason, "unauthenticated") == 0 || strcmp(reason, "too_large") == 0)
		return reason;
	return "other";
}

/* An unauthenticated event: to the dead-letter topic if any, or dropped. */
static KafkaStatus
produce_unauthenticated(Kafka *kafka, const ShipperEvent *event,
						const char *envelope, size_t envelope_len, TrackerTxn txn)
{
	bool keep = kafka->config->dead_letter_topic != NULL;
	Delivery *d = delivery_new(kafka, event, envelope, envelope_len, txn, keep);
	KafkaStatus status = KAFKA_QUEUED;

	if (d == NULL)
	{
		set_failure(kafka, "out of memory producing event %s", event->id);
		return KAFKA_FAILED;
	}
	d->droppable = true;
	if (keep)
		status = dead_letter(kafka, d, "not written by outbox.emit() or outbox.replay() (unauthenticated)",
							 "UNAUTHENTICATED", false);
	else
	{
		tracker_ack(kafka->tracker, txn, envelope_len);
		delivery_free(kafka, d);
	}
	if (status == KAFKA_QUEUE_FULL)
		return status;
	warn_unauthenticated(kafka, event, envelope_len);
	return status;
}

/* Whether a cached topic was rendered from these field values. */
static bool
topic_matches(const Kafka *kafka, const CachedTopic *t, const char *const *fields,
			  const size_t *lens)
{
	int i;

	if (!t->used)
		return false;
	for (i = 0; i < 2; i++)
		if (kafka->template_uses[i] &&
			((fields[i] == NULL) != (t->fields[i] == NULL) ||
			 (fields[i] != NULL && (lens[i] != t->field_lens[i] ||
									memcmp(fields[i], t->fields[i], lens[i]) != 0))))
			return false;
	return true;
}

/* Keeps a rendered topic, replacing the oldest entry. */
static const CachedTopic *
cache_topic(Kafka *kafka, const char *const *fields, const size_t *lens,
			const char *name)
{
	CachedTopic *t = &kafka->topics[kafka->next_topic];
	int i;

	kafka->next_topic = (kafka->next_topic + 1) % TOPIC_CACHE_SIZE;
	if (t->rkt)
		rd_kafka_topic_destroy(t->rkt);
	memset(t, 0, sizeof(*t));
	for (i = 0; i < 2; i++)
		if (kafka->template_uses[i] && fields[i] != NULL)
		{
			memcpy(t->field_text[i], fields[i], lens[i]);
			t->fields[i] = t->field_text[i];
			t->field_lens[i] = lens[i];
		}
	t->name_len = strlen(name);
	memcpy(t->name, name, t->name_len + 1);
	/* Without a handle, the record names its topic (librdkafka looks it up). */
	t->rkt = rd_kafka_topic_new(kafka->rk, name, NULL);
	t->used = true;
	return t;
}

/*
 * The event's topic into name (TOPIC_NAME_MAX + 1 bytes), rendered from
 * the template or found rendered before, with librdkafka's handle for it
 * in *rkt (NULL: produce by name); -1 with the reason in err when its
 * fields make no valid name.
 */
static int
topic_for_event(Kafka *kafka, const ShipperEvent *event, char *name,
				rd_kafka_topic_t **rkt, char *err, size_t err_size)
{
	const char *fields[2] = {event->aggregate_type, event->event_type};
	size_t lens[2] = {event->aggregate_type_len, event->event_type_len};
	const CachedTopic *cached = NULL;
	int i;

	*rkt = NULL;
	for (i = 0; i < TOPIC_CACHE_SIZE && cached == NULL; i++)
		if (topic_matches(kafka, &kafka->topics[i], fields, lens))
			cached = &kafka->topics[i];
	if (cached == NULL)
	{
		if (topic_render(kafka->config->topic_template, fields[0], lens[0], fields[1],
						 lens[1], name, err, err_size) != 0)
			return -1;
		/* A field in a valid name is no longer than it: kept then, always. */
		for (i = 0; i < 2; i++)
			if (kafka->template_uses[i] && fields[i] != NULL && lens[i] > TOPIC_NAME_MAX)
				return 0;
		cached = cache_topic(kafka, fields, lens, name);
	}
	memcpy(name, cached->name, cached->name_len + 1);
	*rkt = cached->rkt;
	return 0;
}

/*
 * The delivery of an event (keeping what a dead-letter record needs under
 * that policy), with its topic in d->topic and *rkt (NULL: none, or by
 * name): d->topic empty, with the reason in err, when the event's fields
 * make no valid topic name.  NULL, with the failure set, when memory is
 * short.
 */
static Delivery *
delivery_for_event(Kafka *kafka, const ShipperEvent *event,
				   const char *envelope, size_t envelope_len, TrackerTxn txn,
				   rd_kafka_topic_t **rkt, char *err, size_t err_size)
{
	Delivery *d = delivery_new(kafka, event, envelope, envelope_len, txn,
							   kafka->config->on_permanent_error == ON_ERROR_DEAD_LETTER);

	*rkt = NULL;
	if (d == NULL)
	{
		set_failure(kafka, "out of memory producing event %s", event->id);
		return NULL;
	}
	if (topic_for_event(kafka, event, d->topic, rkt, err, err_size) != 0)
		d->topic[0] = '\0';
	return d;
}

/*
 * An event the plugin says must not reach its topic.  Unauthenticated ones
 * never stop the shipper; any other reason ("too_large", or one this shipper
 * does not know) is a permanent error of the event, under the policy.
 */
static KafkaStatus
produce_rejected(Kafka *kafka, const ShipperEvent *event, const char *envelope,
				 size_t envelope_len, TrackerTxn txn)
{
	Delivery *d;
	KafkaStatus status;
	rd_kafka_topic_t *rkt;
	char err[512];
	char size[48] = "";

	if (strcmp(event->rejected, "unauthenticated") == 0)
		status = produce_unauthenticated(kafka, event, envelope, envelope_len, txn);
	else
	{
		/* d->topic, where it was going, is for the dead-letter headers. */
		if ((d = delivery_for_event(kafka, event, envelope, envelope_len, txn, &rkt,
									err, sizeof(err))) == NULL)
			return KAFKA_FAILED;
		if (event->has_size)
			snprintf(size, sizeof(size), " (%llu bytes)", (unsigned long long) event->size);
		snprintf(err, sizeof(err), "the plugin rejected it as %.100s%s%s", event->rejected, size,
				 strcmp(event->rejected, "too_large") == 0 ? ", above its max-event-size" : "");
		status = refuse(kafka, d, err,
						strcmp(event->rejected, "too_large") == 0 ? "EVENT_TOO_LARGE" : "REJECTED", false);
	}
	if (status != KAFKA_QUEUE_FULL && kafka->metrics)
		metrics_rejected(kafka->metrics, rejected_label(event->rejected));
	return status;
}

/*
 * A message from the slot that is not an event (main.c), under the
 * dead-letter policy: its bytes as they came, with the parse error and the
 * position recovered from it in headers.
 */
KafkaStatus
kafka_dead_letter_malformed(Kafka *kafka, const char *message, size_t len,
							const EventPosition *position, const char *error,
							TrackerTxn txn)
{
	Delivery *d;

	if (kafka->failure[0] != '\0')
		return KAFKA_FAILED;
	d = delivery_take(kafka);
	if (d == NULL || (d->envelope = copy_bytes(message, len)) == NULL)
	{
		delivery_free(kafka, d);
		set_failure(kafka, "out of memory dead-lettering a malformed event");
		return KAFKA_FAILED;
	}
	d->txn = txn;
	d->bytes = len;
	d->envelope_len = len;
	d->commit_lsn = position->commit_lsn;
	d->commit_usec = position->commit_time_usec;
	d->seq = position->seq;
	return refuse(kafka, d, error, "MALFORMED_EVENT", false);
}

/* ---- CloudEvents (--format=cloudevents, cloudevents-structured) ---- */

/*
 * The database the slot belongs to, from each connection: the default
 * source attribute, /outbox_pg/<database>, unless one was given.
 */
void
kafka_set_database(Kafka *kafka, const char *database)
{
	if (kafka->config->cloudevents_source != NULL)
		return;
	if (cloudevents_default_source(database, kafka->ce_source, sizeof(kafka->ce_source)) != 0)
		snprintf(kafka->ce_source, sizeof(kafka->ce_source), "/outbox_pg");
	kafka->ce_source_len = strlen(kafka->ce_source);
}

/*
 * Says that event headers posing as CloudEvents attributes were left out,
 * at most once per interval: rows writing them must not flood the log.
 */
static void
warn_reserved_headers(Kafka *kafka, const ShipperEvent *event, const char *name,
					  int dropped)
{
	int64_t now = now_usec();

	kafka->ce_dropped_unsaid++;
	if (kafka->ce_dropped_said_at != 0 &&
		now - kafka->ce_dropped_said_at < ERROR_LOG_INTERVAL_USEC)
		return;
	log_warning("event %s: its header \"%.100s\"%s not shipped: in the CloudEvents formats, ce_ and content-type headers are the shipper's, so that no row can forge a CloudEvents attribute (%lu events with such headers since the last warning like this; one warning per %d s at most)",
				event->id, name, dropped > 1 ? " and others were" : " was",
				kafka->ce_dropped_unsaid, (int) (ERROR_LOG_INTERVAL_USEC / 1000000));
	kafka->ce_dropped_said_at = now;
	kafka->ce_dropped_unsaid = 0;
}

/*
 * A CloudEvent's record headers: those of the plain format (event_headers)
 * minus the event's headers that would pose as CloudEvents attributes,
 * then the attributes (binary content mode) or the structured mode's
 * content-type.
 */
static rd_kafka_headers_t *
cloudevent_headers(Kafka *kafka, const ShipperEvent *event, const CloudEvent *ce)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new((size_t) event->nheaders + 12);
	const char *first_dropped = NULL;
	int dropped = 0;
	int i;

	add_literal_header(h, "id", event->id, event->id_len);
	add_literal_header(h, "event_type", event->event_type, event->event_type_len);
	add_literal_header(h, "aggregate_type", event->aggregate_type, event->aggregate_type_len);
	for (i = 0; i < event->nheaders; i++)
	{
		if (cloudevents_reserved_header(event->headers[i].name, event->headers[i].name_len))
		{
			if (dropped++ == 0)
				first_dropped = event->headers[i].name;
			continue;
		}
		rd_kafka_header_add(h, event->headers[i].name, (ssize_t) event->headers[i].name_len,
							event->headers[i].value, (ssize_t) event->headers[i].value_len);
	}
	add_position_headers(h, event->commit_lsn, event->seq);
	if (kafka->config->format == FORMAT_CLOUDEVENTS_STRUCTURED)
		add_literal_header(h, "content-type", CLOUDEVENTS_STRUCTURED_TYPE,
						   sizeof(CLOUDEVENTS_STRUCTURED_TYPE) - 1);
	else
	{
		add_literal_header(h, "ce_specversion", "1.0", 3);
		add_literal_header(h, "ce_id", ce->id, ce->id_len);
		add_literal_header(h, "ce_source", ce->source, ce->source_len);
		add_literal_header(h, "ce_type", ce->type, ce->type_len);
		if (ce->time)
			add_literal_header(h, "ce_time", ce->time, ce->time_len);
		if (ce->subject)
			add_literal_header(h, "ce_subject", ce->subject, ce->subject_len);
		if (ce->datacontenttype)
			add_literal_header(h, "content-type", ce->datacontenttype,
							   strlen(ce->datacontenttype));
	}
	if (dropped > 0)
		warn_reserved_headers(kafka, event, first_dropped, dropped);
	return h;
}

/* What the CloudEvents headers add to a record's size, near enough. */
static size_t
cloudevent_header_bytes(const CloudEvent *ce)
{
	return 160 + ce->id_len + ce->source_len + ce->type_len + ce->time_len + ce->subject_len;
}

/*
 * The event as a CloudEvent whose data is *value: true, with *status,
 * when it cannot be one (refused under the permanent-error policy, never
 * a reason to stop reading by itself) or memory is short.  Under
 * cloudevents-structured, *value becomes the CloudEvent's JSON, in a
 * buffer that stays valid until the next event.
 */
static bool
cloudevent_refused(Kafka *kafka, const ShipperEvent *event, Delivery *d,
				   CloudEvent *ce, const char **value, size_t *value_len,
				   KafkaStatus *status)
{
	bool text = event->payload_invalid && kafka->config->value_mode == VALUE_PAYLOAD;
	char why[400];
	char err[512];

	if (cloudevents_from_event(event, kafka->ce_source, kafka->ce_source_len, *value,
							   *value_len, text, ce, why, sizeof(why)) != 0)
	{
		snprintf(err, sizeof(err), "it cannot be a CloudEvent: %s", why);
		*status = refuse(kafka, d, err, "INVALID_CLOUDEVENT", false);
		return true;
	}
	if (kafka->config->format != FORMAT_CLOUDEVENTS_STRUCTURED)
		return false;
	if (cloudevents_structured(ce, &kafka->ce_value) != 0)
	{
		set_failure(kafka, "out of memory producing event %s", event->id);
		delivery_free(kafka, d);
		*status = KAFKA_FAILED;
		return true;
	}
	*value = kafka->ce_value.data;
	*value_len = kafka->ce_value.len;
	return false;
}

/* Hands one event to librdkafka; see KafkaStatus. */
KafkaStatus
kafka_produce(Kafka *kafka, const ShipperEvent *event, const char *envelope,
			  size_t envelope_len, TrackerTxn txn)
{
	bool envelope_mode = kafka->config->value_mode == VALUE_ENVELOPE;
	const char *value = envelope_mode ? envelope : event->payload_null ? NULL
																	   : event->payload;
	size_t value_len = value == NULL ? 0 : envelope_mode ? envelope_len
														 : event->payload_len;
	bool cloudevent = kafka->config->format != FORMAT_PLAIN;
	size_t extra = 0; /* headers beyond the plain format's */
	char err[512];
	Delivery *d;
	CloudEvent ce;
	KafkaStatus status;
	rd_kafka_topic_t *rkt;
	rd_kafka_headers_t *h;
	rd_kafka_resp_err_t rc;

	if (kafka->failure[0] != '\0')
		return KAFKA_FAILED;
	if (event->rejected)
		return produce_rejected(kafka, event, envelope, envelope_len, txn);
	if ((d = delivery_for_event(kafka, event, envelope, envelope_len, txn, &rkt,
								err, sizeof(err))) == NULL)
		return KAFKA_FAILED;
	if (d->topic[0] == '\0')
		return refuse(kafka, d, err, "INVALID_TOPIC", false);
	if (cloudevent)
	{
		if (cloudevent_refused(kafka, event, d, &ce, &value, &value_len, &status))
			return status;
		extra = cloudevent_header_bytes(&ce);
	}
	if (kafka->max_message_bytes > 0 &&
		record_size(event, value_len) + extra > kafka->max_message_bytes)
	{
		snprintf(err, sizeof(err), "record of %zu bytes is larger than message.max.bytes (%zu)",
				 record_size(event, value_len) + extra, kafka->max_message_bytes);
		return refuse(kafka, d, err, "MSG_SIZE_TOO_LARGE", false);
	}
	d->record_bytes = value_len + event->aggregate_id_len;
	h = cloudevent ? cloudevent_headers(kafka, event, &ce) : event_headers(event);
	if (rkt)
		rc = rd_kafka_producev(kafka->rk,
							   RD_KAFKA_V_RKT(rkt),
							   RD_KAFKA_V_KEY(event->aggregate_id, event->aggregate_id_len),
							   RD_KAFKA_V_VALUE((void *) value, value_len),
							   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
							   RD_KAFKA_V_HEADERS(h),
							   RD_KAFKA_V_OPAQUE(d),
							   RD_KAFKA_V_END);
	else
		rc = rd_kafka_producev(kafka->rk,
							   RD_KAFKA_V_TOPIC(d->topic),
							   RD_KAFKA_V_KEY(event->aggregate_id, event->aggregate_id_len),
							   RD_KAFKA_V_VALUE((void *) value, value_len),
							   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
							   RD_KAFKA_V_HEADERS(h),
							   RD_KAFKA_V_OPAQUE(d),
							   RD_KAFKA_V_END);
	if (rc == RD_KAFKA_RESP_ERR_NO_ERROR)
		return KAFKA_QUEUED;
	rd_kafka_headers_destroy(h);
	if (rc == RD_KAFKA_RESP_ERR__QUEUE_FULL)
	{
		delivery_free(kafka, d);
		return KAFKA_QUEUE_FULL;
	}
	if (record_level(rc))
		return refuse(kafka, d, rd_kafka_err2str(rc), rd_kafka_err2name(rc), false);
	return stop_on_cluster_error(kafka, d, rc);
}

/* Readable when delivery reports or errors wait; then call kafka_serve. */
int
kafka_wait_fd(const Kafka *kafka)
{
	return kafka->wake_fds[0];
}

/* Serves delivery reports and errors that are waiting; never blocks. */
void
kafka_serve(Kafka *kafka)
{
	kafka_poll(kafka, 0);
}

/* Why the shipper must stop, or NULL. */
const char *
kafka_failure(const Kafka *kafka)
{
	return kafka->failure[0] ? kafka->failure : NULL;
}

/* Records librdkafka has not yet reported on. */
int
kafka_outq_len(Kafka *kafka)
{
	return rd_kafka_outq_len(kafka->rk);
}

/* The last setting of a property (later ones win), or NULL. */
static const NameValue *
last_property(const ShipperConfig *config, const char *name)
{
	const NameValue *found = NULL;
	int i;

	for (i = 0; i < config->nkafka; i++)
		if (strcmp(config->kafka[i].name, name) == 0)
			found = &config->kafka[i];
	return found;
}

/*
 * A credential as it is now: *fresh is read again from its file (NULL
 * when it is not from one); *changed tells whether it differs from kept.
 */
static int
reread_credential(const NameValue *p, const char *kept, char **fresh,
				  bool *changed, char *errstr, size_t errstr_size)
{
	const char *value;

	*fresh = NULL;
	if (p == NULL || !p->from_file)
		return 0;
	if (property_value(p, &value, fresh, errstr, errstr_size) != 0)
		return -1;
	*changed |= kept == NULL || strcmp(*fresh, kept) != 0;
	return 0;
}

/* An error reading the files again: logged once until it changes. */
static void
refresh_failed(Kafka *kafka, const char *error)
{
	if (strcmp(kafka->refresh_error, error) == 0)
		return;
	snprintf(kafka->refresh_error, sizeof(kafka->refresh_error), "%s", error);
	log_warning("Kafka refused the SASL credentials, and reading them again failed: %s (keeping the ones in use)",
				error);
}

/*
 * Kafka refused the SASL credentials: when they come from files and a file
 * changed (a rotated Kubernetes secret), the new ones are used from the
 * next connection, without a restart.  Nothing is logged when nothing
 * changed: the refusal itself was.
 */
static void
refresh_credentials(Kafka *kafka)
{
	const NameValue *user = last_property(kafka->config, "sasl.username");
	const NameValue *pass = last_property(kafka->config, "sasl.password");
	char *new_user = NULL;
	char *new_pass = NULL;
	bool changed = false;
	char err[600];
	rd_kafka_error_t *error;

	if (reread_credential(user, kafka->sasl_username, &new_user, &changed, err, sizeof(err)) != 0 ||
		reread_credential(pass, kafka->sasl_password, &new_pass, &changed, err, sizeof(err)) != 0)
	{
		refresh_failed(kafka, err);
		secret_free(new_user);
		return;
	}
	kafka->refresh_error[0] = '\0';
	if (!changed)
		return;
	error = rd_kafka_sasl_set_credentials(kafka->rk,
										  new_user ? new_user : user ? user->value
																	 : "",
										  new_pass ? new_pass : pass ? pass->value
																	 : "");
	if (error != NULL)
	{
		snprintf(err, sizeof(err), "%s", rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
		refresh_failed(kafka, err);
		secret_free(new_user);
		secret_free(new_pass);
		return;
	}
	log_info("Kafka refused the SASL credentials and %s%s%s changed: the new ones are used from the next connection",
			 new_user ? user->value : "", new_user && new_pass ? " and " : "",
			 new_pass ? pass->value : "");
	if (new_user)
		keep_credential(kafka, user, new_user);
	if (new_pass)
		keep_credential(kafka, pass, new_pass);
}

/* Serves reports and errors, waiting up to timeout_ms for the first. */
void
kafka_poll(Kafka *kafka, int timeout_ms)
{
	char buf[256];

	while (read(kafka->wake_fds[0], buf, sizeof(buf)) > 0)
		;
	rd_kafka_poll(kafka->rk, timeout_ms);
	if (kafka->metrics)
		publish_acked(kafka);
	if (kafka->auth_failed)
	{
		kafka->auth_failed = false;
		refresh_credentials(kafka);
	}
}

long
kafka_delivered(const Kafka *kafka)
{
	return kafka->delivered;
}

long
kafka_dead_lettered(const Kafka *kafka)
{
	return kafka->dead_lettered;
}

const char *
kafka_library_version(void)
{
	return rd_kafka_version_str();
}

/*
 * A metadata request for brokers only (no topics).  librdkafka serves it
 * on its own threads, so the HTTP thread may ask while the main thread
 * produces.
 */
bool
kafka_probe(Kafka *kafka, int timeout_ms)
{
	const struct rd_kafka_metadata *metadata = NULL;
	bool reachable;

	reachable = rd_kafka_metadata(kafka->rk, 0, NULL, &metadata, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR &&
				metadata->broker_cnt > 0;
	if (metadata)
		rd_kafka_metadata_destroy(metadata);
	return reachable;
}

/* The librdkafka handle, for tests that inject faults into it. */
struct rd_kafka_s *
kafka_handle(Kafka *kafka)
{
	return kafka->rk;
}

/*
 * Below min.insync.replicas.  The leader of a partition with fewer
 * in-sync replicas than its topic's min.insync.replicas refuses acks=all
 * writes with NOT_ENOUGH_REPLICAS; librdkafka retries those for ever
 * (message.timeout.ms=0) and says nothing above debug level, while brokers
 * still answer metadata requests.  So the probe asks the cluster: the
 * metadata of the topics this producer knows gives each partition's ISR,
 * and for the topics with a partition short of replicas (none, in a
 * healthy cluster, so it costs one metadata request) DescribeConfigs gives
 * min.insync.replicas.
 */
#define MIN_ISR_TOPICS_MAX 32

/* Topics with a partition whose ISR is smaller than its replica set. */
static int
under_replicated_topics(const struct rd_kafka_metadata *metadata,
						const char **topics, int max)
{
	int n = 0;
	int t;
	int p;

	for (t = 0; t < metadata->topic_cnt && n < max; t++)
	{
		const rd_kafka_metadata_topic_t *topic = &metadata->topics[t];

		if (topic->err != RD_KAFKA_RESP_ERR_NO_ERROR)
			continue;
		for (p = 0; p < topic->partition_cnt; p++)
			if (topic->partitions[p].isr_cnt < topic->partitions[p].replica_cnt)
			{
				topics[n++] = topic->topic;
				break;
			}
	}
	return n;
}

/* The value of min.insync.replicas among a described topic's configs. */
int
kafka_config_min_isr(const rd_kafka_ConfigResource_t *resource)
{
	const rd_kafka_ConfigEntry_t **entries;
	size_t count;
	size_t i;

	entries = rd_kafka_ConfigResource_configs(resource, &count);
	for (i = 0; i < count; i++)
		if (strcmp(rd_kafka_ConfigEntry_name(entries[i]), "min.insync.replicas") == 0 &&
			rd_kafka_ConfigEntry_value(entries[i]) != NULL)
			return atoi(rd_kafka_ConfigEntry_value(entries[i]));
	return 0;
}

/*
 * Fills min_isr[i] with topics[i]'s min.insync.replicas, 0 where unknown;
 * -1 when the cluster did not answer in time.
 */
static int
describe_min_isr(Kafka *kafka, const char **topics, int n, int *min_isr,
				 int timeout_ms)
{
	rd_kafka_ConfigResource_t *resources[MIN_ISR_TOPICS_MAX];
	const rd_kafka_ConfigResource_t **described;
	rd_kafka_queue_t *queue = rd_kafka_queue_new(kafka->rk);
	rd_kafka_AdminOptions_t *options;
	rd_kafka_event_t *event;
	const rd_kafka_DescribeConfigs_result_t *result;
	char err[256];
	size_t count = 0;
	size_t r;
	int i;
	int status = -1;

	options = rd_kafka_AdminOptions_new(kafka->rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
	rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, err, sizeof(err));
	for (i = 0; i < n; i++)
	{
		resources[i] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topics[i]);
		min_isr[i] = 0;
	}
	rd_kafka_DescribeConfigs(kafka->rk, resources, (size_t) n, options, queue);
	event = rd_kafka_queue_poll(queue, timeout_ms);
	if (event != NULL && rd_kafka_event_error(event) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		(result = rd_kafka_event_DescribeConfigs_result(event)) != NULL)
	{
		described = rd_kafka_DescribeConfigs_result_resources(result, &count);
		for (r = 0; r < count; r++)
			for (i = 0; i < n; i++)
				if (rd_kafka_ConfigResource_error(described[r]) == RD_KAFKA_RESP_ERR_NO_ERROR &&
					strcmp(rd_kafka_ConfigResource_name(described[r]), topics[i]) == 0)
					min_isr[i] = kafka_config_min_isr(described[r]);
		status = 0;
	}
	if (event != NULL)
		rd_kafka_event_destroy(event);
	rd_kafka_ConfigResource_destroy_array(resources, (size_t) n);
	rd_kafka_AdminOptions_destroy(options);
	rd_kafka_queue_destroy(queue);
	return status;
}

/* Partitions of topic below min_isr; the first described in example if empty. */
static int
count_below_min_isr(const rd_kafka_metadata_topic_t *topic, int min_isr,
					char *example, size_t example_size)
{
	int below = 0;
	int p;

	for (p = 0; p < topic->partition_cnt; p++)
	{
		if (topic->partitions[p].isr_cnt >= min_isr)
			continue;
		if (below++ == 0 && example[0] == '\0')
			snprintf(example, example_size,
					 "%s [%d] has %d in-sync replica%s, min.insync.replicas is %d",
					 topic->topic, (int) topic->partitions[p].id,
					 topic->partitions[p].isr_cnt,
					 topic->partitions[p].isr_cnt == 1 ? "" : "s", min_isr);
	}
	return below;
}

/* See kafka.h. */
int
kafka_probe_min_isr(Kafka *kafka, int timeout_ms, char *example,
					size_t example_size)
{
	const struct rd_kafka_metadata *metadata = NULL;
	const char *topics[MIN_ISR_TOPICS_MAX];
	int min_isr[MIN_ISR_TOPICS_MAX];
	int n;
	int i;
	int t;
	int below = 0;

	example[0] = '\0';
	/* all_topics 0, no topic: the topics this producer knows. */
	if (rd_kafka_metadata(kafka->rk, 0, NULL, &metadata, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return -1;
	n = under_replicated_topics(metadata, topics, MIN_ISR_TOPICS_MAX);
	if (n > 0 && describe_min_isr(kafka, topics, n, min_isr, timeout_ms) != 0)
		below = -1;
	for (i = 0; i < n && below >= 0; i++)
		for (t = 0; t < metadata->topic_cnt; t++)
			if (metadata->topics[t].topic == topics[i])
				below += count_below_min_isr(&metadata->topics[t], min_isr[i],
											 example, example_size);
	rd_kafka_metadata_destroy(metadata);
	return below;
}

/*
 * The configuration kafka_create gives its producer (defaults, properties,
 * files), for `outbox-shipper check` (check.c), which makes a producer of
 * its own with it: no opaque, no delivery or error callback (the caller
 * sets its own).  The caller owns it.
 */
struct rd_kafka_conf_s *
kafka_conf_copy(const ShipperConfig *config, char *errstr, size_t errstr_size)
{
	Kafka *shell = calloc(1, sizeof(Kafka));
	rd_kafka_conf_t *conf;

	if (shell == NULL)
	{
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	shell->config = config;
	conf = build_conf(shell, errstr, errstr_size);
	free_shell(shell);
	if (conf != NULL)
	{
		rd_kafka_conf_set_opaque(conf, NULL);
		rd_kafka_conf_set_dr_msg_cb(conf, NULL);
		rd_kafka_conf_set_error_cb(conf, NULL);
	}
	return conf;
}
