/*
 * clock.h
 *	  The time, in microseconds since the Unix epoch, for deadlines, rate
 *	  limits and the replication protocol's timestamps.
 */
#ifndef SHIPPER_CLOCK_H
#define SHIPPER_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

static inline int64_t
now_usec(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}

#endif /* SHIPPER_CLOCK_H */
