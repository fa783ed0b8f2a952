/*
 * metrics.c
 *	  The shared side of the metrics: what the main thread publishes and
 *	  the HTTP thread reads, under one mutex.
 *
 * Health is the main loop's heartbeat: it publishes every turn, and every
 * wait in it is bounded (MAX_WAIT_MS in main.c, libpq's connect_timeout),
 * so a heartbeat older than the stall limit means the loop is stuck.
 * Readiness is "this pod can do its job": it streams, or it is a hot
 * standby that reached PostgreSQL at its last try and found the slot held
 * by another shipper (so it takes over within seconds), and in both cases
 * Kafka answered the last probe and accepts writes.  Both pods of a
 * healthy pair are Ready, so a Deployment completes its rollouts; which
 * one streams is outbox_shipper_state{state="streaming"}.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "metrics.h"

struct Metrics
{
	pthread_mutex_t lock;
	MetricsView view;
	int64_t heartbeat_usec; /* monotonic_usec() of the last publish */
	char detail[256]; /* about the state, for /readyz */
	char min_isr_example[256]; /* a partition below min.insync.replicas */
	bool out_of_memory; /* a label table could not grow: said once */
};

Metrics *
metrics_create(const char *librdkafka_version, const char *libpq_version)
{
	Metrics *metrics = calloc(1, sizeof(Metrics));

	if (metrics == NULL)
		return NULL;
	pthread_mutex_init(&metrics->lock, NULL);
	metrics->view.version = SHIPPER_VERSION;
	metrics->view.librdkafka_version = librdkafka_version;
	metrics->view.libpq_version = libpq_version;
	metrics->view.kafka_reachable = -1;
	metrics->view.kafka_below_min_isr = -1;
	metrics->heartbeat_usec = monotonic_usec();
	return metrics;
}

void
metrics_destroy(Metrics *metrics)
{
	if (metrics == NULL)
		return;
	labels_free(&metrics->view.shipped);
	labels_free(&metrics->view.delivery_errors);
	labels_free(&metrics->view.client_errors);
	labels_free(&metrics->view.rejected);
	pthread_mutex_destroy(&metrics->lock);
	free(metrics);
}

void
metrics_publish(Metrics *metrics, const ShipperCounters *counters,
				int64_t now)
{
	pthread_mutex_lock(&metrics->lock);
	metrics->view.counters = *counters;
	metrics->heartbeat_usec = now;
	pthread_mutex_unlock(&metrics->lock);
}

void
metrics_set_state(Metrics *metrics, ShipperState state, const char *detail)
{
	pthread_mutex_lock(&metrics->lock);
	metrics->view.state = state;
	snprintf(metrics->detail, sizeof(metrics->detail), "%s", detail ? detail : "");
	pthread_mutex_unlock(&metrics->lock);
}

/* Out of memory in a label table loses a sample, never the shipper. */
static void
add_label(Metrics *metrics, LabelTable *table, const char *label,
		  uint64_t count, uint64_t bytes)
{
	if (labels_add(table, label, count, bytes) != 0)
		metrics->out_of_memory = true;
}

void
metrics_delivered(Metrics *metrics, const char *topic, uint64_t count,
				  uint64_t bytes, int64_t commit_usec, bool dead_letter)
{
	pthread_mutex_lock(&metrics->lock);
	if (!dead_letter)
		add_label(metrics, &metrics->view.shipped, topic, count, bytes);
	if (commit_usec > metrics->view.last_commit_usec)
		metrics->view.last_commit_usec = commit_usec;
	pthread_mutex_unlock(&metrics->lock);
}

void
metrics_delivery_error(Metrics *metrics, const char *kind)
{
	pthread_mutex_lock(&metrics->lock);
	add_label(metrics, &metrics->view.delivery_errors, kind, 1, 0);
	pthread_mutex_unlock(&metrics->lock);
}

void
metrics_client_error(Metrics *metrics, const char *kind)
{
	pthread_mutex_lock(&metrics->lock);
	add_label(metrics, &metrics->view.client_errors, kind, 1, 0);
	pthread_mutex_unlock(&metrics->lock);
}

void
metrics_rejected(Metrics *metrics, const char *reason)
{
	pthread_mutex_lock(&metrics->lock);
	add_label(metrics, &metrics->view.rejected, reason, 1, 0);
	pthread_mutex_unlock(&metrics->lock);
}

void
metrics_set_kafka_reachable(Metrics *metrics, bool reachable)
{
	pthread_mutex_lock(&metrics->lock);
	metrics->view.kafka_reachable = reachable ? 1 : 0;
	pthread_mutex_unlock(&metrics->lock);
}

