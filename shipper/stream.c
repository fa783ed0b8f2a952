/*
 * stream.c
 *	  Streaming an outbox_pg slot over a replication connection.
 *
 * Modelled on pg_recvlogical's loop: asynchronous PQgetCopyData, waiting
 * on PQsocket with a timeout, every message length-checked (walproto.c),
 * PQputCopyEnd and a bounded drain of what the server still sends on
 * close.  Unlike pg_recvlogical it never confirms a position on its own:
 * the caller says what Kafka has acknowledged.
 *
 * Nothing here blocks on the server: the connection is made with
 * PQconnectStartParams/PQconnectPoll, every command is sent with
 * PQsendQuery and waited for in poll(), and the socket is non-blocking
 * while streaming.  Every wait is bounded, and calls the caller's idle hook
 * at least every IDLE_SLICE_MS, which keeps /healthz fresh and lets a stop
 * request end a wait for a slow command (slot creation waits for every
 * running transaction).  A link that dies silently is found by the silence
 * limit (liveness.h) and, underneath, TCP keepalives and tcp_user_timeout,
 * whose defaults the connection string can override (LINK_DEFAULTS).
 *
 * Slots are created only when the caller allows it (main: on a first
 * start, never after streaming), and never dropped: a slot created late
 * starts at the current WAL position, and dropping one loses every event
 * not yet shipped.
 */
#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <libpq-fe.h>

#include "clock.h"
#include "liveness.h"
#include "log.h"

#define PLUGIN_NAME "outbox_pg"
#define SQLSTATE_OBJECT_IN_USE "55006" /* slot active for another PID */
#define SQLSTATE_DUPLICATE_OBJECT "42710" /* slot exists already */
#define CLOSE_TIMEOUT_MS 5000
/* Commands other than slot creation: IDENTIFY_SYSTEM, queries, START_REPLICATION. */
#define COMMAND_TIMEOUT_MS 30000
/* The idle hook runs at least this often during a wait. */
#define IDLE_SLICE_MS 100
/* The silence limit where wal_sender_timeout is 0 (off). */
#define DEFAULT_SILENCE_LIMIT_MS 60000
/* A silent link doubles the next connection's limit, up to this factor. */
#define MAX_SILENCE_FACTOR 8

struct Stream
{
	const ShipperConfig *config;
	StreamIdle idle;
	void *idle_arg;
	PGconn *conn;
	char *copybuf; /* the last message, freed on the next read */
	bool streaming;
	bool flush_pending; /* libpq holds output the socket did not take */
	Liveness liveness;
	/*
	 * A false alarm would restart decoding from the slot's restart point:
	 * if that fell in a transaction the server takes longer than the limit
	 * to decode in silence, every connection would end there for ever.  So
	 * each silent link doubles the next connection's limit, until the
	 * stream confirms past where the silence was.
	 */
	int silence_factor; /* 0 or 1: none */
	Lsn silent_at; /* the position confirmed when the link went silent */
	Lsn sent_confirmed; /* the last position sent to the server */
};

/* How a wait for the server ended. */
typedef enum WaitEnd
{
	WAIT_READY,
	WAIT_TIMED_OUT,
	WAIT_INTERRUPTED, /* the idle hook said stop */
	WAIT_FAILED /* poll() failed */
} WaitEnd;

/* Copies text into errstr up to its first newline (libpq ends with one). */
static void
one_line(char *errstr, size_t errstr_size, const char *prefix, const char *text)
{
	snprintf(errstr, errstr_size, "%s%s", prefix, text ? text : "");
	errstr[strcspn(errstr, "\n")] = '\0';
}

/* The value of keyword in parsed options, or NULL when unset or empty. */
static const char *
option_value(const PQconninfoOption *opts, const char *keyword)
{
	for (; opts->keyword; opts++)
		if (strcmp(opts->keyword, keyword) == 0)
			return opts->val && opts->val[0] ? opts->val : NULL;
	return NULL;
}

/*
 * libpq ignores a password file that its group or others may read, and
 * says so only with a raw line on stderr (which breaks JSON logs) before
 * "no password supplied".  A Kubernetes Secret volume is such a file
 * (0440 with fsGroup), so the shipper names it at start instead.  Only a
 * file the user named (passfile, PGPASSFILE): a stray ~/.pgpass is read by
 * libpq only when the server asks for a password, which certificate
 * authentication never does.
 */
static int
check_passfile(const PQconninfoOption *opts, char *errstr, size_t errstr_size)
{
	const char *path = option_value(opts, "passfile");
	struct stat st;

	if (option_value(opts, "password") != NULL || (getenv("PGPASSWORD") && getenv("PGPASSWORD")[0]))
		return 0;
	if (path == NULL)
		path = getenv("PGPASSFILE");
	if (path == NULL || path[0] == '\0' || stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
		(st.st_mode & (S_IRWXG | S_IRWXO)) == 0)
		return 0;
	snprintf(errstr, errstr_size,
			 "password file \"%s\" may be read by its group or others (mode %04o), so libpq ignores it HINT: chmod 0600 it, owned by the shipper's user. A Kubernetes Secret volume is group-readable: give the password in PGPASSWORD from the Secret, or authenticate with a client certificate (README, Transport security).",
			 path, (unsigned) (st.st_mode & 07777));
	return -1;
}

/*
 * Checks a conninfo once at start: a typo, or a password file libpq will
 * ignore, must not be retried.
 */
int
stream_check_conninfo(const char *conninfo, char *errstr, size_t errstr_size)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &err);
	int rc;

	if (opts == NULL)
	{
		one_line(errstr, errstr_size, "invalid connection string: ",
				 err ? err : "out of memory");
		if (err)
			PQfreemem(err);
		return -1;
	}
	rc = check_passfile(opts, errstr, errstr_size);
	PQconninfoFree(opts);
	return rc;
}

Stream *
stream_create(const ShipperConfig *config, StreamIdle idle, void *idle_arg)
{
	Stream *stream = calloc(1, sizeof(Stream));

	if (stream)
	{
		stream->config = config;
		stream->idle = idle;
		stream->idle_arg = idle_arg;
	}
	return stream;
}

void
stream_destroy(Stream *stream)
{
	if (stream == NULL)
		return;
	stream_close(stream);
	free(stream);
}

bool
stream_connected(const Stream *stream)
{
	return stream->conn != NULL && stream->streaming;
}

