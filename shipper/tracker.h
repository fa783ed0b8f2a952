/*
 * tracker.h
 *	  Which position may be confirmed to PostgreSQL: the end LSN of the
 *	  newest transaction whose events, and all earlier ones, Kafka has
 *	  acknowledged.  Pure: no I/O.
 */
#ifndef SHIPPER_TRACKER_H
#define SHIPPER_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walproto.h"

typedef struct Tracker Tracker;

/* Names one transaction of one connection; acks of older ones are ignored. */
typedef uint64_t TrackerTxn;

extern Tracker *tracker_create(Lsn confirmed);
extern void tracker_destroy(Tracker *tracker);
extern TrackerTxn tracker_add_event(Tracker *tracker, Lsn commit_lsn,
									size_t bytes);
extern void tracker_end_txn(Tracker *tracker, TrackerTxn txn, Lsn end_lsn);
extern void tracker_ack(Tracker *tracker, TrackerTxn txn, size_t bytes);
extern Lsn tracker_confirmed(Tracker *tracker);
extern bool tracker_idle(const Tracker *tracker);
extern void tracker_server_position(Tracker *tracker, Lsn position);
extern void tracker_reset(Tracker *tracker);
extern size_t tracker_inflight_events(const Tracker *tracker);
extern size_t tracker_inflight_bytes(const Tracker *tracker);

#endif /* SHIPPER_TRACKER_H */
