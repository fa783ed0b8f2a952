/*
 * main.c
 *	  outbox-shipper: argv, signals, and the loop that moves events from
 *	  the replication slot to Kafka.
 *
 * One thread (librdkafka's own aside): the loop reads the stream while the
 * in-flight caps leave room for the next event, hands each event to
 * librdkafka, serves its delivery reports (which feed the tracker), and
 * sends the tracker's confirmed position to PostgreSQL: on the status
 * interval, at once when the server asks, and soon after the position
 * advances.  It sleeps in
 * poll() on the replication socket and librdkafka's wake-up descriptor, with
 * a timeout to the next status deadline.
 *
 * Only this file exits.  Exit status: 0 after SIGTERM or SIGINT with
 * everything acknowledged and confirmed; 1 on a configuration error, an
 * event that cannot be delivered, or a fatal error; 2 when Kafka did not
 * acknowledge everything within the drain timeout (the rest stays in the
 * slot and is shipped again on restart).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "check.h"
#include "clock.h"
#include "config.h"
#include "event.h"
#include "http.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "stream.h"
#include "tracker.h"

/* After the confirmed position moved, status updates at most this often. */
#define CONFIRM_MIN_INTERVAL_USEC 100000
/* The longest sleep, so a signal is noticed soon even if it raced poll(). */
#define MAX_WAIT_MS 500
/* Messages read in a row before serving Kafka and status updates again. */
#define READ_BATCH 1000
#define RECONNECT_BACKOFF_MAX_MS 30000
#define SLOT_BUSY_BACKOFF_MAX_MS 5000
/* A stream that lasted this long resets the reconnect backoff. */
#define STABLE_STREAM_USEC (60 * INT64_C(1000000))

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
	ShipperCounters counters;
	Stream *stream;
	Tracker *tracker;
	Kafka *kafka;
	Metrics *metrics;
	HttpServer *http; /* NULL without --http-listen */
	char system_id[32]; /* of the last connection's server */
	unsigned timeline; /* ... and its timeline */
	bool said_duplicates;
	bool said_not_failover;
	bool said_standby_slots;
	bool paused;
	/* The event being shipped; its memory is reused for the next. */
	ShipperEvent event;
	/* An event read but not shipped yet: the caps had no room for it. */
	WalMessage held;
	bool holding;
	Lsn sent_position; /* the position last sent to the server */
	int64_t sent_at;
	int64_t next_status_at;
	char errstr[1024];
} Shipper;

typedef enum RunResult
{
	RUN_CONTINUE,
	RUN_STOPPED, /* a stop was requested */
	RUN_LOST, /* the connection broke: reconnect */
	RUN_FAILED /* an event cannot be shipped: exit */
} RunResult;

static int64_t
status_interval_usec(const Shipper *s)
{
	return (int64_t) (s->config.status_interval * 1e6);
}

/*
 * Publishes the counters for /metrics; also the heartbeat /healthz reads,
 * so every loop and every bounded wait calls it.
 */
static void
tick(Shipper *s)
{
	s->counters.inflight_events = tracker_inflight_events(s->tracker);
	s->counters.inflight_bytes = tracker_inflight_bytes(s->tracker);
	s->counters.events_delivered = (uint64_t) kafka_delivered(s->kafka);
	s->counters.events_dead_lettered = (uint64_t) kafka_dead_lettered(s->kafka);
	metrics_publish(s->metrics, &s->counters, monotonic_usec());
}

/*
 * Sends the confirmed position when forced, when the interval is up, or
 * when it advanced (at most every CONFIRM_MIN_INTERVAL_USEC).
 */
