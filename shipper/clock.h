/*
 * clock.h
 *	  The time: now_usec() in microseconds since the Unix epoch, for
 *	  deadlines, rate limits and the replication protocol's timestamps;
 *	  monotonic_usec() for the heartbeat, which must not jump with the clock.
 */
#ifndef SHIPPER_CLOCK_H
#define SHIPPER_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

static inline int64_t
now_usec(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Microseconds from an arbitrary start, never jumping: for intervals. */
static inline int64_t
monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif /* SHIPPER_CLOCK_H */
