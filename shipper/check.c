/*
 * check.c
 *	  `outbox-shipper check`: reads what the shipper needs from PostgreSQL
 *	  and Kafka, and prints one line per item with its fix.
 *
 * The configuration is the daemon's (config_parse, the same flags and
 * variables), so the check run with a Deployment's environment checks that
 * very setup; the check's own flags are taken out of argv first.  Kafka is
 * reached with the producer configuration kafka.c builds (its defaults, the
 * -X properties, the files: kafka_conf_copy).
 *
 * Every step is bounded by --timeout: connections are made with
 * PQconnectStartParams and waited for in poll() up to a deadline (libpq's
 * connect_timeout is not enforced by PQconnectPoll), queries likewise, and
 * every librdkafka call has a timeout.  A server that swallows packets
 * makes the check slow by the timeout, never hang.
 *
 * Side effects, all of them: a temporary replication slot, dropped when
 * the replication connection closes (it proves the plugin loads and is
 * allowed), and with --produce-test one record in the topic named there.
 */
#include "check.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "config.h"
#include "kafka.h"
#include "log.h"
#include "preflight.h"
#include "stream.h"

#define CHECK_ITEMS_MAX 64
#define CHECK_TOPICS_MAX 32
#define DEFAULT_TIMEOUT_S 10.0
/* How long a cancel request may take before the check goes on without it. */
#define CANCEL_WAIT_MS 2000
#define PLUGIN "outbox_pg"

typedef struct CheckOptions
{
	char *topics[CHECK_TOPICS_MAX]; /* --topic, and the topics implied */
	int ntopics;
	const char *produce_topic; /* --produce-test, or NULL */
	bool ascii;
	double timeout; /* seconds, for each step */
} CheckOptions;

typedef struct Check
{
	ShipperConfig config;
	CheckOptions options;
	PreflightItem items[CHECK_ITEMS_MAX];
	int nitems;
	ServerFacts server;
	SlotFacts slot;
	rd_kafka_conf_t *kafka_conf; /* until rd_kafka_new takes it */
	/* librdkafka's last error, from error_cb (served by rd_kafka_poll). */
	char kafka_error[512];
	/* The test record's delivery report. */
	bool delivered;
	rd_kafka_resp_err_t delivery_error;
} Check;

/* Prints an item as soon as it is known, and keeps it for the summary. */
static PreflightItem *
next_item(Check *c)
{
	static PreflightItem overflow;

	if (c->nitems >= CHECK_ITEMS_MAX)
		return &overflow;
	return &c->items[c->nitems++];
}

static void
print_item(Check *c, const PreflightItem *item)
{
	char line[3 * PREFLIGHT_TEXT];

	preflight_format(item, c->options.ascii, line, sizeof(line));
	fputs(line, stdout);
	fflush(stdout);
}

static void
skip(Check *c, const char *what, const char *why)
{
	PreflightItem *item = next_item(c);

	preflight_skip(what, why, item);
	print_item(c, item);
}

static int64_t
deadline_after(const Check *c)
{
	return now_usec() + (int64_t) (c->options.timeout * 1e6);
}

/* ---- options */

static int
add_topic(CheckOptions *o, const char *name, char *errstr, size_t errstr_size)
{
	int i;

	for (i = 0; i < o->ntopics; i++)
		if (strcmp(o->topics[i], name) == 0)
			return 0;
	if (o->ntopics >= CHECK_TOPICS_MAX)
	{
		snprintf(errstr, errstr_size, "at most %d topics", CHECK_TOPICS_MAX);
		return -1;
	}
	if ((o->topics[o->ntopics] = strdup(name)) == NULL)
	{
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	o->ntopics++;
	return 0;
}

/*
 * The value of a check option at argv[*i] (--name=value or --name value),
 * or NULL if argv[*i] is not that option.  *missing when it has no value.
 */
static const char *
option_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc)
	{
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

static int
parse_timeout(const char *text, double *timeout, char *errstr, size_t errstr_size)
{
	char *end;

	errno = 0;
	*timeout = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !(*timeout >= 1) || *timeout > 600)
	{
		snprintf(errstr, errstr_size, "--timeout must be a number of seconds from 1 to 600, not \"%s\"", text);
		return -1;
	}
	return 0;
}