/*
 * The walsender's errors for an invalidated slot (SQLSTATE 55000): at
 * START_REPLICATION, and when the slot is lost while streaming.
 */
#define SLOT_INVALIDATED "cannot read from logical replication slot"
#define SLOT_INVALIDATED_STREAMING "can no longer get changes from replication slot"

static bool
slot_invalidated(const char *message)
{
	return strstr(message, SLOT_INVALIDATED) != NULL ||
		   strstr(message, SLOT_INVALIDATED_STREAMING) != NULL;
}

/*
 * Errors whose retry cannot help: bad options, privileges, missing objects,
 * an invalidated slot.
 */
static bool
error_is_fatal(const char *state, const char *message)
{
	if (slot_invalidated(message))
		return true;
	return state != NULL &&
		   (strncmp(state, "22", 2) == 0 || strncmp(state, "42", 2) == 0 ||
			strncmp(state, "0A", 2) == 0 || strncmp(state, "28", 2) == 0);
}

/* Our own hint for errors a user can fix, or NULL. */
static const char *
extra_hint(const char *message, const char *hint)
{
	if (hint && strstr(hint, "output_plugin_libraries") != NULL)
		return "Add outbox_pg to output_plugin_libraries in postgresql.conf (e.g. output_plugin_libraries = 'pgoutput, outbox_pg') and reload.";
	if (strstr(message, "replication role") != NULL ||
		strstr(message, "permission denied") != NULL)
		return "The shipper's role needs the REPLICATION attribute (ALTER ROLE name REPLICATION) and a pg_hba.conf line for its database.";
	if (strstr(message, "does not exist") != NULL && strstr(message, "replication slot") != NULL)
		return "Create the slot (SELECT pg_create_logical_replication_slot(name, 'outbox_pg')), then ship what it missed with outbox.replay(since => ...) (README, Operations).";
	if (slot_invalidated(message))
		return "The slot lost WAL it still needed (wal_status \"lost\", e.g. past max_slot_wal_keep_size), so its events there can never be decoded. Drop and create the slot, then ship what it missed with outbox.replay(since => ...): see the README, Operations.";
	return NULL;
}

/* Formats a failed command's error into errstr and classifies it. */
static StreamStatus
result_error(PGresult *res, const char *what, char *errstr, size_t errstr_size)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	const char *ours;

	if (message == NULL)
		message = PQresultErrorMessage(res);
	ours = extra_hint(message, hint);
	snprintf(errstr, errstr_size, "%s: %s%s%s%s%s%s%s%s%s%s", what, message,
			 state ? " (SQLSTATE " : "", state ? state : "", state ? ")" : "",
			 detail ? " DETAIL: " : "", detail ? detail : "",
			 hint || ours ? " HINT: " : "", hint ? hint : "",
			 hint && ours ? " " : "", ours ? ours : "");
	errstr[strcspn(errstr, "\n")] = '\0';
	if (state && strcmp(state, SQLSTATE_OBJECT_IN_USE) == 0)
		return STREAM_SLOT_BUSY;
	return error_is_fatal(state, message) ? STREAM_FATAL : STREAM_RETRY;
}

/*
 * Classifies a failed connection: a server that is down or restarting is
 * retried; one that refuses these credentials or this role will refuse
 * them again.  Returns our hint, or NULL.
 */
static StreamStatus
connection_error(PGconn *conn, const char **hint)
{
	const char *message = PQerrorMessage(conn);

	*hint = extra_hint(message, NULL);
	if (*hint != NULL)
		return STREAM_FATAL;
	if (strstr(message, "pg_hba.conf") != NULL)
	{
		*hint = "Add a line for the shipper's role and this database to pg_hba.conf and reload: a logical replication connection matches database lines, not \"replication\" ones.";
		return STREAM_FATAL;
	}
	if (strstr(message, "authentication failed") != NULL || PQconnectionNeedsPassword(conn))
		return STREAM_FATAL;
	return STREAM_RETRY;
}

/*
 * The server's NOTICE and WARNING messages (the plugin warns about a
 * declared column that is gone, for one) go through our logger at their
 * level: libpq's default prints them to stderr, which breaks JSON logs.
 */
static void
on_notice(void *arg, const PGresult *res)
{
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	LogLevel level = LOG_INFO;
	char text[1024];
	char *c;

	(void) arg;
	if (severity == NULL)
		severity = "NOTICE";
	if (strcmp(severity, "WARNING") == 0)
		level = LOG_WARNING;
	else if (strcmp(severity, "DEBUG") == 0)
		level = LOG_DEBUG;
	if (message == NULL)
		message = PQresultErrorMessage(res);
	snprintf(text, sizeof(text), "PostgreSQL %s: %s%s%s%s%s", severity, message,
			 detail ? " DETAIL: " : "", detail ? detail : "", hint ? " HINT: " : "",
			 hint ? hint : "");
	/* One line each, as every other log line. */
	for (c = text; *c; c++)
		if (*c == '\n')
			*c = ' ';
	log_message(level, "%s", text);
}

/*
 * The plugin writes JSON in the database's encoding, unconverted: only a
 * UTF8 database gives Kafka consumers valid JSON (SQL_ASCII stores bytes
 * unchecked, so it cannot promise it either).
 */
static StreamStatus
check_encoding(Stream *stream, StreamInfo *info, char *errstr, size_t errstr_size)
{
	const char *encoding = PQparameterStatus(stream->conn, "server_encoding");

	if (encoding != NULL && strcmp(encoding, "UTF8") == 0)
		return STREAM_OK;
	snprintf(errstr, errstr_size,
			 "database \"%s\" on %s has encoding %s, not UTF8: outbox_pg writes events in the database's encoding and Kafka consumers need UTF-8 JSON HINT: Keep the outbox in a UTF8 database (CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0) and point --dbname at it.",
			 PQdb(stream->conn), info->server, encoding ? encoding : "(unknown)");
	return STREAM_FATAL;
}

/*
 * Waits until fd is ready for events, deadline passes (INT64_MAX: never),
 * or, when interruptible, the idle hook says stop; the hook runs every
 * IDLE_SLICE_MS.  A signal ends a slice early, nothing more.
 */
