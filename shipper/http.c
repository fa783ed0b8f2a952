/*
 * http.c
 *	  The HTTP endpoint.  libmicrohttpd runs one internal thread that
 *	  serves every connection; handlers only read Metrics (locked) and,
 *	  for readiness, ask Kafka for metadata.
 *
 * Kafka's reachability is probed with a metadata request from this thread
 * (librdkafka handles are thread-safe), at most every KAFKA_PROBE_INTERVAL
 * and with a short timeout, so frequent probes and scrapes cost Kafka
 * nothing and never touch the main loop.
 */
#include "http.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "clock.h"
#include "log.h"

#define KAFKA_PROBE_INTERVAL_USEC (5 * INT64_C(1000000))
#define KAFKA_PROBE_TIMEOUT_MS 1500
#define MAX_CONNECTIONS 16
#define CONNECTION_TIMEOUT_SECS 10

struct HttpServer
{
	struct MHD_Daemon *daemon;
	Metrics *metrics;
	Kafka *kafka;
	int64_t stall_usec;
	int64_t probed_at; /* monotonic_usec() of the last Kafka probe */
	int port;
};

/* Splits "host:port", "[v6]:port" or ":port"; host "" means any. */
static int
split_listen(const char *listen, char *host, size_t host_size, char *port,
			 size_t port_size)
{
	const char *colon = strrchr(listen, ':');
	const char *start = listen;
	size_t host_len;

	if (colon == NULL || colon[1] == '\0')
		return -1;
	host_len = (size_t) (colon - listen);
	if (listen[0] == '[')
	{
		if (host_len < 2 || colon[-1] != ']')
			return -1;
		start++;
		host_len -= 2;
	}
	if (host_len >= host_size || strlen(colon + 1) >= port_size)
		return -1;
	memcpy(host, start, host_len);
	host[host_len] = '\0';
	snprintf(port, port_size, "%s", colon + 1);
	return 0;
}

static struct addrinfo *
resolve_listen(const char *listen, char *errstr, size_t errstr_size)
{
	char host[256];
	char port[16];
	struct addrinfo hints;
	struct addrinfo *addr = NULL;
	int rc;

	if (split_listen(listen, host, sizeof(host), port, sizeof(port)) != 0)
	{
		snprintf(errstr, errstr_size,
				 "invalid --http-listen \"%s\": expected HOST:PORT, [IPV6]:PORT or :PORT",
				 listen);
		return NULL;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &addr)) != 0)
	{
		snprintf(errstr, errstr_size, "invalid --http-listen \"%s\": %s", listen,
				 gai_strerror(rc));
		return NULL;
	}
	return addr;
}

/* Probes Kafka when the last probe is older than the interval. */
static void
refresh_kafka_probe(HttpServer *server)
{
	int64_t now = monotonic_usec();

	if (server->probed_at != 0 && now - server->probed_at < KAFKA_PROBE_INTERVAL_USEC)
		return;
	metrics_set_kafka_reachable(server->metrics,
								kafka_probe(server->kafka, KAFKA_PROBE_TIMEOUT_MS));
	server->probed_at = monotonic_usec();
}

static enum MHD_Result
respond(struct MHD_Connection *connection, unsigned status, const char *type,
		char *body, size_t len, bool owned)
{
	struct MHD_Response *response;
	enum MHD_Result result;

	response = MHD_create_response_from_buffer(len, body,
											   owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
	if (response == NULL)
	{
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	result = MHD_queue_response(connection, status, response);
	MHD_destroy_response(response);
	return result;
}

static enum MHD_Result
respond_text(struct MHD_Connection *connection, unsigned status, const char *text)
{
	char body[640];

	snprintf(body, sizeof(body), "%s\n", text);
	return respond(connection, status, "text/plain; charset=utf-8", body,
				   strlen(body), false);
}

static enum MHD_Result
serve_metrics(HttpServer *server, struct MHD_Connection *connection)
{
	TextBuffer text = {0};

	refresh_kafka_probe(server);
	metrics_scrape(server->metrics, &text);
	if (text.failed)
	{
		text_free(&text);
		return respond_text(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	/* MHD frees the body with free(). */
	return respond(connection, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
				   text.data, text.len, true);
}

static enum MHD_Result
handle_request(void *cls, struct MHD_Connection *connection, const char *url,
			   const char *method, const char *version, const char *upload_data,
			   size_t *upload_data_size, void **request_state)
{
	HttpServer *server = cls;
	char message[512];
	bool ok;

	(void) version;
	(void) upload_data;
	(void) upload_data_size;
	(void) request_state;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return respond_text(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD");
	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(server, connection);
	if (strcmp(url, "/healthz") == 0)
	{
		ok = metrics_healthy(server->metrics, monotonic_usec(), server->stall_usec,
							 message, sizeof(message));
		return respond_text(connection, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, message);
	}
	if (strcmp(url, "/readyz") == 0)
	{
		refresh_kafka_probe(server);
		ok = metrics_ready(server->metrics, message, sizeof(message));
		return respond_text(connection, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, message);
	}
	return respond_text(connection, MHD_HTTP_NOT_FOUND,
						"not found: the shipper serves /metrics, /healthz and /readyz");
}

static void
log_mhd(void *cls, const char *fmt, va_list args)
{
	char message[512];
	size_t len;

	(void) cls;
	vsnprintf(message, sizeof(message), fmt, args);
	len = strlen(message);
	while (len > 0 && message[len - 1] == '\n')
		message[--len] = '\0';
	log_warning("HTTP: %s", message);
}

HttpServer *
http_start(const char *listen, Metrics *metrics, Kafka *kafka,
		   double stall_timeout, char *errstr, size_t errstr_size)
{
	HttpServer *server;
	struct addrinfo *addr;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;

	if ((addr = resolve_listen(listen, errstr, errstr_size)) == NULL)
		return NULL;
	if ((server = calloc(1, sizeof(HttpServer))) == NULL)
	{
		freeaddrinfo(addr);
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	server->metrics = metrics;
	server->kafka = kafka;
	server->stall_usec = (int64_t) (stall_timeout * 1e6);
	if (addr->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The logger first, so that it also gets what the other options say. */
	server->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle_request, server,
									  MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
									  MHD_OPTION_SOCK_ADDR, addr->ai_addr,
									  MHD_OPTION_CONNECTION_LIMIT, (unsigned) MAX_CONNECTIONS,
									  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) CONNECTION_TIMEOUT_SECS,
									  MHD_OPTION_END);
	freeaddrinfo(addr);
	if (server->daemon == NULL)
	{
		snprintf(errstr, errstr_size,
				 "could not listen on --http-listen \"%s\" (address in use or not available?)",
				 listen);
		free(server);
		return NULL;
	}
	info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
	server->port = info ? info->port : 0;
	return server;
}

int
http_port(const HttpServer *server)
{
	return server->port;
}

void
http_stop(HttpServer *server)
{
	if (server == NULL)
		return;
	MHD_stop_daemon(server->daemon);
	free(server);
}
