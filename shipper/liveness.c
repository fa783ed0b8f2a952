/*
 * liveness.c
 *	  The silence limit of the replication connection (see liveness.h).
 */
#include "liveness.h"

/* Starts counting on a new connection: limit_usec > 0. */
void
liveness_start(Liveness *liveness, int64_t limit_usec, int64_t now)
{
	liveness->limit_usec = limit_usec;
	liveness->heard_at = now;
	liveness->probed = false;
}

/* A message arrived: the server is there. */
void
liveness_heard(Liveness *liveness, int64_t now)
{
	liveness->heard_at = now;
	liveness->probed = false;
}

/*
 * The shipper is not reading (the in-flight caps): what the server sends
 * waits unread, so the silence is the shipper's own.  A probe sent before
 * still counts as sent.
 */
void
liveness_not_reading(Liveness *liveness, int64_t now)
{
	liveness->heard_at = now;
}

/*
 * LIVENESS_PROBE once per silence, after half the limit; the caller sends
 * the probe and says so with liveness_probed().  LIVENESS_LOST after the
 * whole limit.
 */
LivenessVerdict
liveness_check(Liveness *liveness, int64_t now)
{
	int64_t silent = now - liveness->heard_at;

	if (silent >= liveness->limit_usec)
		return LIVENESS_LOST;
	if (!liveness->probed && silent >= liveness->limit_usec / 2)
		return LIVENESS_PROBE;
	return LIVENESS_ALIVE;
}

void
liveness_probed(Liveness *liveness)
{
	liveness->probed = true;
}

int64_t
liveness_silent_usec(const Liveness *liveness, int64_t now)
{
	return now - liveness->heard_at;
}
