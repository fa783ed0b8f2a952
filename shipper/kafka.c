/*
 * kafka.c
 *	  The producer.
 *
 * Defaults: idempotent, acks=all, the Java client's partitioner for keyed
 * records (murmur2), lz4, a short linger, and no message timeout: while
 * Kafka is unreachable librdkafka keeps retrying and nothing is confirmed.
 * Any librdkafka property can override them.
 *
 * An event Kafka refuses for good (too large, invalid topic name,
 * authorisation) is either fatal (policy stop: nothing after it is
 * confirmed, the shipper exits naming it) or goes to the dead-letter topic
 * with the error in headers, and counts as delivered once that record is.
 * Sizes and topic names are checked before producing, so an event that
 * would fail for those reasons never lets later events overtake it.
 */
#include "kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "log.h"
#include "topic.h"

/* What a produced record carries until its delivery report. */
typedef struct Delivery
{
	TrackerTxn txn;
	size_t bytes;
	char *id;
	Lsn commit_lsn;
	unsigned long long seq;
	bool dead_letter; /* this is the dead-letter record */
	char *envelope; /* kept for dead-lettering, if that policy is on */
	size_t envelope_len;
	char *key;
	size_t key_len;
} Delivery;

struct Kafka
{
	const ShipperConfig *config;
	rd_kafka_t *rk;
	Tracker *tracker;
	size_t max_message_bytes;
	char failure[1024]; /* set once: the reason to stop */
	long delivered;
	long dead_lettered;
};

static const char *const defaults[][2] = {
	{"enable.idempotence", "true"},
	{"acks", "all"},
	{"partitioner", "murmur2_random"},
	{"compression.codec", "lz4"},
	{"linger.ms", "5"},
	{"message.timeout.ms", "0"},
	{"client.id", "outbox-shipper"},
};

static void
delivery_free(Delivery *d)
{
	if (d == NULL)
		return;
	free(d->id);
	free(d->envelope);
	free(d->key);
	free(d);
}

static void
set_failure(Kafka *kafka, const char *fmt, const char *a, const char *b,
			const char *c)
{
	if (kafka->failure[0] == '\0')
		snprintf(kafka->failure, sizeof(kafka->failure), fmt, a, b, c);
}

/* Errors no retry will cure, for a given record. */
static bool
permanent(rd_kafka_resp_err_t err)
{
	switch (err)
	{
		case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
		case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
		case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
		case RD_KAFKA_RESP_ERR_INVALID_RECORD:
		case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
		case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
		case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
		case RD_KAFKA_RESP_ERR__INVALID_ARG:
			return true;
		default:
			return false;
	}
}

static KafkaStatus dead_letter(Kafka *kafka, Delivery *d, const char *error,
							   const char *code);

/* The permanent-error policy, for a record that cannot be delivered. */
static KafkaStatus
refuse(Kafka *kafka, Delivery *d, const char *error, const char *code)
{
	char lsn[LSN_TEXT_SIZE];

	lsn_format(d->commit_lsn, lsn);
	if (kafka->config->on_permanent_error == ON_ERROR_DEAD_LETTER && !d->dead_letter)
	{
		log_warning("event %s (commit LSN %s) refused by Kafka: %s; sending it to dead-letter topic %s",
					d->id ? d->id : "(null id)", lsn, error,
					kafka->config->dead_letter_topic);
		return dead_letter(kafka, d, error, code);
	}
	set_failure(kafka, "event %s (commit LSN %s) cannot be delivered: %s; stopping without confirming it",
				d->id ? d->id : "(null id)", lsn, error);
	delivery_free(d);
	return KAFKA_FAILED;
}

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	Kafka *kafka = opaque;
	Delivery *d = msg->_private;

	(void) rk;
	if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		tracker_ack(kafka->tracker, d->txn, d->bytes);
		if (d->dead_letter)
			kafka->dead_lettered++;
		else
			kafka->delivered++;
		delivery_free(d);
		return;
	}
	if (permanent(msg->err))
	{
		refuse(kafka, d, rd_kafka_err2str(msg->err), rd_kafka_err2name(msg->err));
		return;
	}
	/* Only a fatal producer state or a configured timeout get here. */
	set_failure(kafka, "delivery of event %s failed: %s%s",
				d->id ? d->id : "(null id)", rd_kafka_err2str(msg->err), "");
	delivery_free(d);
}

static void
on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	Kafka *kafka = opaque;
	char fatal[512];

	if (err == RD_KAFKA_RESP_ERR__FATAL)
	{
		rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
		set_failure(kafka, "fatal Kafka producer error: %s%s%s", fatal, "", "");
		return;
	}
	/* Brokers down, and the like: librdkafka retries, we say so. */
	log_warning("Kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t) err), reason);
}

