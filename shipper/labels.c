/*
 * labels.c
 *	  Counters keyed by label value: an open-addressing hash table (FNV-1a,
 *	  linear probing, grown at half full).  Adding to a known label, the
 *	  common case of every delivery report, allocates nothing.
 */
#include "labels.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static uint64_t
label_hash(const char *label)
{
	uint64_t h = UINT64_C(14695981039346656037);

	for (; *label; label++)
	{
		h ^= (unsigned char) *label;
		h *= UINT64_C(1099511628211);
	}
	return h;
}

/* The slot holding label, or the free slot where it belongs. */
static LabelCount *
find_slot(LabelCount *slots, size_t nslots, const char *label)
{
	size_t i = (size_t) label_hash(label) & (nslots - 1);

	while (slots[i].label != NULL && strcmp(slots[i].label, label) != 0)
		i = (i + 1) & (nslots - 1);
	return &slots[i];
}

static int
grow(LabelTable *table)
{
	size_t nslots = table->nslots ? table->nslots * 2 : 16;
	LabelCount *slots = calloc(nslots, sizeof(LabelCount));
	size_t i;

	if (slots == NULL)
		return -1;
	for (i = 0; i < table->nslots; i++)
		if (table->slots[i].label != NULL)
			*find_slot(slots, nslots, table->slots[i].label) = table->slots[i];
	free(table->slots);
	table->slots = slots;
	table->nslots = nslots;
	return 0;
}

int
labels_add(LabelTable *table, const char *label, uint64_t count, uint64_t bytes)
{
	LabelCount *slot;

	if (table->nslots > 0)
	{
		slot = find_slot(table->slots, table->nslots, label);
		if (slot->label == NULL && table->nused >= LABELS_MAX)
			slot = find_slot(table->slots, table->nslots, LABELS_OTHER);
		if (slot->label != NULL)
		{
			slot->count += count;
			slot->bytes += bytes;
			return 0;
		}
	}
	if ((table->nused + 1) * 2 > table->nslots && grow(table) != 0)
		return -1;
	if (table->nused >= LABELS_MAX)
		label = LABELS_OTHER;
	slot = find_slot(table->slots, table->nslots, label);
	if ((slot->label = strdup(label)) == NULL)
		return -1;
	slot->count = count;
	slot->bytes = bytes;
	table->nused++;
	return 0;
}

const LabelCount *
labels_find(const LabelTable *table, const char *label)
{
	const LabelCount *slot;

	if (table->nslots == 0)
		return NULL;
	slot = find_slot(table->slots, table->nslots, label);
	return slot->label ? slot : NULL;
}

static int
compare_labels(const void *a, const void *b)
{
	return strcmp((*(const LabelCount *const *) a)->label,
				  (*(const LabelCount *const *) b)->label);
}

const LabelCount **
labels_sorted(const LabelTable *table, size_t *n)
{
	const LabelCount **sorted;
	size_t i;

	*n = 0;
	if (table->nused == 0 || (sorted = malloc(table->nused * sizeof(*sorted))) == NULL)
		return NULL;
	for (i = 0; i < table->nslots; i++)
		if (table->slots[i].label != NULL)
			sorted[(*n)++] = &table->slots[i];
	qsort(sorted, *n, sizeof(*sorted), compare_labels);
	return sorted;
}

void
labels_free(LabelTable *table)
{
	size_t i;

	for (i = 0; i < table->nslots; i++)
		free(table->slots[i].label);
	free(table->slots);
	memset(table, 0, sizeof(*table));
}