static WaitEnd
wait_socket(Stream *stream, int fd, short events, int64_t deadline, bool interruptible)
{
	struct pollfd pfd;
	int64_t left;
	int ms;
	int rc;

	for (;;)
	{
		left = deadline - now_usec();
		if (left <= 0)
			return WAIT_TIMED_OUT;
		/* Rounded up: a wait never ends just before the deadline. */
		ms = left / 1000 + 1 < IDLE_SLICE_MS ? (int) ((left + 999) / 1000) : IDLE_SLICE_MS;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, ms);
		if (rc < 0 && errno != EINTR)
			return WAIT_FAILED;
		if (rc > 0)
			return WAIT_READY;
		if (interruptible && stream->idle && !stream->idle(stream->idle_arg))
			return WAIT_INTERRUPTED;
	}
}

/*
 * libpq ignores connect_timeout in PQconnectPoll (only its blocking calls
 * enforce it), so the attempt's deadline is ours: connect_timeout for each
 * host of the connection string, none when it is 0 or unset.  A host that
 * swallows packets fails earlier, at tcp_user_timeout, and libpq moves on
 * to the next host.
 */
static int64_t
connect_deadline(PGconn *conn)
{
	PQconninfoOption *options = PQconninfo(conn);
	PQconninfoOption *o;
	long timeout_s = 0;
	int hosts = 1;
	const char *c;

	for (o = options; o && o->keyword; o++)
	{
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "connect_timeout") == 0)
			timeout_s = strtol(o->val, NULL, 10);
		else if (strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0)
			for (c = o->val, hosts = 1; *c; c++)
				hosts += *c == ',';
	}
	PQconninfoFree(options);
	if (timeout_s <= 0)
		return INT64_MAX;
	/* libpq's own minimum */
	if (timeout_s < 2)
		timeout_s = 2;
	return now_usec() + (int64_t) timeout_s * hosts * 1000000;
}

/* Runs PQconnectPoll to the end, waiting in wait_socket. */
static StreamStatus
poll_connection(Stream *stream, char *errstr, size_t errstr_size)
{
	PostgresPollingStatusType polling = PGRES_POLLING_WRITING;
	int64_t deadline = connect_deadline(stream->conn);
	short events;

	for (;;)
	{
		if (polling == PGRES_POLLING_OK)
			return STREAM_OK;
		if (polling == PGRES_POLLING_FAILED || PQstatus(stream->conn) == CONNECTION_BAD)
			return STREAM_RETRY; /* the caller reads PQerrorMessage */
		events = polling == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		switch (wait_socket(stream, PQsocket(stream->conn), events, deadline, true))
		{
			case WAIT_READY:
				break;
			case WAIT_INTERRUPTED:
				snprintf(errstr, errstr_size, "connecting to PostgreSQL: interrupted");
				return STREAM_INTERRUPTED;
			case WAIT_TIMED_OUT:
				snprintf(errstr, errstr_size,
						 "could not connect to PostgreSQL: no answer from %s:%s within connect_timeout HINT: Check that the server is up and reachable; connect_timeout in the connection string (or PGCONNECT_TIMEOUT) sets the limit, 10 s by default.",
						 PQhost(stream->conn), PQport(stream->conn));
				return STREAM_RETRY;
			case WAIT_FAILED:
				snprintf(errstr, errstr_size, "poll failed: %s", strerror(errno));
				return STREAM_RETRY;
		}
		polling = PQconnectPoll(stream->conn);
	}
}

/*
 * Opens a logical replication connection ("replication=database"),
 * without blocking.
 *
 * The keywords before dbname are defaults the user's connection string
 * overrides; replication, after it, is ours.  The link defaults make a
 * dead link fail within about 30 s even where nothing is sent (keepalives:
 * 15 s idle, then 3 probes 5 s apart) and where data stays unacknowledged
 * (tcp_user_timeout); a bounded connect keeps retries going while a server
 * is unreachable.  PGCONNECT_TIMEOUT, if set, is the user's choice.
 */
static StreamStatus
open_connection(Stream *stream, StreamInfo *info, char *errstr, size_t errstr_size)
{
	const char *keys[] = {"application_name", "connect_timeout", "keepalives",
						  "keepalives_idle", "keepalives_interval", "keepalives_count",
						  "tcp_user_timeout", "dbname", "replication", NULL};
	const char *values[] = {"outbox-shipper", "10", "1", "15", "5", "3", "30000",
							stream->config->conninfo, "database", NULL};
	const char *hint;
	StreamStatus status;

	if (getenv("PGCONNECT_TIMEOUT") != NULL)
		values[1] = getenv("PGCONNECT_TIMEOUT");
	stream->conn = PQconnectStartParams(keys, values, 1);
	if (stream->conn == NULL)
	{
		snprintf(errstr, errstr_size, "could not connect to PostgreSQL: out of memory");
		return STREAM_RETRY;
	}
	status = poll_connection(stream, errstr, errstr_size);
	if (status == STREAM_RETRY && PQstatus(stream->conn) == CONNECTION_BAD)
	{
		status = connection_error(stream->conn, &hint);
		one_line(errstr, errstr_size, "could not connect to PostgreSQL: ",
				 PQerrorMessage(stream->conn));
		if (hint)
			snprintf(errstr + strlen(errstr), errstr_size - strlen(errstr), " HINT: %s", hint);
	}
	if (status != STREAM_OK)
		return status;
	PQsetNoticeReceiver(stream->conn, on_notice, NULL);
	snprintf(info->server, sizeof(info->server), "%s:%s/%s as %s",
			 PQhost(stream->conn), PQport(stream->conn), PQdb(stream->conn),
			 PQuser(stream->conn));
	if (PQsetnonblocking(stream->conn, 1) != 0)
	{
		one_line(errstr, errstr_size, "could not make the connection non-blocking: ",
				 PQerrorMessage(stream->conn));
		return STREAM_RETRY;
	}
	return check_encoding(stream, info, errstr, errstr_size);
}

/* Takes in what the socket has; false when the connection broke. */
static bool
consume(PGconn *conn)
{
	return PQconsumeInput(conn) != 0;
}

/*
 * Reads and discards the results left of a command, until deadline; not
 * interruptible (it runs on the way out).
 */
static void
discard_results(Stream *stream, int64_t deadline)
{
	PGresult *res;

	for (;;)
	{
		while (PQisBusy(stream->conn))
			if (wait_socket(stream, PQsocket(stream->conn), POLLIN, deadline, false) != WAIT_READY ||
				!consume(stream->conn))
				return;
		if ((res = PQgetResult(stream->conn)) == NULL)
			return;
		PQclear(res);
	}
}

