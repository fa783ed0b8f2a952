/*-------------------------------------------------------------------------
 *
 * relation.c
 *	  Which relations are outbox tables, and where their event fields are.
 *
 * The declarations live in outbox.tables, a user catalog table, so that the
 * walsender reads them with the historic snapshot of the change it is
 * decoding: declaring or undeclaring a table takes effect exactly at its
 * commit, and is undone with it.  Lookups are cached per relation; the cache
 * is invalidated by relcache invalidations, which ALTER TABLE, DROP TABLE
 * and outbox.declare_table() (through outbox._invalidate()) all send.
 *
 *-------------------------------------------------------------------------
 */
#include "outbox_pg.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "utils/snapmgr.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

/* Columns of outbox.tables, in the order the extension script creates them. */
#define Anum_outbox_tables_relid 1
#define Anum_outbox_tables_first_column 2 /* id_column, then one per field */

/*
 * Static because relcache callbacks cannot be unregistered and outlive the
 * decoding context: when the context goes away (the SQL functions create
 * one per call, and an error in one frees it without calling the shutdown
 * callback), a reset callback on it clears the cache pointer, and the
 * relcache callback does nothing until the next context creates a new
 * cache.
 */
static HTAB *relation_cache = NULL;
static Oid config_relid = InvalidOid;
static bool callback_registered = false;

static void
relation_cache_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	OutboxRelation *entry;

	if (relation_cache == NULL)
		return;

	if (OidIsValid(relid) && relid != config_relid)
	{
		entry = hash_search(relation_cache, &relid, HASH_FIND, NULL);
		if (entry != NULL)
			entry->valid = false;
		return;
	}

	/* A full reset, or outbox.tables itself changed: forget everything. */
	config_relid = InvalidOid;
	hash_seq_init(&status, relation_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		entry->valid = false;
}

/* The decoding context is going away, whether on success or on error. */
static void
relation_cache_release(void *arg)
{
	relation_cache = NULL;
	config_relid = InvalidOid;
}

void
outbox_relation_cache_init(MemoryContext parent)
{
	HASHCTL ctl;
	MemoryContextCallback *release;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(OutboxRelation);
	ctl.hcxt = parent;
	relation_cache = hash_create("outbox_pg relations", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	config_relid = InvalidOid;

	release = MemoryContextAllocZero(parent, sizeof(MemoryContextCallback));
	release->func = relation_cache_release;
	MemoryContextRegisterResetCallback(parent, release);

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(relation_cache_invalidate, (Datum) 0);
		callback_registered = true;
	}
}

/* The OID of outbox.RELNAME, or InvalidOid where the extension is absent. */
Oid
outbox_schema_relid(const char *relname)
{
	Oid nspid = get_namespace_oid("outbox", true);

	return OidIsValid(nspid) ? get_relname_relid(relname, nspid) : InvalidOid;
}

/*
 * The OID of outbox.tables, or InvalidOid where the extension is absent.
 * Only a found OID is kept: the extension may be created later in the
 * stream (or again, after DROP EXTENSION), and nothing invalidates a
 * relation that did not exist.
 */
static Oid
config_table_relid(void)
{
	if (!OidIsValid(config_relid))
		config_relid = outbox_schema_relid("tables");
	return config_relid;
}

static AttrNumber
find_column(TupleDesc tupdesc, const char *name)
{
	int i;

	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return InvalidAttrNumber;
}

/*
 * Fills entry->columns from the column names of a declaration (NULL: the
 * field is not mapped).  A declared column that no longer exists yields
 * null for its field; decoding goes on.
 */
static void
map_columns(OutboxRelation *entry, Relation relation,
			const char *const names[OUTBOX_NFIELDS])
{
	TupleDesc tupdesc = RelationGetDescr(relation);
	int field;

	for (field = 0; field < OUTBOX_NFIELDS; field++)
	{
		OutboxColumn *column = &entry->columns[field];

		column->attnum = InvalidAttrNumber;
		if (names[field] == NULL)
			continue;
		column->attnum = find_column(tupdesc, names[field]);
		if (column->attnum == InvalidAttrNumber)
		{
			ereport(WARNING,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("outbox table \"%s\" has no column \"%s\" for event field \"%s\"",
							RelationGetRelationName(relation), names[field],
							outbox_field_names[field]),
					 errdetail("The field is written as null."),
					 errhint("Declare the table again with outbox.declare_table().")));
			continue;
		}
		column->typid = TupleDescAttr(tupdesc, column->attnum - 1)->atttypid;
		column->kind = outbox_value_kind(column->typid);
	}
}

/* Maps entry's columns from a row of outbox.tables. */
static void
map_declared_columns(OutboxRelation *entry, Relation relation,
					 HeapTuple config_tuple, TupleDesc config_tupdesc)
{
	const char *names[OUTBOX_NFIELDS];
	int field;

	for (field = 0; field < OUTBOX_NFIELDS; field++)
	{
		bool isnull;
		Datum value = heap_getattr(config_tuple,
								   Anum_outbox_tables_first_column + field,
								   config_tupdesc, &isnull);

		names[field] = isnull ? NULL : NameStr(*DatumGetName(value));
	}
	map_columns(entry, relation, names);
}

