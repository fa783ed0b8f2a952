/* Unit tests: when the replication connection's silence means a lost link. */
#include "unit.h"

#include "liveness.h"

#define SEC INT64_C(1000000)

/* Quiet for a quarter of the limit: one probe; the whole limit: lost. */
static void
test_probe_then_lost(void **state)
{
	Liveness l;

	liveness_start(&l, 8 * SEC, 100 * SEC);
	assert_int_equal(liveness_check(&l, 100 * SEC), LIVENESS_ALIVE);
	assert_int_equal(liveness_check(&l, 102 * SEC - 1), LIVENESS_ALIVE);
	assert_int_equal(liveness_check(&l, 102 * SEC), LIVENESS_PROBE);
	liveness_probed(&l);
	/* once per silence */
	assert_int_equal(liveness_check(&l, 105 * SEC), LIVENESS_ALIVE);
	assert_int_equal(liveness_check(&l, 108 * SEC - 1), LIVENESS_ALIVE);
	assert_int_equal(liveness_check(&l, 108 * SEC), LIVENESS_LOST);
	assert_true(liveness_silent_usec(&l, 108 * SEC) == 8 * SEC);
}

/* A reply to the probe starts a new silence, with a new probe. */
static void
test_reply_restarts(void **state)
{
	Liveness l;

	liveness_start(&l, 8 * SEC, 0);
	assert_int_equal(liveness_check(&l, 3 * SEC), LIVENESS_PROBE);
	liveness_probed(&l);
	liveness_heard(&l, 7 * SEC);
	assert_int_equal(liveness_check(&l, 8 * SEC), LIVENESS_ALIVE);
	assert_int_equal(liveness_check(&l, 9 * SEC), LIVENESS_PROBE);
	liveness_probed(&l);
	assert_int_equal(liveness_check(&l, 15 * SEC), LIVENESS_LOST);
}

/*
 * Paused reading is not the server's silence: the clock starts again when
 * reading resumes, and a probe already sent is not sent twice.
 */
static void
test_not_reading(void **state)
{
	Liveness l;

	liveness_start(&l, 8 * SEC, 0);
	assert_int_equal(liveness_check(&l, 2 * SEC), LIVENESS_PROBE);
	liveness_probed(&l);
	liveness_not_reading(&l, 7 * SEC);
	liveness_not_reading(&l, 30 * SEC);
	assert_int_equal(liveness_check(&l, 35 * SEC), LIVENESS_ALIVE);
	assert_int_equal(liveness_check(&l, 38 * SEC), LIVENESS_LOST);
	liveness_heard(&l, 38 * SEC);
	assert_int_equal(liveness_check(&l, 40 * SEC), LIVENESS_PROBE);
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
