/*
 * walproto_fuzz.c
 *	  libFuzzer target for shipper/walproto.c: CopyData messages from the
 *	  server (XLogData, keepalive, anything else), LSN text, and the
 *	  standby status update built from positions.
 *
 * The same bytes are read three ways: as a message, whose fields must be
 * exactly the big-endian words at their offsets; as LSN text, which must
 * parse only when it is "X/X" (1 to 8 hex digits each) and then format
 * back to PostgreSQL's spelling; and as positions for a status update,
 * which must encode them at their offsets.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "walproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t
be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void
check_message(const uint8_t *data, size_t size)
{
	const char *buf = (const char *) data;
	WalMessage msg;
	char errstr[256];

	memset(errstr, 'x', sizeof(errstr));
	if (walproto_parse(buf, size, &msg, errstr, sizeof(errstr)) != 0)
	{
		FUZZ_CHECK(memchr(errstr, '\0', sizeof(errstr)) != NULL);
		FUZZ_CHECK(errstr[0] != '\0');
		FUZZ_CHECK(size < 25 || (data[0] != 'w' && data[0] != 'k'));
		return;
	}
	FUZZ_CHECK(size >= 18);
	if (data[0] == 'w')
	{
		FUZZ_CHECK(size >= 25 && msg.type == WAL_MESSAGE_XLOGDATA);
		FUZZ_CHECK(msg.wal_start == be64(data + 1));
		FUZZ_CHECK(msg.wal_end == be64(data + 9));
		FUZZ_CHECK(msg.server_time == (int64_t) be64(data + 17));
		FUZZ_CHECK(msg.data == buf + 25 && msg.data_len == size - 25);
		FUZZ_CHECK(!msg.reply_requested);
	}
	else
	{
		FUZZ_CHECK(data[0] == 'k' && msg.type == WAL_MESSAGE_KEEPALIVE);
		FUZZ_CHECK(msg.wal_end == be64(data + 1));
		FUZZ_CHECK(msg.server_time == (int64_t) be64(data + 9));
		FUZZ_CHECK(msg.reply_requested == (data[17] != 0));
		FUZZ_CHECK(msg.data == NULL && msg.data_len == 0);
	}
}

/* Whether text is 1-8 hex digits (only). */
static bool
hex_half(const char *text, size_t len)
{
	size_t i;

	if (len < 1 || len > 8)
		return false;
	for (i = 0; i < len; i++)
		if (!isxdigit((unsigned char) text[i]))
			return false;
	return true;
}

/* PostgreSQL's spelling of one half: upper case, no leading zeros. */
static size_t
canonical_half(const char *text, size_t len, char *out)
{
	size_t n = 0;

	while (len > 1 && *text == '0')
	{
		text++;
		len--;
	}
	while (len-- > 0)
		out[n++] = (char) toupper((unsigned char) *text++);
	return n;
}

static void
check_lsn_text(const uint8_t *data, size_t size)
{
	const char *text = (const char *) data;
	const char *slash = memchr(text, '/', size);
	bool valid;
	Lsn lsn = 0;
	Lsn again = 1;
	char formatted[LSN_TEXT_SIZE];
	char want[LSN_TEXT_SIZE];
	size_t n;

	valid = slash != NULL && hex_half(text, (size_t) (slash - text)) &&
			hex_half(slash + 1, size - (size_t) (slash - text) - 1);
	FUZZ_CHECK((lsn_parse(text, size, &lsn) == 0) == valid);
	if (!valid)
		return;
	lsn_format(lsn, formatted);
	n = canonical_half(text, (size_t) (slash - text), want);
	want[n++] = '/';
	n += canonical_half(slash + 1, size - (size_t) (slash - text) - 1, want + n);
	want[n] = '\0';
	FUZZ_CHECK(strcmp(formatted, want) == 0);
	FUZZ_CHECK(lsn_parse(formatted, strlen(formatted), &again) == 0);
	FUZZ_CHECK(again == lsn);
}

static void
check_status_update(const uint8_t *data, size_t size)
{
	uint8_t in[33];
	char out[WAL_STATUS_UPDATE_SIZE];
	char text[LSN_TEXT_SIZE];
	Lsn again = 0;

	if (size < sizeof(in))
		return;
	memcpy(in, data, sizeof(in));
	walproto_status_update(out, be64(in), be64(in + 8), be64(in + 16),
						   (int64_t) be64(in + 24), in[32] & 1);
	FUZZ_CHECK(out[0] == 'r');
	FUZZ_CHECK(memcmp(out + 1, in, 32) == 0);
	FUZZ_CHECK(out[33] == (in[32] & 1));
	lsn_format(be64(in), text);
	FUZZ_CHECK(lsn_parse(text, strlen(text), &again) == 0 && again == be64(in));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_message(data, size);
	check_lsn_text(data, size);
	check_status_update(data, size);
	return 0;
}
