/*-------------------------------------------------------------------------
 *
 * decode.c
 *	  The outbox_pg logical decoding output plugin: callbacks.
 *
 * Writes one compact JSON object per outbox event (docs/format.md) and
 * nothing else: not for other tables, not for updates or deletes of outbox
 * rows, not for transactions without events.  There are no BEGIN or COMMIT
 * messages; the last event of a transaction carries "last":true and the
 * position to confirm.  Since whether an event is the last one is only
 * known when the next event or the commit arrives, each event is held back
 * by one: it is written when the next one comes, or at commit.
 *
 *-------------------------------------------------------------------------
 */
#include "outbox_pg.h"
#include "compat.h"

#include "replication/logical.h"
#include "replication/output_plugin.h"
#include "utils/memutils.h"
#include "utils/rel.h"

PG_MODULE_MAGIC;

/*
 * A pending event larger than this has its buffer freed after it is
 * written, so one huge payload does not stay allocated in the walsender.
 */
#define OUTBOX_PENDING_KEEP_BYTES (1024 * 1024)

/*
 * How many changes may pass without telling the walsender about progress.
 * A transaction whose changes are all filtered out writes nothing for a
 * long time; without progress updates the walsender neither answers its
 * client nor sends keepalives meanwhile (as pgoutput does in PostgreSQL 15).
 */
#define OUTBOX_PROGRESS_EVERY_CHANGES 100

typedef struct OutboxDecodingData
{
	OutboxOptions options;
	MemoryContext row_context; /* reset after every event */

	/*
	 * The transaction being replayed.  Transactions are replayed one at a
	 * time (no streaming callbacks), so this needs no per-transaction
	 * allocation.
	 */
	StringInfoData pending; /* held-back event, without closing brace */
	StringInfoData txn_metadata; /* ,"commit_lsn":…,"seq": */
	bool has_pending;
	uint64 seq; /* events so far in the transaction */
	int changes_since_progress;
} OutboxDecodingData;

extern void _PG_output_plugin_init(OutputPluginCallbacks *cb);

static void outbox_decode_startup(LogicalDecodingContext *ctx,
								  OutputPluginOptions *opt, bool is_init);
static void outbox_decode_begin(LogicalDecodingContext *ctx,
								ReorderBufferTXN *txn);
static void outbox_decode_change(LogicalDecodingContext *ctx,
								 ReorderBufferTXN *txn, Relation relation,
								 ReorderBufferChange *change);
static void outbox_decode_message(LogicalDecodingContext *ctx,
								  ReorderBufferTXN *txn, XLogRecPtr lsn,
								  bool transactional, const char *prefix,
								  Size size, const char *message);
static void outbox_decode_commit(LogicalDecodingContext *ctx,
								 ReorderBufferTXN *txn, XLogRecPtr commit_lsn);

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->startup_cb = outbox_decode_startup;
	cb->begin_cb = outbox_decode_begin;
	cb->change_cb = outbox_decode_change;
	cb->message_cb = outbox_decode_message;
	cb->commit_cb = outbox_decode_commit;
}

static void
outbox_decode_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt,
					  bool is_init)
{
	OutboxDecodingData *data;
	MemoryContext old;

	data = MemoryContextAllocZero(ctx->context, sizeof(OutboxDecodingData));
	data->row_context = AllocSetContextCreate(ctx->context,
											  "outbox_pg row",
											  ALLOCSET_DEFAULT_SIZES);
	outbox_parse_options(ctx->output_plugin_options, &data->options);
	old = MemoryContextSwitchTo(ctx->context);
	initStringInfo(&data->pending);
	initStringInfo(&data->txn_metadata);
	MemoryContextSwitchTo(old);
	opt->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
	opt->receive_rewrites = false;

	ctx->output_plugin_private = data;
	/* Both caches go with the context, even when it ends in an error. */
	outbox_relation_cache_init(ctx->context);
	outbox_signing_key_forget();
}

static void
outbox_decode_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	OutboxDecodingData *data = ctx->output_plugin_private;

	data->has_pending = false;
	data->seq = 0;
}

/* Writes the held-back event, marked as the transaction's last or not. */
static void
write_pending(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, bool last)
{
	OutboxDecodingData *data = ctx->output_plugin_private;

	OutputPluginPrepareWrite(ctx, true);
	appendBinaryStringInfo(ctx->out, data->pending.data, data->pending.len);
	if (last)
	{
		appendStringInfoString(ctx->out, ",\"last\":true");
		if (data->options.include_lsn)
		{
			appendStringInfoString(ctx->out, ",\"end_lsn\":");
			outbox_append_lsn(ctx->out, txn->end_lsn);
		}
	}
	appendStringInfoCharMacro(ctx->out, '}');
	OutputPluginWrite(ctx, true);
	data->has_pending = false;
}

/*
 * Starts a new pending event: writes the previous one, then the version
 * field.  The caller appends the event's fields and calls event_finish().
 */