/*
 * Takes the check's own options out of argv; the rest, in order, goes to
 * rest (argv[0] first) for config_parse.
 */
static int
parse_check_options(int argc, char **argv, CheckOptions *o, char **rest, int *nrest,
					char *errstr, size_t errstr_size)
{
	const char *value;
	bool missing = false;
	int i;

	o->timeout = DEFAULT_TIMEOUT_S;
	rest[0] = argv[0];
	*nrest = 1;
	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--ascii") == 0)
			o->ascii = true;
		else if ((value = option_value(argc, argv, &i, "--topic", &missing)) != NULL)
		{
			if (add_topic(o, value, errstr, errstr_size) != 0)
				return -1;
		}
		else if ((value = option_value(argc, argv, &i, "--produce-test", &missing)) != NULL)
			o->produce_topic = value;
		else if ((value = option_value(argc, argv, &i, "--timeout", &missing)) != NULL)
		{
			if (parse_timeout(value, &o->timeout, errstr, errstr_size) != 0)
				return -1;
		}
		else if (missing)
			break;
		else
			rest[(*nrest)++] = argv[i];
	}
	if (missing)
	{
		snprintf(errstr, errstr_size, "%s needs a value", argv[i]);
		return -1;
	}
	rest[*nrest] = NULL;
	return 0;
}

/* ---- PostgreSQL, bounded */

/* Waits for fd until deadline; false when it passed or poll failed. */
static bool
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd;
	int64_t left;
	int rc;

	for (;;)
	{
		left = deadline - now_usec();
		if (left <= 0)
			return false;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, (int) ((left + 999) / 1000));
		if (rc > 0)
			return true;
		if (rc < 0 && errno != EINTR)
			return false;
	}
}

/* libpq's message on one line, without its trailing newline. */
static void
one_line(char *errstr, size_t errstr_size, const char *text)
{
	snprintf(errstr, errstr_size, "%s", text ? text : "");
	errstr[strcspn(errstr, "\n")] = '\0';
}

/*
 * A connection with the daemon's conninfo (replication=database when
 * replication), made within the timeout; NULL with errstr set.
 */
