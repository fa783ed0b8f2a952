/*
 * exposition.c
 *	  The Prometheus text format (version 0.0.4) of a MetricsView.  Pure:
 *	  no clock, no I/O, no locks; metrics.c fills the view.
 *
 *	  Names follow Prometheus conventions: outbox_shipper_ prefix, counters
 *	  end in _total, units in the name (_bytes, _seconds), a label per
 *	  dimension (topic, kind), and process_* as every client library names
 *	  them.  A gauge with nothing to say yet (no event delivered) has no
 *	  sample rather than a made-up one.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define PREFIX "outbox_shipper_"

static const char *const state_names[NUM_SHIPPER_STATES] = {
	[STATE_STARTING] = "starting",
	[STATE_CONNECTING] = "connecting",
	[STATE_STANDBY] = "standby",
	[STATE_STREAMING] = "streaming",
	[STATE_STOPPING] = "stopping",
};

const char *
shipper_state_name(ShipperState state)
{
	return state >= 0 && state < NUM_SHIPPER_STATES ? state_names[state] : "unknown";
}

void
text_append(TextBuffer *buf, const char *fmt, ...)
{
	va_list args;
	int n;

	if (buf->failed)
		return;
	for (;;)
	{
		size_t room = buf->size - buf->len;

		va_start(args, fmt);
		n = vsnprintf(buf->data ? buf->data + buf->len : NULL, room, fmt, args);
		va_end(args);
		if (n < 0)
		{
			buf->failed = true;
			return;
		}
		if ((size_t) n < room)
		{
			buf->len += (size_t) n;
			return;
		}
		{
			size_t size = buf->size ? buf->size * 2 : 4096;
			char *data;

			while (size - buf->len <= (size_t) n)
				size *= 2;
			if ((data = realloc(buf->data, size)) == NULL)
			{
				buf->failed = true;
				return;
			}
			buf->data = data;
			buf->size = size;
		}
	}
}

void
text_free(TextBuffer *buf)
{
	free(buf->data);
	memset(buf, 0, sizeof(*buf));
}

/* A label value, escaped as the format requires. */
static void
append_label_value(TextBuffer *out, const char *value)
{
	for (; *value; value++)
	{
		if (*value == '\\')
			text_append(out, "\\\\");
		else if (*value == '"')
			text_append(out, "\\\"");
		else if (*value == '\n')
			text_append(out, "\\n");
		else
			text_append(out, "%c", *value);
	}
}

