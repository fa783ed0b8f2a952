/*
 * walproto.h
 *	  The streaming replication messages the shipper reads and writes, as
 *	  bytes: no libpq here, so the unit tests feed it byte strings.
 */
#ifndef SHIPPER_WALPROTO_H
#define SHIPPER_WALPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t Lsn;

/* "X/X" text of an LSN: at most 17 characters and a NUL. */
#define LSN_TEXT_SIZE 18

typedef enum WalMessageType
{
	WAL_MESSAGE_XLOGDATA, /* 'w': one output plugin message */
	WAL_MESSAGE_KEEPALIVE /* 'k': the server's position */
} WalMessageType;

typedef struct WalMessage
{
	WalMessageType type;
	Lsn wal_start; /* 'w' only */
	Lsn wal_end; /* 'w': the message's LSN; 'k': sent so far */
	int64_t server_time; /* microseconds since 2000-01-01 */
	bool reply_requested; /* 'k' only */
	const char *data; /* 'w' only: points into the parsed buffer */
	size_t data_len;
} WalMessage;

/* A standby status update is exactly this long. */
#define WAL_STATUS_UPDATE_SIZE 34

extern int lsn_parse(const char *text, size_t len, Lsn *lsn);
extern size_t lsn_format(Lsn lsn, char *buf);
extern int walproto_parse(const char *buf, size_t len, WalMessage *msg,
						  char *errstr, size_t errstr_size);
extern void walproto_status_update(char *buf, Lsn written, Lsn flushed,
								   Lsn applied, int64_t now,
								   bool reply_requested);
extern int64_t walproto_time_from_unix(int64_t unix_usec);

#endif /* SHIPPER_WALPROTO_H */
