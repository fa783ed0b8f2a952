/* Unit tests: counters by label (labels.c). */
#include <stdio.h>

#include "unit.h"

#include "labels.h"

static void
test_add_and_find(void **state)
{
	LabelTable t = {0};
	const LabelCount *c;
	char name[32];
	int i;

	assert_null(labels_find(&t, "a"));
	assert_int_equal(labels_add(&t, "orders", 1, 10), 0);
	assert_int_equal(labels_add(&t, "orders", 2, 5), 0);
	assert_int_equal(labels_add(&t, "", 1, 0), 0); /* an empty label is a label */
	/* Enough labels to grow the table a few times. */
	for (i = 0; i < 1000; i++)
	{
		snprintf(name, sizeof(name), "t%d", i);
		assert_int_equal(labels_add(&t, name, (uint64_t) i, 0), 0);
	}
	c = labels_find(&t, "orders");
	assert_non_null(c);
	assert_int_equal(c->count, 3);
	assert_int_equal(c->bytes, 15);
	assert_int_equal(labels_find(&t, "t999")->count, 999);
	assert_int_equal(labels_find(&t, "")->count, 1);
	assert_int_equal(t.nused, 1002);
	labels_free(&t);
	assert_int_equal(t.nused, 0);
}

static void
test_sorted(void **state)
{
	static const char *const names[] = {"b", "a", "c.d", "a.b", "B"};
	static const char *const want[] = {"B", "a", "a.b", "b", "c.d"};
	LabelTable t = {0};
	const LabelCount **sorted;
	size_t n;
	size_t i;

	assert_null(labels_sorted(&t, &n));
	assert_int_equal(n, 0);
	for (i = 0; i < 5; i++)
		labels_add(&t, names[i], i + 1, 0);
	sorted = labels_sorted(&t, &n);
	assert_int_equal(n, 5);
	for (i = 0; i < 5; i++)
		EXPECT_STR("sorted", want[i], sorted[i]->label);
	free(sorted);
	labels_free(&t);
}

/* Past LABELS_MAX distinct labels, new ones count under LABELS_OTHER. */
static void
test_bounded(void **state)
{
	LabelTable t = {0};
	char name[32];
	int i;

	for (i = 0; i < LABELS_MAX + 50; i++)
	{
		snprintf(name, sizeof(name), "topic-%d", i);
		assert_int_equal(labels_add(&t, name, 1, 2), 0);
	}
	assert_int_equal(t.nused, LABELS_MAX + 1);
	assert_int_equal(labels_find(&t, LABELS_OTHER)->count, 50);
	assert_int_equal(labels_find(&t, LABELS_OTHER)->bytes, 100);
	assert_null(labels_find(&t, "topic-10020"));
	/* Known labels still count under their own name. */
	assert_int_equal(labels_add(&t, "topic-7", 1, 0), 0);
	assert_int_equal(labels_find(&t, "topic-7")->count, 2);
	labels_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_and_find),
		cmocka_unit_test(test_sorted),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests_name("labels", tests, NULL, NULL);
}