static int
send_status(Shipper *s, bool force)
{
	Lsn confirmed = tracker_confirmed(s->tracker);
	int64_t now = now_usec();
	char lsn[LSN_TEXT_SIZE];

	/*
	 * Until the server says where it is, ours may be below its position (a
	 * takeover reads the slot before another shipper's last confirmation):
	 * PostgreSQL 15 would move the slot back to it.
	 */
	if (!tracker_position_known(s->tracker))
		return 0;
	if (!force && now < s->next_status_at &&
		(confirmed <= s->sent_position || now - s->sent_at < CONFIRM_MIN_INTERVAL_USEC))
		return 0;
	if (stream_send_status(s->stream, confirmed, s->errstr, sizeof(s->errstr)) != 0)
		return -1;
	if (confirmed != s->sent_position)
	{
		lsn_format(confirmed, lsn);
		log_debug("confirmed %s to PostgreSQL", lsn);
	}
	s->counters.status_updates++;
	s->counters.confirmed_lsn = confirmed;
	s->sent_position = confirmed;
	s->sent_at = now;
	s->next_status_at = now + status_interval_usec(s);
	return 0;
}

/* How long the loop may sleep before a status update is due. */
static int
wait_ms(Shipper *s)
{
	int64_t now = now_usec();
	int64_t next = s->next_status_at;
	int64_t ms;

	if (tracker_confirmed(s->tracker) > s->sent_position &&
		s->sent_at + CONFIRM_MIN_INTERVAL_USEC < next)
		next = s->sent_at + CONFIRM_MIN_INTERVAL_USEC;
	ms = (next - now + 999) / 1000;
	return ms < 0 ? 0 : ms > MAX_WAIT_MS ? MAX_WAIT_MS
										 : (int) ms;
}

/* While Kafka's queue is full: waits a little, serving it; RUN_CONTINUE to retry. */
static RunResult
wait_for_room(Shipper *s)
{
	if (stream_wait(s->stream, false, kafka_wait_fd(s->kafka), MAX_WAIT_MS,
					s->errstr, sizeof(s->errstr)) != 0)
		return RUN_LOST;
	kafka_serve(s->kafka);
	tick(s);
	if (send_status(s, false) != 0)
		return RUN_LOST;
	if (stop_requested)
		return RUN_STOPPED;
	return RUN_CONTINUE;
}

/* Hands a parsed event to Kafka, waiting (and serving) while its queue is full. */
static RunResult
produce(Shipper *s, const ShipperEvent *event, const WalMessage *msg, TrackerTxn txn)
{
	KafkaStatus status;
	RunResult waited;

	while ((status = kafka_produce(s->kafka, event, msg->data, msg->data_len, txn)) == KAFKA_QUEUE_FULL)
		if ((waited = wait_for_room(s)) != RUN_CONTINUE)
			return waited;
	return status == KAFKA_FAILED ? RUN_FAILED : RUN_CONTINUE;
}

/*
 * A message that is not an event (an old or buggy plugin; the current one
 * never writes one): a permanent error of that event.  Under the dead-letter
 * policy its bytes go to the dead-letter topic, which needs its position to
 * confirm it: when that cannot be read, confirming would be guessing, so
 * the shipper stops whatever the policy.
 */
static RunResult
ship_malformed(Shipper *s, const WalMessage *msg, const char *parse_error)
{
	EventPosition position;
	TrackerTxn txn = 0;
	TrackerAddResult added;
	KafkaStatus status;
	RunResult waited;
	char wal[LSN_TEXT_SIZE];
	char commit[LSN_TEXT_SIZE];
	char why[256];

	lsn_format(msg->wal_start, wal);
	if (event_recover_position(msg->data, msg->data_len, &position, why, sizeof(why)) != 0)
	{
		log_error("malformed event from the slot at %s: %s; its position cannot be read either (%s), so confirming it would be guessing: stopping without confirming it",
				  wal, parse_error, why);
		return RUN_FAILED;
	}
	lsn_format(position.commit_lsn, commit);
	s->counters.events_received++;
	s->counters.bytes_received += msg->data_len;
	/* Confirmed before (a server that restarted sends it again): skipped. */
	added = tracker_add(s->tracker, position.commit_lsn, position.seq, position.last,
						position.end_lsn, msg->data_len, &txn, s->errstr, sizeof(s->errstr));
	if (added == TRACKER_ERROR)
	{
		log_error("malformed event from the slot at %s: %s; stopping without confirming it",
				  wal, s->errstr);
		return RUN_FAILED;
	}
	if (added == TRACKER_SKIP)
	{
		s->counters.events_skipped++;
		return RUN_CONTINUE;
	}
	/* Tracked and never acknowledged: nothing from it on is confirmed. */
	if (s->config.on_permanent_error == ON_ERROR_STOP)
	{
		log_error("malformed event from the slot at %s (commit LSN %s, seq %llu): %s; stopping without confirming it",
				  wal, commit, position.seq, parse_error);
		return RUN_FAILED;
	}
	while ((status = kafka_dead_letter_malformed(s->kafka, msg->data, msg->data_len, &position,
												 parse_error, txn)) == KAFKA_QUEUE_FULL)
		if ((waited = wait_for_room(s)) != RUN_CONTINUE)
			return waited;
	return status == KAFKA_FAILED ? RUN_FAILED : RUN_CONTINUE;
}