/*
 * PQcancel connects to the server and waits for it to close that
 * connection, with no timeout: behind a proxy that stopped forwarding it
 * would never return.  So it runs on a thread of its own, which owns the
 * PGcancel and ends when PQcancel does; the main loop does not wait for it.
 */
static void *
cancel_thread(void *arg)
{
	PGcancel *cancel = arg;
	char err[256];

	(void) PQcancel(cancel, err, sizeof(err));
	PQfreeCancel(cancel);
	return NULL;
}

/* Asks the server to cancel the running command, and reads what is left. */
static void
cancel_command(Stream *stream)
{
	PGcancel *cancel = PQgetCancel(stream->conn);
	pthread_attr_t attr;
	pthread_t thread;

	if (cancel != NULL)
	{
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&thread, &attr, cancel_thread, cancel) != 0)
			PQfreeCancel(cancel);
		pthread_attr_destroy(&attr);
	}
	discard_results(stream, now_usec() + CLOSE_TIMEOUT_MS * INT64_C(1000));
}

/* How run_command ended. */
typedef enum CommandEnd
{
	COMMAND_DONE, /* *res is the result, maybe an error */
	COMMAND_TIMED_OUT, /* cancelled */
	COMMAND_INTERRUPTED, /* cancelled: a stop was requested */
	COMMAND_BROKEN /* the connection broke, or the command could not be sent */
} CommandEnd;

/*
 * Sends a command and waits for its result at most timeout_ms, in poll(),
 * the idle hook turning.  A command that takes too long, or is
 * interrupted, is cancelled.  On COMMAND_DONE *res is the first result (the
 * caller clears it); a COPY result is left for the copy protocol.
 */
static CommandEnd
run_command(Stream *stream, const char *command, int timeout_ms, PGresult **res)
{
	PGconn *conn = stream->conn;
	int64_t deadline = now_usec() + (int64_t) timeout_ms * 1000;
	PGresult *extra;
	ExecStatusType status;
	int flushed;
	WaitEnd end;

	*res = NULL;
	if (!PQsendQuery(conn, command))
		return COMMAND_BROKEN;
	while ((flushed = PQflush(conn)) != 0 || PQisBusy(conn))
	{
		if (flushed < 0)
			return COMMAND_BROKEN;
		end = wait_socket(stream, PQsocket(conn), flushed ? POLLIN | POLLOUT : POLLIN,
						  deadline, true);
		if (end == WAIT_READY)
		{
			if (!consume(conn))
				return COMMAND_BROKEN;
			continue;
		}
		if (end == WAIT_FAILED)
			return COMMAND_BROKEN;
		cancel_command(stream);
		return end == WAIT_INTERRUPTED ? COMMAND_INTERRUPTED : COMMAND_TIMED_OUT;
	}
	*res = PQgetResult(conn);
	status = PQresultStatus(*res);
	if (status == PGRES_COPY_BOTH || status == PGRES_COPY_OUT || status == PGRES_COPY_IN)
		return COMMAND_DONE;
	/* Simple protocol: the rest is in the buffer already. */
	while ((extra = PQgetResult(conn)) != NULL)
		PQclear(extra);
	return COMMAND_DONE;
}

/*
 * What a command that did not end says; STREAM_OK only for COMMAND_DONE.
 * what is the command, for the message.
 */
static StreamStatus
command_status(Stream *stream, CommandEnd end, const char *what, int timeout_ms,
			   char *errstr, size_t errstr_size)
{
	switch (end)
	{
		case COMMAND_DONE:
			return STREAM_OK;
		case COMMAND_TIMED_OUT:
			snprintf(errstr, errstr_size, "%s: no answer from %s within %d s: the server is overloaded or the link is down",
					 what, PQhost(stream->conn), timeout_ms / 1000);
			return STREAM_RETRY;
		case COMMAND_INTERRUPTED:
			snprintf(errstr, errstr_size, "%s: interrupted", what);
			return STREAM_INTERRUPTED;
		case COMMAND_BROKEN:
			break;
	}
	snprintf(errstr, errstr_size, "%s: replication connection lost: ", what);
	one_line(errstr + strlen(errstr), errstr_size - strlen(errstr), "",
			 PQerrorMessage(stream->conn));
	return STREAM_RETRY;
}

/* Runs a command within COMMAND_TIMEOUT_MS; STREAM_OK with *res set. */
static StreamStatus
exec_command(Stream *stream, const char *command, const char *what, PGresult **res,
			 char *errstr, size_t errstr_size)
{
	return command_status(stream, run_command(stream, command, COMMAND_TIMEOUT_MS, res),
						  what, COMMAND_TIMEOUT_MS, errstr, errstr_size);
}

static StreamStatus
identify_system(Stream *stream, StreamInfo *info, char *errstr, size_t errstr_size)
{
	PGresult *res;
	StreamStatus status = exec_command(stream, "IDENTIFY_SYSTEM", "IDENTIFY_SYSTEM", &res,
									   errstr, errstr_size);

	if (status != STREAM_OK)
		return status;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		status = result_error(res, "IDENTIFY_SYSTEM failed", errstr, errstr_size);
	else if (PQntuples(res) != 1 || PQnfields(res) < 4 ||
			 lsn_parse(PQgetvalue(res, 0, 2), strlen(PQgetvalue(res, 0, 2)), &info->server_lsn) != 0)
	{
		snprintf(errstr, errstr_size, "IDENTIFY_SYSTEM returned an unexpected result");
		status = STREAM_FATAL;
	}
	else
	{
		snprintf(info->system_id, sizeof(info->system_id), "%s", PQgetvalue(res, 0, 0));
		info->timeline = (unsigned) strtoul(PQgetvalue(res, 0, 1), NULL, 10);
		snprintf(info->dbname, sizeof(info->dbname), "%s", PQgetvalue(res, 0, 3));
	}
	PQclear(res);
	return status;
}

/*
 * Runs a query with name as a literal over the replication connection
 * (simple protocol); STREAM_OK with *res set.
 */
