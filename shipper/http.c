/*
 * http.c
 *	  The HTTP endpoint.  libmicrohttpd runs one internal thread that
 *	  serves every connection; handlers only read Metrics (locked) and
 *	  the last Kafka probe, so no request ever waits for anything.
 *
 * The endpoint must answer kubelet's probes even while clients misbehave
 * (slow senders, many connections): otherwise a healthy shipper is
 * restarted in a loop.  So each address may hold only a few connections,
 * an idle one is closed after a few seconds, and a watcher thread cuts a
 * connection whose request has not completed within REQUEST_DEADLINE
 * (libmicrohttpd's own timeout restarts with every byte received, which a
 * client sending a byte a second never reaches).
 *
 * The same watcher probes Kafka with a metadata request (librdkafka
 * handles are thread-safe) every KAFKA_PROBE_INTERVAL; /readyz reads the
 * cached answer, and is not ready when the answer is too old to trust (a
 * probe hangs).
 */
#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "clock.h"
#include "log.h"

#define KAFKA_PROBE_INTERVAL_USEC (2 * INT64_C(1000000))
#define KAFKA_PROBE_TIMEOUT_MS 1500
/* An older answer is not trusted: several probes in a row did not finish. */
#define KAFKA_PROBE_MAX_AGE_USEC (10 * INT64_C(1000000))
#define MAX_CONNECTIONS 128
#define PER_ADDRESS_CONNECTIONS 8
#define IDLE_TIMEOUT_SECS 3
#define REQUEST_DEADLINE_USEC (5 * INT64_C(1000000))
#define WATCH_INTERVAL_MS 250
#define MHD_LOG_INTERVAL_USEC (30 * INT64_C(1000000))
#define MIN_ISR_LOG_INTERVAL_USEC (30 * INT64_C(1000000))

/* A connection, for the request deadline; in a list under the lock. */
typedef struct Client
{
	struct Client *prev;
	struct Client *next;
	int fd;
	int64_t since; /* monotonic: accepted, or its last request completed */
	bool cut;
} Client;

struct HttpServer
{
	struct MHD_Daemon *daemon;
	Metrics *metrics;
	Kafka *kafka;
	int64_t stall_usec;
	int port;