static PGconn *
pg_connect(const Check *c, bool replication, char *user, size_t user_size,
		   char *errstr, size_t errstr_size)
{
	const char *keys[] = {"application_name", "dbname", "replication", NULL};
	const char *values[] = {"outbox-shipper-check", c->config.conninfo,
							replication ? "database" : NULL, NULL};
	int64_t deadline = deadline_after(c);
	PostgresPollingStatusType polling = PGRES_POLLING_WRITING;
	PGconn *conn;

	if (!replication)
		keys[2] = NULL;
	if ((conn = PQconnectStartParams(keys, values, 1)) == NULL)
	{
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	while (polling != PGRES_POLLING_OK)
	{
		snprintf(user, user_size, "%s", PQuser(conn) ? PQuser(conn) : "");
		if (polling == PGRES_POLLING_FAILED || PQstatus(conn) == CONNECTION_BAD)
		{
			one_line(errstr, errstr_size, PQerrorMessage(conn));
			PQfinish(conn);
			return NULL;
		}
		if (!wait_fd(PQsocket(conn), polling == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline))
		{
			snprintf(errstr, errstr_size, "no answer from %s:%s within %.0f s",
					 PQhost(conn), PQport(conn), c->options.timeout);
			PQfinish(conn);
			return NULL;
		}
		polling = PQconnectPoll(conn);
	}
	return conn;
}

/* A cancel request on its own thread; freed by whoever finishes last. */
typedef struct Cancel
{
	PGcancel *cancel;
	atomic_int owners; /* the thread and the waiter */
	atomic_bool done;
} Cancel;

static void
cancel_release(Cancel *c)
{
	if (atomic_fetch_sub(&c->owners, 1) == 1)
	{
		PQfreeCancel(c->cancel);
		free(c);
	}
}

static void *
cancel_thread(void *arg)
{
	Cancel *c = arg;
	char err[256];

	(void) PQcancel(c->cancel, err, sizeof(err));
	atomic_store(&c->done, true);
	cancel_release(c);
	return NULL;
}

/*
 * Asks the server to cancel the command that did not answer in time: a
 * slot creation waiting for an old transaction would otherwise hold its
 * walsender and slot until that transaction ends, the connection closed
 * or not.  PQcancel has no timeout of its own, so it runs on a thread,
 * waited for at most CANCEL_WAIT_MS.
 */
static void
cancel_command(PGconn *conn)
{
	Cancel *c = calloc(1, sizeof(Cancel));
	pthread_t thread;
	int64_t deadline = now_usec() + CANCEL_WAIT_MS * INT64_C(1000);

	if (c == NULL || (c->cancel = PQgetCancel(conn)) == NULL)
	{
		free(c);
		return;
	}
	atomic_init(&c->owners, 2);
	atomic_init(&c->done, false);
	if (pthread_create(&thread, NULL, cancel_thread, c) != 0)
	{
		PQfreeCancel(c->cancel);
		free(c);
		return;
	}
	pthread_detach(thread);
	while (!atomic_load(&c->done) && now_usec() < deadline)
		poll(NULL, 0, 10);
	cancel_release(c);
}

/*
 * Runs sql (with up to one parameter, on an ordinary connection) within
 * the timeout.  Returns the result, whatever its status, or NULL with
 * errstr set when there was none in time.
 */
static PGresult *
pg_query(const Check *c, PGconn *conn, const char *sql, const char *param,
		 char *errstr, size_t errstr_size)
{
	int64_t deadline = deadline_after(c);
	PGresult *res;
	PGresult *extra;
	int sent;

	sent = param ? PQsendQueryParams(conn, sql, 1, NULL, &param, NULL, NULL, 0)
				 : PQsendQuery(conn, sql);
	if (!sent)
	{
		one_line(errstr, errstr_size, PQerrorMessage(conn));
		return NULL;
	}
	while (PQflush(conn) > 0 || PQisBusy(conn))
	{
		if (!wait_fd(PQsocket(conn), POLLIN, deadline))
		{
			snprintf(errstr, errstr_size, "no answer within %.0f s", c->options.timeout);
			cancel_command(conn);
			return NULL;
		}
		if (!PQconsumeInput(conn))
		{
			one_line(errstr, errstr_size, PQerrorMessage(conn));
			return NULL;
		}
	}
	res = PQgetResult(conn);
	while ((extra = PQgetResult(conn)) != NULL)
		PQclear(extra);
	return res;
}

/* A failed query's message, on one line. */
static void
result_error(PGresult *res, char *errstr, size_t errstr_size)
{
	const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	one_line(errstr, errstr_size, message ? message : PQresultErrorMessage(res));
}

static void
copy_value(char *dst, size_t size, PGresult *res, int col)
{
	snprintf(dst, size, "%s", PQgetisnull(res, 0, col) ? "" : PQgetvalue(res, 0, col));
}

/* Everything the items need but the slot and the plugins; anyone may read it. */
static const char *const SERVER_FACTS_SQL =
	"SELECT current_setting('wal_level'),"
	" current_setting('max_replication_slots')::int,"
	" (SELECT count(*) FROM pg_catalog.pg_replication_slots)::int,"
	" current_setting('max_wal_senders')::int,"
	" (SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'walsender')::int,"
	" current_setting('max_slot_wal_keep_size'),"
	" (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = '" PLUGIN "'),"
	" (SELECT default_version FROM pg_catalog.pg_available_extensions WHERE name = '" PLUGIN "'),"
	" r.rolreplication, r.rolsuper, current_database(), current_user"
	" FROM pg_catalog.pg_roles r WHERE r.rolname = current_user";

static int
read_server_facts(Check *c, PGconn *conn, char *errstr, size_t errstr_size)
{
	ServerFacts *s = &c->server;
	PGresult *res = pg_query(c, conn, SERVER_FACTS_SQL, NULL, errstr, errstr_size);

	if (res == NULL)
		return -1;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		result_error(res, errstr, errstr_size);
		PQclear(res);
		return -1;
	}
	copy_value(s->wal_level, sizeof(s->wal_level), res, 0);
	s->max_slots = atoi(PQgetvalue(res, 0, 1));
	s->used_slots = atoi(PQgetvalue(res, 0, 2));
	s->max_senders = atoi(PQgetvalue(res, 0, 3));
	s->used_senders = atoi(PQgetvalue(res, 0, 4));
	copy_value(s->keep_size, sizeof(s->keep_size), res, 5);
	copy_value(s->extension_version, sizeof(s->extension_version), res, 6);
	copy_value(s->extension_available, sizeof(s->extension_available), res, 7);
	s->replication_role = strcmp(PQgetvalue(res, 0, 8), "t") == 0;
	s->superuser = strcmp(PQgetvalue(res, 0, 9), "t") == 0;
	copy_value(s->database, sizeof(s->database), res, 10);
	copy_value(s->user, sizeof(s->user), res, 11);
	PQclear(res);
	return 0;
}

