/*
 * liveness.h
 *	  Whether the server at the other end of the replication connection is
 *	  still there: pure logic, no I/O, times in monotonic microseconds.
 *
 * TCP does not say when a link dies silently (a partition, a dead NAT
 * entry, a proxy that stops forwarding): the kernel waits for minutes.  An
 * idle walsender sends nothing while the shipper's status updates keep it
 * content, so silence alone proves nothing.  Hence a probe: after half the
 * limit without a message, the next status update asks for a reply, which
 * a live walsender sends at once (also while decoding a large transaction,
 * between changes).  A whole limit without any message means the link is
 * lost.
 *
 * Silence is only the server's while the shipper reads: when the in-flight
 * caps pause reading, the server's messages wait in the socket, and the
 * clock starts again when reading resumes.
 */
#ifndef SHIPPER_LIVENESS_H
#define SHIPPER_LIVENESS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum LivenessVerdict
{
	LIVENESS_ALIVE,
	LIVENESS_PROBE, /* send a status update that asks for a reply, now */
	LIVENESS_LOST /* nothing heard for the whole limit */
} LivenessVerdict;

typedef struct Liveness
{
	int64_t limit_usec;
	int64_t heard_at; /* the last message, or when silence started to count */
	bool probed; /* a probe was sent since heard_at */
} Liveness;

extern void liveness_start(Liveness *liveness, int64_t limit_usec, int64_t now);
extern void liveness_heard(Liveness *liveness, int64_t now);
extern void liveness_not_reading(Liveness *liveness, int64_t now);
extern LivenessVerdict liveness_check(Liveness *liveness, int64_t now);
extern void liveness_probed(Liveness *liveness);
extern int64_t liveness_silent_usec(const Liveness *liveness, int64_t now);

#endif /* SHIPPER_LIVENESS_H */