/* librdkafka's own log lines go through ours, with their level. */
static void
on_log(const rd_kafka_t *rk, int level, const char *facility, const char *buf)
{
	(void) rk;
	log_message(level <= 3 ? LOG_ERROR : level <= 5 ? LOG_WARNING
									 : level == 6   ? LOG_INFO
													: LOG_DEBUG,
				"Kafka %s: %s", facility, buf);
}

static int
conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
		 char *errstr, size_t errstr_size)
{
	char err[512];

	if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK)
	{
		snprintf(errstr, errstr_size, "invalid Kafka property %s: %s", name, err);
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
	size_t i;
	int j;

	for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (conf_set(conf, defaults[i][0], defaults[i][1], errstr, errstr_size) != 0)
			goto fail;
	if (config->brokers &&
		conf_set(conf, "bootstrap.servers", config->brokers, errstr, errstr_size) != 0)
		goto fail;
	for (j = 0; j < config->nkafka; j++)
		if (conf_set(conf, config->kafka[j].name, config->kafka[j].value,
					 errstr, errstr_size) != 0)
			goto fail;

	if (rd_kafka_conf_get(conf, "message.max.bytes", value, &value_size) == RD_KAFKA_CONF_OK)
		kafka->max_message_bytes = (size_t) strtoul(value, NULL, 10);
	rd_kafka_conf_set_opaque(conf, kafka);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_log_cb(conf, on_log);
	return conf;

fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

Kafka *
kafka_create(const ShipperConfig *config, Tracker *tracker, char *errstr,
			 size_t errstr_size)
{
	Kafka *kafka = calloc(1, sizeof(Kafka));
	rd_kafka_conf_t *conf;
	char err[512];

	kafka->config = config;
	kafka->tracker = tracker;
	conf = build_conf(kafka, errstr, errstr_size);
	if (conf == NULL)
	{
		free(kafka);
		return NULL;
	}
	kafka->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (kafka->rk == NULL)
	{
		snprintf(errstr, errstr_size, "could not create the Kafka producer: %s", err);
		rd_kafka_conf_destroy(conf);
		free(kafka);
		return NULL;
	}
	return kafka;
}

void
kafka_destroy(Kafka *kafka)
{
	if (kafka == NULL)
		return;
	/* Undelivered records are dropped here: the caller drained first. */
	rd_kafka_purge(kafka->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_poll(kafka->rk, 0);
	rd_kafka_destroy(kafka->rk);
	free(kafka);
}

static rd_kafka_headers_t *
build_headers(const ShipperEvent *event, const char *extra_name, const char *extra_value)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new((size_t) event->nheaders + 7);
	char lsn[LSN_TEXT_SIZE];
	char seq[24];
	int i;

	rd_kafka_header_add(h, "id", -1, event->id, event->id ? -1 : 0);
	rd_kafka_header_add(h, "event_type", -1, event->event_type, event->event_type ? -1 : 0);
	rd_kafka_header_add(h, "aggregate_type", -1, event->aggregate_type,
						event->aggregate_type ? -1 : 0);
	for (i = 0; i < event->nheaders; i++)
		rd_kafka_header_add(h, event->headers[i].name, -1, event->headers[i].value,
							(ssize_t) event->headers[i].value_len);
	lsn_format(event->commit_lsn, lsn);
	snprintf(seq, sizeof(seq), "%llu", event->seq);
	rd_kafka_header_add(h, "outbox_commit_lsn", -1, lsn, -1);
	rd_kafka_header_add(h, "outbox_seq", -1, seq, -1);
	if (extra_name)
		rd_kafka_header_add(h, extra_name, -1, extra_value, -1);
	return h;
}

static Delivery *
delivery_new(Kafka *kafka, const ShipperEvent *event, const char *envelope,
			 size_t envelope_len, TrackerTxn txn)
{
	Delivery *d = calloc(1, sizeof(Delivery));

	d->txn = txn;
	d->bytes = envelope_len;
	d->id = event->id ? strdup(event->id) : NULL;
	d->commit_lsn = event->commit_lsn;
	d->seq = event->seq;
	if (kafka->config->on_permanent_error == ON_ERROR_DEAD_LETTER)
	{
		d->envelope = malloc(envelope_len);
		memcpy(d->envelope, envelope, envelope_len);
		d->envelope_len = envelope_len;
		if (event->aggregate_id)
		{
			d->key = malloc(event->aggregate_id_len);
			memcpy(d->key, event->aggregate_id, event->aggregate_id_len);
			d->key_len = event->aggregate_id_len;
		}
	}
	return d;
}

/*
 * Produces d's envelope to the dead-letter topic, with the error in
 * headers.  This runs inside a delivery report, where blocking on a full
 * queue could never end, so a full queue here stops the shipper (it is
 * far larger than the in-flight cap).
 */
static KafkaStatus
dead_letter(Kafka *kafka, Delivery *d, const char *error, const char *code)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(4);
	char lsn[LSN_TEXT_SIZE];
	rd_kafka_resp_err_t err;

	lsn_format(d->commit_lsn, lsn);
	rd_kafka_header_add(h, "id", -1, d->id, d->id ? -1 : 0);
	rd_kafka_header_add(h, "outbox_error", -1, error, -1);
	rd_kafka_header_add(h, "outbox_error_code", -1, code, -1);
	rd_kafka_header_add(h, "outbox_commit_lsn", -1, lsn, -1);
	d->dead_letter = true;
	/*
	 * An event refused for its size would be refused again: its
	 * dead-letter record says so and leaves the value out; the event is
	 * still in the outbox table for outbox.replay().
	 */
	if (kafka->max_message_bytes > 0 &&
		d->envelope_len + d->key_len > kafka->max_message_bytes / 2)
	{
		rd_kafka_header_add(h, "outbox_value_omitted", -1, "too large", -1);
		d->envelope_len = 0;
	}
	err = rd_kafka_producev(kafka->rk,
							RD_KAFKA_V_TOPIC(kafka->config->dead_letter_topic),
							RD_KAFKA_V_KEY(d->key, d->key_len),
							RD_KAFKA_V_VALUE(d->envelope_len ? d->envelope : NULL, d->envelope_len),
							RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
							RD_KAFKA_V_HEADERS(h),
							RD_KAFKA_V_OPAQUE(d),
							RD_KAFKA_V_END);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		rd_kafka_headers_destroy(h);
		set_failure(kafka, "could not produce to dead-letter topic %s: %s%s",
					kafka->config->dead_letter_topic, rd_kafka_err2str(err), "");
		delivery_free(d);
		return KAFKA_FAILED;
	}
	return KAFKA_QUEUED;
}