/*
 * output_plugin_libraries: NULL where the build lacks it (it is
 * Debian's), and an error (insufficient_privilege) for roles that may not
 * read it, as it is a superuser setting.
 */
static int
read_plugin_libraries(Check *c, PGconn *conn, char *errstr, size_t errstr_size)
{
	ServerFacts *s = &c->server;
	PGresult *res = pg_query(c, conn, "SELECT current_setting('output_plugin_libraries', true)",
							 NULL, errstr, errstr_size);
	const char *state;
	int rc = 0;

	if (res == NULL)
		return -1;
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		s->plugin_libraries_state = PQgetisnull(res, 0, 0) ? LIBRARIES_UNKNOWN : LIBRARIES_SET;
		copy_value(s->plugin_libraries, sizeof(s->plugin_libraries), res, 0);
	}
	else if (state != NULL && strcmp(state, "42501") == 0)
		s->plugin_libraries_state = LIBRARIES_UNREADABLE;
	else
	{
		result_error(res, errstr, errstr_size);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

static const char *const SLOT_FACTS_SQL =
	"SELECT s.slot_type, s.plugin, s.database, s.active, s.active_pid, s.wal_status,"
	" (SELECT a.application_name FROM pg_catalog.pg_stat_activity a WHERE a.pid = s.active_pid)"
	" FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = $1";

static int
read_slot_facts(Check *c, PGconn *conn, char *errstr, size_t errstr_size)
{
	SlotFacts *s = &c->slot;
	PGresult *res = pg_query(c, conn, SLOT_FACTS_SQL, c->config.slot, errstr, errstr_size);

	if (res == NULL)
		return -1;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		result_error(res, errstr, errstr_size);
		PQclear(res);
		return -1;
	}
	s->exists = PQntuples(res) == 1;
	if (s->exists)
	{
		copy_value(s->slot_type, sizeof(s->slot_type), res, 0);
		copy_value(s->plugin, sizeof(s->plugin), res, 1);
		copy_value(s->database, sizeof(s->database), res, 2);
		s->active = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
		s->active_pid = atoi(PQgetvalue(res, 0, 4));
		copy_value(s->wal_status, sizeof(s->wal_status), res, 5);
		copy_value(s->active_application, sizeof(s->active_application), res, 6);
	}
	PQclear(res);
	return 0;
}

/*
 * Creates a temporary slot with the plugin over the replication
 * connection: the server loads the plugin, checks output_plugin_libraries
 * and runs the plugin's start-up, as for the shipper's slot.  The slot
 * goes with the connection.
 */
static void
try_plugin(Check *c, PGconn *replication)
{
	PreflightItem *item = next_item(c);
	char sql[128];
	char errstr[PREFLIGHT_TEXT];
	PGresult *res;

	snprintf(sql, sizeof(sql),
			 "CREATE_REPLICATION_SLOT outbox_check_%d TEMPORARY LOGICAL " PLUGIN " NOEXPORT_SNAPSHOT",
			 (int) getpid());
	res = pg_query(c, replication, sql, NULL, errstr, sizeof(errstr));
	if (res == NULL)
		preflight_plugin_loads(errstr, true, item);
	else if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		result_error(res, errstr, sizeof(errstr));
		preflight_plugin_loads(errstr, false, item);
	}
	else
		preflight_plugin_loads(NULL, false, item);
	PQclear(res);
	print_item(c, item);
}

