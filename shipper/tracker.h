/*
 * tracker.h
 *	  Which position may be confirmed to PostgreSQL.  Pure: no I/O.
 *
 * Events arrive in commit order, each with (commit_lsn, seq, last,
 * end_lsn); Kafka acknowledges them in any order.  The confirmed position
 * is the end_lsn of the newest transaction such that it and every earlier
 * one have received their last event and have every event acknowledged.
 * When nothing is in flight, the server's reported position may be
 * confirmed instead, so an idle outbox does not pin WAL.
 */
#ifndef SHIPPER_TRACKER_H
#define SHIPPER_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walproto.h"

typedef struct Tracker Tracker;

/* Names one tracked transaction; numbers are never reused. */
typedef uint64_t TrackerTxn;

#define TRACKER_TXN_NONE UINT64_MAX

typedef enum TrackerAddResult
{
	TRACKER_TRACKED = 0, /* ship it, then tracker_ack it */
	TRACKER_SKIP = 1, /* confirmed already: do not ship it again */
	TRACKER_ERROR = -1 /* out of order or out of memory: errstr */
} TrackerAddResult;

extern Tracker *tracker_create(Lsn confirmed);
extern void tracker_destroy(Tracker *tracker);

/* The stream's events, checked for order (what the shipper uses). */
extern TrackerAddResult tracker_add(Tracker *tracker, Lsn commit_lsn,
									unsigned long long seq, bool last,
									Lsn end_lsn, size_t bytes,
									TrackerTxn *txn, char *errstr,
									size_t errstr_size);

/* The primitives under it: count an event, mark its transaction ended. */
extern TrackerTxn tracker_add_event(Tracker *tracker, Lsn commit_lsn,
									size_t bytes);
extern void tracker_end_txn(Tracker *tracker, TrackerTxn txn, Lsn end_lsn);

extern void tracker_ack(Tracker *tracker, TrackerTxn txn, size_t bytes);
extern Lsn tracker_confirmed(Tracker *tracker);
extern void tracker_server_position(Tracker *tracker, Lsn position);
extern void tracker_restart(Tracker *tracker, Lsn slot_confirmed,
							bool same_server);
extern void tracker_reset(Tracker *tracker);
extern bool tracker_idle(const Tracker *tracker);
extern bool tracker_position_known(const Tracker *tracker);
extern bool tracker_has_room(const Tracker *tracker, size_t max_events,
							 size_t max_bytes, size_t bytes);
extern size_t tracker_inflight_events(const Tracker *tracker);
extern size_t tracker_inflight_bytes(const Tracker *tracker);

#endif /* SHIPPER_TRACKER_H */