static StreamStatus
query_one_row(Stream *stream, const char *fmt, const char *name, const char *what,
			  PGresult **res, char *errstr, size_t errstr_size)
{
	char *literal = PQescapeLiteral(stream->conn, name, strlen(name));
	char query[1024];

	if (literal == NULL)
	{
		one_line(errstr, errstr_size, "", PQerrorMessage(stream->conn));
		return STREAM_RETRY;
	}
	snprintf(query, sizeof(query), fmt, literal);
	PQfreemem(literal);
	return exec_command(stream, query, what, res, errstr, errstr_size);
}

/*
 * Whether the server is a standby, and the settings the shipper warns
 * about: wal_sender_timeout (against a too long status interval), and on
 * 17+ sync_replication_slots and synchronized_standby_slots (NULL before).
 */
static StreamStatus
read_server_state(Stream *stream, StreamInfo *info, char *errstr, size_t errstr_size)
{
	PGresult *res;
	StreamStatus status;

	status = exec_command(stream,
						  "SELECT pg_catalog.pg_is_in_recovery(), "
						  "(SELECT setting FROM pg_catalog.pg_settings WHERE name = 'wal_sender_timeout'), "
						  "(SELECT setting FROM pg_catalog.pg_settings WHERE name = 'sync_replication_slots'), "
						  "(SELECT setting FROM pg_catalog.pg_settings WHERE name = 'synchronized_standby_slots')",
						  "reading the server's state", &res, errstr, errstr_size);
	info->server_version = PQserverVersion(stream->conn);
	if (status != STREAM_OK)
		return status;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 4)
		status = result_error(res, "could not read the server's state", errstr, errstr_size);
	else
	{
		info->in_recovery = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		info->wal_sender_timeout_ms = atoi(PQgetvalue(res, 0, 1));
		info->sync_slots = strcmp(PQgetvalue(res, 0, 2), "on") == 0;
		info->standby_slots_set = PQgetvalue(res, 0, 3)[0] != '\0';
	}
	PQclear(res);
	return status;
}

/*
 * Logical decoding on a standby came with PostgreSQL 16; before, the
 * server refuses it with an error that looks retryable.
 */
static StreamStatus
check_standby(const StreamInfo *info, char *errstr, size_t errstr_size)
{
	if (!info->in_recovery || info->server_version >= 160000)
		return STREAM_OK;
	snprintf(errstr, errstr_size,
			 "%s is a standby, and PostgreSQL %d cannot decode on a standby (16 and later can) HINT: Point the shipper at the primary; with several hosts in the connection string, add target_session_attrs=read-write.",
			 info->server, info->server_version / 10000);
	return STREAM_FATAL;
}

/*
 * A slot that cannot decode any more, or a failover slot's synchronized
 * copy on a standby, which PostgreSQL lets nobody decode from until the
 * standby is promoted.  Either way the shipper must not create another:
 * a new slot starts at the current WAL position.
 */
static StreamStatus
check_slot_usable(Stream *stream, PGresult *res, StreamInfo *info, char *errstr,
				  size_t errstr_size)
{
	if (!PQgetisnull(res, 0, 6))
	{
		snprintf(errstr, errstr_size,
				 "replication slot \"%s\" on %s is invalidated (%s): the WAL or catalog rows its events need are gone, so they can never be decoded from it. Not creating another: a new slot starts at the current WAL position HINT: Drop and create the slot, then ship what it missed with outbox.replay(since => ...): see the README, Operations.",
				 stream->config->slot, info->server, PQgetvalue(res, 0, 6));
		return STREAM_FATAL;
	}
	if (info->in_recovery && info->slot_synced)
	{
		snprintf(errstr, errstr_size,
				 "replication slot \"%s\" on standby %s is a failover slot synchronized from the primary: it can be streamed from only once this standby is promoted HINT: Point the shipper at the primary; with several hosts in the connection string, add target_session_attrs=read-write so that it follows a promotion.",
				 stream->config->slot, info->server);
		return STREAM_FATAL;
	}
	return STREAM_OK;
}

/* Whether an existing slot is one the shipper can stream from. */
static StreamStatus
check_slot_row(Stream *stream, PGresult *res, StreamInfo *info, char *errstr,
			   size_t errstr_size)
{
	const char *lsn = PQgetvalue(res, 0, 3);

	if (strcmp(PQgetvalue(res, 0, 1), "logical") != 0 ||
		strcmp(PQgetvalue(res, 0, 0), PLUGIN_NAME) != 0)
	{
		snprintf(errstr, errstr_size,
				 "replication slot \"%s\" is a %s slot of plugin \"%s\", not a logical slot of outbox_pg; give another --slot",
				 stream->config->slot, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 0));
		return STREAM_FATAL;
	}
	if (strcmp(PQgetvalue(res, 0, 2), "t") != 0)
	{
		snprintf(errstr, errstr_size,
				 "replication slot \"%s\" belongs to another database than \"%s\"",
				 stream->config->slot, PQdb(stream->conn));
		return STREAM_FATAL;
	}
	if (lsn_parse(lsn, strlen(lsn), &info->slot_confirmed) != 0)
		info->slot_confirmed = 0;
	info->slot_failover = PQgetisnull(res, 0, 4) ? -1 : strcmp(PQgetvalue(res, 0, 4), "t") == 0;
	info->slot_synced = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
	return check_slot_usable(stream, res, info, errstr, errstr_size);
}

/*
 * The columns after confirmed_flush_lsn: failover, synced and why the slot
 * is invalidated, or NULL (17+).  Before 17 START_REPLICATION refuses an
 * invalidated slot, which is fatal too (slot_invalidated).
 */
static const char *
slot_state_columns(int server_version)
{
	if (server_version >= 170000)
		return "failover, synced, invalidation_reason";
	return "NULL::bool, NULL::bool, NULL::text";
}

/* Checks the slot if it exists; *missing tells whether it does. */
static StreamStatus
check_slot(Stream *stream, StreamInfo *info, bool *missing, char *errstr,
		   size_t errstr_size)
{
	char query[512];
	PGresult *res;
	StreamStatus status = STREAM_OK;

	snprintf(query, sizeof(query),
			 "SELECT plugin, slot_type, database = current_database(), confirmed_flush_lsn, %s "
			 "FROM pg_catalog.pg_replication_slots WHERE slot_name = %%s",
			 slot_state_columns(info->server_version));
	*missing = false;
	status = query_one_row(stream, query, stream->config->slot, "looking up the replication slot",
						   &res, errstr, errstr_size);
	if (status != STREAM_OK)
		return status;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		status = result_error(res, "could not look up the replication slot", errstr, errstr_size);
	else if (PQntuples(res) == 0)
		*missing = true;
	else
		status = check_slot_row(stream, res, info, errstr, errstr_size);
	PQclear(res);
	return status;
}