/* Parses one plugin message, tracks it and ships it. */
static RunResult
ship_event(Shipper *s, const WalMessage *msg)
{
	ShipperEvent *event = &s->event;
	TrackerTxn txn = 0;
	TrackerAddResult added;
	char lsn[LSN_TEXT_SIZE];
	char parse_error[512];

	if (event_reparse(msg->data, msg->data_len, event, parse_error, sizeof(parse_error)) != 0)
		return ship_malformed(s, msg, parse_error);
	s->counters.events_received++;
	s->counters.bytes_received += msg->data_len;
	added = tracker_add(s->tracker, event->commit_lsn, event->seq, event->last,
						event->end_lsn, msg->data_len, &txn, s->errstr, sizeof(s->errstr));
	if (added == TRACKER_ERROR)
	{
		lsn_format(msg->wal_start, lsn);
		log_error("event %s from the slot at %s: %s; stopping without confirming it",
				  event->id, lsn, s->errstr);
		return RUN_FAILED;
	}
	if (added == TRACKER_SKIP)
	{
		s->counters.events_skipped++;
		return RUN_CONTINUE;
	}
	return produce(s, event, msg, txn);
}

/*
 * A keepalive's walEnd is everything the walsender has decoded, so when
 * nothing is in flight the tracker may confirm it (an idle outbox must not
 * pin WAL).  XLogData's walEnd is not used that way: it is the position of
 * the very record being shipped, possibly the end of its transaction,
 * which must wait for Kafka.
 */
static RunResult
handle_keepalive(Shipper *s, const WalMessage *msg)
{
	s->counters.keepalives++;
	s->counters.server_lsn = msg->wal_end;
	tracker_server_position(s->tracker, msg->wal_end);
	if (msg->reply_requested && send_status(s, true) != 0)
		return RUN_LOST;
	return RUN_CONTINUE;
}

/* Whether the in-flight caps leave room for an event of bytes. */
static bool
has_room(Shipper *s, size_t bytes)
{
	return tracker_has_room(s->tracker, (size_t) s->config.max_inflight_events,
							(size_t) s->config.max_inflight_bytes, bytes);
}

/*
 * Reads what the stream has buffered, up to READ_BATCH messages.  The caps
 * are checked before each event: one without room is held (the stream's
 * buffer stays valid until the next read) until acknowledgements make room.
 */
static RunResult
read_messages(Shipper *s, int *nread)
{
	RunResult result = RUN_CONTINUE;
	int rc;

	for (*nread = 0; *nread < READ_BATCH && result == RUN_CONTINUE;)
	{
		if (!s->holding)
		{
			rc = stream_read(s->stream, &s->held, s->errstr, sizeof(s->errstr));
			if (rc == 0)
				break;
			if (rc < 0)
				return RUN_LOST;
			(*nread)++;
			if (s->held.type == WAL_MESSAGE_KEEPALIVE)
			{
				result = handle_keepalive(s, &s->held);
				continue;
			}
			s->holding = true;
		}
		if (!has_room(s, s->held.data_len))
			break;
		s->holding = false;
		result = ship_event(s, &s->held);
	}
	return result;
}

/* Whether the in-flight caps say to stop reading for now. */
static bool
over_caps(Shipper *s)
{
	bool over = !has_room(s, s->holding ? s->held.data_len : 1);

	if (over && !s->paused)
	{
		s->counters.pauses++;
		log_info("in-flight limit reached (%zu events, %zu bytes): reading paused until Kafka catches up",
				 tracker_inflight_events(s->tracker), tracker_inflight_bytes(s->tracker));
	}
	else if (!over && s->paused)
		log_info("reading resumed");
	s->paused = over;
	return over;
}

