/*
 * shipper_cpu.c
 *	  The shipper's CPU cost per event, measured without PostgreSQL.
 *
 * Feeds N plugin messages, as the walsender sends them (XLogData holding
 * the plugin's JSON event: docs/format.md), through the code the shipper
 * runs per event: walproto_parse, event_parse, tracker_add, kafka_produce
 * (topic rendering, headers, librdkafka), then the delivery reports that
 * feed the tracker, in the shape of main.c's loop (reads in batches of
 * READ_BATCH, the in-flight caps, kafka_serve and the confirmed position
 * between batches).  Each message is first copied into a fresh malloc'd
 * buffer, as libpq's PQgetCopyData hands it over.  What is left out: the
 * socket reads and the status updates to PostgreSQL.
 *
 * The broker is librdkafka's mock cluster, in a child process so its CPU
 * is not counted (or a real one with -b).  The measured interval starts
 * after the messages are built and the producer has the topic's metadata,
 * and ends when every event is acknowledged and the tracker confirms the
 * last transaction's end: the run fails unless it does.
 *
 * Prints events, wall time and process CPU (getrusage: every thread,
 * librdkafka's included) per event.  Under valgrind --tool=callgrind the
 * interval's cost is dumped as "measured" (bench/Makefile reads it).
 *
 *	  shipper_cpu [-n EVENTS] [-t EVENTS_PER_TXN] [-H HEADERS] [-p PARTITIONS]
 *				  [-B BATCH] [-- SHIPPER OPTIONS...]
 *
 * Shipper options are the shipper's own (-b BROKERS, -X name=value, ...);
 * without -b the mock cluster is used.  The batches librdkafka sends depend
 * on time (linger.ms), and valgrind runs some 50 times slower, which would
 * make its batches tiny and its counts those of another workload: -B sends
 * a partition's records when BATCH of them wait (batch.num.messages, with
 * linger.ms=1000 that the run never reaches), the same under valgrind as
 * without.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <valgrind/callgrind.h>

#include "clock.h"
#include "config.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "tracker.h"
#include "walproto.h"

/* As in main.c. */
#define READ_BATCH 1000
#define MAX_WAIT_MS 500

#define TOPIC "outbox.event.order"

typedef struct Options
{
	long events;
	int per_txn;
	int headers;
	int partitions;
	char *batch; /* -B: records per batch, batches by count alone */
	int shipper_argc;
	char **shipper_argv;
} Options;

/* The messages, back to back: each a 4-byte length, then its bytes. */
typedef struct Messages
{
	char *data;
	size_t size;
	size_t used;
	Lsn last_end_lsn;
} Messages;

static void
die(const char *what)
{
	fprintf(stderr, "shipper_cpu: %s\n", what);
	exit(1);
}

static void
put_be64(char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--)
	{
		p[i] = (char) (v & 0xFF);
		v >>= 8;
	}
}

/*
 * The plugin's JSON for one event (an order with an array of line objects
 * and numeric prices, ~150 bytes of payload), as tests/regress expects it.
 */
static int
event_json(char *buf, size_t size, const Options *o, long i, Lsn commit_lsn,
		   Lsn end_lsn, int seq, bool last)
{
	char headers[512] = "null";
	char end[64] = "";
	size_t used = 0;
	int h;

	if (o->headers > 0)
	{
		used = (size_t) snprintf(headers, sizeof(headers),
								 "{\"traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e%04lx-00f067aa0ba902b7-01\"",
								 i % 0x10000);
		for (h = 1; h < o->headers && used < sizeof(headers); h++)
			used += (size_t) snprintf(headers + used, sizeof(headers) - used,
									  ",\"x-header-%d\":\"value %d\"", h, h);
		if (used + 2 > sizeof(headers))
			die("too many headers");
		strcat(headers, "}");
	}
	if (last)
		snprintf(end, sizeof(end), ",\"last\":true,\"end_lsn\":\"%X/%X\"",
				 (unsigned) (end_lsn >> 32), (unsigned) end_lsn);
	return snprintf(buf, size,
					"{\"v\":1,\"id\":\"5f0c3a9e-7d1b-4c2e-9a4f-%012lx\",\"aggregate_type\":\"order\","
					"\"aggregate_id\":\"%ld\",\"event_type\":\"OrderCreated\","
					"\"payload\":{\"customer\":{\"id\":%ld,\"name\":\"Ada Lovelace\"},"
					"\"lines\":[{\"sku\":\"A-1\",\"qty\":2,\"price\":9.95},{\"sku\":\"B-22\",\"qty\":1,\"price\":19.5}],"
					"\"total\":39.4,\"currency\":\"EUR\"},"
					"\"headers\":%s,\"created_at\":\"2026-11-29T20:51:08.%06ldZ\","
					"\"commit_lsn\":\"%X/%X\",\"xid\":%ld,\"commit_time\":\"2026-11-29T20:51:08.%06ldZ\","
					"\"seq\":%d%s}",
					i, (i * 7919) % 10000, 10000 + i % 90000, headers, i % 1000000,
					(unsigned) (commit_lsn >> 32), (unsigned) commit_lsn,
					750 + i / o->per_txn, (i + 17) % 1000000, seq, end);
}

