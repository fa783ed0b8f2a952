/*
 * walproto.c
 *	  Parsing and building streaming replication CopyData messages.
 *
 * Every header is length-checked before it is read: a truncated message is
 * an error naming what was short, never a read past the buffer.
 */
#include "walproto.h"

#include <stdio.h>
#include <string.h>

/* Seconds from the Unix epoch to PostgreSQL's, 2000-01-01. */
#define POSTGRES_EPOCH_OFFSET_SECONDS INT64_C(946684800)

static uint64_t
read_be64(const char *p)
{
	const unsigned char *u = (const unsigned char *) p;
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | u[i];
	return v;
}

static void
write_be64(char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--)
	{
		p[i] = (char) (v & 0xFF);
		v >>= 8;
	}
}

/* Parses "X/X" (hexadecimal halves, as PostgreSQL prints LSNs). */
int
lsn_parse(const char *text, size_t len, Lsn *lsn)
{
	uint64_t halves[2] = {0, 0};
	int half = 0;
	int digits = 0;
	size_t i;

	for (i = 0; i < len; i++)
	{
		char c = text[i];
		int v;

		if (c == '/' && half == 0 && digits > 0)
		{
			half = 1;
			digits = 0;
			continue;
		}
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			return -1;
		if (++digits > 8)
			return -1;
		halves[half] = (halves[half] << 4) | (uint64_t) v;
	}
	if (half != 1 || digits == 0)
		return -1;
	*lsn = (halves[0] << 32) | halves[1];
	return 0;
}

/* Uppercase hexadecimal without leading zeros, as %X; returns its length. */
static size_t
format_hex32(uint32_t value, char *buf)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t len = 0;
	int shift;

	for (shift = 28; shift > 0 && (value >> shift) == 0; shift -= 4)
		;
	for (; shift >= 0; shift -= 4)
		buf[len++] = digits[(value >> shift) & 0xF];
	return len;
}

/*
 * "X/X", as PostgreSQL prints LSNs, into LSN_TEXT_SIZE bytes; returns its
 * length.  Every event header carries one: no printf.
 */
size_t
lsn_format(Lsn lsn, char *buf)
{
	size_t len = format_hex32((uint32_t) (lsn >> 32), buf);

	buf[len++] = '/';
	len += format_hex32((uint32_t) lsn, buf + len);
	buf[len] = '\0';
	return len;
}

int
walproto_parse(const char *buf, size_t len, WalMessage *msg,
			   char *errstr, size_t errstr_size)
{
	memset(msg, 0, sizeof(*msg));
	if (len < 1)
	{
		snprintf(errstr, errstr_size, "empty CopyData message from the server");
		return -1;
	}
	switch (buf[0])
	{
		case 'w':
			/* 'w', dataStart, walEnd, sendTime, then the plugin's bytes */
			if (len < 1 + 8 + 8 + 8)
			{
				snprintf(errstr, errstr_size,
						 "XLogData message of %zu bytes is shorter than its 25-byte header",
						 len);
				return -1;
			}
			msg->type = WAL_MESSAGE_XLOGDATA;
			msg->wal_start = read_be64(buf + 1);
			msg->wal_end = read_be64(buf + 9);
			msg->server_time = (int64_t) read_be64(buf + 17);
			msg->data = buf + 25;
			msg->data_len = len - 25;
			return 0;
		case 'k':
			/* 'k', walEnd, sendTime, replyRequested */
			if (len < 1 + 8 + 8 + 1)
			{
				snprintf(errstr, errstr_size,
						 "keepalive message of %zu bytes is shorter than 18 bytes", len);
				return -1;
			}
			msg->type = WAL_MESSAGE_KEEPALIVE;
			msg->wal_end = read_be64(buf + 1);
			msg->server_time = (int64_t) read_be64(buf + 9);
			msg->reply_requested = buf[17] != 0;
			return 0;
		default:
			snprintf(errstr, errstr_size,
					 "unexpected CopyData message type 0x%02x from the server",
					 (unsigned char) buf[0]);
			return -1;
	}
}

/*
 * Builds a standby status update ('r') into buf, which must hold
 * WAL_STATUS_UPDATE_SIZE bytes.
 */
void
walproto_status_update(char *buf, Lsn written, Lsn flushed, Lsn applied,
					   int64_t now, bool reply_requested)
{
	buf[0] = 'r';
	write_be64(buf + 1, written);
	write_be64(buf + 9, flushed);
	write_be64(buf + 17, applied);
	write_be64(buf + 25, (uint64_t) now);
	buf[33] = reply_requested ? 1 : 0;
}

/* Converts microseconds since the Unix epoch to PostgreSQL's epoch. */
int64_t
walproto_time_from_unix(int64_t unix_usec)
{
	return unix_usec - POSTGRES_EPOCH_OFFSET_SECONDS * INT64_C(1000000);
}