void
metrics_set_kafka_min_isr(Metrics *metrics, int below, const char *example)
{
	if (below < 0)
		return;
	pthread_mutex_lock(&metrics->lock);
	metrics->view.kafka_below_min_isr = below;
	snprintf(metrics->min_isr_example, sizeof(metrics->min_isr_example), "%s", example);
	pthread_mutex_unlock(&metrics->lock);
}

/*
 * This process's start time, CPU and RSS from /proc/self/stat (fields 14,
 * 15, 22 and 24 after the parenthesised command name); left 0 if unreadable.
 */
static void
read_process_stats(MetricsView *view)
{
	char buf[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	const char *p;
	unsigned long utime;
	unsigned long stime;
	unsigned long long starttime;
	long rss;
	long ticks = sysconf(_SC_CLK_TCK);
	double uptime = 0;
	size_t n;

	if (f == NULL)
		return;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL ||
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %llu %*u %ld",
			   &utime, &stime, &starttime, &rss) != 4 ||
		ticks <= 0)
		return;
	if ((f = fopen("/proc/uptime", "r")) != NULL)
	{
		if (fscanf(f, "%lf", &uptime) != 1)
			uptime = 0;
		fclose(f);
	}
	view->process_cpu_seconds = (double) (utime + stime) / ticks;
	view->process_rss_bytes = (uint64_t) rss * (uint64_t) sysconf(_SC_PAGESIZE);
	if (uptime > 0)
		view->process_start_seconds =
			now_usec() / 1e6 - uptime + (double) starttime / ticks;
}

void
metrics_scrape(Metrics *metrics, TextBuffer *out)
{
	pthread_mutex_lock(&metrics->lock);
	metrics->view.now_usec = now_usec();
	read_process_stats(&metrics->view);
	metrics_render(&metrics->view, out);
	pthread_mutex_unlock(&metrics->lock);
}

bool
metrics_healthy(Metrics *metrics, int64_t now, int64_t stall_usec,
				char *message, size_t size)
{
	int64_t silent;

	pthread_mutex_lock(&metrics->lock);
	silent = now - metrics->heartbeat_usec;
	pthread_mutex_unlock(&metrics->lock);
	if (silent > stall_usec)
	{
		snprintf(message, size, "stalled: the main loop has not turned for %.1f s (limit %.1f s)",
				 silent / 1e6, stall_usec / 1e6);
		return false;
	}
	snprintf(message, size, "ok: the main loop turned %.1f s ago", silent / 1e6);
	return true;
}

/*
 * Brokers that answer yet refuse every acks=all write are no better than
 * brokers down: events do not flow.  "" when writes are accepted.
 */
static void
describe_refused_writes(int below, const char *example, char *text,
						size_t size)
{
	if (below <= 0)
		text[0] = '\0';
	else
		snprintf(text, size, "; Kafka refuses writes (NOT_ENOUGH_REPLICAS): %d partition%s below min.insync.replicas, e.g. %s",
				 below, below == 1 ? "" : "s", example);
}

bool
metrics_ready(Metrics *metrics, char *message, size_t size)
{
	ShipperState state;
	int kafka;
	int below;
	bool ready;
	char detail[sizeof(metrics->detail)];
	char refused[sizeof(metrics->min_isr_example) + 128];

	pthread_mutex_lock(&metrics->lock);
	state = metrics->view.state;
	kafka = metrics->view.kafka_reachable;
	below = metrics->view.kafka_below_min_isr;
	memcpy(detail, metrics->detail, sizeof(detail));
	describe_refused_writes(below, metrics->min_isr_example, refused, sizeof(refused));
	pthread_mutex_unlock(&metrics->lock);

	/*
	 * A standby counts: it is connected to PostgreSQL (a lost connection or
	 * an unreachable server turns it into "connecting" at its next try,
	 * within SLOT_BUSY_BACKOFF_MAX_MS) and able to take over.  Kafka must
	 * take writes for either: a standby that cannot produce could not
	 * take over.
	 */
	ready = (state == STATE_STREAMING || state == STATE_STANDBY) && kafka == 1 &&
			below <= 0;
	snprintf(message, size, "%s: %s%s%s; Kafka %s%s", ready ? "ready" : "not ready",
			 shipper_state_name(state), detail[0] ? " " : "", detail,
			 kafka == 1 ? "reachable" : kafka == 0 ? "unreachable"
												   : "not probed yet",
			 kafka == 1 ? refused : "");
	return ready;
}