/* XLogData messages for every event, LSNs increasing as the walsender's do. */
static void
build_messages(const Options *o, Messages *m)
{
	char json[2048];
	Lsn lsn = UINT64_C(0x100000000);
	Lsn commit_lsn = 0;
	Lsn end_lsn = 0;
	long i;
	int len;

	m->size = (size_t) o->events * 1024;
	m->used = 0;
	if ((m->data = malloc(m->size)) == NULL)
		die("out of memory");
	for (i = 0; i < o->events; i++)
	{
		int seq = (int) (i % o->per_txn);
		bool last = seq == o->per_txn - 1 || i == o->events - 1;

		if (seq == 0)
		{
			commit_lsn = lsn + (Lsn) o->per_txn * 600;
			end_lsn = commit_lsn + 48;
			lsn = end_lsn + 8;
		}
		len = event_json(json, sizeof(json), o, i, commit_lsn, end_lsn, seq, last);
		if (len < 0 || (size_t) len >= sizeof(json) || m->used + 4 + 25 + (size_t) len > m->size)
			die("event too large");
		memcpy(m->data + m->used, &(uint32_t){(uint32_t) (25 + len)}, 4);
		m->data[m->used + 4] = 'w';
		put_be64(m->data + m->used + 5, commit_lsn - 500 + (Lsn) seq * 40);
		put_be64(m->data + m->used + 13, commit_lsn - 500 + (Lsn) seq * 40);
		put_be64(m->data + m->used + 21, 0);
		memcpy(m->data + m->used + 29, json, (size_t) len);
		m->used += 4 + 25 + (size_t) len;
		m->last_end_lsn = end_lsn;
	}
}

/*
 * A mock cluster in a child process; returns its bootstrap servers.  It
 * lives until its pipe closes (this process exits).
 */
static pid_t
start_mock_cluster(int partitions, char *bootstraps, size_t size)
{
	int to_parent[2];
	int from_parent[2];
	pid_t pid;
	ssize_t n;

	if (pipe(to_parent) != 0 || pipe(from_parent) != 0 || (pid = fork()) < 0)
		die("could not start the mock cluster");
	if (pid == 0)
	{
		rd_kafka_conf_t *conf = rd_kafka_conf_new();
		char err[512];
		rd_kafka_t *rk;
		rd_kafka_mock_cluster_t *mcluster;
		const char *servers;
		char c;

		close(to_parent[0]);
		close(from_parent[1]);
		/* Its handle has no brokers of its own: no warning about that. */
		rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
		if ((rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))) == NULL || (mcluster = rd_kafka_mock_cluster_new(rk, 1)) == NULL)
			_exit(1);
		rd_kafka_mock_topic_create(mcluster, TOPIC, partitions, 1);
		servers = rd_kafka_mock_cluster_bootstraps(mcluster);
		if (write(to_parent[1], servers, strlen(servers)) < 0)
			_exit(1);
		close(to_parent[1]);
		while (read(from_parent[0], &c, 1) < 0 && errno == EINTR)
			;
		rd_kafka_mock_cluster_destroy(mcluster);
		rd_kafka_destroy(rk);
		_exit(0);
	}
	close(to_parent[1]);
	close(from_parent[0]);
	n = read(to_parent[0], bootstraps, size - 1);
	if (n <= 0)
		die("the mock cluster did not start");
	bootstraps[n] = '\0';
	close(to_parent[0]);
	return pid;
}