/*
 * Whether to create a failover slot: under "auto" where the server can
 * make one (17+, on a primary); asked for explicitly, an error elsewhere.
 */
static StreamStatus
want_failover(Stream *stream, const StreamInfo *info, bool *failover, char *errstr,
			  size_t errstr_size)
{
	FailoverMode mode = stream->config->failover;

	*failover = mode != FAILOVER_OFF && info->server_version >= 170000 && !info->in_recovery;
	if (mode != FAILOVER_ON || *failover)
		return STREAM_OK;
	if (info->server_version < 170000)
		snprintf(errstr, errstr_size,
				 "--failover: %s runs PostgreSQL %d, which has no failover slots (17 and later have) HINT: Drop --failover (OUTBOX_FAILOVER), or see the README, Failover, for what to do on this version.",
				 info->server, info->server_version / 10000);
	else
		snprintf(errstr, errstr_size,
				 "--failover: %s is a standby, where PostgreSQL cannot create a failover slot (they are created on the primary and synchronized to standbys) HINT: Drop --failover to decode on this standby with an ordinary slot.",
				 info->server);
	return STREAM_FATAL;
}

/* Why creating the slot took too long, and what helps. */
static void
creation_timed_out(Stream *stream, const StreamInfo *info, int timeout_ms,
				   char *errstr, size_t errstr_size)
{
	snprintf(errstr, errstr_size,
			 "creating replication slot \"%s\" on %s did not finish within %d s (half of --stall-timeout): %s",
			 stream->config->slot, info->server, timeout_ms / 1000,
			 info->in_recovery
				 ? "the standby has not yet replayed a running-transactions record from its primary, which a new slot needs to start at a consistent point HINT: Run SELECT pg_log_standby_snapshot() on the primary (PostgreSQL writes one every 15 s only while it is busy)."
				 : "a slot starts after the transactions running when it was created, and one of them has not ended HINT: See pg_stat_activity for long transactions.");
}

static StreamStatus
create_slot(Stream *stream, StreamInfo *info, char *errstr, size_t errstr_size)
{
	const char *slot = stream->config->slot;
	int timeout_ms = (int) (stream->config->stall_timeout * 500);
	char *ident;
	char query[512];
	PGresult *res;
	StreamStatus status;
	const char *state;
	const char *lsn;
	bool failover;
	CommandEnd end;

	if ((status = want_failover(stream, info, &failover, errstr, errstr_size)) != STREAM_OK)
		return status;
	if ((ident = PQescapeIdentifier(stream->conn, slot, strlen(slot))) == NULL)
		return STREAM_RETRY;
	snprintf(query, sizeof(query), "CREATE_REPLICATION_SLOT %s LOGICAL %s%s", ident, PLUGIN_NAME,
			 failover ? " (FAILOVER true)" : "");
	PQfreemem(ident);
	if (info->in_recovery)
		log_info("creating replication slot \"%s\" on standby %s: PostgreSQL waits for a running-transactions record from the primary (written every 15 s while it is busy; SELECT pg_log_standby_snapshot() on the primary writes one at once); waiting at most %d s",
				 slot, info->server, timeout_ms / 1000);
	end = run_command(stream, query, timeout_ms, &res);
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (end == COMMAND_TIMED_OUT)
		creation_timed_out(stream, info, timeout_ms, errstr, errstr_size);
	else if (end != COMMAND_DONE)
		status = command_status(stream, end, "could not create the replication slot",
								timeout_ms, errstr, errstr_size);
	else if (PQresultStatus(res) == PGRES_TUPLES_OK && PQnfields(res) >= 2)
	{
		lsn = PQgetvalue(res, 0, 1);
		if (lsn_parse(lsn, strlen(lsn), &info->slot_confirmed) != 0)
			info->slot_confirmed = 0;
		info->slot_created = true;
		info->slot_failover = info->server_version >= 170000 ? failover : -1;
		PQclear(res);
		return STREAM_OK;
	}
	else if (state != NULL && strcmp(state, SQLSTATE_DUPLICATE_OBJECT) == 0)
		snprintf(errstr, errstr_size, "replication slot \"%s\" was created concurrently", slot);
	else
		status = result_error(res, "could not create the replication slot", errstr, errstr_size);
	PQclear(res);
	/* Timed out, or another shipper created it just now: look again. */
	return status == STREAM_OK ? STREAM_RETRY : status;
}

/*
 * A standby that synchronizes failover slots from its primary would stop
 * doing so for a slot of the same name created here: the slot belongs on
 * the primary, and appears here once synchronized.
 */
static StreamStatus
check_may_create_here(Stream *stream, const StreamInfo *info, char *errstr,
					  size_t errstr_size)
{
	if (!info->in_recovery || !info->sync_slots)
		return STREAM_OK;
	snprintf(errstr, errstr_size,
			 "replication slot \"%s\" does not exist on standby %s, which synchronizes failover slots from its primary (sync_replication_slots = on): not creating it here, which would stop that synchronization HINT: Stream from the primary (several hosts and target_session_attrs=read-write in the connection string); the slot appears on this standby once the primary's slot is a failover slot and synchronized (pg_replication_slots.synced).",
			 stream->config->slot, info->server);
	return STREAM_FATAL;
}

/*
 * Finds the slot, or creates it if missing and may_create.  A missing slot
 * that may not be created is STREAM_SLOT_MISSING, errstr naming the server
 * and its timeline; the caller adds why and what to do.
 */
static StreamStatus
prepare_slot(Stream *stream, bool may_create, StreamInfo *info, char *errstr,
			 size_t errstr_size)
{
	bool missing;
	StreamStatus status = check_slot(stream, info, &missing, errstr, errstr_size);

	if (status != STREAM_OK || !missing)
		return status;
	if (!may_create)
	{
		snprintf(errstr, errstr_size,
				 "replication slot \"%s\" does not exist on %s (system %s, timeline %u)",
				 stream->config->slot, info->server, info->system_id, info->timeline);
		return STREAM_SLOT_MISSING;
	}
	errstr[0] = '\0';
	if ((status = check_may_create_here(stream, info, errstr, errstr_size)) != STREAM_OK)
		return status;
	return create_slot(stream, info, errstr, errstr_size);
}

