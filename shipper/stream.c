/*
 * stream.c
 *	  Streaming an outbox_pg slot over a replication connection.
 *
 * Modelled on pg_recvlogical's loop: asynchronous PQgetCopyData, waiting
 * on PQsocket with a timeout, every message length-checked, PQputCopyEnd
 * and a drain of the remaining results on close.  Unlike pg_recvlogical,
 * it never confirms a position on its own: the caller says what Kafka has
 * acknowledged.
 */
#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <libpq-fe.h>

#include "log.h"

/* SQLSTATEs the shipper acts on. */
#define SQLSTATE_OBJECT_IN_USE "55006" /* slot active for another PID */
#define SQLSTATE_DUPLICATE_OBJECT "42710" /* slot exists already */
#define SQLSTATE_UNDEFINED_OBJECT "42704" /* no such slot */
#define SQLSTATE_INSUFFICIENT_PRIVILEGE "42501"

struct Stream
{
	const ShipperConfig *config;
	PGconn *conn;
	char *copybuf; /* the last message, freed on the next read */
	bool streaming;
};

static int64_t
now_usec(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Checks a conninfo's syntax once at start: a typo must not be retried. */
int
stream_check_conninfo(const char *conninfo, char *errstr, size_t errstr_size)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &err);

	if (opts == NULL)
	{
		snprintf(errstr, errstr_size, "invalid connection string: %s",
				 err ? err : "out of memory");
		if (err)
			PQfreemem(err);
		return -1;
	}
	PQconninfoFree(opts);
	return 0;
}

Stream *
stream_create(const ShipperConfig *config)
{
	Stream *stream = calloc(1, sizeof(Stream));

	if (stream)
		stream->config = config;
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

/* Copies a result's error, trimmed, and classifies it. */
static StreamStatus
result_error(PGresult *res, const char *what, char *errstr, size_t errstr_size)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	StreamStatus status = STREAM_RETRY;

	if (message == NULL)
		message = PQresultErrorMessage(res);
	if (state && strcmp(state, SQLSTATE_OBJECT_IN_USE) == 0)
		status = STREAM_SLOT_BUSY;
	else if (state && (strcmp(state, SQLSTATE_INSUFFICIENT_PRIVILEGE) == 0 ||
					   strcmp(state, SQLSTATE_UNDEFINED_OBJECT) == 0))
		status = STREAM_FATAL;
	else if (strstr(message, "output plugin") != NULL ||
			 (hint && strstr(hint, "output_plugin_libraries") != NULL))
		status = STREAM_FATAL;

	if (status == STREAM_FATAL && hint == NULL && strstr(message, "output plugin") != NULL)
		hint = "Add outbox_pg to output_plugin_libraries in postgresql.conf and reload.";
	else if (status == STREAM_FATAL && hint == NULL && state &&
			 strcmp(state, SQLSTATE_INSUFFICIENT_PRIVILEGE) == 0)
		hint = "The shipper's role needs the REPLICATION attribute and a replication line in pg_hba.conf.";
	else if (status == STREAM_FATAL && hint == NULL)
		hint = "Create the slot, or run without --no-create-slot.";
	snprintf(errstr, errstr_size, "%s: %s%s%s", what, message,
			 hint ? " HINT: " : "", hint ? hint : "");
	/* libpq ends messages with a newline */
	if (strlen(errstr) > 0 && errstr[strlen(errstr) - 1] == '\n')
		errstr[strlen(errstr) - 1] = '\0';
	return status;
}

