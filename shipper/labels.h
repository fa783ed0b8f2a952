/*
 * labels.h
 *	  Counters keyed by a label value (a topic, an error kind), for the
 *	  metrics that Prometheus shows one sample per label.  Pure: memory only.
 *
 *	  A table holds at most LABELS_MAX distinct values; anything beyond
 *	  counts under LABELS_OTHER, so a topic template that explodes into
 *	  millions of topics cannot grow the shipper without bound.
 *
 *	  Ownership: the table owns copies of the label values.  Not
 *	  thread-safe: the caller locks (metrics.c).
 */
#ifndef SHIPPER_LABELS_H
#define SHIPPER_LABELS_H

#include <stddef.h>
#include <stdint.h>

#define LABELS_MAX 10000
#define LABELS_OTHER "_other"

typedef struct LabelCount
{
	char *label;
	uint64_t count;
	uint64_t bytes;
} LabelCount;

typedef struct LabelTable
{
	LabelCount *slots; /* open addressing; label NULL = free */
	size_t nslots; /* a power of two, or 0 before the first add */
	size_t nused;
} LabelTable;

/* Adds count and bytes under label; -1 when out of memory. */
extern int labels_add(LabelTable *table, const char *label, uint64_t count,
					  uint64_t bytes);
/* The entry for label, or NULL. */
extern const LabelCount *labels_find(const LabelTable *table, const char *label);
/*
 * The entries sorted by label, in a new array of *n pointers into the
 * table (free() the array; the table must outlive it); NULL when empty or
 * out of memory.
 */
extern const LabelCount **labels_sorted(const LabelTable *table, size_t *n);
extern void labels_free(LabelTable *table);

#endif /* SHIPPER_LABELS_H */