/*
 * Whether a relation exists now, as opposed to in the historic snapshot of
 * the change being decoded.  A user catalog table is read through its
 * current pg_class entry, so once outbox.tables is dropped (DROP EXTENSION
 * with events still in a slot), opening it would fail on every attempt and
 * leave the slot stuck.
 */
bool
outbox_relation_exists_now(Oid relid)
{
	Relation pg_class = table_open(RelationRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	bool found;

	ScanKeyInit(&key, Anum_pg_class_oid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(pg_class, ClassOidIndexId, true,
							  GetNonHistoricCatalogSnapshot(RelationRelationId),
							  1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(pg_class, AccessShareLock);
	return found;
}

/*
 * Events still in a slot when outbox.tables was dropped: outbox.events is
 * decoded with its own columns, so that the common case loses nothing;
 * declarations of other tables are gone with the table that held them.
 */
static void
load_without_declarations(OutboxRelation *entry, Relation relation)
{
	static const char *const default_columns[OUTBOX_NFIELDS] = {
		"id", "aggregate_type", "aggregate_id", "event_type",
		"payload", "headers", "created_at"};

	if (strcmp(get_namespace_name(RelationGetNamespace(relation)), "outbox") != 0 ||
		strcmp(RelationGetRelationName(relation), "events") != 0)
		return;

	ereport(WARNING,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("outbox.tables no longer exists; decoding outbox.events with its default columns"),
			 errdetail("The outbox_pg extension was dropped while events were still in the slot."),
			 errhint("Inserts into other declared outbox tables before the drop are not shipped.")));
	map_columns(entry, relation, default_columns);
	entry->is_outbox = true;
}

/* Looks up relid in outbox.tables; if declared, maps entry's columns. */
static bool
find_declaration(Relation config_rel, Oid relid, OutboxRelation *entry,
				 Relation relation)
{
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple tuple;
	bool found;

	ScanKeyInit(&key, Anum_outbox_tables_relid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(config_rel, InvalidOid, false, NULL, 1, &key);
	tuple = systable_getnext(scan);
	found = HeapTupleIsValid(tuple);
	if (found)
		map_declared_columns(entry, relation, tuple, RelationGetDescr(config_rel));
	systable_endscan(scan);
	return found;
}

/*
 * Reads the declaration of the relation, if any, into entry.  Rows of a
 * partitioned outbox table arrive as changes of its partitions, which take
 * the declaration of their nearest declared ancestor.
 */
static void
load_declaration(OutboxRelation *entry, Relation relation)
{
	Oid config = config_table_relid();
	Relation config_rel;
	bool found;

	entry->is_outbox = false;
	if (!OidIsValid(config))
		return;
	if (!outbox_relation_exists_now(config))
	{
		load_without_declarations(entry, relation);
		return;
	}

	config_rel = table_open(config, AccessShareLock);
	found = find_declaration(config_rel, entry->relid, entry, relation);
	if (!found && relation->rd_rel->relispartition)
	{
		List *ancestors = get_partition_ancestors(entry->relid);
		ListCell *lc;

		foreach (lc, ancestors)
		{
			found = find_declaration(config_rel, lfirst_oid(lc), entry, relation);
			if (found)
				break;
		}
	}
	entry->is_outbox = found;
	table_close(config_rel, AccessShareLock);
}

OutboxRelation *
outbox_relation_lookup(Relation relation)
{
	Oid relid = RelationGetRelid(relation);
	OutboxRelation *entry;
	bool found;

	entry = hash_search(relation_cache, &relid, HASH_ENTER, &found);
	if (!found || !entry->valid)
	{
		/* Not valid until fully built, in case building fails. */
		entry->valid = false;
		load_declaration(entry, relation);
		entry->valid = true;
	}
	return entry;
}

/*
 * Extracts the event's values from a row of an outbox table.  The row is
 * deformed once: fetching attributes one by one would walk the row from
 * its start for each column after the first variable-length one.
 */
void
outbox_relation_values(const OutboxRelation *entry, TupleDesc tupdesc,
					   HeapTuple tuple, OutboxValue values[OUTBOX_NFIELDS])
{
	Datum *row_values = palloc(tupdesc->natts * sizeof(Datum));
	bool *row_nulls = palloc(tupdesc->natts * sizeof(bool));
	int field;

	heap_deform_tuple(tuple, tupdesc, row_values, row_nulls);
	for (field = 0; field < OUTBOX_NFIELDS; field++)
	{
		const OutboxColumn *column = &entry->columns[field];
		OutboxValue *v = &values[field];

		if (column->attnum == InvalidAttrNumber)
		{
			v->isnull = true;
			continue;
		}
		v->value = row_values[column->attnum - 1];
		v->isnull = row_nulls[column->attnum - 1];
		v->typid = column->typid;
		v->kind = column->kind;
	}
}
