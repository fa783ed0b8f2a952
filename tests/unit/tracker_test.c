/* Unit tests: which position may be confirmed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tracker.h"

/* One transaction of three events, acknowledged out of order. */
static void
test_confirms_only_complete_acknowledged(void **state)
{
	Tracker *t = tracker_create(0x100);
	TrackerTxn a;

	assert_true(tracker_idle(t));
	a = tracker_add_event(t, 0x200, 10);
	assert_true(tracker_add_event(t, 0x200, 10) == a);
	assert_true(tracker_add_event(t, 0x200, 10) == a);
	assert_int_equal(tracker_inflight_events(t), 3);
	assert_int_equal(tracker_inflight_bytes(t), 30);
	tracker_ack(t, a, 10);
	tracker_ack(t, a, 10);
	tracker_ack(t, a, 10);
	/* all acknowledged, but the last event has not arrived */
	assert_true(tracker_confirmed(t) == 0x100);
	assert_false(tracker_idle(t));
	tracker_end_txn(t, a, 0x230);
	assert_true(tracker_confirmed(t) == 0x230);
	assert_true(tracker_idle(t));
	assert_int_equal(tracker_inflight_events(t), 0);
	tracker_destroy(t);
}

/* A later transaction acknowledged first does not move the position. */
static void
test_waits_for_older_transactions(void **state)
{
	Tracker *t = tracker_create(0);
	TrackerTxn a = tracker_add_event(t, 0x100, 1);
	TrackerTxn b;
	TrackerTxn c;

	tracker_end_txn(t, a, 0x130);
	b = tracker_add_event(t, 0x200, 1);
	tracker_end_txn(t, b, 0x230);
	c = tracker_add_event(t, 0x300, 1);
	tracker_end_txn(t, c, 0x330);
	assert_true(a != b && b != c);

	tracker_ack(t, c, 1);
	tracker_ack(t, b, 1);
	assert_true(tracker_confirmed(t) == 0);
	tracker_ack(t, a, 1);
	assert_true(tracker_confirmed(t) == 0x330);
	tracker_destroy(t);
}

/* The server's position is confirmed only when nothing is in flight. */
static void
test_server_position_only_when_idle(void **state)
{
	Tracker *t = tracker_create(0x100);
	TrackerTxn a;

	tracker_server_position(t, 0x500);
	assert_true(tracker_confirmed(t) == 0x500);

	a = tracker_add_event(t, 0x600, 1);
	tracker_server_position(t, 0x900);
	assert_true(tracker_confirmed(t) == 0x500);
	tracker_end_txn(t, a, 0x630);
	tracker_server_position(t, 0x900);
	assert_true(tracker_confirmed(t) == 0x500);
	tracker_ack(t, a, 1);
	tracker_server_position(t, 0x900);
	assert_true(tracker_confirmed(t) == 0x900);
	/* never backwards */
	tracker_server_position(t, 0x800);
	assert_true(tracker_confirmed(t) == 0x900);
	tracker_destroy(t);
}

/* After a reset, acknowledgements from before it change nothing. */
static void
test_reset_ignores_stale_acks(void **state)
{
	Tracker *t = tracker_create(0x100);
	TrackerTxn old = tracker_add_event(t, 0x200, 5);
	TrackerTxn fresh;

	tracker_end_txn(t, old, 0x230);
	tracker_reset(t);
	assert_true(tracker_idle(t));
	assert_int_equal(tracker_inflight_bytes(t), 0);
	fresh = tracker_add_event(t, 0x200, 5);
	tracker_end_txn(t, fresh, 0x230);
	tracker_ack(t, old, 5);
	assert_true(tracker_confirmed(t) == 0x100);
	tracker_ack(t, fresh, 5);
	assert_true(tracker_confirmed(t) == 0x230);
	tracker_destroy(t);
}

/* Many transactions in flight grow the ring without losing any. */
static void
test_many_transactions(void **state)
{
	Tracker *t = tracker_create(0);
	TrackerTxn txns[5000];
	int i;

	for (i = 0; i < 5000; i++)
	{
		txns[i] = tracker_add_event(t, (Lsn) (i + 1) * 0x100, 1);
		tracker_end_txn(t, txns[i], (Lsn) (i + 1) * 0x100 + 0x30);
	}
	for (i = 4999; i >= 1; i--)
		tracker_ack(t, txns[i], 1);
	assert_true(tracker_confirmed(t) == 0);
	tracker_ack(t, txns[0], 1);
	assert_true(tracker_confirmed(t) == (Lsn) 5000 * 0x100 + 0x30);
	assert_true(tracker_idle(t));
	tracker_destroy(t);
}

/* Two transactions may not share a commit LSN, but a new one after a
 * completed one with the same LSN (a replay after reconnect) is new. */
static void
test_new_transaction_after_complete_one(void **state)
{
	Tracker *t = tracker_create(0);
	TrackerTxn a = tracker_add_event(t, 0x100, 1);
	TrackerTxn b;

	tracker_end_txn(t, a, 0x130);
	b = tracker_add_event(t, 0x100, 1);
	assert_true(b != a);
	tracker_destroy(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_confirms_only_complete_acknowledged),
		cmocka_unit_test(test_waits_for_older_transactions),
		cmocka_unit_test(test_server_position_only_when_idle),
		cmocka_unit_test(test_reset_ignores_stale_acks),
		cmocka_unit_test(test_many_transactions),
		cmocka_unit_test(test_new_transaction_after_complete_one),
	};

	return cmocka_run_group_tests_name("tracker", tests, NULL, NULL);
}
