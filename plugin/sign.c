/*-------------------------------------------------------------------------
 *
 * sign.c
 *	  Authenticating the messages outbox.emit() and outbox.replay() write.
 *
 * PostgreSQL grants pg_logical_emit_message() to PUBLIC, so any role that
 * can connect can write a message with our prefix into every logical
 * stream.  A message is an event only when its first OUTBOX_MAC_BYTES bytes
 * are an HMAC-SHA-256 of the rest under the key in outbox.signing_key,
 * which only the extension's owner can read (the C functions read it
 * without a privilege check, as the executor is not involved).
 *
 * The walsender reads the key with the historic snapshot of the message it
 * decodes, since outbox.signing_key is a user catalog table: a message is
 * checked against the key in force when it was written.  A writer holds
 * its lock on the table until it commits and outbox.rotate_signing_key()
 * takes an exclusive one, so no message is signed with a key that was
 * replaced before the message's transaction could see it.
 *
 *-------------------------------------------------------------------------
 */
#include "outbox_pg.h"
#include "compat.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "common/hmac.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(outbox_new_signing_key);

/*
 * The walsender's copy of the key, valid until outbox.signing_key is
 * invalidated (a rotation, DROP EXTENSION) or a new decoding context starts.
 */
static uint8 cached_key[OUTBOX_KEY_BYTES];
static Oid cached_key_relid = InvalidOid;
static bool cached_key_valid = false;
static bool key_callback_registered = false;

static void
signing_key_invalidate(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == cached_key_relid)
		cached_key_valid = false;
}

void
outbox_signing_key_forget(void)
{
	cached_key_valid = false;
	if (!key_callback_registered)
	{
		CacheRegisterRelcacheCallback(signing_key_invalidate, (Datum) 0);
		key_callback_registered = true;
	}
}

/*
 * Reads the key into key; false where the extension (or its key) is absent.
 * With hold_lock, the table's lock is kept until the transaction ends.
 */
bool
outbox_read_signing_key(uint8 key[OUTBOX_KEY_BYTES], bool hold_lock)
{
	Oid relid = outbox_schema_relid("signing_key");
	Relation rel;
	SysScanDesc scan;
	HeapTuple tuple;
	bool found = false;

	/*
	 * Decoding: dropped since the message was written, it could no longer be
	 * opened.  (A writer sees the table as it is now: no need to ask.)
	 */
	if (!OidIsValid(relid) ||
		(HistoricSnapshotActive() && !outbox_relation_exists_now(relid)))
		return false;

	rel = table_open(relid, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool isnull;
		Datum value = heap_getattr(tuple, 1, RelationGetDescr(rel), &isnull);
		bytea *bytes;

		if (!isnull)
		{
			bytes = DatumGetByteaPP(value);
			if (VARSIZE_ANY_EXHDR(bytes) == OUTBOX_KEY_BYTES)
			{
				memcpy(key, VARDATA_ANY(bytes), OUTBOX_KEY_BYTES);
				found = true;
			}
		}
	}
	systable_endscan(scan);
	table_close(rel, hold_lock ? NoLock : AccessShareLock);
	cached_key_relid = relid;
	return found;
}

void
outbox_sign(const uint8 key[OUTBOX_KEY_BYTES], const char *body, Size size,
			uint8 mac[OUTBOX_MAC_BYTES])
{
	pg_hmac_ctx *hmac = pg_hmac_create(PG_SHA256);

	if (hmac == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (pg_hmac_init(hmac, key, OUTBOX_KEY_BYTES) < 0 ||
		pg_hmac_update(hmac, (const uint8 *) body, size) < 0 ||
		pg_hmac_final(hmac, mac, OUTBOX_MAC_BYTES) < 0)
	{
		const char *reason = outbox_hmac_error(hmac);

		pg_hmac_free(hmac);
		elog(ERROR, "could not compute an HMAC: %s", reason);
	}
	pg_hmac_free(hmac);
}

/*
 * Whether a message with our prefix was written by outbox.emit() or
 * outbox.replay().  Compares in constant time: nothing about the key leaks
 * through how long a wrong guess takes.
 */
bool
outbox_message_is_signed(const char *message, Size size)
{
	uint8 mac[OUTBOX_MAC_BYTES];
	uint8 diff = 0;
	int i;

	if (size < OUTBOX_MAC_BYTES)
		return false;
	if (!cached_key_valid)
	{
		if (!outbox_read_signing_key(cached_key, false))
			return false;
		cached_key_valid = true;
	}
	outbox_sign(cached_key, message + OUTBOX_MAC_BYTES, size - OUTBOX_MAC_BYTES,
				mac);
	for (i = 0; i < OUTBOX_MAC_BYTES; i++)
		diff |= mac[i] ^ (uint8) message[i];
	return diff == 0;
}

/* outbox._new_signing_key() RETURNS bytea: OUTBOX_KEY_BYTES random bytes. */
Datum
outbox_new_signing_key(PG_FUNCTION_ARGS)
{
	bytea *key = palloc(VARHDRSZ + OUTBOX_KEY_BYTES);

	SET_VARSIZE(key, VARHDRSZ + OUTBOX_KEY_BYTES);
	if (!pg_strong_random(VARDATA(key), OUTBOX_KEY_BYTES))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random signing key")));
	PG_RETURN_BYTEA_P(key);
}
