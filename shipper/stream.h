/*
 * stream.h
 *	  The replication connection to PostgreSQL (libpq).
 *
 *	  Ownership: the Stream keeps a pointer to the config, which must
 *	  outlive it.  A message from stream_read is valid until the next
 *	  stream_read or stream_close.
 */
#ifndef SHIPPER_STREAM_H
#define SHIPPER_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "walproto.h"

typedef struct Stream Stream;

typedef enum StreamStatus
{
	STREAM_OK = 0,
	STREAM_RETRY = -1, /* unreachable, lost, starting up: try again */
	STREAM_SLOT_BUSY = -2, /* another process streams from the slot */
	STREAM_FATAL = -3, /* a configuration error: retrying is pointless */
	STREAM_SLOT_MISSING = -4 /* no slot, and the caller may not create it */
} StreamStatus;

/* What a connection learnt about the server and the slot. */
typedef struct StreamInfo
{
	char system_id[32]; /* IDENTIFY_SYSTEM */
	unsigned timeline;
	Lsn server_lsn; /* the server's WAL position at connection */
	Lsn slot_confirmed; /* the slot's confirmed_flush_lsn */
	bool slot_created;
	int busy_pid; /* STREAM_SLOT_BUSY: the slot's holder, or 0 */
	int wal_sender_timeout_ms; /* 0: off or unknown */
	char server[256]; /* host:port/dbname user, for logs */
} StreamInfo;

extern int stream_check_conninfo(const char *conninfo, char *errstr,
								 size_t errstr_size);
extern Stream *stream_create(const ShipperConfig *config);
extern void stream_destroy(Stream *stream);
extern StreamStatus stream_connect(Stream *stream, bool may_create,
								   StreamInfo *info, char *errstr,
								   size_t errstr_size);
extern int stream_read(Stream *stream, WalMessage *msg, char *errstr,
					   size_t errstr_size);
extern int stream_wait(Stream *stream, bool want_stream, int other_fd,
					   int timeout_ms, char *errstr, size_t errstr_size);
extern int stream_send_status(Stream *stream, Lsn confirmed, char *errstr,
							  size_t errstr_size);
extern void stream_close(Stream *stream);
extern bool stream_connected(const Stream *stream);
/* libpq's version, e.g. "15.20". */
extern const char *stream_library_version(void);

#endif /* SHIPPER_STREAM_H */
