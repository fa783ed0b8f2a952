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

/*
 * The caller's idle hook: while the stream waits for the server (a
 * connection attempt, a command, a slow slot creation), it runs at least
 * every 100 ms; it keeps the caller's heartbeat going, and returns false to
 * give up the wait (a stop was requested).
 */
typedef bool (*StreamIdle)(void *arg);

typedef enum StreamStatus
{
	STREAM_OK = 0,
	STREAM_RETRY = -1, /* unreachable, lost, starting up: try again */
	STREAM_SLOT_BUSY = -2, /* another process streams from the slot */
	STREAM_FATAL = -3, /* a configuration error: retrying is pointless */
	STREAM_SLOT_MISSING = -4, /* no slot, and the caller may not create it */
	STREAM_INTERRUPTED = -5 /* the idle hook said stop */
} StreamStatus;

/* What a connection learnt about the server and the slot. */
typedef struct StreamInfo
{
	char system_id[32]; /* IDENTIFY_SYSTEM */
	char dbname[256]; /* IDENTIFY_SYSTEM: the slot's database */
	unsigned timeline;
	Lsn server_lsn; /* the server's WAL position at connection */
	Lsn slot_confirmed; /* the slot's confirmed_flush_lsn */
	bool slot_created;
	int busy_pid; /* STREAM_SLOT_BUSY: the slot's holder, or 0 */
	int wal_sender_timeout_ms; /* 0: off or unknown */
	int silence_limit_ms; /* no message for this long: the link is lost */
	int server_version; /* e.g. 170011 */
	bool in_recovery; /* a hot standby (decoding there needs 16+) */
	bool sync_slots; /* a standby with sync_replication_slots on (17+) */
	bool standby_slots_set; /* synchronized_standby_slots not empty (17+) */
	int slot_failover; /* a failover slot: 1 or 0; -1 before 17 */
	bool slot_synced; /* synchronized from a primary (17+) */
	char server[256]; /* host:port/dbname user, for logs */
} StreamInfo;

extern int stream_check_conninfo(const char *conninfo, char *errstr,
								 size_t errstr_size);
extern Stream *stream_create(const ShipperConfig *config, StreamIdle idle,
							 void *idle_arg);
extern void stream_destroy(Stream *stream);
extern StreamStatus stream_connect(Stream *stream, bool may_create,
								   StreamInfo *info, char *errstr,
								   size_t errstr_size);
extern int stream_read(Stream *stream, WalMessage *msg, char *errstr,
					   size_t errstr_size);
extern int stream_wait(Stream *stream, bool want_stream, int other_fd,
					   int timeout_ms, char *errstr, size_t errstr_size);
extern int stream_check_alive(Stream *stream, char *errstr, size_t errstr_size);
extern int stream_send_status(Stream *stream, Lsn confirmed, char *errstr,
							  size_t errstr_size);
extern void stream_close(Stream *stream);
extern bool stream_connected(const Stream *stream);
/* libpq's version, e.g. "15.20". */
extern const char *stream_library_version(void);

#endif /* SHIPPER_STREAM_H */
