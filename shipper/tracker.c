/*
 * tracker.c
 *	  The LSN tracker.
 *
 * Transactions arrive in commit order; their events are acknowledged by
 * Kafka in any order across partitions.  A ring of transactions, oldest
 * first, each with its count of unacknowledged events and, once its last
 * event has arrived, its end LSN.  The confirmed position moves past a
 * transaction only when it and every older one are complete and fully
 * acknowledged.  When nothing at all is in flight, the server's own
 * position (from a keepalive) may be confirmed, so that an idle outbox
 * does not hold WAL while other tables churn; never otherwise.
 */
#include "tracker.h"

#include <stdlib.h>
#include <string.h>

typedef struct TrackedTxn
{
	Lsn commit_lsn;
	Lsn end_lsn; /* 0 until the last event arrived */
	size_t outstanding; /* events not yet acknowledged */
} TrackedTxn;

struct Tracker
{
	TrackedTxn *ring;
	size_t capacity; /* a power of two */
	TrackerTxn head; /* oldest transaction still tracked */
	TrackerTxn tail; /* next transaction number */
	Lsn confirmed;
	size_t inflight_events;
	size_t inflight_bytes;
};

#define RING(t, n) (&(t)->ring[(n) & ((t)->capacity - 1)])

Tracker *
tracker_create(Lsn confirmed)
{
	Tracker *tracker = calloc(1, sizeof(Tracker));

	if (tracker == NULL)
		return NULL;
	tracker->capacity = 1024;
	tracker->ring = calloc(tracker->capacity, sizeof(TrackedTxn));
	if (tracker->ring == NULL)
	{
		free(tracker);
		return NULL;
	}
	tracker->confirmed = confirmed;
	return tracker;
}

void
tracker_destroy(Tracker *tracker)
{
	if (tracker == NULL)
		return;
	free(tracker->ring);
	free(tracker);
}

static void
grow(Tracker *tracker)
{
	size_t capacity = tracker->capacity * 2;
	TrackedTxn *ring = calloc(capacity, sizeof(TrackedTxn));
	TrackerTxn n;

	if (ring == NULL)
		abort(); /* the in-flight caps keep this small */
	for (n = tracker->head; n < tracker->tail; n++)
		ring[n & (capacity - 1)] = *RING(tracker, n);
	free(tracker->ring);
	tracker->ring = ring;
	tracker->capacity = capacity;
}

/*
 * Counts an event of the transaction committed at commit_lsn, which is
 * the newest one or a new one; returns the transaction's handle.
 */
TrackerTxn
tracker_add_event(Tracker *tracker, Lsn commit_lsn, size_t bytes)
{
	TrackedTxn *txn = NULL;

	if (tracker->tail > tracker->head)
	{
		txn = RING(tracker, tracker->tail - 1);
		if (txn->commit_lsn != commit_lsn || txn->end_lsn != 0)
			txn = NULL;
	}
	if (txn == NULL)
	{
		if (tracker->tail - tracker->head == tracker->capacity)
			grow(tracker);
		txn = RING(tracker, tracker->tail);
		memset(txn, 0, sizeof(*txn));
		txn->commit_lsn = commit_lsn;
		tracker->tail++;
	}
	txn->outstanding++;
	tracker->inflight_events++;
	tracker->inflight_bytes += bytes;
	return tracker->tail - 1;
}

/* The transaction's last event has arrived. */
void
tracker_end_txn(Tracker *tracker, TrackerTxn txn, Lsn end_lsn)
{
	if (txn < tracker->head || txn >= tracker->tail)
		return;
	RING(tracker, txn)->end_lsn = end_lsn;
}

/* Kafka acknowledged one event of txn. */
void
tracker_ack(Tracker *tracker, TrackerTxn txn, size_t bytes)
{
	TrackedTxn *tracked;

	if (txn < tracker->head || txn >= tracker->tail)
		return; /* from before a reset */
	tracked = RING(tracker, txn);
	if (tracked->outstanding == 0)
		return;
	tracked->outstanding--;
	tracker->inflight_events--;
	tracker->inflight_bytes -= bytes;
}

/*
 * Returns the position that may be confirmed now, moving past every leading
 * transaction that is complete and fully acknowledged.
 */
Lsn
tracker_confirmed(Tracker *tracker)
{
	while (tracker->head < tracker->tail)
	{
		TrackedTxn *txn = RING(tracker, tracker->head);

		if (txn->end_lsn == 0 || txn->outstanding > 0)
			break;
		if (txn->end_lsn > tracker->confirmed)
			tracker->confirmed = txn->end_lsn;
		tracker->head++;
	}
	return tracker->confirmed;
}

/* Nothing in flight: no transaction partly received or unacknowledged. */
bool
tracker_idle(const Tracker *tracker)
{
	return tracker->head == tracker->tail;
}

/*
 * The server says it has sent everything before position.  Confirmed only
 * when nothing is in flight: then no event before it awaits Kafka.
 */
void
tracker_server_position(Tracker *tracker, Lsn position)
{
	(void) tracker_confirmed(tracker);
	if (tracker_idle(tracker) && position > tracker->confirmed)
		tracker->confirmed = position;
}

/*
 * The connection was lost: the server will send again everything after
 * the confirmed position, so forget what is in flight.  Acks still to come
 * for it are ignored.
 */
void
tracker_reset(Tracker *tracker)
{
	tracker->head = tracker->tail;
	tracker->inflight_events = 0;
	tracker->inflight_bytes = 0;
}

size_t
tracker_inflight_events(const Tracker *tracker)
{
	return tracker->inflight_events;
}

size_t
tracker_inflight_bytes(const Tracker *tracker)
{
	return tracker->inflight_bytes;
}