/* Waits up to MAX_WAIT_MS for reports, then serves them (main.c's wait). */
static void
wait_and_serve(Kafka *kafka)
{
	struct pollfd pfd = {.fd = kafka_wait_fd(kafka), .events = POLLIN};

	(void) poll(&pfd, 1, MAX_WAIT_MS);
	kafka_serve(kafka);
}

typedef struct Run
{
	Kafka *kafka;
	Tracker *tracker;
	Metrics *metrics;
	ShipperConfig config;
	ShipperCounters counters;
	ShipperEvent event; /* reused, as main.c does */
} Run;

/* One message as main.c's read_messages and ship_event handle it. */
static void
ship_one(Run *r, const char *bytes, size_t len)
{
	char *copy = malloc(len);
	WalMessage msg;
	ShipperEvent *event = &r->event;
	TrackerTxn txn = 0;
	KafkaStatus status;
	char errstr[512];

	/* libpq's PQgetCopyData hands each message over in a new buffer. */
	if (copy == NULL)
		die("out of memory");
	memcpy(copy, bytes, len);
	while (!tracker_has_room(r->tracker, (size_t) r->config.max_inflight_events,
							 (size_t) r->config.max_inflight_bytes, len - 25))
		wait_and_serve(r->kafka);
	if (walproto_parse(copy, len, &msg, errstr, sizeof(errstr)) != 0 ||
		event_reparse(msg.data, msg.data_len, event, errstr, sizeof(errstr)) != 0)
		die(errstr);
	r->counters.events_received++;
	r->counters.bytes_received += msg.data_len;
	if (tracker_add(r->tracker, event->commit_lsn, event->seq, event->last, event->end_lsn,
					msg.data_len, &txn, errstr, sizeof(errstr)) != TRACKER_TRACKED)
		die(errstr);
	while ((status = kafka_produce(r->kafka, event, msg.data, msg.data_len, txn)) == KAFKA_QUEUE_FULL)
		wait_and_serve(r->kafka);
	if (status != KAFKA_QUEUED)
		die(kafka_failure(r->kafka));
	free(copy);
}