static StreamStatus
open_connection(Stream *stream, char *errstr, size_t errstr_size)
{
	const char *keys[] = {"application_name", "dbname", "replication", NULL};
	const char *values[] = {"outbox-shipper", stream->config->conninfo,
							"database", NULL};

	/* later keywords win: the user's application_name, our replication */
	StreamStatus status = STREAM_RETRY;
	const char *message;
	const char *hint = "";

	stream->conn = PQconnectdbParams(keys, values, 1);
	if (PQstatus(stream->conn) == CONNECTION_OK)
		return STREAM_OK;

	/*
	 * A server that is down or restarting is retried; one that refuses
	 * these credentials will refuse them again.
	 */
	message = PQerrorMessage(stream->conn);
	if (strstr(message, "replication role") || strstr(message, "permission denied"))
	{
		status = STREAM_FATAL;
		hint = " HINT: The shipper's role needs the REPLICATION attribute (ALTER ROLE ... REPLICATION).";
	}
	else if (strstr(message, "pg_hba.conf"))
	{
		status = STREAM_FATAL;
		hint = " HINT: Add a \"host replication\" line for the shipper's role to pg_hba.conf and reload.";
	}
	else if (strstr(message, "authentication failed") || PQconnectionNeedsPassword(stream->conn))
		status = STREAM_FATAL;
	snprintf(errstr, errstr_size, "could not connect to PostgreSQL: %s", message);
	errstr[strcspn(errstr, "\n")] = '\0';
	strncat(errstr, hint, errstr_size - strlen(errstr) - 1);
	PQfinish(stream->conn);
	stream->conn = NULL;
	return status;
}

static StreamStatus
create_slot(Stream *stream, char *errstr, size_t errstr_size)
{
	char *ident = PQescapeIdentifier(stream->conn, stream->config->slot,
									 strlen(stream->config->slot));
	char query[512];
	PGresult *res;
	StreamStatus status = STREAM_OK;
	const char *state;

	snprintf(query, sizeof(query), "CREATE_REPLICATION_SLOT %s LOGICAL outbox_pg", ident);
	PQfreemem(ident);
	res = PQexec(stream->conn, query);
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		log_info("created replication slot \"%s\" with plugin outbox_pg at %s",
				 stream->config->slot, PQgetvalue(res, 0, 1));
	else
	{
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state == NULL || strcmp(state, SQLSTATE_DUPLICATE_OBJECT) != 0)
			status = result_error(res, "could not create the replication slot",
								  errstr, errstr_size);
	}
	PQclear(res);
	return status;
}

static void
append(char *buf, size_t size, const char *text)
{
	size_t len = strlen(buf);

	snprintf(buf + len, size - len, "%s", text);
}

static StreamStatus
start_replication(Stream *stream, char *errstr, size_t errstr_size)
{
	const ShipperConfig *config = stream->config;
	char *slot = PQescapeIdentifier(stream->conn, config->slot, strlen(config->slot));
	char *query;
	size_t size = 256 + strlen(slot);
	PGresult *res;
	StreamStatus status = STREAM_OK;
	int i;

	for (i = 0; i < config->nplugin_options; i++)
		size += 2 * (strlen(config->plugin_options[i].name) +
					 strlen(config->plugin_options[i].value)) +
				16;
	query = malloc(size);
	snprintf(query, size, "START_REPLICATION SLOT %s LOGICAL 0/0", slot);
	PQfreemem(slot);
	for (i = 0; i < config->nplugin_options; i++)
	{
		char *name = PQescapeIdentifier(stream->conn, config->plugin_options[i].name,
										strlen(config->plugin_options[i].name));
		char *value = PQescapeLiteral(stream->conn, config->plugin_options[i].value,
									  strlen(config->plugin_options[i].value));

		append(query, size, i == 0 ? " (" : ", ");
		append(query, size, name);
		append(query, size, " ");
		append(query, size, value);
		PQfreemem(name);
		PQfreemem(value);
	}
	if (config->nplugin_options > 0)
		append(query, size, ")");

	res = PQexec(stream->conn, query);
	free(query);
	if (PQresultStatus(res) != PGRES_COPY_BOTH)
		status = result_error(res, "could not start streaming", errstr, errstr_size);
	PQclear(res);
	return status;
}

/*
 * Connects, creates the slot if asked to, and starts streaming from the
 * slot's confirmed position.
 */
