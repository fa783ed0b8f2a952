/*
 * unit.h
 *	  Shared helpers for the shipper's cmocka unit tests: assertions that
 *	  name the table case that failed and show both values.
 */
#ifndef SHIPPER_UNIT_H
#define SHIPPER_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define EXPECT_STR(what, want, have) \
	do \
	{ \
		const char *want_ = (want); \
		const char *have_ = (have); \
		if ((want_ == NULL) != (have_ == NULL) || \
			(want_ != NULL && strcmp(want_, have_) != 0)) \
			fail_msg("%s: want \"%s\", have \"%s\"", (what), \
					 want_ ? want_ : "(null)", have_ ? have_ : "(null)"); \
	} while (0)

#define EXPECT_BYTES(what, want, want_len, have, have_len) \
	do \
	{ \
		if ((size_t) (want_len) != (size_t) (have_len) || \
			memcmp((want), (have), (want_len)) != 0) \
			fail_msg("%s: want %zu bytes \"%.*s\", have %zu bytes \"%.*s\"", (what), \
					 (size_t) (want_len), (int) (want_len), (want), \
					 (size_t) (have_len), (int) (have_len), (have)); \
	} while (0)

#define EXPECT_U64(what, want, have) \
	do \
	{ \
		unsigned long long want_ = (unsigned long long) (want); \
		unsigned long long have_ = (unsigned long long) (have); \
		if (want_ != have_) \
			fail_msg("%s: want %llu (0x%llX), have %llu (0x%llX)", (what), \
					 want_, want_, have_, have_); \
	} while (0)

#define EXPECT_CONTAINS(what, needle, haystack) \
	do \
	{ \
		if (strstr((haystack), (needle)) == NULL) \
			fail_msg("%s: want an error containing \"%s\", have \"%s\"", (what), \
					 (needle), (haystack)); \
	} while (0)

#endif /* SHIPPER_UNIT_H */
