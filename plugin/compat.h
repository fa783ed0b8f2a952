/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  The PostgreSQL APIs outbox_pg uses that changed between the majors it
 *	  supports (14 to 18), each behind a name that says what it does, with
 *	  the major that changed it.  The rest of the plugin reads as if there
 *	  were one PostgreSQL.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OUTBOX_COMPAT_H
#define OUTBOX_COMPAT_H

#include "common/jsonapi.h"
#include "replication/logical.h"
#include "replication/message.h"
#include "replication/output_plugin.h"
#include "replication/reorderbuffer.h"

#if PG_VERSION_NUM < 140000
#error "outbox_pg supports PostgreSQL 14 and later"
#endif

/* 15 moved ReorderBufferTXN.commit_time into the xact_time union. */
#if PG_VERSION_NUM >= 150000
#define outbox_txn_commit_time(txn) ((txn)->xact_time.commit_time)
#else
#define outbox_txn_commit_time(txn) ((txn)->commit_time)
#endif

/*
 * 15 added skipped_xact: a transaction that wrote nothing lets synchronous
 * standbys waiting on the slot move on.  14 has no such notion.
 */
#if PG_VERSION_NUM >= 150000
#define outbox_update_progress(ctx, skipped_xact) \
	OutputPluginUpdateProgress((ctx), (skipped_xact))
#else
#define outbox_update_progress(ctx, skipped_xact) \
	OutputPluginUpdateProgress((ctx))
#endif

/* 17 made a change's new tuple a HeapTuple (ReorderBufferTupleBuf is gone). */
#if PG_VERSION_NUM >= 170000
#define outbox_change_new_tuple(change) ((change)->data.tp.newtuple)
#else
#define outbox_change_new_tuple(change) (&(change)->data.tp.newtuple->tuple)
#endif

/*
 * 17 gave makeJsonLexContextCstringLen a leading context to fill (NULL:
 * allocate one).  Without escapes: the text is only validated.
 */
#if PG_VERSION_NUM >= 170000
#define outbox_json_lex_context(json, len) \
	makeJsonLexContextCstringLen(NULL, (json), (len), GetDatabaseEncoding(), false)
#else
#define outbox_json_lex_context(json, len) \
	makeJsonLexContextCstringLen((json), (len), GetDatabaseEncoding(), false)
#endif

/* 17 added flush: ours are transactional, flushed with their commit. */
#if PG_VERSION_NUM >= 170000
#define outbox_log_transactional_message(prefix, message, size) \
	LogLogicalMessage((prefix), (message), (size), true, false)
#else
#define outbox_log_transactional_message(prefix, message, size) \
	LogLogicalMessage((prefix), (message), (size), true)
#endif

/* 15 added pg_hmac_error(); 14 says nothing more than that it failed. */
#if PG_VERSION_NUM >= 150000
#define outbox_hmac_error(hmac) pg_hmac_error(hmac)
#else
#define outbox_hmac_error(hmac) "HMAC computation failed"
#endif

#endif /* OUTBOX_COMPAT_H */