StreamStatus
stream_connect(Stream *stream, char *errstr, size_t errstr_size)
{
	StreamStatus status;

	stream_close(stream);
	status = open_connection(stream, errstr, errstr_size);
	if (status == STREAM_OK && stream->config->create_slot)
		status = create_slot(stream, errstr, errstr_size);
	if (status == STREAM_OK)
		status = start_replication(stream, errstr, errstr_size);
	if (status != STREAM_OK)
	{
		PQfinish(stream->conn);
		stream->conn = NULL;
		return status;
	}
	stream->streaming = true;
	return STREAM_OK;
}

/*
 * Reads one message, waiting at most timeout_ms.  Returns 1 with msg set
 * (valid until the next call), 0 when nothing arrived, -1 when the stream
 * ended or broke.
 */
int
stream_read(Stream *stream, int timeout_ms, WalMessage *msg, char *errstr,
			size_t errstr_size)
{
	int len;

	if (stream->copybuf)
	{
		PQfreemem(stream->copybuf);
		stream->copybuf = NULL;
	}
	len = PQgetCopyData(stream->conn, &stream->copybuf, 1);
	if (len == 0)
	{
		struct pollfd pfd = {PQsocket(stream->conn), POLLIN, 0};
		int rc = poll(&pfd, 1, timeout_ms);

		if (rc < 0 && errno != EINTR)
		{
			snprintf(errstr, errstr_size, "poll on the replication connection failed: %s",
					 strerror(errno));
			return -1;
		}
		if (rc <= 0)
			return 0;
		if (PQconsumeInput(stream->conn) == 0)
		{
			snprintf(errstr, errstr_size, "replication connection lost: %s",
					 PQerrorMessage(stream->conn));
			errstr[strcspn(errstr, "\n")] = '\0';
			return -1;
		}
		len = PQgetCopyData(stream->conn, &stream->copybuf, 1);
		if (len == 0)
			return 0;
	}
	if (len < 0)
	{
		PGresult *res = PQgetResult(stream->conn);

		if (res && PQresultStatus(res) == PGRES_FATAL_ERROR)
			result_error(res, "replication stream ended", errstr, errstr_size);
		else
			snprintf(errstr, errstr_size, "replication stream ended: %s",
					 len == -1 ? "the server ended the copy" : PQerrorMessage(stream->conn));
		errstr[strcspn(errstr, "\n")] = '\0';
		PQclear(res);
		return -1;
	}
	if (walproto_parse(stream->copybuf, (size_t) len, msg, errstr, errstr_size) != 0)
		return -1;
	return 1;
}

/* Sends a standby status update: written = flushed = applied = confirmed. */
int
stream_send_status(Stream *stream, Lsn confirmed, char *errstr, size_t errstr_size)
{
	char buf[WAL_STATUS_UPDATE_SIZE];

	walproto_status_update(buf, confirmed, confirmed, confirmed,
						   walproto_time_from_unix(now_usec()), false);
	if (PQputCopyData(stream->conn, buf, sizeof(buf)) <= 0 || PQflush(stream->conn) != 0)
	{
		snprintf(errstr, errstr_size, "could not send a status update: %s",
				 PQerrorMessage(stream->conn));
		errstr[strcspn(errstr, "\n")] = '\0';
		return -1;
	}
	return 0;
}

/* Ends the copy, drains what the server still sends, and disconnects. */
void
stream_close(Stream *stream)
{
	PGresult *res;

	if (stream->copybuf)
	{
		PQfreemem(stream->copybuf);
		stream->copybuf = NULL;
	}
	if (stream->conn == NULL)
		return;
	if (stream->streaming && PQputCopyEnd(stream->conn, NULL) > 0)
	{
		char *buf;

		PQflush(stream->conn);
		/* the server may still send data after our CopyDone */
		while (PQgetCopyData(stream->conn, &buf, 0) > 0)
			PQfreemem(buf);
		while ((res = PQgetResult(stream->conn)) != NULL)
			PQclear(res);
	}
	PQfinish(stream->conn);
	stream->conn = NULL;
	stream->streaming = false;
}