	pthread_t watcher;
	pthread_mutex_t lock; /* guards what follows */
	pthread_cond_t wake;
	bool stopping;
	Client *clients;
	int64_t probed_at; /* monotonic_usec() of the last probe's answer, 0: none */
	int64_t mhd_logged_at; /* the last libmicrohttpd message at warning level */
	/* Watcher thread only: */
	int below_min_isr; /* partitions refusing writes at the last probe */
	int64_t min_isr_logged_at; /* the last warning about them */
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

/*
 * 0 when this host can open IPv6 sockets, else why not (a kernel booted
 * with ipv6.disable=1 says EAFNOSUPPORT).
 */
static int
ipv6_unavailable(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/*
 * The address family for ":PORT", every address: IPv6, whose socket then
 * takes IPv4 too (see listen_flags), or IPv4 alone where there is no IPv6.
 * getaddrinfo() would answer 0.0.0.0 first, which is IPv4 only.
 */
static int
every_address_family(const char *listen)
{
	int err = ipv6_unavailable();

	if (err == 0)
		return AF_INET6;
	log_warning("--http-listen \"%s\": no IPv6 on this host (%s): listening on every IPv4 address only",
				listen, strerror(err));
	return AF_INET;
}

/*
 * ":PORT" listens on one IPv6 socket with IPV6_V6ONLY off, which IPv4
 * clients reach too; "[::]:PORT" and other IPv6 addresses are IPv6 only.
 */
static unsigned
listen_flags(const char *listen, const struct addrinfo *addr)
{
	if (addr->ai_family != AF_INET6)
		return 0;
	return listen[0] == ':' ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
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
	hints.ai_family = host[0] ? AF_UNSPEC : every_address_family(listen);
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

/* Called with the lock held: closes connections past the deadline. */
static void
cut_slow_clients(HttpServer *server, int64_t now)
{
	Client *client;

	for (client = server->clients; client; client = client->next)
	{
		if (client->cut || now - client->since < REQUEST_DEADLINE_USEC)
			continue;
		/*
		 * libmicrohttpd sees the end of the stream and closes it; the fd is
		 * still open, as a client leaves the list before its fd is closed.
		 */
		shutdown(client->fd, SHUT_RDWR);
		client->cut = true;
		log_debug("HTTP: closed a connection whose request took over %d s",
				  (int) (REQUEST_DEADLINE_USEC / 1000000));
	}
}

/*
 * Whether the reachable brokers refuse writes: partitions below
 * min.insync.replicas (kafka_probe_min_isr).  Said when it starts, at most
 * once per interval while it lasts (with the count when it changed), and
 * when it ends: librdkafka retries every 100 ms and must not be heard
 * each time.
 */
static void
probe_min_isr(HttpServer *server)
{
	char example[256];
	int below = kafka_probe_min_isr(server->kafka, KAFKA_PROBE_TIMEOUT_MS,
									example, sizeof(example));
	int64_t now = monotonic_usec();

	if (below < 0)
		return;
	metrics_set_kafka_min_isr(server->metrics, below, example);
	if (below > 0 && (server->below_min_isr == 0 ||
					  now - server->min_isr_logged_at >= MIN_ISR_LOG_INTERVAL_USEC))
	{
		log_warning("Kafka refuses writes (NOT_ENOUGH_REPLICAS): %d partition%s below min.insync.replicas, e.g. %s; retrying, nothing past the first undelivered event is confirmed",
					below, below == 1 ? "" : "s", example);
		server->min_isr_logged_at = now;
	}
	else if (below == 0 && server->below_min_isr > 0)
		log_info("Kafka accepts writes again: every partition has min.insync.replicas in sync");
	server->below_min_isr = below;
}

/* Probes Kafka without the lock held (it takes up to the probe timeout). */
static void
probe_kafka(HttpServer *server)
{
	bool reachable;

	pthread_mutex_unlock(&server->lock);
	reachable = kafka_probe(server->kafka, KAFKA_PROBE_TIMEOUT_MS);
	metrics_set_kafka_reachable(server->metrics, reachable);
	if (reachable)
		probe_min_isr(server);
	pthread_mutex_lock(&server->lock);
	server->probed_at = monotonic_usec();
}

/* The watcher thread: request deadlines and Kafka probes. */
static void *
watch(void *arg)
{
	HttpServer *server = arg;
	int64_t next_probe = 0;
	int64_t now;
	struct timespec until;

	pthread_mutex_lock(&server->lock);
	while (!server->stopping)
	{
		now = monotonic_usec();
		cut_slow_clients(server, now);
		if (now >= next_probe)
		{
			probe_kafka(server);
			next_probe = server->probed_at + KAFKA_PROBE_INTERVAL_USEC;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += WATCH_INTERVAL_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&server->wake, &server->lock, &until);
	}
	pthread_mutex_unlock(&server->lock);
	return NULL;
}

/* Tracks each connection from its accept to its close. */
static void
on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	HttpServer *server = cls;
	const union MHD_ConnectionInfo *info;
	Client *client = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
	{
		info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (info == NULL || (client = calloc(1, sizeof(Client))) == NULL)
			return; /* untracked: only the idle timeout applies */
		client->fd = info->connect_fd;
		client->since = monotonic_usec();
		pthread_mutex_lock(&server->lock);
		client->next = server->clients;
		if (server->clients)
			server->clients->prev = client;
		server->clients = client;
		pthread_mutex_unlock(&server->lock);
		*socket_context = client;
		return;
	}
	if (client == NULL)
		return;
	pthread_mutex_lock(&server->lock);
	if (client->prev)
		client->prev->next = client->next;
	else
		server->clients = client->next;
	if (client->next)
		client->next->prev = client->prev;
	pthread_mutex_unlock(&server->lock);
	free(client);
	*socket_context = NULL;
}

/* A request completed: the next one on the connection gets its own deadline. */
static void
on_completed(void *cls, struct MHD_Connection *connection, void **request_state,
			 enum MHD_RequestTerminationCode toe)
{
	HttpServer *server = cls;
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	Client *client = info ? info->socket_context : NULL;

	(void) request_state;
	(void) toe;
	if (client == NULL)
		return;
	pthread_mutex_lock(&server->lock);
	client->since = monotonic_usec();
	pthread_mutex_unlock(&server->lock);
}

/*
 * /readyz: a main loop that turns (a stalled one does no work, whatever
 * state it last published), its view, and a Kafka answer recent enough.
 */
static bool
ready(HttpServer *server, char *message, size_t size)
{
	int64_t probed_at;
	int64_t age;
	char health[256];

	if (!metrics_healthy(server->metrics, monotonic_usec(), server->stall_usec, health,
						 sizeof(health)))
	{
		snprintf(message, size, "not ready: %s", health);
		return false;
	}
	pthread_mutex_lock(&server->lock);
	probed_at = server->probed_at;
	pthread_mutex_unlock(&server->lock);
	age = monotonic_usec() - probed_at;
	if (probed_at != 0 && age > KAFKA_PROBE_MAX_AGE_USEC)
	{
		snprintf(message, size, "not ready: the last Kafka probe answered %.0f s ago",
				 age / 1e6);
		return false;
	}
	return metrics_ready(server->metrics, message, size);
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
		ok = ready(server, message, sizeof(message));
		return respond_text(connection, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, message);
	}
	return respond_text(connection, MHD_HTTP_NOT_FOUND,
						"not found: the shipper serves /metrics, /healthz and /readyz");
}

/*
 * libmicrohttpd's messages are mostly about clients (closed early, over a
 * limit): one warning per interval, the rest at debug level, so that
 * hostile clients cannot flood the log.
 */
static void
log_mhd(void *cls, const char *fmt, va_list args)
{
	HttpServer *server = cls;
	char message[512];
	size_t len;
	int64_t now = monotonic_usec();
	bool loud;

	vsnprintf(message, sizeof(message), fmt, args);
	len = strlen(message);
	while (len > 0 && message[len - 1] == '\n')
		message[--len] = '\0';
	pthread_mutex_lock(&server->lock);
	loud = server->mhd_logged_at == 0 || now - server->mhd_logged_at >= MHD_LOG_INTERVAL_USEC;
	if (loud)
		server->mhd_logged_at = now;
	pthread_mutex_unlock(&server->lock);
	log_message(loud ? LOG_WARNING : LOG_DEBUG, "HTTP: %s", message);
}

/* The lock, and the watcher thread (which probes Kafka at once). */
static int
init_watch(HttpServer *server)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_mutex_init(&server->lock, NULL);
	pthread_cond_init(&server->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&server->watcher, NULL, watch, server) != 0)
	{
		pthread_cond_destroy(&server->wake);
		pthread_mutex_destroy(&server->lock);
		return -1;
	}
	return 0;
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
	flags |= listen_flags(listen, addr);
	if (init_watch(server) != 0)
	{
		freeaddrinfo(addr);
		free(server);
		snprintf(errstr, errstr_size, "could not start the HTTP watcher thread");
		return NULL;
	}
	/* The logger first, so that it also gets what the other options say. */
	server->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle_request, server,
									  MHD_OPTION_EXTERNAL_LOGGER, log_mhd, server,
									  MHD_OPTION_SOCK_ADDR, addr->ai_addr,
									  MHD_OPTION_CONNECTION_LIMIT, (unsigned) MAX_CONNECTIONS,
									  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned) PER_ADDRESS_CONNECTIONS,
									  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) IDLE_TIMEOUT_SECS,
									  MHD_OPTION_NOTIFY_CONNECTION, on_connection, server,
									  MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
									  MHD_OPTION_END);
	freeaddrinfo(addr);
	if (server->daemon == NULL)
	{
		snprintf(errstr, errstr_size,
				 "could not listen on --http-listen \"%s\" (address in use or not available?)",
				 listen);
		http_stop(server);
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

/* Stops the watcher (after at most one probe timeout), then the daemon. */
void
http_stop(HttpServer *server)
{
	if (server == NULL)
		return;
	pthread_mutex_lock(&server->lock);
	server->stopping = true;
	pthread_cond_signal(&server->wake);
	pthread_mutex_unlock(&server->lock);
	pthread_join(server->watcher, NULL);
	if (server->daemon)
		MHD_stop_daemon(server->daemon);
	pthread_cond_destroy(&server->wake);
	pthread_mutex_destroy(&server->lock);
	free(server);
}