/* The replication connection, and with it the plugin. */
static void
check_replication(Check *c)
{
	PreflightItem *item = next_item(c);
	char errstr[PREFLIGHT_TEXT];
	char user[128];
	PGconn *replication = pg_connect(c, true, user, sizeof(user), errstr, sizeof(errstr));

	preflight_replication(replication ? NULL : errstr, &c->server, item);
	print_item(c, item);
	if (replication == NULL)
		skip(c, "output plugin " PLUGIN, "no replication connection");
	else if (strcmp(c->server.wal_level, "logical") != 0)
		skip(c, "output plugin " PLUGIN, "wal_level is not logical");
	else if (c->server.used_slots >= c->server.max_slots)
		skip(c, "output plugin " PLUGIN, "no free replication slot to try it in");
	else
		try_plugin(c, replication);
	PQfinish(replication);
}

/* The items PostgreSQL answers, in the order a new user fixes them. */
static void
check_postgres_items(Check *c)
{
	PreflightItem *item;

	preflight_wal_level(&c->server, item = next_item(c));
	print_item(c, item);
	preflight_slots(&c->server, &c->slot, item = next_item(c));
	print_item(c, item);
	preflight_senders(&c->server, item = next_item(c));
	print_item(c, item);
	preflight_plugin_allowed(&c->server, item = next_item(c));
	print_item(c, item);
	preflight_extension(&c->server, item = next_item(c));
	print_item(c, item);
	preflight_role(&c->server, item = next_item(c));
	print_item(c, item);
	check_replication(c);
	preflight_slot(c->config.slot, c->config.create_slot, &c->slot, &c->server,
				   item = next_item(c));
	print_item(c, item);
	preflight_keep_size(&c->server, item = next_item(c));
	print_item(c, item);
}

static void
check_postgres(Check *c)
{
	static const char *const dependent[] = {
		"wal_level", "max_replication_slots", "max_wal_senders",
		"output_plugin_libraries", "extension " PLUGIN, "REPLICATION attribute",
		"replication connection", "output plugin " PLUGIN, "slot",
		"max_slot_wal_keep_size"};
	PreflightItem *item = next_item(c);
	char errstr[PREFLIGHT_TEXT];
	char server[PREFLIGHT_TEXT];
	char user[128] = "";
	PGconn *conn = NULL;
	size_t i;
	int rc = -1;

	if ((conn = pg_connect(c, false, user, sizeof(user), errstr, sizeof(errstr))) != NULL &&
		read_server_facts(c, conn, errstr, sizeof(errstr)) == 0 &&
		read_plugin_libraries(c, conn, errstr, sizeof(errstr)) == 0 &&
		read_slot_facts(c, conn, errstr, sizeof(errstr)) == 0)
		rc = 0;
	if (rc == 0)
		snprintf(server, sizeof(server), "%s:%s, database \"%s\" as \"%s\", PostgreSQL %d",
				 PQhost(conn), PQport(conn), c->server.database, c->server.user,
				 PQserverVersion(conn) / 10000);
	PQfinish(conn);
	preflight_connection(rc == 0 ? NULL : errstr, server, user, item);
	print_item(c, item);
	if (rc == 0)
		check_postgres_items(c);
	else
		for (i = 0; i < sizeof(dependent) / sizeof(dependent[0]); i++)
			skip(c, dependent[i], "no connection to PostgreSQL");
}

/* ---- Kafka, bounded */

static void
on_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	Check *c = opaque;

	(void) rk;
	/* The first cause; _ALL_BROKERS_DOWN names none. */
	if (c->kafka_error[0] == '\0' || err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		snprintf(c->kafka_error, sizeof(c->kafka_error), "%s: %s",
				 rd_kafka_err2name((rd_kafka_resp_err_t) err), reason);
}

