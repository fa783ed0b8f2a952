/*
 * stream.h
 *	  The replication connection to PostgreSQL (libpq).
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
	STREAM_RETRY = -1, /* unreachable, lost: try again later */
	STREAM_SLOT_BUSY = -2, /* another shipper streams from the slot */
	STREAM_FATAL = -3 /* a configuration error: retrying is pointless */
} StreamStatus;

extern int stream_check_conninfo(const char *conninfo, char *errstr,
								 size_t errstr_size);
extern Stream *stream_create(const ShipperConfig *config);
extern void stream_destroy(Stream *stream);
extern StreamStatus stream_connect(Stream *stream, char *errstr,
								   size_t errstr_size);
extern int stream_read(Stream *stream, int timeout_ms, WalMessage *msg,
					   char *errstr, size_t errstr_size);
extern int stream_send_status(Stream *stream, Lsn confirmed, char *errstr,
							  size_t errstr_size);
extern void stream_close(Stream *stream);
extern bool stream_connected(const Stream *stream);

#endif /* SHIPPER_STREAM_H */
