/*
 * metrics.h
 *	  The shipper's counters, in one place.  Everything that reports on the
 *	  shipper (its logs today, an HTTP /metrics and /readyz endpoint later)
 *	  reads this struct; the modules that do the work only increment it.
 *	  Updated and read from the main thread only (librdkafka's delivery
 *	  reports are served there too), so plain integers suffice.
 */
#ifndef SHIPPER_METRICS_H
#define SHIPPER_METRICS_H

#include <stdint.h>

#include "walproto.h"

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
	Lsn server_lsn; /* the server's last reported position */
	Lsn confirmed_lsn; /* the last position sent to the server */
} ShipperCounters;

#endif /* SHIPPER_METRICS_H */