/* Streams until a stop, a lost connection or a failure. */
static RunResult
run_stream(Shipper *s)
{
	RunResult result;
	int nread;
	int alive;
	bool paused;

	for (;;)
	{
		kafka_serve(s->kafka);
		tick(s);
		if (kafka_failure(s->kafka))
			return RUN_FAILED;
		if (stop_requested)
			return RUN_STOPPED;
		if (send_status(s, false) != 0)
			return RUN_LOST;
		/* When paused, the socket is left unread: TCP pushes back. */
		paused = over_caps(s);
		if ((alive = stream_check_alive(s->stream, s->errstr, sizeof(s->errstr))) < 0)
			return RUN_LOST;
		/* a probe: a status update that asks the server for a reply */
		if (alive > 0 && send_status(s, true) != 0)
			return RUN_LOST;
		if (!paused)
		{
			if ((result = read_messages(s, &nread)) != RUN_CONTINUE)
				return result;
			if (nread > 0)
				continue;
		}
		if (stream_wait(s->stream, !paused, kafka_wait_fd(s->kafka), wait_ms(s),
						s->errstr, sizeof(s->errstr)) != 0)
			return RUN_LOST;
	}
}

/*
 * Waits for Kafka to acknowledge what is in flight, at most the drain
 * timeout, still confirming what it acknowledges.  True when all was.
 */
static bool
drain(Shipper *s)
{
	int64_t deadline = now_usec() + (int64_t) (s->config.drain_timeout * 1e6);
	int64_t left;

	kafka_serve(s->kafka);
	while (kafka_outq_len(s->kafka) > 0 && (left = deadline - now_usec()) > 0)
	{
		int ms = wait_ms(s);

		if (left / 1000 < ms)
			ms = (int) (left / 1000);
		(void) stream_wait(s->stream, false, kafka_wait_fd(s->kafka), ms,
						   s->errstr, sizeof(s->errstr));
		kafka_serve(s->kafka);
		tick(s);
		if (stream_connected(s->stream) && send_status(s, false) != 0)
			log_warning("%s", s->errstr);
	}
	return kafka_outq_len(s->kafka) == 0;
}

/*
 * Sleeps up to ms, waking early on a stop request, serving Kafka's reports
 * (what was in flight when a connection broke is still acknowledged).
 */
static void
sleep_interruptible(Shipper *s, int ms)
{
	int64_t deadline = now_usec() + (int64_t) ms * 1000;

	while (!stop_requested && now_usec() < deadline)
	{
		kafka_poll(s->kafka, 50);
		tick(s);
	}
}

/*
 * While the stream waits for the server (connecting, a slow command): the
 * heartbeat and Kafka's reports go on, and a stop request ends the wait.
 */
static bool
on_stream_idle(void *arg)
{
	Shipper *s = arg;

	kafka_serve(s->kafka);
	tick(s);
	return !stop_requested;
}

static int
next_backoff(int backoff_ms, int max_ms)
{
	return backoff_ms * 2 > max_ms ? max_ms : backoff_ms * 2;
}

/*
 * A missing slot that must not be created: says why, and how to recover.
 * A slot created now would start at the current WAL position, and every
 * event committed since the last confirmed position would be lost.
 */