static void
on_kafka_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	Check *c = opaque;

	(void) rk;
	c->delivered = true;
	c->delivery_error = msg->err;
}

/* librdkafka's own lines only with --verbose: the items say what failed. */
static void
on_kafka_log(const rd_kafka_t *rk, int level, const char *facility, const char *buf)
{
	(void) rk;
	(void) level;
	log_debug("Kafka %s: %s", facility, buf);
}

/*
 * The shipper's producer configuration (kafka.c: defaults, properties,
 * files), with the check's callbacks, no topic created by a metadata
 * request, and a delivery bounded by the timeout.
 */
static rd_kafka_conf_t *
producer_conf(Check *c, char *errstr, size_t errstr_size)
{
	rd_kafka_conf_t *conf = kafka_conf_copy(&c->config, errstr, errstr_size);
	char timeout[32];
	char err[512];

	if (conf == NULL)
		return NULL;
	rd_kafka_conf_set_opaque(conf, c);
	rd_kafka_conf_set_error_cb(conf, on_kafka_error);
	rd_kafka_conf_set_dr_msg_cb(conf, on_kafka_delivery);
	rd_kafka_conf_set_log_cb(conf, on_kafka_log);
	snprintf(timeout, sizeof(timeout), "%d", (int) (c->options.timeout * 1000));
	if (rd_kafka_conf_set(conf, "message.timeout.ms", timeout, err, sizeof(err)) != RD_KAFKA_CONF_OK ||
		rd_kafka_conf_set(conf, "allow.auto.create.topics", "false", err, sizeof(err)) != RD_KAFKA_CONF_OK)
	{
		snprintf(errstr, errstr_size, "%s", err);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	return conf;
}

/* The cluster's answer to a metadata request; -1 with errstr set. */
static int
kafka_brokers(Check *c, rd_kafka_t *rk, char *errstr, size_t errstr_size)
{
	const struct rd_kafka_metadata *metadata = NULL;
	rd_kafka_resp_err_t err;
	int brokers;

	err = rd_kafka_metadata(rk, 0, NULL, &metadata, (int) (c->options.timeout * 1000));
	/* Serves error_cb: the cause of a failure. */
	rd_kafka_poll(rk, 0);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		snprintf(errstr, errstr_size, "no metadata from %s within %.0f s (%s)%s%s",
				 c->config.brokers ? c->config.brokers : "bootstrap.servers",
				 c->options.timeout, rd_kafka_err2name(err),
				 c->kafka_error[0] ? ": " : "", c->kafka_error);
		return -1;
	}
	brokers = metadata->broker_cnt;
	rd_kafka_metadata_destroy(metadata);
	return brokers;
}

/* Partitions, replicas and in-sync replicas of one topic. */
static void
topic_metadata(Check *c, rd_kafka_t *rk, TopicFacts *facts)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, facts->name, NULL);
	const struct rd_kafka_metadata *metadata = NULL;
	const rd_kafka_metadata_topic_t *t;
	rd_kafka_resp_err_t err;
	int p;

	err = rkt ? rd_kafka_metadata(rk, 0, rkt, &metadata, (int) (c->options.timeout * 1000))
			  : rd_kafka_last_error();
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR && metadata->topic_cnt == 1)
	{
		t = &metadata->topics[0];
		err = t->err;
		facts->partitions = t->partition_cnt;
		facts->replicas = facts->in_sync = t->partition_cnt > 0 ? INT32_MAX : 0;
		for (p = 0; p < t->partition_cnt; p++)
		{
			if (t->partitions[p].replica_cnt < facts->replicas)
				facts->replicas = t->partitions[p].replica_cnt;
			if (t->partitions[p].isr_cnt < facts->in_sync)
				facts->in_sync = t->partitions[p].isr_cnt;
		}
	}
	facts->missing = err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
					 err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR && !facts->missing)
		snprintf(facts->error, sizeof(facts->error), "%s: %s", rd_kafka_err2name(err),
				 rd_kafka_err2str(err));
	if (metadata)
		rd_kafka_metadata_destroy(metadata);
	if (rkt)
		rd_kafka_topic_destroy(rkt);
}

