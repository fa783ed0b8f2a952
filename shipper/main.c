/*
 * main.c
 *	  outbox-shipper: argv, signals, and the loop that moves events from
 *	  the replication slot to Kafka.
 *
 * Only this file exits.  Exit status: 0 after a clean stop (SIGTERM or
 * SIGINT, everything acknowledged and confirmed), 1 on a configuration
 * error or an event that cannot be delivered, 2 when the drain on stop
 * timed out (the undelivered events stay in the slot).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "config.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "stream.h"
#include "tracker.h"

#define SHIPPER_VERSION "0.1.0"

/* Status updates after the confirmed position moved, at most this often. */
#define CONFIRM_MIN_INTERVAL_USEC 100000
#define BACKOFF_MAX_SECONDS 30

extern char **environ;

static volatile sig_atomic_t stop_requested = 0;

static void
on_stop_signal(int signo)
{
	(void) signo;
	stop_requested = 1;
}

typedef struct Shipper
{
	ShipperConfig config;
	Stream *stream;
	Tracker *tracker;
	Kafka *kafka;
	Lsn sent_position; /* last confirmed position sent */
	int64_t sent_at;
	int64_t next_status_at;
	char errstr[1024];
} Shipper;

typedef enum RunResult
{
	RUN_STOPPED, /* a stop was requested */
	RUN_LOST, /* the connection broke: reconnect */
	RUN_FAILED /* an event cannot be shipped: exit */
} RunResult;