KafkaStatus
kafka_produce(Kafka *kafka, const ShipperEvent *event, const char *envelope,
			  size_t envelope_len, TrackerTxn txn)
{
	char topic[TOPIC_NAME_MAX + 1];
	char err[512];
	const char *value;
	size_t value_len;
	Delivery *d;
	rd_kafka_headers_t *h;
	rd_kafka_resp_err_t rc;

	if (kafka->failure[0] != '\0')
		return KAFKA_FAILED;
	d = delivery_new(kafka, event, envelope, envelope_len, txn);
	if (kafka->config->value_mode == VALUE_ENVELOPE)
	{
		value = envelope;
		value_len = envelope_len;
	}
	else
	{
		value = event->payload_null ? NULL : event->payload;
		value_len = event->payload_null ? 0 : event->payload_len;
	}

	if (topic_render(kafka->config->topic_template, event->aggregate_type,
					 event->event_type, topic, err, sizeof(err)) != 0)
		return refuse(kafka, d, err, "INVALID_TOPIC");
	if (kafka->max_message_bytes > 0 &&
		value_len + event->aggregate_id_len > kafka->max_message_bytes)
	{
		snprintf(err, sizeof(err), "record of %zu bytes is larger than message.max.bytes (%zu)",
				 value_len + event->aggregate_id_len, kafka->max_message_bytes);
		return refuse(kafka, d, err, "MSG_SIZE_TOO_LARGE");
	}

	h = build_headers(event, NULL, NULL);
	rc = rd_kafka_producev(kafka->rk,
						   RD_KAFKA_V_TOPIC(topic),
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
		delivery_free(d);
		return KAFKA_QUEUE_FULL;
	}
	if (permanent(rc))
		return refuse(kafka, d, rd_kafka_err2str(rc), rd_kafka_err2name(rc));
	set_failure(kafka, "could not produce event %s: %s%s", d->id ? d->id : "(null id)",
				rd_kafka_err2str(rc), "");
	delivery_free(d);
	return KAFKA_FAILED;
}

/* Serves delivery reports and errors. */
void
kafka_poll(Kafka *kafka, int timeout_ms)
{
	rd_kafka_poll(kafka->rk, timeout_ms);
}

/* Why the shipper must stop, or NULL. */
const char *
kafka_failure(const Kafka *kafka)
{
	return kafka->failure[0] ? kafka->failure : NULL;
}

int
kafka_outq_len(Kafka *kafka)
{
	return rd_kafka_outq_len(kafka->rk);
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

struct rd_kafka_s *
kafka_handle(Kafka *kafka)
{
	return kafka->rk;
}