/* min.insync.replicas of a topic (DescribeConfigs); 0 when unknown. */
static int
topic_min_insync(Check *c, rd_kafka_t *rk, const char *topic)
{
	rd_kafka_ConfigResource_t *resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
	rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
	rd_kafka_AdminOptions_t *options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
	const rd_kafka_DescribeConfigs_result_t *result;
	const rd_kafka_ConfigResource_t **described;
	rd_kafka_event_t *event;
	int timeout_ms = (int) (c->options.timeout * 1000);
	char err[256];
	size_t count = 0;
	int min_insync = 0;

	rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, err, sizeof(err));
	rd_kafka_DescribeConfigs(rk, &resource, 1, options, queue);
	event = rd_kafka_queue_poll(queue, timeout_ms + 1000);
	if (event != NULL && rd_kafka_event_error(event) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		(result = rd_kafka_event_DescribeConfigs_result(event)) != NULL)
	{
		described = rd_kafka_DescribeConfigs_result_resources(result, &count);
		if (count == 1 && rd_kafka_ConfigResource_error(described[0]) == RD_KAFKA_RESP_ERR_NO_ERROR)
			min_insync = kafka_config_min_isr(described[0]);
	}
	if (event != NULL)
		rd_kafka_event_destroy(event);
	rd_kafka_ConfigResource_destroy(resource);
	rd_kafka_AdminOptions_destroy(options);
	rd_kafka_queue_destroy(queue);
	return min_insync;
}

static void
check_topics(Check *c, rd_kafka_t *rk)
{
	TopicFacts facts;
	PreflightItem *item;
	int i;

	if (c->options.ntopics == 0)
	{
		preflight_topics_unknown(c->config.topic_template, item = next_item(c));
		print_item(c, item);
	}
	for (i = 0; i < c->options.ntopics; i++)
	{
		memset(&facts, 0, sizeof(facts));
		snprintf(facts.name, sizeof(facts.name), "%s", c->options.topics[i]);
		topic_metadata(c, rk, &facts);
		if (!facts.missing && facts.error[0] == '\0')
			facts.min_insync = topic_min_insync(c, rk, facts.name);
		preflight_topic(&facts, item = next_item(c));
		print_item(c, item);
	}
}

/* One record, waited for within the timeout (message.timeout.ms). */
static void
check_produce(Check *c, rd_kafka_t *rk)
{
	static const char value[] = "outbox-shipper check: a test record; ignore it";
	PreflightItem *item = next_item(c);
	const char *topic = c->options.produce_topic;
	rd_kafka_resp_err_t err;
	int64_t deadline = deadline_after(c) + 1000000;

	err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
							RD_KAFKA_V_VALUE((void *) value, sizeof(value) - 1),
							RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
							RD_KAFKA_V_HEADER("outbox_check", "true", -1), RD_KAFKA_V_END);
	while (err == RD_KAFKA_RESP_ERR_NO_ERROR && !c->delivered && now_usec() < deadline)
		rd_kafka_poll(rk, 100);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		err = c->delivered ? c->delivery_error : RD_KAFKA_RESP_ERR__TIMED_OUT;
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		preflight_produce(topic, NULL, NULL, item);
	else
		preflight_produce(topic, rd_kafka_err2name(err), rd_kafka_err2str(err), item);
	print_item(c, item);
}

static void
check_kafka(Check *c)
{
	PreflightItem *item = next_item(c);
	char errstr[PREFLIGHT_TEXT];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c->kafka_conf, errstr, sizeof(errstr));
	int brokers = -1;

	if (rk == NULL)
		preflight_kafka(-1, errstr, item);
	else
	{
		c->kafka_conf = NULL; /* rd_kafka_new took it */
		brokers = kafka_brokers(c, rk, errstr, sizeof(errstr));
		preflight_kafka(brokers, brokers >= 0 ? NULL : errstr, item);
	}
	print_item(c, item);
	if (brokers < 0)
	{
		skip(c, "topics", "Kafka did not answer");
		if (c->options.produce_topic)
			skip(c, "produce", "Kafka did not answer");
	}
	else
	{
		check_topics(c, rk);
		if (c->options.produce_topic)
			check_produce(c, rk);
	}
	if (rk != NULL)
	{
		/* The test record is acknowledged or timed out: nothing to wait for. */
		rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_destroy(rk);
	}
}