static void
event_start(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	OutboxDecodingData *data = ctx->output_plugin_private;

	if (data->has_pending)
		write_pending(ctx, txn, false);
	resetStringInfo(&data->pending);
	appendStringInfoString(&data->pending,
						   "{\"v\":" CppAsString2(OUTBOX_FORMAT_VERSION) ",");
}

/*
 * Appends the transaction's metadata to the pending event.  It is the same
 * for every event of the transaction, so it is formatted once, at the
 * first event.
 */
static void
event_finish(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	OutboxDecodingData *data = ctx->output_plugin_private;
	StringInfo meta = &data->txn_metadata;

	if (data->seq == 0)
	{
		resetStringInfo(meta);
		if (data->options.include_lsn)
		{
			appendStringInfoString(meta, ",\"commit_lsn\":");
			outbox_append_lsn(meta, txn->final_lsn);
		}
		if (data->options.include_xid)
		{
			appendStringInfoString(meta, ",\"xid\":");
			outbox_append_uint(meta, txn->xid);
		}
		if (data->options.include_timestamp)
		{
			appendStringInfoString(meta, ",\"commit_time\":");
			outbox_append_utc_time(meta, outbox_txn_commit_time(txn));
		}
		appendStringInfoString(meta, ",\"seq\":");
	}
	appendBinaryStringInfo(&data->pending, meta->data, meta->len);
	outbox_append_uint(&data->pending, data->seq++);
	data->has_pending = true;
}

static void
outbox_decode_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					 Relation relation, ReorderBufferChange *change)
{
	OutboxDecodingData *data = ctx->output_plugin_private;
	OutboxRelation *entry;
	OutboxValue values[OUTBOX_NFIELDS];
	MemoryContext old;

	if (++data->changes_since_progress >= OUTBOX_PROGRESS_EVERY_CHANGES)
	{
		data->changes_since_progress = 0;
		outbox_update_progress(ctx, false);
	}

	/* Only inserts are events; everything else costs one comparison. */
	if (change->action != REORDER_BUFFER_CHANGE_INSERT ||
		change->data.tp.newtuple == NULL)
		return;

	/* A cache miss reads outbox.tables; its leftovers go with the row. */
	old = MemoryContextSwitchTo(data->row_context);
	entry = outbox_relation_lookup(relation);
	if (!entry->is_outbox)
		goto cleanup;

	event_start(ctx, txn);
	outbox_relation_values(entry, RelationGetDescr(relation),
						   outbox_change_new_tuple(change), values);
	if (!outbox_append_event_fields(&data->pending, values, txn->final_lsn,
									data->seq, data->options.max_event_size))
		outbox_append_too_large_fields(&data->pending, values, txn->final_lsn,
									   data->seq);
	event_finish(ctx, txn);

cleanup:
	MemoryContextSwitchTo(old);
	MemoryContextReset(data->row_context);
}

/*
 * A message from outbox.emit() or outbox.replay() holds the event's fields,
 * formatted and signed by them (sign.c); it is written as it is.  Anything
 * else with our prefix was written by some role calling
 * pg_logical_emit_message() and becomes a rejected event: never an error,
 * never silently gone, never shipped as an event.
 */
static void
outbox_decode_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					  XLogRecPtr lsn, bool transactional, const char *prefix,
					  Size size, const char *message)
{
	OutboxDecodingData *data = ctx->output_plugin_private;
	Size max_size = data->options.max_event_size;
	MemoryContext old;

	/* outbox.emit() writes transactional messages only. */
	if (!transactional || strcmp(prefix, OUTBOX_MESSAGE_PREFIX) != 0)
		return;

	old = MemoryContextSwitchTo(data->row_context);
	event_start(ctx, txn);
	if (!outbox_message_is_signed(message, size))
		outbox_append_unauthenticated_fields(&data->pending, message, size,
											 txn->final_lsn, data->seq,
											 max_size);
	else if ((Size) data->pending.len + size - OUTBOX_MAC_BYTES <= max_size)
		appendBinaryStringInfo(&data->pending, message + OUTBOX_MAC_BYTES,
							   size - OUTBOX_MAC_BYTES);
	else
		outbox_append_too_large_message_fields(&data->pending,
											   size - OUTBOX_MAC_BYTES,
											   txn->final_lsn, data->seq);
	event_finish(ctx, txn);
	MemoryContextSwitchTo(old);
	MemoryContextReset(data->row_context);
}

static void
outbox_decode_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					 XLogRecPtr commit_lsn)
{
	OutboxDecodingData *data = ctx->output_plugin_private;

	/*
	 * A transaction without events writes nothing at all; the walsender
	 * still learns it was skipped, so synchronous standbys waiting on the
	 * slot's position can move on.
	 */
	data->changes_since_progress = 0;
	outbox_update_progress(ctx, !data->has_pending);
	if (!data->has_pending)
		return;

	write_pending(ctx, txn, true);
	if (data->pending.maxlen > OUTBOX_PENDING_KEEP_BYTES)
	{
		MemoryContext old = MemoryContextSwitchTo(ctx->context);

		pfree(data->pending.data);
		initStringInfo(&data->pending);
		MemoryContextSwitchTo(old);
	}
}
