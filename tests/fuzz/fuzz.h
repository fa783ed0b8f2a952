/*
 * fuzz.h
 *	  What the fuzz targets share: an invariant check that reports what
 *	  broke and aborts, so libFuzzer saves the input as a crash.
 */
#ifndef SHIPPER_FUZZ_H
#define SHIPPER_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond) \
	do \
	{ \
		if (!(cond)) \
		{ \
			fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, \
					__LINE__, #cond); \
			abort(); \
		} \
	} while (0)

#endif /* SHIPPER_FUZZ_H */