static void
family(TextBuffer *out, const char *name, const char *type, const char *help)
{
	text_append(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
uint_metric(TextBuffer *out, const char *name, const char *type,
			const char *help, uint64_t value)
{
	family(out, name, type, help);
	text_append(out, "%s %" PRIu64 "\n", name, value);
}

static void
double_metric(TextBuffer *out, const char *name, const char *type,
			  const char *help, double value)
{
	family(out, name, type, help);
	text_append(out, "%s %.6f\n", name, value);
}

/* One sample per label of table; bytes instead of counts when asked. */
static void
labelled_metric(TextBuffer *out, const char *name, const char *help,
				const char *label, const LabelTable *table, bool bytes)
{
	const LabelCount **sorted;
	size_t i;
	size_t n;

	family(out, name, "counter", help);
	sorted = labels_sorted(table, &n);
	if (n > 0 && sorted == NULL)
	{
		out->failed = true;
		return;
	}
	for (i = 0; i < n; i++)
	{
		text_append(out, "%s{%s=\"", name, label);
		append_label_value(out, sorted[i]->label);
		text_append(out, "\"} %" PRIu64 "\n", bytes ? sorted[i]->bytes : sorted[i]->count);
	}
	free(sorted);
}

static void
render_identity(const MetricsView *view, TextBuffer *out)
{
	int s;

	family(out, PREFIX "build_info", "gauge",
		   "The shipper's version and the client libraries it runs with.");
	text_append(out, PREFIX "build_info{version=\"");
	append_label_value(out, view->version ? view->version : "");
	text_append(out, "\",librdkafka=\"");
	append_label_value(out, view->librdkafka_version ? view->librdkafka_version : "");
	text_append(out, "\",libpq=\"");
	append_label_value(out, view->libpq_version ? view->libpq_version : "");
	text_append(out, "\"} 1\n");
	family(out, PREFIX "state", "gauge",
		   "1 for the state the shipper is in: starting, connecting, standby (the slot is in use by another shipper), streaming, stopping.");
	for (s = 0; s < NUM_SHIPPER_STATES; s++)
		text_append(out, PREFIX "state{state=\"%s\"} %d\n", state_names[s],
					view->state == (ShipperState) s);
	/* /healthz's test, for Prometheus: alerts need not probe /healthz. */
	double_metric(out, PREFIX "main_loop_stalled_seconds", "gauge",
				  "Seconds since the main loop last turned: near 0 while it turns; /healthz fails past --stall-timeout.",
				  view->loop_silent_usec / 1e6);
	if (view->kafka_reachable >= 0)
		uint_metric(out, PREFIX "kafka_reachable", "gauge",
					"1 when the last probe of the Kafka cluster (a metadata request) got an answer.",
					(uint64_t) view->kafka_reachable);
	if (view->kafka_below_min_isr >= 0)
		uint_metric(out, PREFIX "kafka_partitions_below_min_isr", "gauge",
					"Partitions of the topics written to whose in-sync replicas are fewer than min.insync.replicas: Kafka refuses their writes (NOT_ENOUGH_REPLICAS) and the shipper retries.",
					(uint64_t) view->kafka_below_min_isr);
}

static void
render_events(const MetricsView *view, TextBuffer *out)
{
	const ShipperCounters *c = &view->counters;

	uint_metric(out, PREFIX "events_received_total", "counter",
				"Events read from the replication slot.", c->events_received);
	uint_metric(out, PREFIX "received_bytes_total", "counter",
				"Bytes of the events read from the replication slot, as the plugin wrote them.",
				c->bytes_received);
	uint_metric(out, PREFIX "events_skipped_total", "counter",
				"Events PostgreSQL sent again that were confirmed before, so not shipped again.",
				c->events_skipped);
	labelled_metric(out, PREFIX "events_shipped_total",
					"Events Kafka acknowledged, by topic.", "topic", &view->shipped, false);
	labelled_metric(out, PREFIX "bytes_shipped_total",
					"Key and value bytes of the records Kafka acknowledged, by topic.",
					"topic", &view->shipped, true);
	uint_metric(out, PREFIX "events_dead_lettered_total", "counter",
				"Events that went to the dead-letter topic instead of their own: refused for good by Kafka, rejected by the plugin, or malformed.",
				c->events_dead_lettered);
	labelled_metric(out, PREFIX "events_rejected_total",
					"Events the plugin marked as not to be shipped (unauthenticated, too_large, other), by reason.",
					"reason", &view->rejected, false);
	uint_metric(out, PREFIX "inflight_events", "gauge",
				"Events handed to Kafka and not acknowledged yet.", c->inflight_events);
	uint_metric(out, PREFIX "inflight_bytes", "gauge",
				"Bytes of the events handed to Kafka and not acknowledged yet.",
				c->inflight_bytes);
	if (view->last_commit_usec > 0)
	{
		double_metric(out, PREFIX "last_delivered_commit_timestamp_seconds", "gauge",
					  "Commit time (Unix seconds) of the last event Kafka acknowledged.",
					  view->last_commit_usec / 1e6);
		double_metric(out, PREFIX "last_delivered_commit_age_seconds", "gauge",
					  "Seconds since the last event Kafka acknowledged was committed in PostgreSQL.",
					  (view->now_usec - view->last_commit_usec) / 1e6);
	}
}

static void
render_position(const MetricsView *view, TextBuffer *out)
{
	const ShipperCounters *c = &view->counters;

	if (c->confirmed_lsn != 0)
		uint_metric(out, PREFIX "confirmed_lsn", "gauge",
					"The WAL position (LSN as a byte number) last confirmed to PostgreSQL: everything before it is in Kafka.",
					c->confirmed_lsn);
	if (c->server_lsn != 0)
		uint_metric(out, PREFIX "server_lsn", "gauge",
					"The WAL position (LSN as a byte number) the server last reported having decoded.",
					c->server_lsn);
	if (c->server_lsn != 0 && c->confirmed_lsn != 0)
		uint_metric(out, PREFIX "slot_lag_bytes", "gauge",
					"WAL bytes between the server's reported position and the confirmed one.",
					c->server_lsn > c->confirmed_lsn ? c->server_lsn - c->confirmed_lsn : 0);
	uint_metric(out, PREFIX "connections_total", "counter",
				"Replication connections that started streaming.", c->connections);
	uint_metric(out, PREFIX "reconnects_total", "counter",
				"Replication connections after the first: each follows a lost connection or a handover.",
				c->connections > 0 ? c->connections - 1 : 0);
	uint_metric(out, PREFIX "status_updates_total", "counter",
				"Standby status updates (confirmations) sent to PostgreSQL.", c->status_updates);
	uint_metric(out, PREFIX "keepalives_total", "counter",
				"Keepalive messages received from PostgreSQL.", c->keepalives);
	uint_metric(out, PREFIX "pauses_total", "counter",
				"Times reading paused because the in-flight limits were reached.", c->pauses);
}

static void
render_errors(const MetricsView *view, TextBuffer *out)
{
	labelled_metric(out, PREFIX "delivery_errors_total",
					"Records Kafka refused for good or could not deliver, by error.",
					"kind", &view->delivery_errors, false);
	labelled_metric(out, PREFIX "kafka_client_errors_total",
					"Producer-level errors (brokers down, transport, authentication), by error; librdkafka retries them.",
					"kind", &view->client_errors, false);
}

static void
render_process(const MetricsView *view, TextBuffer *out)
{
	if (view->process_start_seconds <= 0)
		return;
	double_metric(out, "process_start_time_seconds", "gauge",
				  "Start time of the process since the Unix epoch in seconds.",
				  view->process_start_seconds);
	double_metric(out, "process_cpu_seconds_total", "counter",
				  "Total user and system CPU time spent in seconds.",
				  view->process_cpu_seconds);
	uint_metric(out, "process_resident_memory_bytes", "gauge",
				"Resident memory size in bytes.", view->process_rss_bytes);
}

void
metrics_render(const MetricsView *view, TextBuffer *out)
{
	render_identity(view, out);
	render_events(view, out);
	render_position(view, out);
	render_errors(view, out);
	render_process(view, out);
}