/* START_REPLICATION with the plugin options, malloc'd; NULL on failure. */
static char *
build_start_command(Stream *stream)
{
	const ShipperConfig *config = stream->config;
	char *slot = PQescapeIdentifier(stream->conn, config->slot, strlen(config->slot));
	size_t size = 128 + (slot ? strlen(slot) : 0);
	char *query;
	int i;

	for (i = 0; i < config->nplugin_options; i++)
		size += 2 * (strlen(config->plugin_options[i].name) +
					 strlen(config->plugin_options[i].value)) +
				16;
	if (slot == NULL || (query = malloc(size)) == NULL)
	{
		PQfreemem(slot);
		return NULL;
	}
	snprintf(query, size, "START_REPLICATION SLOT %s LOGICAL 0/0", slot);
	PQfreemem(slot);
	for (i = 0; i < config->nplugin_options; i++)
	{
		const NameValue *opt = &config->plugin_options[i];
		char *name = PQescapeIdentifier(stream->conn, opt->name, strlen(opt->name));
		char *value = PQescapeLiteral(stream->conn, opt->value, strlen(opt->value));
		size_t len = strlen(query);

		snprintf(query + len, size - len, "%s%s %s", i == 0 ? " (" : ", ",
				 name ? name : "", value ? value : "''");
		PQfreemem(name);
		PQfreemem(value);
	}
	if (config->nplugin_options > 0)
		strcat(query, ")");
	return query;
}

/* Parses the PID out of "replication slot ... is active for PID N". */
static int
busy_pid(const char *errstr)
{
	const char *p = strstr(errstr, "PID ");

	return p ? atoi(p + 4) : 0;
}

static StreamStatus
start_replication(Stream *stream, StreamInfo *info, char *errstr, size_t errstr_size)
{
	char *query = build_start_command(stream);
	PGresult *res;
	StreamStatus status = STREAM_OK;
	char what[128];

	if (query == NULL)
	{
		snprintf(errstr, errstr_size, "out of memory");
		return STREAM_RETRY;
	}
	snprintf(what, sizeof(what), "could not start streaming from slot \"%s\"",
			 stream->config->slot);
	status = exec_command(stream, query, what, &res, errstr, errstr_size);
	free(query);
	if (status != STREAM_OK)
		return status;
	if (PQresultStatus(res) != PGRES_COPY_BOTH)
	{
		status = result_error(res, what, errstr, errstr_size);
		if (status == STREAM_SLOT_BUSY)
			info->busy_pid = busy_pid(errstr);
	}
	PQclear(res);
	return status;
}

/*
 * Connects, checks the server and the slot (creating it if missing and
 * may_create), and starts streaming from the slot's confirmed position.
 */
StreamStatus
stream_connect(Stream *stream, bool may_create, StreamInfo *info, char *errstr,
			   size_t errstr_size)
{
	StreamStatus status;

	stream_close(stream);
	memset(info, 0, sizeof(*info));
	errstr[0] = '\0';
	status = open_connection(stream, info, errstr, errstr_size);
	if (status == STREAM_OK)
		status = identify_system(stream, info, errstr, errstr_size);
	if (status == STREAM_OK)
		status = read_server_state(stream, info, errstr, errstr_size);
	if (status == STREAM_OK)
		status = check_standby(info, errstr, errstr_size);
	if (status == STREAM_OK)
		status = prepare_slot(stream, may_create, info, errstr, errstr_size);
	if (status == STREAM_OK)
		status = start_replication(stream, info, errstr, errstr_size);
	if (status != STREAM_OK)
	{
		PQfinish(stream->conn);
		stream->conn = NULL;
		return status;
	}
	stream->streaming = true;
	stream->flush_pending = false;
	info->silence_limit_ms = info->wal_sender_timeout_ms > 0 ? info->wal_sender_timeout_ms
															 : DEFAULT_SILENCE_LIMIT_MS;
	if (stream->silence_factor > 1)
		info->silence_limit_ms *= stream->silence_factor;
	liveness_start(&stream->liveness, (int64_t) info->silence_limit_ms * 1000, monotonic_usec());
	return STREAM_OK;
}

/* The copy ended or broke: says why, from the final result if any. */
static int
copy_ended(Stream *stream, int len, char *errstr, size_t errstr_size)
{
	PGresult *res = PQgetResult(stream->conn);

	if (res && PQresultStatus(res) == PGRES_FATAL_ERROR)
		(void) result_error(res, "replication stream ended", errstr, errstr_size);
	else if (len == -1)
		snprintf(errstr, errstr_size, "replication stream ended: the server ended the copy");
	else
		one_line(errstr, errstr_size, "replication connection lost: ",
				 PQerrorMessage(stream->conn));
	PQclear(res);
	stream->streaming = false;
	return -1;
}

/*
 * Reads one message without waiting.  Returns 1 with msg set (valid until
 * the next call), 0 when none is buffered (stream_wait, then read again),
 * -1 when the stream ended, broke, or sent something malformed.
 */
int
stream_read(Stream *stream, WalMessage *msg, char *errstr, size_t errstr_size)
{
	int len;

	if (stream->copybuf)
	{
		PQfreemem(stream->copybuf);
		stream->copybuf = NULL;
	}
	len = PQgetCopyData(stream->conn, &stream->copybuf, 1);
	if (len == 0)
		return 0;
	if (len < 0)
		return copy_ended(stream, len, errstr, errstr_size);
	if (walproto_parse(stream->copybuf, (size_t) len, msg, errstr, errstr_size) != 0)
		return -1;
	liveness_heard(&stream->liveness, monotonic_usec());
	return 1;
}

/*
 * Whether the server is still there (liveness.h): 0 yes, 1 when a probe is
 * due (the caller sends a status update now, which asks for a reply), -1
 * when it has been silent for the whole limit: the link is presumed lost.
 */