static void
log_slot_missing(Shipper *s, const StreamInfo *info)
{
	const char *slot = s->config.slot;
	/* 17+ keeps a failover slot on a standby that synchronized it. */
	const char *failover = info->server_version >= 170000
							   ? "On PostgreSQL 17 and later a promoted standby has the slot if it was a failover slot synchronized there before the promotion (pg_replication_slots.synced on the standby; README, Failover)."
							   : "PostgreSQL before 17 keeps no logical slot across a failover (README, Failover).";
	char lsn[LSN_TEXT_SIZE];

	if (s->counters.connections == 0)
	{
		log_error("%s HINT: Create it (SELECT pg_create_logical_replication_slot('%s', 'outbox_pg')), or start the shipper with --create-slot if nothing was ever shipped from this database. After a failover, create it, then ship what it missed with outbox.replay(since => ...) (README, Operations). %s",
				  s->errstr, slot, failover);
		return;
	}
	lsn_format(tracker_confirmed(s->tracker), lsn);
	log_error("%s, but this shipper streamed from it (system %s, timeline %u) and confirmed up to %s: it was dropped, or the server failed over to one without it. Not creating it: a new slot starts at the current WAL position, and every event committed since %s would be lost. HINT: Create the slot (SELECT pg_create_logical_replication_slot('%s', 'outbox_pg')), ship what it missed with outbox.replay(since => the commit time of the last delivered event, outbox_shipper_last_delivered_commit_timestamp_seconds, minus your longest transaction), then start the shipper again (README, Operations). %s",
			  s->errstr, s->system_id, s->timeline, lsn, lsn, slot, failover);
}

/*
 * Connects, retrying with capped backoff: for ever while the server is
 * unreachable or the slot is held by another shipper (hot standby), never
 * on a configuration error.  The slot may be created only before this
 * process ever streamed: after that a missing slot means events were lost
 * (a drop, a failover), which a new slot would hide.  Returns 0 when
 * streaming, 1 when a stop was requested, -1 on a fatal error.
 */
static int
connect_with_backoff(Shipper *s, StreamInfo *info, int *backoff_ms)
{
	bool said_busy = false;
	int busy_ms = 1000;
	char detail[256];
	bool may_create;

	while (!stop_requested)
	{
		tick(s);
		may_create = s->config.create_slot && s->counters.connections == 0;
		switch (stream_connect(s->stream, may_create, info, s->errstr, sizeof(s->errstr)))
		{
			case STREAM_OK:
				if (said_busy)
					log_info("slot \"%s\" is free now: taking over", s->config.slot);
				return 0;
			case STREAM_SLOT_MISSING:
				log_slot_missing(s, info);
				return -1;
			case STREAM_INTERRUPTED:
				return 1;
			case STREAM_SLOT_BUSY:
				if (!said_busy)
					log_info("waiting for slot \"%s\": in use by PID %d (%s)", s->config.slot,
							 info->busy_pid, s->errstr);
				said_busy = true;
				snprintf(detail, sizeof(detail), "waiting for slot \"%s\", in use by PID %d",
						 s->config.slot, info->busy_pid);
				metrics_set_state(s->metrics, STATE_STANDBY, detail);
				sleep_interruptible(s, busy_ms);
				busy_ms = next_backoff(busy_ms, SLOT_BUSY_BACKOFF_MAX_MS);
				break;
			case STREAM_FATAL:
				/*
				 * Refused at connection (credentials, pg_hba.conf, the role)
				 * after this process streamed: a rotation or a change in
				 * progress, e.g. the server's password changed before the
				 * secret file.  Exiting would only make a restart loop.
				 */
				if (s->counters.connections == 0 || info->server[0] != '\0')
				{
					log_error("%s", s->errstr);
					return -1;
				}
				/* FALLTHROUGH */
			case STREAM_RETRY:
				log_warning("%s; retrying in %.1f s", s->errstr, *backoff_ms / 1000.0);
				metrics_set_state(s->metrics, STATE_CONNECTING, "to PostgreSQL, which is unreachable");
				sleep_interruptible(s, *backoff_ms);
				*backoff_ms = next_backoff(*backoff_ms, RECONNECT_BACKOFF_MAX_MS);
				break;
		}
	}
	return 1;
}

/* What the start line says about the slot's failover; "" before 17. */
static const char *
describe_failover(const StreamInfo *info)
{
	if (info->in_recovery)
		return "; decoding on a standby";
	if (info->slot_failover == 1)
		return "; a failover slot";
	if (info->slot_failover == 0)
		return "; not a failover slot";
	return "";
}

/*
 * On a 17+ primary, the warnings that say a promoted standby may not
 * carry on where this shipper was: each said once per process.
 */
