/*-------------------------------------------------------------------------
 *
 * sqlfuncs.c
 *	  SQL-callable functions of the outbox_pg extension.
 *
 * outbox.emit() writes an event as a transactional logical decoding
 * message instead of a table row: nothing to vacuum or clean up.  The
 * message holds the event's fields already formatted by format.c, so the
 * plugin writes exactly what it would have written for a table row.
 *
 *-------------------------------------------------------------------------
 */
#include "outbox_pg.h"
#include "compat.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xloginsert.h"
#include "catalog/pg_control.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "replication/message.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(outbox_emit);
PG_FUNCTION_INFO_V1(outbox_emit_stored);
PG_FUNCTION_INFO_V1(outbox_invalidate);

static void
require_logical_wal(const char *function)
{
	if (!XLogLogicalInfoActive())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s requires wal_level = logical", function),
				 errhint("Set wal_level = logical in postgresql.conf and restart the server.")));
}

static void
require_argument(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name),
				 errhint("Every event needs an aggregate_type, an aggregate_id and an event_type.")));
}

/* Sets v from argument argno of the current call, whatever its type. */
static void
argument_value(FunctionCallInfo fcinfo, int argno, OutboxValue *v)
{
	v->isnull = PG_ARGISNULL(argno);
	v->value = v->isnull ? (Datum) 0 : PG_GETARG_DATUM(argno);
	v->typid = get_fn_expr_argtype(fcinfo->flinfo, argno);
	if (!OidIsValid(v->typid))
		elog(ERROR, "could not determine the type of argument %d", argno + 1);
	v->kind = outbox_value_kind(v->typid);
}

/*
 * Writes the event as a transactional message: the MAC (sign.c), then the
 * fields.  A stored row with a NULL id gets a random one here, as the
 * commit position the plugin would use is not known yet.
 */
static void
log_event_message(const OutboxValue values[OUTBOX_NFIELDS],
				  const char *function)
{
	StringInfoData buf;
	uint8 key[OUTBOX_KEY_BYTES];

	if (!outbox_read_signing_key(key, true))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot sign its event: outbox.signing_key is missing or empty",
						function),
				 errhint("Run SELECT outbox.rotate_signing_key() as the extension's owner.")));

	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, OUTBOX_MAC_BYTES); /* the MAC, below */
	if (!outbox_append_event_fields(&buf, values, InvalidXLogRecPtr, 0,
									OUTBOX_MAC_BYTES + OUTBOX_DEFAULT_MAX_EVENT_SIZE))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: the event is too large", function),
				 errdetail("Formatted as JSON it would exceed %zu bytes.",
						   OUTBOX_DEFAULT_MAX_EVENT_SIZE),
				 errhint("Store large documents elsewhere and publish a reference to them.")));
	outbox_sign(key, buf.data + OUTBOX_MAC_BYTES, buf.len - OUTBOX_MAC_BYTES,
				(uint8 *) buf.data);
	outbox_log_transactional_message(OUTBOX_MESSAGE_PREFIX, buf.data, buf.len);

	/*
	 * PostgreSQL queues a transactional message at its record's end, which
	 * is where the next record starts: a change of another subtransaction
	 * written right after it would tie with it, and the tie is broken either
	 * way, so events of one transaction could ship out of order.  An empty
	 * no-op record in between keeps every position distinct (decoding
	 * ignores it; it costs a record header of WAL).
	 */
	XLogBeginInsert();
	XLogInsert(RM_XLOG_ID, XLOG_NOOP);
	explicit_bzero(key, sizeof(key));
	pfree(buf.data);
}

/* Kafka headers are names with values: anything but an object is refused. */
static void
require_headers_object(FunctionCallInfo fcinfo, int argno)
{
	if (!PG_ARGISNULL(argno) && !JB_ROOT_IS_OBJECT(PG_GETARG_JSONB_P(argno)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("headers must be a JSON object"),
				 errhint("Pass an object of header names and string values, e.g. '{\"traceparent\": \"00-...\"}', or NULL.")));
}

/*
 * outbox.emit(aggregate_type text, aggregate_id text, event_type text,
 *			   payload jsonb, headers jsonb) RETURNS uuid
 */
Datum
outbox_emit(PG_FUNCTION_ARGS)
{
	OutboxValue values[OUTBOX_NFIELDS];
	Datum id;
	int argno;

	require_logical_wal("outbox.emit()");
	require_argument(fcinfo, 0, "aggregate_type");
	require_argument(fcinfo, 1, "aggregate_id");
	require_argument(fcinfo, 2, "event_type");
	require_headers_object(fcinfo, 4);

	id = DirectFunctionCall1(gen_random_uuid, (Datum) 0);
	values[OUTBOX_FIELD_ID] = (OutboxValue){
		id, false, UUIDOID, OUTBOX_KIND_UUID};
	for (argno = 0; argno < 5; argno++)
		argument_value(fcinfo, argno, &values[OUTBOX_FIELD_AGGREGATE_TYPE + argno]);
	/* the same as a table's created_at DEFAULT now() */
	values[OUTBOX_FIELD_CREATED_AT] = (OutboxValue){
		TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
		false, TIMESTAMPTZOID, OUTBOX_KIND_TIMESTAMPTZ};

	log_event_message(values, "outbox.emit()");
	PG_RETURN_DATUM(id);
}

/*
 * outbox._emit_stored(id "any", aggregate_type "any", aggregate_id "any",
 *					   event_type "any", payload "any", headers "any",
 *					   created_at "any") RETURNS void
 *
 * Re-emits a stored event with its own id and created_at, for
 * outbox.replay().  The arguments are a row's columns as they are, so the
 * event is formatted exactly as the plugin formats that row.
 */
Datum
outbox_emit_stored(PG_FUNCTION_ARGS)
{
	OutboxValue values[OUTBOX_NFIELDS];
	int field;

	require_logical_wal("outbox.replay()");
	for (field = 0; field < OUTBOX_NFIELDS; field++)
		argument_value(fcinfo, field, &values[field]);
	log_event_message(values, "outbox.replay()");
	PG_RETURN_VOID();
}

/*
 * outbox._invalidate(regclass) RETURNS void
 *
 * Declaring a table only inserts into outbox.tables, which sends no
 * invalidation of the table itself.  This queues one with the transaction,
 * so a walsender decoding past its commit rereads the declaration.
 */
Datum
outbox_invalidate(PG_FUNCTION_ARGS)
{
	CacheInvalidateRelcacheByRelid(PG_GETARG_OID(0));
	PG_RETURN_VOID();
}
