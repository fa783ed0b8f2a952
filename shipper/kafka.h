/*
 * kafka.h
 *	  Producing events to Kafka (librdkafka), with the permanent-error
 *	  policy.  Acknowledged events are reported to the tracker.
 *
 *	  Ownership: the Kafka handle keeps pointers to config, tracker and
 *	  metrics (which may be NULL), which must outlive it.  kafka_produce copies what it needs from the
 *	  event and the envelope.
 */
#ifndef SHIPPER_KAFKA_H
#define SHIPPER_KAFKA_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "event.h"
#include "metrics.h"
#include "tracker.h"

typedef struct Kafka Kafka;

typedef enum KafkaStatus
{
	KAFKA_QUEUED = 0, /* handed over (or to the dead-letter topic) */
	KAFKA_QUEUE_FULL = 1, /* serve reports, then try again */
	KAFKA_FAILED = -1 /* stop: see kafka_failure() */
} KafkaStatus;

extern Kafka *kafka_create(const ShipperConfig *config, Tracker *tracker,
						   Metrics *metrics, char *errstr, size_t errstr_size);
extern void kafka_destroy(Kafka *kafka);
extern KafkaStatus kafka_produce(Kafka *kafka, const ShipperEvent *event,
								 const char *envelope, size_t envelope_len,
								 TrackerTxn txn);
/*
 * A message that is not an event, under the dead-letter policy: its bytes
 * to the dead-letter topic (MALFORMED_EVENT), tracked as txn.
 */
extern KafkaStatus kafka_dead_letter_malformed(Kafka *kafka, const char *message,
											   size_t len,
											   const EventPosition *position,
											   const char *error, TrackerTxn txn);
/*
 * The slot's database, said at each connection: the default CloudEvents
 * source is built from it (--format=cloudevents*).
 */
extern void kafka_set_database(Kafka *kafka, const char *database);
extern int kafka_wait_fd(const Kafka *kafka);
extern void kafka_serve(Kafka *kafka);
extern void kafka_poll(Kafka *kafka, int timeout_ms);
extern const char *kafka_failure(const Kafka *kafka);
extern int kafka_outq_len(Kafka *kafka);
extern long kafka_delivered(const Kafka *kafka);
extern long kafka_dead_lettered(const Kafka *kafka);
/* librdkafka's version, e.g. "2.0.2". */
extern const char *kafka_library_version(void);
/* Whether a broker answers a metadata request; callable from any thread. */
extern bool kafka_probe(Kafka *kafka, int timeout_ms);

/*
 * Partitions of the topics this producer has written to whose in-sync
 * replicas are fewer than their topic's min.insync.replicas: their leaders
 * refuse acks=all writes (NOT_ENOUGH_REPLICAS), which librdkafka retries
 * silently.  Returns how many, one of them described in example ("" if
 * none); -1 if the cluster did not answer within timeout_ms (twice that at
 * most).  Callable from any thread.
 */
extern int kafka_probe_min_isr(Kafka *kafka, int timeout_ms, char *example,
							   size_t example_size);

/* The librdkafka handle, for tests that inject faults into it. */
struct rd_kafka_s;
extern struct rd_kafka_s *kafka_handle(Kafka *kafka);

/*
 * The producer configuration kafka_create would use, without its opaque
 * and callbacks, for `outbox-shipper check`; the caller owns it.
 */
struct rd_kafka_conf_s;
extern struct rd_kafka_conf_s *kafka_conf_copy(const ShipperConfig *config,
											   char *errstr, size_t errstr_size);

/* min.insync.replicas among a DescribeConfigs answer's entries, 0 if absent. */
struct rd_kafka_ConfigResource_s;
extern int kafka_config_min_isr(const struct rd_kafka_ConfigResource_s *resource);

#endif /* SHIPPER_KAFKA_H */