static int64_t
now_usec(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Sends the confirmed position: now if forced, else when due. */
static int
send_status(Shipper *s, bool force)
{
	Lsn confirmed = tracker_confirmed(s->tracker);
	int64_t now = now_usec();
	char lsn[LSN_TEXT_SIZE];

	if (!force && now < s->next_status_at &&
		(confirmed == s->sent_position || now - s->sent_at < CONFIRM_MIN_INTERVAL_USEC))
		return 0;
	if (stream_send_status(s->stream, confirmed, s->errstr, sizeof(s->errstr)) != 0)
		return -1;
	if (confirmed != s->sent_position)
	{
		lsn_format(confirmed, lsn);
		log_debug("confirmed %s", lsn);
	}
	s->sent_position = confirmed;
	s->sent_at = now;
	s->next_status_at = now + (int64_t) (s->config.status_interval * 1e6);
	return 0;
}

/* Parses one plugin message and hands it to Kafka; -1 means stop. */
static int
ship_event(Shipper *s, const WalMessage *msg)
{
	ShipperEvent event;
	TrackerTxn txn;
	KafkaStatus status;
	char lsn[LSN_TEXT_SIZE];

	if (event_parse(msg->data, msg->data_len, &event, s->errstr, sizeof(s->errstr)) != 0)
	{
		lsn_format(msg->wal_start, lsn);
		log_error("malformed event from the slot at %s: %s; nothing after it is confirmed",
				  lsn, s->errstr);
		return -1;
	}
	txn = tracker_add_event(s->tracker, event.commit_lsn, msg->data_len);
	if (event.last)
		tracker_end_txn(s->tracker, txn, event.end_lsn);
	while ((status = kafka_produce(s->kafka, &event, msg->data, msg->data_len, txn)) == KAFKA_QUEUE_FULL)
		kafka_poll(s->kafka, 100);
	event_free(&event);
	return status == KAFKA_FAILED ? -1 : 0;
}

static bool
over_caps(Shipper *s)
{
	return tracker_inflight_events(s->tracker) >= (size_t) s->config.max_inflight_events ||
		   tracker_inflight_bytes(s->tracker) >= (size_t) s->config.max_inflight_bytes;
}

/* Streams until a stop, a lost connection or a failure. */
static RunResult
run_stream(Shipper *s)
{
	WalMessage msg;
	int rc;
	bool paused = false;

	s->next_status_at = now_usec() + (int64_t) (s->config.status_interval * 1e6);
	for (;;)
	{
		kafka_poll(s->kafka, 0);
		if (kafka_failure(s->kafka))
			return RUN_FAILED;
		if (stop_requested)
			return RUN_STOPPED;
		if (send_status(s, false) != 0)
			return RUN_LOST;
		if (over_caps(s))
		{
			/* Paused: Kafka catches up; status updates keep us alive. */
			if (!paused)
				log_info("in-flight limit reached (%zu events, %zu bytes): reading paused",
						 tracker_inflight_events(s->tracker),
						 tracker_inflight_bytes(s->tracker));
			paused = true;
			kafka_poll(s->kafka, 100);
			continue;
		}
		if (paused)
			log_info("reading resumed");
		paused = false;
		rc = stream_read(s->stream, 100, &msg, s->errstr, sizeof(s->errstr));
		if (rc < 0)
			return RUN_LOST;
		if (rc == 0)
			continue;
		if (msg.type == WAL_MESSAGE_KEEPALIVE)
		{
			tracker_server_position(s->tracker, msg.wal_end);
			if (msg.reply_requested && send_status(s, true) != 0)
				return RUN_LOST;
			continue;
		}
		if (ship_event(s, &msg) != 0)
			return RUN_FAILED;
	}
}

/* Waits for Kafka to acknowledge what is in flight, keeping the connection. */
static bool
drain(Shipper *s)
{
	int64_t deadline = now_usec() + (int64_t) (s->config.drain_timeout * 1e6);

	while (kafka_outq_len(s->kafka) > 0 && now_usec() < deadline && !kafka_failure(s->kafka))
	{
		kafka_poll(s->kafka, 100);
		if (stream_connected(s->stream))
			(void) send_status(s, false);
	}
	kafka_poll(s->kafka, 0);
	return kafka_outq_len(s->kafka) == 0;
}

/* Sleeps up to seconds, waking early on a stop request. */
static void
sleep_interruptible(int seconds)
{
	int i;

	for (i = 0; i < seconds * 10 && !stop_requested; i++)
	{
		struct timespec ts = {0, 100 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
}

/* Connects, waiting and retrying as long as it makes sense. */
static int
connect_with_backoff(Shipper *s)
{
	int backoff = 1;
	bool said_busy = false;

	while (!stop_requested)
	{
		StreamStatus status = stream_connect(s->stream, s->errstr, sizeof(s->errstr));

		switch (status)
		{
			case STREAM_OK:
				log_info("streaming slot \"%s\"", s->config.slot);
				return 0;
			case STREAM_FATAL:
				log_error("%s", s->errstr);
				return -1;
			case STREAM_SLOT_BUSY:
				/* hot standby: the other shipper holds the slot */
				if (!said_busy)
					log_info("waiting for slot \"%s\": %s", s->config.slot, s->errstr);
				said_busy = true;
				sleep_interruptible(backoff);
				backoff = backoff * 2 > 5 ? 5 : backoff * 2;
				break;
			case STREAM_RETRY:
				log_warning("%s; retrying in %d s", s->errstr, backoff);
				sleep_interruptible(backoff);
				backoff = backoff * 2 > BACKOFF_MAX_SECONDS ? BACKOFF_MAX_SECONDS : backoff * 2;
				break;
		}
	}
	return 1;
}

/* The connect-stream-reconnect loop; returns the exit status. */
static int
run(Shipper *s)
{
	for (;;)
	{
		RunResult result;
		int rc = connect_with_backoff(s);

		if (rc < 0)
			return 1;
		if (rc > 0)
			break; /* stopped while connecting */
		/* The server resends everything after the confirmed position. */
		tracker_reset(s->tracker);
		result = run_stream(s);
		if (result == RUN_FAILED)
		{
			if (kafka_failure(s->kafka))
				log_error("%s", kafka_failure(s->kafka));
			drain(s);
			if (stream_connected(s->stream))
				(void) send_status(s, true);
			return 1;
		}
		if (result == RUN_STOPPED)
			break;
		log_warning("%s; reconnecting (events not yet confirmed will be shipped again)", s->errstr);
		stream_close(s->stream);
	}

	log_info("stopping: waiting up to %.0f s for Kafka to acknowledge %d records",
			 s->config.drain_timeout, kafka_outq_len(s->kafka));
	if (!drain(s))
	{
		log_error("%d records not acknowledged by Kafka within %.0f s; they stay in the slot",
				  kafka_outq_len(s->kafka), s->config.drain_timeout);
		if (stream_connected(s->stream))
			(void) send_status(s, true);
		return 2;
	}
	if (stream_connected(s->stream) && send_status(s, true) != 0)
		log_warning("%s", s->errstr);
	return 0;
}

static void
log_settings(const ShipperConfig *config)
{
	int i;

	log_info("outbox-shipper %s: slot \"%s\", topic template \"%s\", value %s, on permanent error %s",
			 SHIPPER_VERSION, config->slot, config->topic_template,
			 config->value_mode == VALUE_ENVELOPE ? "envelope" : "payload",
			 config->on_permanent_error == ON_ERROR_STOP ? "stop" : "dead-letter");
	for (i = 0; i < config->nkafka; i++)
		log_debug("Kafka property %s=%s", config->kafka[i].name,
				  config_is_secret(config->kafka[i].name) ? "********" : config->kafka[i].value);
}

int
main(int argc, char **argv)
{
	Shipper s;
	int status = 1;
	struct sigaction sa;

	memset(&s, 0, sizeof(s));
	if (config_parse(argc, argv, environ, &s.config, s.errstr, sizeof(s.errstr)) != 0)
	{
		fprintf(stderr, "outbox-shipper: %s\n", s.errstr);
		return 1;
	}
	if (s.config.show_help || s.config.show_version)
	{
		if (s.config.show_help)
			fputs(config_usage(), stdout);
		else
			printf("outbox-shipper %s\n", SHIPPER_VERSION);
		config_free(&s.config);
		return 0;
	}
	log_setup(s.config.log_format == LOG_FORMAT_JSON, s.config.verbose);
	if (stream_check_conninfo(s.config.conninfo, s.errstr, sizeof(s.errstr)) != 0)
	{
		log_error("%s", s.errstr);
		goto cleanup;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	s.tracker = tracker_create(0);
	s.stream = stream_create(&s.config);
	s.kafka = kafka_create(&s.config, s.tracker, s.errstr, sizeof(s.errstr));
	if (s.kafka == NULL)
	{
		log_error("%s", s.errstr);
		goto cleanup;
	}
	log_settings(&s.config);
	status = run(&s);
	log_info("stopped: %ld events delivered, %ld dead-lettered", kafka_delivered(s.kafka),
			 kafka_dead_lettered(s.kafka));

cleanup:
	stream_destroy(s.stream);
	kafka_destroy(s.kafka);
	tracker_destroy(s.tracker);
	config_free(&s.config);
	return status;
}
