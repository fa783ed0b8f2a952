/*
 * tracker.c
 *	  The LSN tracker.
 *
 * A ring of transactions, oldest first, each with its count of events not
 * yet acknowledged and, once its last event has arrived, its end LSN.  The
 * confirmed position moves past a transaction only when it and every older
 * one are complete and fully acknowledged, so acknowledgements arriving
 * out of order (different partitions) never confirm too much.
 *
 * The server's own position (from a keepalive) is confirmed only when no
 * event awaits Kafka and no transaction is partly received: then everything
 * the server sent before that position has been delivered.  (Confirming it
 * while work was in flight lost events in peer systems.)
 *
 * tracker_add also checks the stream's order, which all of this relies on:
 * seq counts up from 0 within a transaction, a transaction ends before the
 * next begins, commit LSNs increase, and end_lsn follows commit_lsn.  A
 * violation is an error, never skipped.  And it skips transactions that
 * were confirmed already: after a reconnect the server sends again from
 * the slot's position, which may lag behind ours (a status update lost, or
 * the slot's position not yet saved when PostgreSQL restarted).
 */
#include "tracker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct TrackedTxn
{
	Lsn commit_lsn;
	Lsn end_lsn;
	bool complete; /* its last event has arrived */
	size_t outstanding; /* events not yet acknowledged */
} TrackedTxn;

struct Tracker
{
	TrackedTxn *ring;
	size_t capacity; /* a power of two */
	TrackerTxn head; /* oldest transaction still tracked */
	TrackerTxn tail; /* the next transaction's number */
	Lsn confirmed;
	size_t inflight_events; /* including orphans */
	size_t inflight_bytes;
	/* Sent on an earlier connection, still held by Kafka: they count. */
	size_t orphan_events;
	size_t orphan_bytes;
	/* No position from the server yet on this connection (see restart). */
	bool position_unknown;

	/* The stream's order (tracker_add), reset on every new connection. */
	bool open; /* a transaction is partly received */
	bool open_skipped; /* ... and was confirmed before */
	Lsn open_commit_lsn;
	unsigned long long next_seq;
	bool have_previous;
	Lsn previous_commit_lsn;
};

#define INITIAL_CAPACITY 1024
#define RING(t, n) (&(t)->ring[(n) & ((t)->capacity - 1)])