/* ---- the whole */

/*
 * The topics implied by the configuration: the template's one topic when
 * it has no placeholder, the dead-letter topic, the produce test's.
 */
static int
implied_topics(Check *c, char *errstr, size_t errstr_size)
{
	char topic[TOPIC_NAME_MAX + 1];

	if (preflight_fixed_topic(c->config.topic_template, topic) &&
		add_topic(&c->options, topic, errstr, errstr_size) != 0)
		return -1;
	if (c->config.dead_letter_topic &&
		add_topic(&c->options, c->config.dead_letter_topic, errstr, errstr_size) != 0)
		return -1;
	if (c->options.produce_topic &&
		add_topic(&c->options, c->options.produce_topic, errstr, errstr_size) != 0)
		return -1;
	return 0;
}

static void
print_summary(const Check *c, int status)
{
	int counts[4] = {0, 0, 0, 0};
	int i;

	for (i = 0; i < c->nitems; i++)
		counts[c->items[i].verdict]++;
	printf("%s: %d passed, %d warning%s, %d failed, %d skipped\n",
		   status == 0 ? "ready: the shipper can start" : "not ready",
		   counts[PREFLIGHT_PASS], counts[PREFLIGHT_WARN], counts[PREFLIGHT_WARN] == 1 ? "" : "s",
		   counts[PREFLIGHT_FAIL], counts[PREFLIGHT_SKIP]);
}

/*
 * The configuration, or -1 with errstr set: exit 1, as the daemon's for the
 * same flags, variables, connection string, password file or properties.
 */
static int
configure(Check *c, int argc, char **argv, char **envp, char *errstr, size_t errstr_size)
{
	char **rest = calloc((size_t) argc + 1, sizeof(char *));
	int nrest;
	int rc = -1;

	if (rest == NULL)
		snprintf(errstr, errstr_size, "out of memory");
	else if (parse_check_options(argc, argv, &c->options, rest, &nrest, errstr, errstr_size) == 0 &&
			 config_parse(nrest, rest, envp, &c->config, errstr, errstr_size) == 0)
		rc = c->config.show_help || c->config.show_version ? 0 : implied_topics(c, errstr, errstr_size);
	free(rest);
	if (rc != 0 || c->config.show_help || c->config.show_version)
		return rc;
	if (stream_check_conninfo(c->config.conninfo, errstr, errstr_size) != 0 ||
		(c->kafka_conf = producer_conf(c, errstr, errstr_size)) == NULL)
		return -1;
	return 0;
}

static void
check_free(Check *c)
{
	int i;

	for (i = 0; i < c->options.ntopics; i++)
		free(c->options.topics[i]);
	if (c->kafka_conf != NULL)
		rd_kafka_conf_destroy(c->kafka_conf);
	config_free(&c->config);
	free(c);
}

int
check_main(int argc, char **argv, char **envp)
{
	Check *c = calloc(1, sizeof(Check));
	char errstr[1024];
	int status;

	if (c == NULL)
	{
		fprintf(stderr, "outbox-shipper check: out of memory\n");
		return 1;
	}
	if (configure(c, argc, argv, envp, errstr, sizeof(errstr)) != 0)
	{
		fprintf(stderr, "outbox-shipper check: %s\n", errstr);
		check_free(c);
		return 1;
	}
	if (c->config.show_help || c->config.show_version)
	{
		fputs(c->config.show_help ? config_usage() : "outbox-shipper " SHIPPER_VERSION "\n", stdout);
		check_free(c);
		return 0;
	}
	log_setup(c->config.log_format == LOG_FORMAT_JSON, c->config.verbose);
	setlocale(LC_CTYPE, "");
	c->options.ascii |= !preflight_utf8(nl_langinfo(CODESET));
	check_postgres(c);
	check_kafka(c);
	status = preflight_exit_status(c->items, c->nitems);
	print_summary(c, status);
	check_free(c);
	return status;
}
