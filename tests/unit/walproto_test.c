/* Unit tests: replication protocol messages and LSN text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "walproto.h"

static void
test_lsn_parse(void **state)
{
	static const struct
	{
		const char *text;
		int rc;
		Lsn lsn;
	} cases[] = {
		{"0/0", 0, 0},
		{"0/1A2B3C8", 0, 0x1A2B3C8},
		{"16/B374D848", 0, (UINT64_C(0x16) << 32) | 0xB374D848},
		{"FFFFFFFF/FFFFFFFF", 0, UINT64_MAX},
		{"ab/cd", 0, (UINT64_C(0xAB) << 32) | 0xCD},
		{"", -1, 0},
		{"0", -1, 0},
		{"/1", -1, 0},
		{"1/", -1, 0},
		{"1/2/3", -1, 0},
		{"123456789/0", -1, 0},
		{"G/0", -1, 0},
		{" 0/1", -1, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		Lsn lsn = 12345;

		assert_int_equal(lsn_parse(cases[i].text, strlen(cases[i].text), &lsn), cases[i].rc);
		if (cases[i].rc == 0)
			assert_true(lsn == cases[i].lsn);
	}
}

static void
test_lsn_format(void **state)
{
	char buf[LSN_TEXT_SIZE];

	lsn_format(0, buf);
	assert_string_equal(buf, "0/0");
	lsn_format((UINT64_C(0x16) << 32) | 0xB374D848, buf);
	assert_string_equal(buf, "16/B374D848");
	lsn_format(UINT64_MAX, buf);
	assert_string_equal(buf, "FFFFFFFF/FFFFFFFF");
}

/* lsn_format is hand-written: it must print what "%X/%X" prints. */
static void
test_lsn_format_as_printf(void **state)
{
	char buf[LSN_TEXT_SIZE];
	char want[LSN_TEXT_SIZE];
	uint64_t lsn = UINT64_C(0x9E3779B97F4A7C15);
	int shift;
	int i;

	for (i = 0; i < 2000; i++)
	{
		/* every length of both halves, and scrambled digits */
		shift = i % 64;
		lsn = lsn * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
		snprintf(want, sizeof(want), "%X/%X", (unsigned) ((lsn >> shift) >> 32),
				 (unsigned) (lsn >> shift));
		assert_int_equal(lsn_format(lsn >> shift, buf), strlen(want));
		assert_string_equal(buf, want);
	}
}

static void
test_parse_xlogdata(void **state)
{
	const char msg[] = "w\x00\x00\x00\x01\x00\x00\x00\x10"
					   "\x00\x00\x00\x01\x00\x00\x00\x20"
					   "\x00\x00\x00\x00\x00\x00\x00\x30"
					   "{\"v\":1}";
	WalMessage m;
	char err[256];

	assert_int_equal(walproto_parse(msg, sizeof(msg) - 1, &m, err, sizeof(err)), 0);
	assert_int_equal(m.type, WAL_MESSAGE_XLOGDATA);
	assert_true(m.wal_start == ((UINT64_C(1) << 32) | 0x10));
	assert_true(m.wal_end == ((UINT64_C(1) << 32) | 0x20));
	assert_int_equal(m.server_time, 0x30);
	assert_int_equal(m.data_len, 7);
	assert_memory_equal(m.data, "{\"v\":1}", 7);
}

static void
test_parse_keepalive(void **state)
{
	const char msg[] = "k\x00\x00\x00\x00\x00\x00\x01\x00"
					   "\x00\x00\x00\x00\x00\x00\x00\x05"
					   "\x01";
	WalMessage m;
	char err[256];

	assert_int_equal(walproto_parse(msg, sizeof(msg) - 1, &m, err, sizeof(err)), 0);
	assert_int_equal(m.type, WAL_MESSAGE_KEEPALIVE);
	assert_true(m.wal_end == 0x100);
	assert_true(m.reply_requested);
}

static void
test_parse_short_and_unknown(void **state)
{
	WalMessage m;
	char err[256];

	assert_int_equal(walproto_parse("", 0, &m, err, sizeof(err)), -1);
	assert_int_equal(walproto_parse("w1234", 5, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "shorter than its 25-byte header"));
	assert_int_equal(walproto_parse("k1234567", 8, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "keepalive"));
	assert_int_equal(walproto_parse("z", 1, &m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "0x7a"));
}

/* Header lengths are checked at the exact boundary. */
static void
test_parse_boundaries(void **state)
{
	char msg[32];
	WalMessage m;
	char err[256];

	memset(msg, 0, sizeof(msg));
	msg[0] = 'w';
	assert_int_equal(walproto_parse(msg, 25, &m, err, sizeof(err)), 0);
	assert_int_equal(m.data_len, 0);
	assert_int_equal(walproto_parse(msg, 24, &m, err, sizeof(err)), -1);
	assert_string_equal(err, "XLogData message of 24 bytes is shorter than its 25-byte header");
	msg[0] = 'k';
	assert_int_equal(walproto_parse(msg, 18, &m, err, sizeof(err)), 0);
	assert_false(m.reply_requested);
	assert_int_equal(walproto_parse(msg, 17, &m, err, sizeof(err)), -1);
	assert_string_equal(err, "keepalive message of 17 bytes is shorter than 18 bytes");
}

static void
test_status_update(void **state)
{
	char buf[WAL_STATUS_UPDATE_SIZE];
	const char expected[] = "r\x00\x00\x00\x01\x00\x00\x00\x02"
							"\x00\x00\x00\x01\x00\x00\x00\x02"
							"\x00\x00\x00\x01\x00\x00\x00\x02"
							"\x00\x00\x00\x00\x00\x00\x00\x09"
							"\x01";
	Lsn lsn = (UINT64_C(1) << 32) | 2;

	walproto_status_update(buf, lsn, lsn, lsn, 9, true);
	assert_memory_equal(buf, expected, WAL_STATUS_UPDATE_SIZE);
}

static void
test_time_from_unix(void **state)
{
	/* 2000-01-01T00:00:00Z is PostgreSQL's zero */
	assert_int_equal(walproto_time_from_unix(INT64_C(946684800) * 1000000), 0);
	assert_int_equal(walproto_time_from_unix(INT64_C(946684801) * 1000000 + 5), 1000005);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_boundaries),
		cmocka_unit_test(test_lsn_parse),
		cmocka_unit_test(test_lsn_format),
		cmocka_unit_test(test_lsn_format_as_printf),
		cmocka_unit_test(test_parse_xlogdata),
		cmocka_unit_test(test_parse_keepalive),
		cmocka_unit_test(test_parse_short_and_unknown),
		cmocka_unit_test(test_status_update),
		cmocka_unit_test(test_time_from_unix),
	};

	return cmocka_run_group_tests_name("walproto", tests, NULL, NULL);
}
