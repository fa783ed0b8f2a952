/* Unit tests: when the replication connection's silence means a lost link. */
#include "unit.h"

#include "liveness.h"

#define SEC INT64_C(1000000)

/* Quiet for half the limit: one probe; the whole limit: lost. */
static void
test_probe_then_lost(void **state)
{
	Liveness l;

	liveness_start(&l, 10 * SEC, 100 * SEC);
	assert_int_equal(liveness_check(&l, 100 * SEC), LIVENESS_ALIVE);
	assert_int_equal(liveness_check(&l, 105 * SEC - 1), LIVENESS_ALIVE);
	assert_int_equal(liveness_check(&l, 105 * SEC), LIVENESS_PROBE);
	liveness_probed(&l);
	/* once per silence */
	assert_int_equal(liveness_check(&l, 107 * SEC), LIVENESS_ALIVE);
	assert_int_equal(liveness_check(&l, 110 * SEC - 1), LIVENESS_ALIVE);
	assert_int_equal(liveness_check(&l, 110 * SEC), LIVENESS_LOST);
	assert_true(liveness_silent_usec(&l, 110 * SEC) == 10 * SEC);
}

/* A reply to the probe starts a new silence, with a new probe. */
static void
test_reply_restarts(void **state)
{
	Liveness l;

	liveness_start(&l, 10 * SEC, 0);
	assert_int_equal(liveness_check(&l, 6 * SEC), LIVENESS_PROBE);
	liveness_probed(&l);
	liveness_heard(&l, 7 * SEC);
	assert_int_equal(liveness_check(&l, 11 * SEC), LIVENESS_ALIVE);
	assert_int_equal(liveness_check(&l, 12 * SEC), LIVENESS_PROBE);
	liveness_probed(&l);
	assert_int_equal(liveness_check(&l, 17 * SEC), LIVENESS_LOST);
}

/*
 * Paused reading is not the server's silence: the clock starts again when
 * reading resumes, and a probe already sent is not sent twice.
 */
static void
test_not_reading(void **state)
{
	Liveness l;

	liveness_start(&l, 10 * SEC, 0);
	assert_int_equal(liveness_check(&l, 5 * SEC), LIVENESS_PROBE);
	liveness_probed(&l);
	liveness_not_reading(&l, 9 * SEC);
	liveness_not_reading(&l, 30 * SEC);
	assert_int_equal(liveness_check(&l, 36 * SEC), LIVENESS_ALIVE);
	assert_int_equal(liveness_check(&l, 40 * SEC), LIVENESS_LOST);
	liveness_heard(&l, 40 * SEC);
	assert_int_equal(liveness_check(&l, 45 * SEC), LIVENESS_PROBE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_then_lost),
		cmocka_unit_test(test_reply_restarts),
		cmocka_unit_test(test_not_reading),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