static void
warn_failover(Shipper *s, const StreamInfo *info)
{
	if (info->in_recovery || info->slot_failover < 0)
		return;
	if (info->slot_failover == 0 && s->config.failover != FAILOVER_OFF && !s->said_not_failover)
	{
		log_warning("slot \"%s\" is not a failover slot: a standby promoted after a failover will not have it, and what the shipper had not confirmed would have to be replayed HINT: With the shipper stopped, run ALTER_REPLICATION_SLOT %s (FAILOVER true) over a replication connection (psql \"dbname=... replication=database\"), and set sync_replication_slots = on on the standby (README, Failover); --no-failover silences this.",
					s->config.slot, s->config.slot);
		s->said_not_failover = true;
	}
	if (info->slot_failover == 1 && !info->standby_slots_set && !s->said_standby_slots)
	{
		log_warning("slot \"%s\" is a failover slot, but synchronized_standby_slots is empty on %s: the shipper may receive events a standby has not received yet, which a promoted standby would not have although Kafka does HINT: Set synchronized_standby_slots to the standbys' physical slots (README, Failover).",
					s->config.slot, info->server);
		s->said_standby_slots = true;
	}
}

/*
 * A new connection streams from the slot's confirmed position: what was in
 * flight will come again, and is forgotten here.
 */
static void
on_connected(Shipper *s, const StreamInfo *info)
{
	/*
	 * A promoted standby keeps the system identifier but starts a new
	 * timeline, and may lack the end of the old one (asynchronous
	 * replication): positions confirmed before are no longer facts there.
	 */
	bool same_server = strcmp(s->system_id, info->system_id) == 0 &&
					   s->timeline == info->timeline;
	size_t inflight = tracker_inflight_events(s->tracker);
	char slot_lsn[LSN_TEXT_SIZE];
	char server_lsn[LSN_TEXT_SIZE];

	if (s->system_id[0] != '\0' && strcmp(s->system_id, info->system_id) != 0)
		log_warning("connected to another PostgreSQL system (%s, was %s): resuming from the slot's position",
					info->system_id, s->system_id);
	else if (s->system_id[0] != '\0' && !same_server)
		log_warning("PostgreSQL is on timeline %u, was %u (a promotion or a restore): resuming from the slot's position",
					info->timeline, s->timeline);
	if (inflight > 0 && !s->said_duplicates)
	{
		log_warning("%zu events were in flight when the connection was lost; PostgreSQL sends them again and they may reach Kafka twice (at-least-once; duplicates keep their id); said once",
					inflight);
		s->said_duplicates = true;
	}
	tracker_restart(s->tracker, info->slot_confirmed, same_server);
	kafka_set_database(s->kafka, info->dbname);
	s->holding = false;
	snprintf(s->system_id, sizeof(s->system_id), "%s", info->system_id);
	s->timeline = info->timeline;
	s->counters.connections++;
	s->counters.server_lsn = info->server_lsn;
	s->counters.confirmed_lsn = tracker_confirmed(s->tracker);
	s->sent_position = tracker_confirmed(s->tracker);
	s->sent_at = 0;
	s->next_status_at = now_usec() + status_interval_usec(s);
	lsn_format(info->slot_confirmed, slot_lsn);
	lsn_format(info->server_lsn, server_lsn);
	metrics_set_state(s->metrics, STATE_STREAMING, NULL);
	log_info("streaming slot \"%s\"%s on %s (system %s, timeline %u) from %s; server at %s%s",
			 s->config.slot, info->slot_created ? " (created)" : "", info->server,
			 info->system_id, info->timeline, slot_lsn, server_lsn, describe_failover(info));
	warn_failover(s, info);
	if (info->silence_limit_ms > info->wal_sender_timeout_ms && info->wal_sender_timeout_ms > 0)
		log_info("silence limit raised to %.1f s after a silent link, until the stream confirms past it",
				 info->silence_limit_ms / 1000.0);
	if (info->wal_sender_timeout_ms > 0 &&
		s->config.status_interval * 1000 * 2 > info->wal_sender_timeout_ms)
		log_warning("--status-interval %.1f s is more than half the server's wal_sender_timeout (%d ms): the server may drop the connection",
					s->config.status_interval, info->wal_sender_timeout_ms);
}

