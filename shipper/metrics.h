/*
 * metrics.h
 *	  What the shipper reports about itself: counters, state, and the
 *	  Prometheus text that /metrics serves.
 *
 *	  Two threads meet here.  The main thread does the work; it keeps its
 *	  scalar counters in a plain ShipperCounters and publishes a copy once
 *	  per loop turn (which is also its heartbeat for /healthz), and it
 *	  records deliveries and errors as they are reported.  The HTTP thread
 *	  (http.c) reads.  A mutex guards everything in Metrics; the main
 *	  thread never waits on the HTTP thread for long, as a reader holds the
 *	  lock only to render a few kilobytes.
 *
 *	  The rendering itself (metrics_render, in exposition.c) is pure: a
 *	  MetricsView in, text out, so unit tests check it byte for byte.
 */
#ifndef SHIPPER_METRICS_H
#define SHIPPER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "labels.h"
#include "walproto.h"

/* The main thread's counters; plain integers, published by copy. */
typedef struct ShipperCounters
{
	uint64_t events_received; /* events parsed from the stream */
	uint64_t events_skipped; /* confirmed before, so not shipped again */
	uint64_t events_delivered; /* acknowledged by Kafka (from kafka.c) */
	uint64_t events_dead_lettered; /* ... on the dead-letter topic */
	uint64_t bytes_received; /* plugin bytes of the events received */
	uint64_t keepalives; /* keepalive messages from the server */
	uint64_t status_updates; /* standby status updates sent */
	uint64_t connections; /* replication connections started */
	uint64_t pauses; /* times the in-flight caps paused reading */
	uint64_t inflight_events; /* sent to Kafka, not yet acknowledged */
	uint64_t inflight_bytes;
	Lsn server_lsn; /* the server's last reported position */
	Lsn confirmed_lsn; /* the last position sent to the server */
} ShipperCounters;

typedef enum ShipperState
{
	STATE_STARTING,
	STATE_CONNECTING, /* to PostgreSQL, or waiting to retry */
	STATE_STANDBY, /* the slot is in use by another shipper */
	STATE_STREAMING,
	STATE_STOPPING, /* draining after a stop request or a failure */
	NUM_SHIPPER_STATES
} ShipperState;

/* Everything /metrics shows, at one instant. */
typedef struct MetricsView
{
	ShipperCounters counters;
	ShipperState state;
	LabelTable shipped; /* by topic: events and key+value bytes */
	LabelTable delivery_errors; /* by kind: records Kafka refused or lost */
	LabelTable client_errors; /* by kind: producer-level (brokers down) */
	LabelTable rejected; /* by reason: events the plugin marked rejected */
	int64_t last_commit_usec; /* commit time of the last delivered event; 0 none */
	int kafka_reachable; /* 1, 0, or -1 not probed yet */
	int kafka_below_min_isr; /* partitions refusing writes; -1 not probed yet */
	/* Filled at render time: */
	int64_t now_usec;
	int64_t loop_silent_usec; /* since the main loop last published */
	const char *version;
	const char *librdkafka_version;
	const char *libpq_version;
	double process_start_seconds; /* 0: unknown */
	double process_cpu_seconds;
	uint64_t process_rss_bytes;
} MetricsView;

typedef struct Metrics Metrics;

/* Growable text for rendering; out of memory makes it failed. */
typedef struct TextBuffer
{
	char *data;
	size_t len;
	size_t size;
	bool failed;
} TextBuffer;

extern void text_append(TextBuffer *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
extern void text_free(TextBuffer *buf);

/* Pure: the Prometheus text exposition (format 0.0.4) of view. */
extern void metrics_render(const MetricsView *view, TextBuffer *out);
extern const char *shipper_state_name(ShipperState state);

/*
 * The shared, locked side (metrics.c); all functions may be called from any
 * thread.  The version strings must outlive the Metrics.
 */
extern Metrics *metrics_create(const char *librdkafka_version,
							   const char *libpq_version);
extern void metrics_destroy(Metrics *metrics);
/* From the main loop, every turn: its counters, and "I am alive". */
extern void metrics_publish(Metrics *metrics, const ShipperCounters *counters,
							int64_t now_usec);
/* detail: for /readyz, e.g. which process holds the slot; may be NULL. */
extern void metrics_set_state(Metrics *metrics, ShipperState state,
							  const char *detail);
/* count records of topic, bytes in all, the newest committed at commit_usec */
extern void metrics_delivered(Metrics *metrics, const char *topic,
							  uint64_t count, uint64_t bytes,
							  int64_t commit_usec, bool dead_letter);
extern void metrics_delivery_error(Metrics *metrics, const char *kind);
extern void metrics_client_error(Metrics *metrics, const char *kind);
/* reason: one of a few fixed words (the label must not grow unbounded). */
extern void metrics_rejected(Metrics *metrics, const char *reason);
extern void metrics_set_kafka_reachable(Metrics *metrics, bool reachable);
/* kafka_probe_min_isr's answer; a failed probe (-1) changes nothing. */
extern void metrics_set_kafka_min_isr(Metrics *metrics, int below,
									  const char *example);
/* /metrics: renders the current view, with this process's figures. */
extern void metrics_scrape(Metrics *metrics, TextBuffer *out);

/* /healthz and /readyz: true when healthy/ready; why in message. */
extern bool metrics_healthy(Metrics *metrics, int64_t now_usec,
							int64_t stall_usec, char *message, size_t size);
extern bool metrics_ready(Metrics *metrics, char *message, size_t size);

#endif /* SHIPPER_METRICS_H */