Tracker *
tracker_create(Lsn confirmed)
{
	Tracker *tracker = calloc(1, sizeof(Tracker));

	if (tracker == NULL)
		return NULL;
	tracker->capacity = INITIAL_CAPACITY;
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

static int
grow(Tracker *tracker)
{
	size_t capacity = tracker->capacity * 2;
	TrackedTxn *ring = calloc(capacity, sizeof(TrackedTxn));
	TrackerTxn n;

	if (ring == NULL)
		return -1;
	for (n = tracker->head; n < tracker->tail; n++)
		ring[n & (capacity - 1)] = *RING(tracker, n);
	free(tracker->ring);
	tracker->ring = ring;
	tracker->capacity = capacity;
	return 0;
}

/*
 * Counts an event of the transaction committed at commit_lsn: the newest
 * one if it is still open with that LSN, else a new one.  Returns the
 * transaction's handle, or TRACKER_TXN_NONE when out of memory.
 */
TrackerTxn
tracker_add_event(Tracker *tracker, Lsn commit_lsn, size_t bytes)
{
	TrackedTxn *txn = NULL;

	if (tracker->tail > tracker->head)
	{
		txn = RING(tracker, tracker->tail - 1);
		if (txn->commit_lsn != commit_lsn || txn->complete)
			txn = NULL;
	}
	if (txn == NULL)
	{
		if (tracker->tail - tracker->head == tracker->capacity && grow(tracker) != 0)
			return TRACKER_TXN_NONE;
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
	TrackedTxn *tracked;

	if (txn < tracker->head || txn >= tracker->tail)
		return;
	tracked = RING(tracker, txn);
	tracked->end_lsn = end_lsn;
	tracked->complete = true;
}

/* Checks that an event may come next in the stream; fills errstr if not. */
static int
check_order(const Tracker *tracker, Lsn commit_lsn, unsigned long long seq,
			bool last, Lsn end_lsn, char *errstr, size_t errstr_size)
{
	char lsn[LSN_TEXT_SIZE];
	char other[LSN_TEXT_SIZE];
	char end[LSN_TEXT_SIZE];

	if (tracker->open ? commit_lsn == tracker->open_commit_lsn && seq == tracker->next_seq
					  : seq == 0 && (!tracker->have_previous ||
									 commit_lsn > tracker->previous_commit_lsn))
	{
		if (!last || end_lsn > commit_lsn)
			return 0;
	}
	/* In order: formatted only for the error. */
	lsn_format(commit_lsn, lsn);
	lsn_format(end_lsn, end);
	lsn_format(tracker->open ? tracker->open_commit_lsn : tracker->previous_commit_lsn, other);
	if (tracker->open && commit_lsn != tracker->open_commit_lsn)
		snprintf(errstr, errstr_size,
				 "an event of the transaction committed at %s arrived before the transaction at %s ended",
				 lsn, other);
	else if (tracker->open && seq != tracker->next_seq)
		snprintf(errstr, errstr_size,
				 "event seq %llu of the transaction committed at %s follows seq %llu",
				 seq, lsn, tracker->next_seq - 1);
	else if (!tracker->open && seq != 0)
		snprintf(errstr, errstr_size,
				 "the transaction committed at %s begins with seq %llu, not 0", lsn, seq);
	else if (!tracker->open && tracker->have_previous &&
			 commit_lsn <= tracker->previous_commit_lsn)
		snprintf(errstr, errstr_size,
				 "the transaction committed at %s arrived after the one committed at %s",
				 lsn, other);
	else
		snprintf(errstr, errstr_size,
				 "the transaction committed at %s ends at %s, not after its commit", lsn, end);
	return -1;
}

/*
 * Counts one event from the stream, checking its order.  Returns
 * TRACKER_TRACKED with *txn set when it must be shipped and then
 * acknowledged with tracker_ack(txn, bytes); TRACKER_SKIP when its
 * transaction was confirmed already; TRACKER_ERROR with errstr.
 */
TrackerAddResult
tracker_add(Tracker *tracker, Lsn commit_lsn, unsigned long long seq, bool last,
			Lsn end_lsn, size_t bytes, TrackerTxn *txn, char *errstr,
			size_t errstr_size)
{
	if (check_order(tracker, commit_lsn, seq, last, end_lsn, errstr, errstr_size) != 0)
		return TRACKER_ERROR;
	if (!tracker->open)
	{
		/*
		 * Nothing in flight, and the server sends commits in order: it sent
		 * everything before this commit, so that much is confirmed.
		 */
		if (tracker->position_unknown && tracker->head == tracker->tail &&
			commit_lsn > tracker->confirmed)
			tracker->confirmed = commit_lsn;
		tracker->position_unknown = false;
		tracker->open = true;
		tracker->open_commit_lsn = commit_lsn;
		/* Strictly before: a commit at the confirmed position is not in it. */
		tracker->open_skipped = commit_lsn < tracker->confirmed;
	}
	tracker->next_seq = seq + 1;
	if (last)
	{
		tracker->open = false;
		tracker->have_previous = true;
		tracker->previous_commit_lsn = commit_lsn;
	}
	if (tracker->open_skipped)
		return TRACKER_SKIP;
	*txn = tracker_add_event(tracker, commit_lsn, bytes);
	if (*txn == TRACKER_TXN_NONE)
	{
		snprintf(errstr, errstr_size, "out of memory tracking transactions");
		return TRACKER_ERROR;
	}
	if (last)
		tracker_end_txn(tracker, *txn, end_lsn);
	return TRACKER_TRACKED;
}

/* Kafka acknowledged one event of txn (of bytes, as added). */
void
tracker_ack(Tracker *tracker, TrackerTxn txn, size_t bytes)
{
	TrackedTxn *tracked;

	if (txn < tracker->head && tracker->orphan_events > 0)
	{
		/* Sent on an earlier connection: Kafka no longer holds it. */
		bytes = bytes < tracker->orphan_bytes ? bytes : tracker->orphan_bytes;
		tracker->orphan_events--;
		tracker->orphan_bytes -= bytes;
		tracker->inflight_events--;
		tracker->inflight_bytes -= bytes;
		return;
	}
	if (txn < tracker->head || txn >= tracker->tail)
		return;
	tracked = RING(tracker, txn);
	if (tracked->outstanding == 0)
		return;
	tracked->outstanding--;
	tracker->inflight_events--;
	tracker->inflight_bytes -= bytes < tracker->inflight_bytes ? bytes : tracker->inflight_bytes;
}

/*
 * Returns the position that may be confirmed now, first moving past every
 * leading transaction that is complete and fully acknowledged.
 */
Lsn
tracker_confirmed(Tracker *tracker)
{
	while (tracker->head < tracker->tail)
	{
		TrackedTxn *txn = RING(tracker, tracker->head);

		if (!txn->complete || txn->outstanding > 0)
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
	return tracker->head == tracker->tail && !tracker->open;
}

/*
 * The server says it has sent everything before position (a keepalive's
 * walEnd).  Confirmed only when nothing is in flight, and never backwards.
 */
void
tracker_server_position(Tracker *tracker, Lsn position)
{
	(void) tracker_confirmed(tracker);
	tracker->position_unknown = false;
	if (tracker_idle(tracker) && position > tracker->confirmed)
		tracker->confirmed = position;
}

/*
 * A new connection: the server sends again everything after the slot's
 * confirmed position, so what was in flight no longer decides what is
 * confirmed.  It still counts against the in-flight caps as orphans until
 * Kafka reports on it (librdkafka holds it in memory meanwhile).
 *
 * On the same server the confirmed position never moves back: PostgreSQL
 * 15 takes a lower flush position as the slot's new confirmed_flush_lsn.
 * On another server (a new system identifier) the slot's position is the
 * only truth.  Either way slot_confirmed may be stale: a hot standby reads
 * it before START_REPLICATION, and the shipper it takes over from may
 * confirm more in between.  The server streams from its own position, so
 * until the server says where it is (its first commit or keepalive),
 * tracker_position_known is false and nothing should be sent.
 */
void
tracker_restart(Tracker *tracker, Lsn slot_confirmed, bool same_server)
{
	tracker->head = tracker->tail;
	tracker->orphan_events = tracker->inflight_events;
	tracker->orphan_bytes = tracker->inflight_bytes;
	tracker->position_unknown = true;
	tracker->open = false;
	tracker->open_skipped = false;
	tracker->have_previous = false;
	if (!same_server || slot_confirmed > tracker->confirmed)
		tracker->confirmed = slot_confirmed;
}

/* tracker_restart keeping the confirmed position. */
void
tracker_reset(Tracker *tracker)
{
	tracker_restart(tracker, tracker->confirmed, true);
}

/* Whether the server said where it is since the last restart. */
bool
tracker_position_known(const Tracker *tracker)
{
	return !tracker->position_unknown;
}

/*
 * Whether an event of bytes may go in flight under the caps.  Hard caps:
 * the counts never exceed them, except that one event larger than
 * max_bytes goes alone (else it would never go).
 */
bool
tracker_has_room(const Tracker *tracker, size_t max_events, size_t max_bytes,
				 size_t bytes)
{
	if (tracker->inflight_events == 0)
		return true;
	return tracker->inflight_events < max_events &&
		   tracker->inflight_bytes <= max_bytes &&
		   bytes <= max_bytes - tracker->inflight_bytes;
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