/* Drains, sends the final position, and says how it ended; the exit status. */
static int
shut_down(Shipper *s, bool failed)
{
	char lsn[LSN_TEXT_SIZE];
	int pending = kafka_outq_len(s->kafka);
	bool drained;

	metrics_set_state(s->metrics, STATE_STOPPING, NULL);
	if (pending > 0)
		log_info("waiting up to %.0f s for Kafka to acknowledge %d records",
				 s->config.drain_timeout, pending);
	drained = drain(s);
	if (stream_connected(s->stream) && send_status(s, true) != 0)
		log_warning("could not send the final position: %s", s->errstr);
	lsn_format(tracker_confirmed(s->tracker), lsn);
	stream_close(s->stream);
	if (!drained)
		log_error("%d records not acknowledged by Kafka within %.0f s; they stay in the slot and are shipped again on restart",
				  kafka_outq_len(s->kafka), s->config.drain_timeout);
	tick(s);
	log_info("stopped: %llu events delivered, %llu dead-lettered; %llu received, %llu skipped as confirmed before; confirmed %s",
			 (unsigned long long) s->counters.events_delivered,
			 (unsigned long long) s->counters.events_dead_lettered,
			 (unsigned long long) s->counters.events_received,
			 (unsigned long long) s->counters.events_skipped, lsn);
	if (failed)
		return 1;
	return drained ? 0 : 2;
}

/* The connect-stream-reconnect loop; returns the exit status. */
static int
run(Shipper *s)
{
	StreamInfo info;
	int backoff_ms = 1000;
	int64_t started;
	Lsn confirmed_at_start;
	RunResult result = RUN_STOPPED;
	int rc;

	while ((rc = connect_with_backoff(s, &info, &backoff_ms)) == 0)
	{
		on_connected(s, &info);
		started = now_usec();
		confirmed_at_start = tracker_confirmed(s->tracker);
		result = run_stream(s);
		if (result != RUN_LOST)
			break;
		log_warning("%s; reconnecting", s->errstr);
		metrics_set_state(s->metrics, STATE_CONNECTING, "after a lost connection");
		s->holding = false; /* stream_close frees its buffer */
		stream_close(s->stream);
		/*
		 * A connection that breaks at once must not be retried in a tight
		 * loop; one that lasted, or moved the slot on, was working.
		 */
		if (now_usec() - started > STABLE_STREAM_USEC ||
			tracker_confirmed(s->tracker) > confirmed_at_start)
			backoff_ms = 1000;
		sleep_interruptible(s, backoff_ms);
		backoff_ms = next_backoff(backoff_ms, RECONNECT_BACKOFF_MAX_MS);
	}
	if (rc < 0)
		return shut_down(s, true);
	if (result == RUN_FAILED && kafka_failure(s->kafka))
		log_error("%s", kafka_failure(s->kafka));
	if (result == RUN_STOPPED)
		log_info("stop requested");
	return shut_down(s, result == RUN_FAILED);
}

static void
log_settings(const ShipperConfig *config)
{
	int i;

	log_info("outbox-shipper %s: slot \"%s\" (failover %s), topic template \"%s\", value %s, on permanent error %s%s%s",
			 SHIPPER_VERSION, config->slot,
			 config->failover == FAILOVER_AUTO ? "where supported"
			 : config->failover == FAILOVER_ON ? "on"
											   : "off",
			 config->topic_template,
			 config->value_mode == VALUE_ENVELOPE ? "envelope" : "payload",
			 config->on_permanent_error == ON_ERROR_STOP ? "stop" : "dead-letter to ",
			 config->on_permanent_error == ON_ERROR_STOP ? "" : config->dead_letter_topic,
			 "");
	if (config->format != FORMAT_PLAIN)
		log_info("records are CloudEvents 1.0 in %s content mode, source %s",
				 config->format == FORMAT_CLOUDEVENTS ? "binary" : "structured",
				 config->cloudevents_source ? config->cloudevents_source : "/outbox_pg/<database>");
	log_debug("in-flight caps %lld events, %lld bytes; status interval %.1f s; drain timeout %.1f s",
			  config->max_inflight_events, config->max_inflight_bytes,
			  config->status_interval, config->drain_timeout);
	for (i = 0; i < config->nkafka; i++)
		if (config->kafka[i].from_file)
			log_debug("Kafka property %s from file %s (%s)", config->kafka[i].name,
					  config->kafka[i].value, config->kafka[i].origin);
		else
			log_debug("Kafka property %s=%s (%s)", config->kafka[i].name,
					  config_is_secret(config->kafka[i].name) ? "********" : config->kafka[i].value,
					  config->kafka[i].origin);
}