int
stream_check_alive(Stream *stream, char *errstr, size_t errstr_size)
{
	int64_t now = monotonic_usec();

	switch (liveness_check(&stream->liveness, now))
	{
		case LIVENESS_ALIVE:
			return 0;
		case LIVENESS_PROBE:
			return 1;
		case LIVENESS_LOST:
			break;
	}
	snprintf(errstr, errstr_size,
			 "replication connection lost: no message from PostgreSQL for %.1f s, not even an answer to a status update that asked for one (silence limit %d ms: the server's wal_sender_timeout, or %d ms where that is 0, doubled after each silent link until the stream moves on) HINT: A network partition or a proxy that stopped forwarding looks like this; to find it sooner, lower wal_sender_timeout for the shipper alone: options=-c wal_sender_timeout=10s in the connection string.",
			 (double) liveness_silent_usec(&stream->liveness, now) / 1e6,
			 (int) (stream->liveness.limit_usec / 1000), DEFAULT_SILENCE_LIMIT_MS);
	if (stream->silence_factor < 1)
		stream->silence_factor = 1;
	if (stream->silence_factor < MAX_SILENCE_FACTOR)
		stream->silence_factor *= 2;
	stream->silent_at = stream->sent_confirmed;
	stream->streaming = false;
	return -1;
}

/*
 * Waits up to timeout_ms for the replication socket (when want_stream)
 * or other_fd (when >= 0) to become readable, then takes in what arrived.
 * Returns 0 (also on a signal: the caller checks its flags), -1 when the
 * connection broke.
 */
int
stream_wait(Stream *stream, bool want_stream, int other_fd, int timeout_ms,
			char *errstr, size_t errstr_size)
{
	struct pollfd fds[2];
	int n = 0;
	int rc;
	int flushed = 0;
	bool polled_stream = false;

	if (!want_stream)
		liveness_not_reading(&stream->liveness, monotonic_usec());
	if (stream->conn != NULL && (want_stream || stream->flush_pending))
	{
		fds[n].fd = PQsocket(stream->conn);
		fds[n].events = (short) ((want_stream ? POLLIN : 0) | (stream->flush_pending ? POLLOUT : 0));
		fds[n++].revents = 0;
		polled_stream = true;
	}
	if (other_fd >= 0)
	{
		fds[n].fd = other_fd;
		fds[n].events = POLLIN;
		fds[n++].revents = 0;
	}
	rc = poll(fds, (nfds_t) n, timeout_ms < 0 ? 0 : timeout_ms);
	if (rc < 0 && errno != EINTR)
	{
		snprintf(errstr, errstr_size, "poll failed: %s", strerror(errno));
		return -1;
	}
	if (rc <= 0 || !polled_stream || fds[0].revents == 0)
		return 0;
	if (stream->flush_pending)
	{
		flushed = PQflush(stream->conn);
		stream->flush_pending = flushed == 1;
	}
	if ((want_stream && !consume(stream->conn)) || flushed < 0)
	{
		one_line(errstr, errstr_size, "replication connection lost: ",
				 PQerrorMessage(stream->conn));
		stream->streaming = false;
		return -1;
	}
	return 0;
}

/*
 * Sends a standby status update: written = flushed = applied = confirmed.
 * It asks for a reply when the silence limit wants a probe.  What the
 * socket does not take at once stays in libpq, flushed by stream_wait: a
 * slow link is no reason to block.
 */
int
stream_send_status(Stream *stream, Lsn confirmed, char *errstr, size_t errstr_size)
{
	char buf[WAL_STATUS_UPDATE_SIZE];
	bool probe = liveness_check(&stream->liveness, monotonic_usec()) == LIVENESS_PROBE;
	int rc;
	int flushed = 0;

	walproto_status_update(buf, confirmed, confirmed, confirmed,
						   walproto_time_from_unix(now_usec()), probe);
	rc = PQputCopyData(stream->conn, buf, sizeof(buf));
	stream->sent_confirmed = confirmed;
	if (stream->silence_factor > 1 && confirmed > stream->silent_at)
		stream->silence_factor = 1; /* from the next connection on */
	if (rc > 0 && (flushed = PQflush(stream->conn)) < 0)
		rc = -1;
	stream->flush_pending = flushed == 1;
	if (rc < 0)
	{
		one_line(errstr, errstr_size, "could not send a status update: ",
				 PQerrorMessage(stream->conn));
		stream->streaming = false;
		return -1;
	}
	/* rc 0: libpq's buffer is full; the next update carries a newer position. */
	if (rc > 0 && probe)
	{
		liveness_probed(&stream->liveness);
		log_debug("no message from PostgreSQL for %.1f s: asked it for a reply",
				  (double) liveness_silent_usec(&stream->liveness, monotonic_usec()) / 1e6);
	}
	return 0;
}

/*
 * Ends the copy and reads what the server still sends until it confirms
 * the end, for at most CLOSE_TIMEOUT_MS: a hung server cannot hold the
 * shutdown.
 */
static void
end_copy(Stream *stream)
{
	PGconn *conn = stream->conn;
	int64_t deadline = now_usec() + CLOSE_TIMEOUT_MS * INT64_C(1000);
	char *buf;
	int len;
	int flushed;

	if (PQputCopyEnd(conn, NULL) <= 0)
		return;
	while ((flushed = PQflush(conn)) == 1)
		if (wait_socket(stream, PQsocket(conn), POLLOUT, deadline, false) != WAIT_READY)
			return;
	if (flushed < 0)
		return;
	while ((len = PQgetCopyData(conn, &buf, 1)) >= 0)
	{
		if (len > 0)
			PQfreemem(buf);
		else if (wait_socket(stream, PQsocket(conn), POLLIN, deadline, false) != WAIT_READY ||
				 !consume(conn))
			return;
	}
	discard_results(stream, deadline);
}

/* Ends the copy, drains what the server still sends, and disconnects. */
void
stream_close(Stream *stream)
{
	if (stream->copybuf)
	{
		PQfreemem(stream->copybuf);
		stream->copybuf = NULL;
	}
	if (stream->conn == NULL)
		return;
	if (stream->streaming && PQstatus(stream->conn) == CONNECTION_OK)
		end_copy(stream);
	PQfinish(stream->conn);
	stream->conn = NULL;
	stream->streaming = false;
}

const char *
stream_library_version(void)
{
	static char version[32];
	int v = PQlibVersion();

	/* 150020 is 15.20; before 10, 90624 was 9.6.24. */
	if (v >= 100000)
		snprintf(version, sizeof(version), "%d.%d", v / 10000, v % 10000);
	else
		snprintf(version, sizeof(version), "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
	return version;
}