/* Between read batches, as main.c's run_stream does. */
static void
between_batches(Run *r)
{
	kafka_serve(r->kafka);
	r->counters.inflight_events = tracker_inflight_events(r->tracker);
	r->counters.inflight_bytes = tracker_inflight_bytes(r->tracker);
	r->counters.events_delivered = (uint64_t) kafka_delivered(r->kafka);
	metrics_publish(r->metrics, &r->counters, monotonic_usec());
	r->counters.confirmed_lsn = tracker_confirmed(r->tracker);
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		   (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Produces one event and waits for it: the topic's metadata is known. */
static void
warm_up(Run *r, const Options *o)
{
	Options one = *o;
	Messages m;
	uint32_t len;

	one.events = 1;
	one.per_txn = 1;
	build_messages(&one, &m);
	memcpy(&len, m.data, 4);
	ship_one(r, m.data + 4, len);
	while (tracker_inflight_events(r->tracker) > 0)
		wait_and_serve(r->kafka);
	free(m.data);
}

static void
parse_options(int argc, char **argv, Options *o)
{
	int c;

	o->events = 200000;
	o->per_txn = 10;
	o->headers = 1;
	o->partitions = 6;
	o->batch = NULL;
	while ((c = getopt(argc, argv, "n:t:H:p:B:")) != -1)
		switch (c)
		{
			case 'n':
				o->events = atol(optarg);
				break;
			case 't':
				o->per_txn = atoi(optarg);
				break;
			case 'H':
				o->headers = atoi(optarg);
				break;
			case 'p':
				o->partitions = atoi(optarg);
				break;
			case 'B':
				o->batch = optarg;
				break;
			default:
				die("usage: shipper_cpu [-n EVENTS] [-t EVENTS_PER_TXN] [-H HEADERS] [-p PARTITIONS] [-B BATCH] [-- SHIPPER OPTIONS]");
		}
	if (o->events < 1 || o->per_txn < 1 || o->headers < 0 || o->partitions < 1)
		die("-n, -t and -p must be positive, -H at least 0");
	o->shipper_argc = argc - optind;
	o->shipper_argv = argv + optind;
}

/* The shipper's configuration: its options, with the mock's brokers if none. */
static void
configure(const Options *o, Run *r, bool *use_mock, char *brokers, size_t size)
{
	char **argv = calloc((size_t) o->shipper_argc + 8, sizeof(char *));
	char *envp[] = {NULL};
	char errstr[1024];
	char batch[64];
	int argc = 0;
	int i;

	*use_mock = true;
	for (i = 0; i < o->shipper_argc; i++)
		if (strcmp(o->shipper_argv[i], "-b") == 0 || strncmp(o->shipper_argv[i], "--brokers", 9) == 0)
			*use_mock = false;
	argv[argc++] = "outbox-shipper";
	if (*use_mock)
	{
		start_mock_cluster(o->partitions, brokers, size);
		argv[argc++] = "-b";
		argv[argc++] = brokers;
	}
	if (o->batch)
	{
		snprintf(batch, sizeof(batch), "batch.num.messages=%s", o->batch);
		argv[argc++] = "-X";
		argv[argc++] = "linger.ms=1000";
		argv[argc++] = "-X";
		argv[argc++] = batch;
	}
	for (i = 0; i < o->shipper_argc; i++)
		argv[argc++] = o->shipper_argv[i];
	if (config_parse(argc, argv, envp, &r->config, errstr, sizeof(errstr)) != 0)
		die(errstr);
	free(argv);
}

int
main(int argc, char **argv)
{
	Options o;
	Messages m;
	Run r;
	bool use_mock;
	char brokers[256];
	char errstr[1024];
	size_t at = 0;
	long n = 0;
	double cpu;
	int64_t wall;
	uint32_t len;

	memset(&r, 0, sizeof(r));
	parse_options(argc, argv, &o);
	configure(&o, &r, &use_mock, brokers, sizeof(brokers));
	log_setup(false, false);
	build_messages(&o, &m);
	r.tracker = tracker_create(0);
	r.metrics = metrics_create(kafka_library_version(), "none");
	if ((r.kafka = kafka_create(&r.config, r.tracker, r.metrics, errstr, sizeof(errstr))) == NULL)
		die(errstr);
	warm_up(&r, &o);

	CALLGRIND_ZERO_STATS;
	cpu = cpu_seconds();
	wall = monotonic_usec();
	while (at < m.used)
	{
		memcpy(&len, m.data + at, 4);
		ship_one(&r, m.data + at + 4, len);
		at += 4 + len;
		if (++n % READ_BATCH == 0)
			between_batches(&r);
	}
	while (tracker_inflight_events(r.tracker) > 0 && kafka_failure(r.kafka) == NULL)
	{
		wait_and_serve(r.kafka);
		between_batches(&r);
	}
	between_batches(&r);
	wall = monotonic_usec() - wall;
	cpu = cpu_seconds() - cpu;
	CALLGRIND_DUMP_STATS_AT("measured");

	if (kafka_failure(r.kafka))
		die(kafka_failure(r.kafka));
	if (tracker_confirmed(r.tracker) != m.last_end_lsn || kafka_delivered(r.kafka) != o.events + 1)
		die("not every event was acknowledged and confirmed");
	printf("events %ld (%d per transaction, %d event header%s, %s), avg message %zu bytes\n",
		   o.events, o.per_txn, o.headers, o.headers == 1 ? "" : "s",
		   use_mock ? "mock cluster" : r.config.brokers, m.used / (size_t) o.events - 4);
	printf("wall %.3f s = %.0f events/s; process CPU %.3f s = %.2f us/event\n",
		   wall / 1e6, o.events / (wall / 1e6), cpu, cpu * 1e6 / (double) o.events);
	kafka_destroy(r.kafka);
	tracker_destroy(r.tracker);
	metrics_destroy(r.metrics);
	event_free(&r.event);
	config_free(&r.config);
	free(m.data);
	return 0;
}