/* The HTTP endpoint, if configured; -1 when it cannot listen. */
static int
start_http(Shipper *s)
{
	if (s->config.http_listen == NULL || s->config.http_listen[0] == '\0')
		return 0;
	s->http = http_start(s->config.http_listen, s->metrics, s->kafka,
						 s->config.stall_timeout, s->errstr, sizeof(s->errstr));
	if (s->http == NULL)
	{
		log_error("%s", s->errstr);
		return -1;
	}
	log_info("serving /metrics, /healthz and /readyz on %s (port %d)",
			 s->config.http_listen, http_port(s->http));
	return 0;
}

/*
 * Creates the producer and the HTTP endpoint with SIGTERM and SIGINT
 * blocked, so that the threads they start inherit a mask without them: a
 * stop signal then goes to the main thread, whose poll() it interrupts.
 */
static int
start_workers(Shipper *s)
{
	sigset_t stop_signals;
	sigset_t saved;
	int rc = -1;

	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, &saved);
	s->kafka = kafka_create(&s->config, s->tracker, s->metrics, s->errstr, sizeof(s->errstr));
	if (s->kafka == NULL)
		log_error("%s", s->errstr);
	else
		rc = start_http(s);
	/* A signal that came meanwhile is delivered now. */
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	return rc;
}

static void
setup_signals(void)
{
	struct sigaction sa;

	/* No SA_RESTART: a signal interrupts poll() so the loop sees it at once. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* --help, --version, or an invalid configuration; -1 if none applies. */
static int
early_exit(Shipper *s, int argc, char **argv)
{
	int status;

	if (config_parse(argc, argv, environ, &s->config, s->errstr, sizeof(s->errstr)) != 0)
	{
		fprintf(stderr, "outbox-shipper: %s\n", s->errstr);
		return 1;
	}
	if (s->config.show_help)
		fputs(config_usage(), stdout);
	else if (s->config.show_version)
		printf("outbox-shipper %s\n", SHIPPER_VERSION);
	else if (stream_check_conninfo(s->config.conninfo, s->errstr, sizeof(s->errstr)) != 0)
		fprintf(stderr, "outbox-shipper: %s\n", s->errstr);
	else
		return -1;
	status = s->config.show_help || s->config.show_version ? 0 : 1;
	config_free(&s->config);
	return status;
}

int
main(int argc, char **argv)
{
	Shipper s;
	int status;

	/* `outbox-shipper check ...`: the preflight (check.c), then exit. */
	if (argc > 1 && strcmp(argv[1], "check") == 0)
		return check_main(argc - 1, argv + 1, environ);
	memset(&s, 0, sizeof(s));
	if ((status = early_exit(&s, argc, argv)) >= 0)
		return status;
	log_setup(s.config.log_format == LOG_FORMAT_JSON, s.config.verbose);
	setup_signals();
	status = 1;
	s.tracker = tracker_create(0);
	s.stream = stream_create(&s.config, on_stream_idle, &s);
	s.metrics = metrics_create(kafka_library_version(), stream_library_version());
	if (s.tracker == NULL || s.stream == NULL || s.metrics == NULL)
		log_error("out of memory");
	else if (start_workers(&s) == 0)
	{
		log_settings(&s.config);
		status = run(&s);
	}
	/* The HTTP thread reads metrics and Kafka: it stops first. */
	http_stop(s.http);
	stream_destroy(s.stream);
	kafka_destroy(s.kafka);
	tracker_destroy(s.tracker);
	metrics_destroy(s.metrics);
	event_free(&s.event);
	config_free(&s.config);
	return status;
}
