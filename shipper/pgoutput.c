/*
 * pgoutput.c
 *	  Parsing pgoutput's logical replication messages (protocol versions 1
 *	  to 4, PostgreSQL's "Logical Replication Message Formats").
 *
 * Every field is length-checked before it is read and every string must
 * end inside the message: a truncated or malformed message is an error that
 * names the message and what was wrong, never a read past the buffer.  A
 * message with bytes left over after its last field is an error too: it is
 * a protocol this parser does not know, and guessing at it could misread
 * an event.
 */
#include "pgoutput.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct Reader
{
	const char *p;
	const char *end;
	const char *what; /* the message's name, for errors */
	char *errstr;
	size_t errstr_size;
} Reader;

static int reader_error(Reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
reader_error(Reader *r, const char *fmt, ...)
{
	va_list args;
	int used;

	used = snprintf(r->errstr, r->errstr_size, "pgoutput %s message: ", r->what);
	if (used < 0 || (size_t) used >= r->errstr_size)
		return -1;
	va_start(args, fmt);
	vsnprintf(r->errstr + used, r->errstr_size - (size_t) used, fmt, args);
	va_end(args);
	return -1;
}

static uint64_t
be_bytes(const char *p, int n)
{
	const unsigned char *u = (const unsigned char *) p;
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = (v << 8) | u[i];
	return v;
}

/* Reads an n-byte big-endian integer (n is 1, 2, 4 or 8). */
static int
read_int(Reader *r, int n, const char *field, uint64_t *value)
{
	if (r->end - r->p < n)
	{
		/* Not "return reader_error()": the compiler sees *value is set on 0. */
		reader_error(r, "truncated at its %s", field);
		return -1;
	}
	*value = be_bytes(r->p, n);
	r->p += n;
	return 0;
}

static int
read_u8(Reader *r, const char *field, uint8_t *value)
{
	uint64_t v;

	if (read_int(r, 1, field, &v) != 0)
		return -1;
	*value = (uint8_t) v;
	return 0;
}

static int
read_u32(Reader *r, const char *field, uint32_t *value)
{
	uint64_t v;

	if (read_int(r, 4, field, &v) != 0)
		return -1;
	*value = (uint32_t) v;
	return 0;
}

static int
read_u64(Reader *r, const char *field, uint64_t *value)
{
	return read_int(r, 8, field, value);
}

static int
read_time(Reader *r, const char *field, int64_t *value)
{
	uint64_t v;

	if (read_int(r, 8, field, &v) != 0)
		return -1;
	*value = (int64_t) v;
	return 0;
}

/* A NUL-terminated string; *value points at it, in the buffer. */
static int
read_string(Reader *r, const char *field, const char **value)
{
	const char *nul = memchr(r->p, '\0', (size_t) (r->end - r->p));

	if (nul == NULL)
		return reader_error(r, "its %s does not end inside the message", field);
	*value = r->p;
	r->p = nul + 1;
	return 0;
}

/* A tuple ("TupleData"): checks every value, leaves r after the last. */
static int
read_tuple(Reader *r, PgoTuple *tuple)
{
	uint64_t ncolumns;
	uint64_t len;
	int i;

	if (read_int(r, 2, "tuple's column count", &ncolumns) != 0)
		return -1;
	tuple->ncolumns = (int) ncolumns;
	tuple->data = r->p;
	for (i = 0; i < tuple->ncolumns; i++)
	{
		if (r->p >= r->end)
			return reader_error(r, "tuple truncated at value %d of %d", i + 1,
								tuple->ncolumns);
		switch (*r->p++)
		{
			case PGO_VALUE_NULL:
			case PGO_VALUE_UNCHANGED_TOAST:
				break;
			case PGO_VALUE_TEXT:
			case PGO_VALUE_BINARY:
				if (read_int(r, 4, "value's length", &len) != 0)
					return -1;
				if (len > (uint64_t) (r->end - r->p))
					return reader_error(r, "value %d of %u bytes does not fit in the message",
										i + 1, (unsigned) len);
				r->p += len;
				break;
			default:
				return reader_error(r, "value %d has unknown kind 0x%02x", i + 1,
									(unsigned char) r->p[-1]);
		}
	}
	tuple->end = r->p;
	return 0;
}

/* A tuple tagged with kind ('N', 'K' or 'O'). */
static int
read_tagged_tuple(Reader *r, char kind, PgoTuple *tuple)
{
	uint8_t tag;

	if (read_u8(r, "tuple tag", &tag) != 0)
		return -1;
	if (tag != (uint8_t) kind)
		return reader_error(r, "expected tuple tag '%c', found 0x%02x", kind, tag);
	return read_tuple(r, tuple);
}

/* The transaction id that data messages carry inside a streamed transaction. */
static int
read_stream_xid(Reader *r, const PgoContext *context, PgoMessage *msg)
{
	if (!context->in_stream)
		return 0;
	msg->has_xid = true;
	return read_u32(r, "transaction id", &msg->xid);
}

static int
read_begin(Reader *r, PgoMessage *msg)
{
	msg->has_xid = true;
	if (read_u64(r, "final LSN", &msg->lsn) != 0 ||
		read_time(r, "commit time", &msg->time) != 0)
		return -1;
	return read_u32(r, "transaction id", &msg->xid);
}

/* Commit and Stream Commit (after its transaction id): flags, LSNs, time. */
static int
read_commit(Reader *r, PgoMessage *msg)
{
	return read_u8(r, "flags", &msg->flags) != 0 ||
				   read_u64(r, "commit LSN", &msg->lsn) != 0 ||
				   read_u64(r, "end LSN", &msg->end_lsn) != 0 ||
				   read_time(r, "commit time", &msg->time) != 0
			   ? -1
			   : 0;
}

static int
read_relation(Reader *r, const PgoContext *context, PgoMessage *msg)
{
	uint64_t ncolumns;
	uint8_t identity;
	uint8_t flags;
	uint32_t type;
	const char *name;
	int i;

	if (read_stream_xid(r, context, msg) != 0 ||
		read_u32(r, "relation id", &msg->relid) != 0 ||
		read_string(r, "namespace", &msg->nspname) != 0 ||
		read_string(r, "relation name", &msg->relname) != 0 ||
		read_u8(r, "replica identity", &identity) != 0 ||
		read_int(r, 2, "column count", &ncolumns) != 0)
		return -1;
	msg->replica_identity = (char) identity;
	msg->columns.ncolumns = (int) ncolumns;
	msg->columns.data = r->p;
	for (i = 0; i < msg->columns.ncolumns; i++)
	{
		if (read_u8(r, "column flags", &flags) != 0 ||
			read_string(r, "column name", &name) != 0 ||
			read_u32(r, "column type", &type) != 0 ||
			read_u32(r, "column type modifier", &type) != 0)
			return -1;
	}
	msg->columns.end = r->p;
	return 0;
}

static int
read_type(Reader *r, const PgoContext *context, PgoMessage *msg)
{
	return read_stream_xid(r, context, msg) != 0 ||
				   read_u32(r, "type id", &msg->relid) != 0 ||
				   read_string(r, "namespace", &msg->nspname) != 0 ||
				   read_string(r, "type name", &msg->relname) != 0
			   ? -1
			   : 0;
}

static int
read_insert(Reader *r, const PgoContext *context, PgoMessage *msg)
{
	if (read_stream_xid(r, context, msg) != 0 ||
		read_u32(r, "relation id", &msg->relid) != 0)
		return -1;
	return read_tagged_tuple(r, 'N', &msg->newtuple);
}

/* An old tuple: 'K' (the key) or 'O' (the whole row). */
static int
read_old_tuple(Reader *r, PgoMessage *msg)
{
	if (r->p >= r->end)
		return reader_error(r, "truncated at its old tuple");
	msg->has_old = true;
	msg->old_kind = *r->p;
	if (msg->old_kind != 'K' && msg->old_kind != 'O')
		return reader_error(r, "expected tuple tag 'K' or 'O', found 0x%02x",
							(unsigned char) msg->old_kind);
	r->p++;
	return read_tuple(r, &msg->oldtuple);
}

static int
read_update(Reader *r, const PgoContext *context, PgoMessage *msg)
{
	if (read_stream_xid(r, context, msg) != 0 ||
		read_u32(r, "relation id", &msg->relid) != 0)
		return -1;
	if (r->p < r->end && (*r->p == 'K' || *r->p == 'O') &&
		read_old_tuple(r, msg) != 0)
		return -1;
	return read_tagged_tuple(r, 'N', &msg->newtuple);
}

static int
read_delete(Reader *r, const PgoContext *context, PgoMessage *msg)
{
	if (read_stream_xid(r, context, msg) != 0 ||
		read_u32(r, "relation id", &msg->relid) != 0)
		return -1;
	return read_old_tuple(r, msg);
}

static int
read_truncate(Reader *r, const PgoContext *context, PgoMessage *msg)
{
	uint32_t nrelids;

	if (read_stream_xid(r, context, msg) != 0 ||
		read_u32(r, "relation count", &nrelids) != 0 ||
		read_u8(r, "options", &msg->flags) != 0)
		return -1;
	if (nrelids > (uint32_t) ((r->end - r->p) / 4))
		return reader_error(r, "%u relation ids do not fit in the message", nrelids);
	msg->nrelids = (int) nrelids;
	msg->relids = r->p;
	r->p += 4 * (size_t) nrelids;
	return 0;
}

static int
read_message(Reader *r, const PgoContext *context, PgoMessage *msg)
{
	uint32_t len;

	if (read_stream_xid(r, context, msg) != 0 ||
		read_u8(r, "flags", &msg->flags) != 0 ||
		read_u64(r, "LSN", &msg->lsn) != 0 ||
		read_string(r, "prefix", &msg->prefix) != 0 ||
		read_u32(r, "content length", &len) != 0)
		return -1;
	if (len > (uint64_t) (r->end - r->p))
		return reader_error(r, "content of %u bytes does not fit in the message", len);
	msg->transactional = (msg->flags & 1) != 0;
	msg->content = r->p;
	msg->content_len = len;
	r->p += len;
	return 0;
}

static int
read_stream_abort(Reader *r, const PgoContext *context, PgoMessage *msg)
{
	msg->has_xid = true;
	if (read_u32(r, "transaction id", &msg->xid) != 0 ||
		read_u32(r, "subtransaction id", &msg->subxid) != 0)
		return -1;
	if (!context->abort_info)
		return 0;
	return read_u64(r, "abort LSN", &msg->lsn) != 0 ||
				   read_time(r, "abort time", &msg->time) != 0
			   ? -1
			   : 0;
}

/*
 * The two-phase messages but Begin Prepare: flags, two LSNs, a time (two
 * for Rollback Prepared), the transaction id and the gid.
 */
static int
read_prepared(Reader *r, PgoMessage *msg)
{
	int64_t prepare_time;

	msg->has_xid = true;
	if (read_u8(r, "flags", &msg->flags) != 0 ||
		read_u64(r, "LSN", &msg->lsn) != 0 ||
		read_u64(r, "end LSN", &msg->end_lsn) != 0)
		return -1;
	if (msg->kind == PGO_ROLLBACK_PREPARED &&
		read_time(r, "prepare time", &prepare_time) != 0)
		return -1;
	return read_time(r, "time", &msg->time) != 0 ||
				   read_u32(r, "transaction id", &msg->xid) != 0 ||
				   read_string(r, "gid", &msg->prefix) != 0
			   ? -1
			   : 0;
}

static int
read_begin_prepare(Reader *r, PgoMessage *msg)
{
	msg->has_xid = true;
	return read_u64(r, "prepare LSN", &msg->lsn) != 0 ||
				   read_u64(r, "end LSN", &msg->end_lsn) != 0 ||
				   read_time(r, "prepare time", &msg->time) != 0 ||
				   read_u32(r, "transaction id", &msg->xid) != 0 ||
				   read_string(r, "gid", &msg->prefix) != 0
			   ? -1
			   : 0;
}

static const char *
kind_name(char kind)
{
	switch (kind)
	{
		case PGO_BEGIN:
			return "Begin";
		case PGO_COMMIT:
			return "Commit";
		case PGO_ORIGIN:
			return "Origin";
		case PGO_RELATION:
			return "Relation";
		case PGO_TYPE:
			return "Type";
		case PGO_INSERT:
			return "Insert";
		case PGO_UPDATE:
			return "Update";
		case PGO_DELETE:
			return "Delete";
		case PGO_TRUNCATE:
			return "Truncate";
		case PGO_MESSAGE:
			return "Message";
		case PGO_STREAM_START:
			return "Stream Start";
		case PGO_STREAM_STOP:
			return "Stream Stop";
		case PGO_STREAM_COMMIT:
			return "Stream Commit";
		case PGO_STREAM_ABORT:
			return "Stream Abort";
		case PGO_BEGIN_PREPARE:
			return "Begin Prepare";
		case PGO_PREPARE:
			return "Prepare";
		case PGO_COMMIT_PREPARED:
			return "Commit Prepared";
		case PGO_ROLLBACK_PREPARED:
			return "Rollback Prepared";
		case PGO_STREAM_PREPARE:
			return "Stream Prepare";
		default:
			return NULL;
	}
}

static int
read_body(Reader *r, const PgoContext *context, PgoMessage *msg)
{
	switch (msg->kind)
	{
		case PGO_BEGIN:
			return read_begin(r, msg);
		case PGO_COMMIT:
			return read_commit(r, msg);
		case PGO_ORIGIN:
			return read_u64(r, "LSN", &msg->lsn) != 0 ||
						   read_string(r, "name", &msg->prefix) != 0
					   ? -1
					   : 0;
		case PGO_RELATION:
			return read_relation(r, context, msg);
		case PGO_TYPE:
			return read_type(r, context, msg);
		case PGO_INSERT:
			return read_insert(r, context, msg);
		case PGO_UPDATE:
			return read_update(r, context, msg);
		case PGO_DELETE:
			return read_delete(r, context, msg);
		case PGO_TRUNCATE:
			return read_truncate(r, context, msg);
		case PGO_MESSAGE:
			return read_message(r, context, msg);
		case PGO_STREAM_START:
			msg->has_xid = true;
			if (read_u32(r, "transaction id", &msg->xid) != 0 ||
				read_u8(r, "first segment flag", &msg->flags) != 0)
				return -1;
			msg->first_segment = msg->flags == 1;
			return 0;
		case PGO_STREAM_STOP:
			return 0;
		case PGO_STREAM_COMMIT:
			msg->has_xid = true;
			return read_u32(r, "transaction id", &msg->xid) != 0 ? -1 : read_commit(r, msg);
		case PGO_STREAM_ABORT:
			return read_stream_abort(r, context, msg);
		case PGO_BEGIN_PREPARE:
			return read_begin_prepare(r, msg);
		case PGO_PREPARE:
		case PGO_COMMIT_PREPARED:
		case PGO_ROLLBACK_PREPARED:
		case PGO_STREAM_PREPARE:
			return read_prepared(r, msg);
	}
	return reader_error(r, "unknown type");
}

/*
 * Parses one message, the bytes of one XLogData.  context says what the
 * bytes alone do not (see PgoContext); the caller keeps in_stream from the
 * Stream Start and Stream Stop messages it has read.
 */
int
pgoutput_parse(const char *buf, size_t len, const PgoContext *context,
			   PgoMessage *msg, char *errstr, size_t errstr_size)
{
	Reader r;

	memset(msg, 0, sizeof(*msg));
	r.p = buf;
	r.end = buf + len;
	r.what = "empty";
	r.errstr = errstr;
	r.errstr_size = errstr_size;
	if (len < 1)
		return reader_error(&r, "no type byte");
	if ((r.what = kind_name(buf[0])) == NULL)
	{
		snprintf(errstr, errstr_size, "unknown pgoutput message type 0x%02x",
				 (unsigned char) buf[0]);
		return -1;
	}
	msg->kind = (PgoKind) buf[0];
	r.p++;
	if (read_body(&r, context, msg) != 0)
		return -1;
	if (r.p != r.end)
		return reader_error(&r, "%zu bytes left over after its last field",
							(size_t) (r.end - r.p));
	return 0;
}

/* The next value of tuple into value; false after the last. */
bool
pgoutput_next_value(PgoTuple *tuple, PgoValue *value)
{
	if (tuple->data >= tuple->end)
		return false;
	value->kind = (PgoValueKind) *tuple->data++;
	value->data = NULL;
	value->len = 0;
	if (value->kind == PGO_VALUE_TEXT || value->kind == PGO_VALUE_BINARY)
	{
		value->len = (size_t) be_bytes(tuple->data, 4);
		value->data = tuple->data + 4;
		tuple->data += 4 + value->len;
	}
	return true;
}

/* The next column of a Relation message into column; false after the last. */
bool
pgoutput_next_column(PgoColumns *columns, PgoColumn *column)
{
	const char *p = columns->data;

	if (p >= columns->end)
		return false;
	column->key = (*p & 1) != 0;
	column->name = p + 1;
	p = column->name + strlen(column->name) + 1;
	column->type_oid = (uint32_t) be_bytes(p, 4);
	column->type_modifier = (int32_t) (uint32_t) be_bytes(p + 4, 4);
	columns->data = p + 8;
	return true;
}

/* The i-th relation id of a Truncate message. */
uint32_t
pgoutput_relid(const PgoMessage *msg, int i)
{
	return (uint32_t) be_bytes(msg->relids + 4 * (size_t) i, 4);
}
