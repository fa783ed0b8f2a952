/* Unit tests: which position may be confirmed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	/* Kafka still holds it: it counts until reported on. */
	assert_int_equal(tracker_inflight_bytes(t), 5);
	fresh = tracker_add_event(t, 0x200, 5);
	tracker_end_txn(t, fresh, 0x230);
	assert_int_equal(tracker_inflight_bytes(t), 10);
	tracker_ack(t, old, 5);
	assert_int_equal(tracker_inflight_events(t), 1);
	assert_int_equal(tracker_inflight_bytes(t), 5);
	assert_true(tracker_confirmed(t) == 0x100);
	tracker_ack(t, fresh, 5);
	assert_true(tracker_confirmed(t) == 0x230);
	tracker_destroy(t);
}

/*
 * The in-flight caps are hard: an event goes only if the counts stay
 * within both, except one larger than the byte cap, alone.
 */
static void
test_has_room(void **state)
{
	Tracker *t = tracker_create(0);
	TrackerTxn txn;
	int i;

	assert_true(tracker_has_room(t, 3, 100, 1000)); /* alone: always */
	txn = tracker_add_event(t, 0x100, 1000);
	assert_false(tracker_has_room(t, 3, 100, 1));
	tracker_ack(t, txn, 1000);
	for (i = 0; i < 2; i++)
		txn = tracker_add_event(t, 0x200, 40);
	assert_true(tracker_has_room(t, 3, 100, 20));
	assert_false(tracker_has_room(t, 3, 100, 21));
	(void) tracker_add_event(t, 0x200, 20);
	assert_int_equal(tracker_inflight_bytes(t), 100);
	assert_false(tracker_has_room(t, 3, 1000, 1)); /* 3 events */
	assert_false(tracker_has_room(t, 4, 100, 1)); /* 100 bytes */
	assert_true(tracker_has_room(t, 4, 101, 1));
	/* Orphans of an earlier connection count too. */
	tracker_restart(t, 0x100, true);
	assert_false(tracker_has_room(t, 3, 1000, 1));
	tracker_ack(t, txn, 40);
	assert_true(tracker_has_room(t, 3, 1000, 1));
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

/*
 * Scripts for tracker_add, the checked entry point: each step adds an
 * event (with its expected result), acknowledges one by label, reports a
 * server position, restarts, or checks the confirmed position, idleness
 * or the in-flight counts.  Every event counts 10 bytes.  (Each record
 * gets exactly one delivery report from librdkafka, so acknowledgements
 * are counted per transaction.)
 */
typedef enum StepOp
{
	OP_END,
	OP_ADD,
	OP_ACK,
	OP_SERVER,
	OP_RESTART,
	OP_CONFIRMED,
	OP_IDLE,
	OP_INFLIGHT,
	OP_KNOWN
} StepOp;

typedef struct Step
{
	StepOp op;
	Lsn commit_lsn; /* ADD; SERVER, RESTART, CONFIRMED: the LSN */
	unsigned long long seq; /* ADD; INFLIGHT: events */
	bool last; /* ADD; RESTART: same server; IDLE, KNOWN: expected */
	Lsn end_lsn; /* ADD; INFLIGHT: bytes */
	int label; /* ADD: stores the txn; ACK: acknowledges it */
	TrackerAddResult result; /* ADD */
	const char *error; /* ADD with TRACKER_ERROR */
} Step;

#define ADD(c, q, l, e, lab) \
	{ \
		OP_ADD, (c), (q), (l), (e), (lab), TRACKER_TRACKED, NULL \
	}
#define SKIP(c, q, l, e) \
	{ \
		OP_ADD, (c), (q), (l), (e), 0, TRACKER_SKIP, NULL \
	}
#define FAIL(c, q, l, e, msg) \
	{ \
		OP_ADD, (c), (q), (l), (e), 0, TRACKER_ERROR, (msg) \
	}
#define ACK(lab) \
	{ \
		OP_ACK, 0, 0, false, 0, (lab), 0, NULL \
	}
#define SERVER(lsn) \
	{ \
		OP_SERVER, (lsn), 0, false, 0, 0, 0, NULL \
	}
#define RESTART(lsn, same) \
	{ \
		OP_RESTART, (lsn), 0, (same), 0, 0, 0, NULL \
	}
#define CONFIRMED(lsn) \
	{ \
		OP_CONFIRMED, (lsn), 0, false, 0, 0, 0, NULL \
	}
#define IDLE(b) \
	{ \
		OP_IDLE, 0, 0, (b), 0, 0, 0, NULL \
	}
#define INFLIGHT(n, bytes) \
	{ \
		OP_INFLIGHT, 0, (n), false, (bytes), 0, 0, NULL \
	}
#define KNOWN(b) \
	{ \
		OP_KNOWN, 0, 0, (b), 0, 0, 0, NULL \
	}
#define END \
	{ \
		OP_END, 0, 0, false, 0, 0, 0, NULL \
	}

typedef struct Script
{
	const char *name;
	Step steps[32];
} Script;

static const Script scripts[] = {
	{"one event", {ADD(0x100, 0, true, 0x130, 0), CONFIRMED(0), IDLE(false), INFLIGHT(1, 10), ACK(0), CONFIRMED(0x130), IDLE(true), INFLIGHT(0, 0), END}},
	{"three events acknowledged out of order", {ADD(0x100, 0, false, 0, 0), ADD(0x100, 1, false, 0, 1), ADD(0x100, 2, true, 0x130, 2), INFLIGHT(3, 30), ACK(2), ACK(0), CONFIRMED(0), ACK(1), CONFIRMED(0x130), END}},
	{"a later transaction acknowledged first", {ADD(0x100, 0, true, 0x130, 0), ADD(0x200, 0, true, 0x230, 1), ADD(0x300, 0, true, 0x330, 2), ACK(2), ACK(1), CONFIRMED(0), ACK(0), CONFIRMED(0x330), END}},
	{"a partial transaction waits for its last event", {ADD(0x100, 0, false, 0, 0), ACK(0), CONFIRMED(0), IDLE(false), SERVER(0x500), CONFIRMED(0), ADD(0x100, 1, true, 0x130, 1), CONFIRMED(0), ACK(1), CONFIRMED(0x130), IDLE(true), END}},
	{"the server position only when idle, never backwards", {SERVER(0x50), CONFIRMED(0x50), ADD(0x100, 0, true, 0x130, 0), SERVER(0x900), CONFIRMED(0x50), ACK(0), CONFIRMED(0x130), SERVER(0x900), CONFIRMED(0x900), SERVER(0x800), CONFIRMED(0x900), END}},
	{"a restart on the same server keeps the position and skips what it covers", {ADD(0x100, 0, true, 0x130, 0), ACK(0), CONFIRMED(0x130), ADD(0x200, 0, true, 0x230, 1), RESTART(0x130, true), IDLE(true), INFLIGHT(1, 10), ACK(1), INFLIGHT(0, 0), CONFIRMED(0x130), ADD(0x200, 0, true, 0x230, 2), ACK(2), CONFIRMED(0x230), RESTART(0x100, true), CONFIRMED(0x230), SKIP(0x100, 0, true, 0x130), SKIP(0x200, 0, false, 0), IDLE(false), SERVER(0x900), CONFIRMED(0x230), SKIP(0x200, 1, true, 0x230), IDLE(true), ADD(0x230, 0, true, 0x260, 3), ACK(3), CONFIRMED(0x260), END}},
	{"what the last connection left in Kafka counts until Kafka reports on it", {ADD(0x100, 0, false, 0, 0), ADD(0x100, 1, true, 0x130, 1), ADD(0x200, 0, true, 0x230, 2), ACK(1), INFLIGHT(2, 20), RESTART(0x100, true), INFLIGHT(2, 20), IDLE(true), ADD(0x100, 0, true, 0x130, 3), INFLIGHT(3, 30), ACK(2), INFLIGHT(2, 20), ACK(0), INFLIGHT(1, 10), CONFIRMED(0x100), ACK(3), INFLIGHT(0, 0), CONFIRMED(0x130), END}},
	{"a takeover: the slot's position was read before another shipper confirmed more", {RESTART(0x100, false), KNOWN(false), CONFIRMED(0x100), ADD(0x300, 0, true, 0x330, 0), KNOWN(true), CONFIRMED(0x300), ACK(0), CONFIRMED(0x330), END}},
	{"a takeover: the first keepalive tells the position", {RESTART(0x100, false), KNOWN(false), SERVER(0x500), KNOWN(true), CONFIRMED(0x500), END}},
	{"a restart: the first commit raises the position only when nothing is in flight", {ADD(0x100, 0, false, 0, 0), RESTART(0x80, true), ADD(0x100, 0, false, 0, 1), CONFIRMED(0x100), RESTART(0x80, true), KNOWN(false), ADD(0x100, 0, true, 0x130, 2), CONFIRMED(0x100), ACK(2), CONFIRMED(0x130), END}},
	{"a restart adopts a slot that moved ahead", {ADD(0x100, 0, true, 0x130, 0), RESTART(0x500, true), CONFIRMED(0x500), ACK(0), CONFIRMED(0x500), END}},
	{"a restart on another server adopts its slot", {ADD(0x100, 0, true, 0x130, 0), ACK(0), CONFIRMED(0x130), RESTART(0x40, false), CONFIRMED(0x40), ADD(0x50, 0, true, 0x80, 1), ACK(1), CONFIRMED(0x80), END}},
	{"a restart forgets the order of the last connection", {ADD(0x200, 0, false, 0, 0), RESTART(0, true), ADD(0x100, 0, true, 0x130, 1), ACK(1), CONFIRMED(0x130), END}},
	{"a commit at the confirmed position is new", {SERVER(0x100), ADD(0x100, 0, true, 0x130, 0), CONFIRMED(0x100), ACK(0), CONFIRMED(0x130), END}},
	{"seq must count up", {ADD(0x100, 0, false, 0, 0), FAIL(0x100, 2, true, 0x130, "event seq 2 of the transaction committed at 0/100 follows seq 0"), END}},
	{"seq must not repeat", {ADD(0x100, 0, false, 0, 0), FAIL(0x100, 0, true, 0x130, "event seq 0 of the transaction committed at 0/100 follows seq 0"), END}},
	{"a transaction must end before the next begins", {ADD(0x100, 0, false, 0, 0), FAIL(0x200, 0, true, 0x230, "an event of the transaction committed at 0/200 arrived before the transaction at 0/100 ended"), END}},
	{"a transaction begins with seq 0", {FAIL(0x100, 1, true, 0x130, "the transaction committed at 0/100 begins with seq 1, not 0"), END}},
	{"commit LSNs increase", {ADD(0x200, 0, true, 0x230, 0), FAIL(0x100, 0, true, 0x130, "the transaction committed at 0/100 arrived after the one committed at 0/200"), END}},
	{"a transaction is not sent twice on one connection", {ADD(0x200, 0, true, 0x230, 0), FAIL(0x200, 0, true, 0x230, "the transaction committed at 0/200 arrived after the one committed at 0/200"), END}},
	{"end_lsn follows commit_lsn", {FAIL(0x100, 0, true, 0x100, "the transaction committed at 0/100 ends at 0/100, not after its commit"), END}},
	{"LSNs above 4 GB", {ADD(UINT64_C(0x1600000000), 0, true, UINT64_C(0x1600000040), 0), ACK(0), CONFIRMED(UINT64_C(0x1600000040)), FAIL(0x100, 0, true, 0x130, "the transaction committed at 0/100 arrived after the one committed at 16/0"), END}},
};

static void
run_step(Tracker *t, const char *name, int i, const Step *step, TrackerTxn *labels)
{
	char what[160];
	char err[256] = "";
	TrackerTxn txn = TRACKER_TXN_NONE;
	TrackerAddResult rc;

	snprintf(what, sizeof(what), "%s, step %d", name, i);
	switch (step->op)
	{
		case OP_ADD:
			rc = tracker_add(t, step->commit_lsn, step->seq, step->last, step->end_lsn, 10, &txn,
							 err, sizeof(err));
			if (rc != step->result)
				fail_msg("%s: tracker_add returned %d, want %d (%s)", what, rc, step->result, err);
			if (step->error && strcmp(err, step->error) != 0)
				fail_msg("%s: error \"%s\", want \"%s\"", what, err, step->error);
			if (rc == TRACKER_TRACKED)
				labels[step->label] = txn;
			break;
		case OP_ACK:
			tracker_ack(t, labels[step->label], 10);
			break;
		case OP_SERVER:
			tracker_server_position(t, step->commit_lsn);
			break;
		case OP_RESTART:
			tracker_restart(t, step->commit_lsn, step->last);
			break;
		case OP_CONFIRMED:
			if (tracker_confirmed(t) != step->commit_lsn)
				fail_msg("%s: confirmed 0x%llX, want 0x%llX", what,
						 (unsigned long long) tracker_confirmed(t),
						 (unsigned long long) step->commit_lsn);
			break;
		case OP_IDLE:
			if (tracker_idle(t) != step->last)
				fail_msg("%s: idle is %d, want %d", what, tracker_idle(t), step->last);
			break;
		case OP_INFLIGHT:
			if (tracker_inflight_events(t) != step->seq || tracker_inflight_bytes(t) != step->end_lsn)
				fail_msg("%s: in flight %zu events, %zu bytes; want %llu, %llu", what,
						 tracker_inflight_events(t), tracker_inflight_bytes(t), step->seq,
						 (unsigned long long) step->end_lsn);
			break;
		case OP_KNOWN:
			if (tracker_position_known(t) != step->last)
				fail_msg("%s: position known is %d, want %d", what, tracker_position_known(t),
						 step->last);
			break;
		case OP_END:
			break;
	}
}

static void
test_scripts(void **state)
{
	size_t i;
	int j;

	for (i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
	{
		Tracker *t = tracker_create(0);
		TrackerTxn labels[8];

		for (j = 0; scripts[i].steps[j].op != OP_END; j++)
			run_step(t, scripts[i].name, j, &scripts[i].steps[j], labels);
		tracker_destroy(t);
	}
}

/* A simple model of the rule, to check the tracker on random orders. */
typedef struct ModelTxn
{
	int events;
	int acked;
	Lsn end_lsn;
} ModelTxn;

static unsigned
next_random(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) & 0x7FFF;
}

/*
 * 3000 transactions of 1 to 5 events, acknowledged in a random order with
 * the server reporting positions in between: after every step the
 * confirmed position is the end of the longest fully acknowledged prefix.
 */
static void
test_random_orders(void **state)
{
	enum
	{
		NTXN = 3000
	};
	ModelTxn *model = calloc(NTXN, sizeof(ModelTxn));
	TrackerTxn *txns = calloc(NTXN, sizeof(TrackerTxn));
	int *acks = calloc(NTXN * 5, sizeof(int));
	Tracker *t = tracker_create(0);
	unsigned seed = 42;
	int nacks = 0;
	int prefix = 0;
	int i;
	int e;
	char err[256];

	for (i = 0; i < NTXN; i++)
	{
		model[i].events = 1 + (int) (next_random(&seed) % 5);
		model[i].end_lsn = (Lsn) (i + 1) * 0x100 + 0x40;
		for (e = 0; e < model[i].events; e++)
		{
			assert_int_equal(TRACKER_TRACKED,
							 tracker_add(t, (Lsn) (i + 1) * 0x100, (unsigned long long) e,
										 e == model[i].events - 1, model[i].end_lsn, 10,
										 &txns[i], err, sizeof(err)));
			acks[nacks++] = i;
		}
	}
	for (i = nacks - 1; i > 0; i--)
	{
		int j = (int) (next_random(&seed) % (unsigned) (i + 1));
		int tmp = acks[i];

		acks[i] = acks[j];
		acks[j] = tmp;
	}
	for (i = 0; i < nacks; i++)
	{
		tracker_ack(t, txns[acks[i]], 10);
		model[acks[i]].acked++;
		while (prefix < NTXN && model[prefix].acked == model[prefix].events)
			prefix++;
		if (i % 7 == 0)
			tracker_server_position(t, (Lsn) 0xFFFFFFFF);
		if (tracker_confirmed(t) != (prefix ? model[prefix - 1].end_lsn : 0))
			fail_msg("after ack %d: confirmed 0x%llX, want 0x%llX", i,
					 (unsigned long long) tracker_confirmed(t),
					 (unsigned long long) (prefix ? model[prefix - 1].end_lsn : 0));
	}
	assert_true(tracker_idle(t));
	assert_int_equal(tracker_inflight_bytes(t), 0);
	tracker_destroy(t);
	free(model);
	free(txns);
	free(acks);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_confirms_only_complete_acknowledged),
		cmocka_unit_test(test_waits_for_older_transactions),
		cmocka_unit_test(test_server_position_only_when_idle),
		cmocka_unit_test(test_reset_ignores_stale_acks),
		cmocka_unit_test(test_has_room),
		cmocka_unit_test(test_many_transactions),
		cmocka_unit_test(test_new_transaction_after_complete_one),
		cmocka_unit_test(test_scripts),
		cmocka_unit_test(test_random_orders),
	};

	return cmocka_run_group_tests_name("tracker", tests, NULL, NULL);
}
