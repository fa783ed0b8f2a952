/*
 * http.h
 *	  The shipper's HTTP endpoint (libmicrohttpd, on its own thread):
 *	  /metrics (Prometheus text), /healthz (the main loop turns), /readyz
 *	  (streaming, or a hot standby able to take over, and Kafka answers).
 *
 *	  Ownership: the server keeps pointers to metrics and kafka, which must
 *	  outlive it: stop it (http_stop) before destroying either.
 */
#ifndef SHIPPER_HTTP_H
#define SHIPPER_HTTP_H

#include <stddef.h>

#include "kafka.h"
#include "metrics.h"

typedef struct HttpServer HttpServer;

/*
 * Listens on listen ("host:port", "[v6]:port" or ":port" for every
 * address; port 0 picks a free one).  NULL with errstr filled on failure.
 */
extern HttpServer *http_start(const char *listen, Metrics *metrics,
							  Kafka *kafka, double stall_timeout,
							  char *errstr, size_t errstr_size);
/* The port it listens on (useful after port 0). */
extern int http_port(const HttpServer *server);
extern void http_stop(HttpServer *server);

#endif /* SHIPPER_HTTP_H */
