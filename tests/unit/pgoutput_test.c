/*
 * Unit tests: pgoutput's messages.  The hexadecimal strings were captured
 * from PostgreSQL 15 with pg_logical_slot_peek_binary_changes(slot, NULL,
 * NULL, 'proto_version', '1', 'publication_names', 'p', 'messages', 'true')
 * on a table shaped like outbox.events (relation id 0x4000) and a table
 * "small" (k int PRIMARY KEY, v text) with REPLICA IDENTITY FULL; the
 * streaming and two-phase messages, which need other options, are built
 * field by field from the protocol's documentation.
 */
#include "unit.h"

#include "pgoutput.h"

/* Outbox-shaped relation: 7 columns, the first (id uuid) the key. */
#define HEX_RELATION \
	"52000040007075626c6963006576006400070169640000000b86ffffffff0061676772" \
	"65676174655f747970650000000019ffffffff006167677265676174655f6964000000" \
	"0019ffffffff006576656e745f747970650000000019ffffffff007061796c6f616400" \
	"00000edaffffffff00686561646572730000000edaffffffff00637265617465645f61" \
	"7400000004a0ffffffff"
#define HEX_BEGIN "42000000000153e3f8000304714fd4cbcd000002d7"
#define HEX_INSERT \
	"49000040004e0007740000002430303030303030302d303030302d303030302d303030" \
	"302d30303030303030303030303174000000056f7264657274000000036f2d31740000" \
	"000763726561746564740000001d7b2261223a205b312c20322e35302c207b2262223a" \
	"206e756c6c7d5d7d6e740000001d323032362d31312d32392031323a30303a30302e31" \
	"32333435362b3030"
#define HEX_MESSAGE "4d01000000000153e3b86f7574626f785f706700000000077b2278223a317d"
#define HEX_COMMIT "4300000000000153e3f8000000000153e428000304714fd4cbcd"
#define HEX_MESSAGE_NONTX "4d00000000000153eb486e74000000000568656c6c6f"
#define HEX_DELETE_KEY \
	"44000040004b0008740000002430303030303030302d303030302d303030302d303030" \
	"302d3030303030303030303030316e6e6e6e6e6e6e"
#define HEX_UPDATE_OLD \
	"55000040124f00027400000001317400000001614e0002740000000131740000000162"
#define HEX_UPDATE_NEW_ONLY "55000040124e0002740000000131" \
							"75"
#define HEX_TRUNCATE "54000000010000004012"

#define ERRSTR_SIZE 256

/* Decodes hex into a malloc'd buffer of *len bytes. */
static char *
from_hex(const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2;
	char *buf = malloc(n > 0 ? n : 1);
	size_t i;

	assert_non_null(buf);
	for (i = 0; i < n; i++)
	{
		unsigned byte;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &byte), 1);
		buf[i] = (char) byte;
	}
	*len = n;
	return buf;
}

static const PgoContext outside_stream = {false, false};

static int
parse_hex(const char *hex, const PgoContext *context, PgoMessage *msg, char **buf,
		  char *errstr)
{
	size_t len;

	*buf = from_hex(hex, &len);
	return pgoutput_parse(*buf, len, context, msg, errstr, ERRSTR_SIZE);
}

static void
test_begin_commit(void **state)
{
	PgoMessage msg;
	char errstr[ERRSTR_SIZE];
	char *buf;

	assert_int_equal(parse_hex(HEX_BEGIN, &outside_stream, &msg, &buf, errstr), 0);
	assert_int_equal(msg.kind, PGO_BEGIN);
	EXPECT_U64("final LSN", 0x153E3F8, msg.lsn);
	EXPECT_U64("xid", 0x2D7, msg.xid);
	assert_true(msg.has_xid);
	EXPECT_U64("time", 0x304714fd4cbcd, (uint64_t) msg.time);
	free(buf);

	assert_int_equal(parse_hex(HEX_COMMIT, &outside_stream, &msg, &buf, errstr), 0);
	assert_int_equal(msg.kind, PGO_COMMIT);
	EXPECT_U64("commit LSN", 0x153E3F8, msg.lsn);
	EXPECT_U64("end LSN", 0x153E428, msg.end_lsn);
	EXPECT_U64("time", 0x304714fd4cbcd, (uint64_t) msg.time);
	assert_int_equal(msg.flags, 0);
	assert_false(msg.has_xid);
	free(buf);
}

static void
test_relation(void **state)
{
	static const struct
	{
		const char *name;
		bool key;
		uint32_t type;
	} want[] = {
		{"id", true, 2950},
		{"aggregate_type", false, 25},
		{"aggregate_id", false, 25},
		{"event_type", false, 25},
		{"payload", false, 3802},
		{"headers", false, 3802},
		{"created_at", false, 1184},
	};
	PgoMessage msg;
	PgoColumn column;
	char errstr[ERRSTR_SIZE];
	char *buf;
	int i = 0;

	assert_int_equal(parse_hex(HEX_RELATION, &outside_stream, &msg, &buf, errstr), 0);
	assert_int_equal(msg.kind, PGO_RELATION);
	EXPECT_U64("relid", 0x4000, msg.relid);
	EXPECT_STR("namespace", "public", msg.nspname);
	EXPECT_STR("name", "ev", msg.relname);
	assert_int_equal(msg.replica_identity, 'd');
	assert_int_equal(msg.columns.ncolumns, 7);
	while (pgoutput_next_column(&msg.columns, &column))
	{
		assert_true(i < 7);
		EXPECT_STR("column name", want[i].name, column.name);
		assert_int_equal(column.key, want[i].key);
		EXPECT_U64(want[i].name, want[i].type, column.type_oid);
		assert_int_equal(column.type_modifier, -1);
		i++;
	}
	assert_int_equal(i, 7);
	free(buf);
}

static void
test_insert(void **state)
{
	static const char *want[] = {
		"00000000-0000-0000-0000-000000000001", "order", "o-1", "created",
		"{\"a\": [1, 2.50, {\"b\": null}]}", NULL, "2026-11-29 12:00:00.123456+00"};
	PgoMessage msg;
	PgoValue value;
	char errstr[ERRSTR_SIZE];
	char *buf;
	int i = 0;

	assert_int_equal(parse_hex(HEX_INSERT, &outside_stream, &msg, &buf, errstr), 0);
	assert_int_equal(msg.kind, PGO_INSERT);
	EXPECT_U64("relid", 0x4000, msg.relid);
	assert_false(msg.has_old);
	assert_int_equal(msg.newtuple.ncolumns, 7);
	while (pgoutput_next_value(&msg.newtuple, &value))
	{
		assert_true(i < 7);
		if (want[i] == NULL)
			assert_int_equal(value.kind, PGO_VALUE_NULL);
		else
		{
			assert_int_equal(value.kind, PGO_VALUE_TEXT);
			EXPECT_BYTES("value", want[i], strlen(want[i]), value.data, value.len);
		}
		i++;
	}
	assert_int_equal(i, 7);
	free(buf);
}

static void
test_update_delete_truncate(void **state)
{
	PgoMessage msg;
	PgoValue value;
	char errstr[ERRSTR_SIZE];
	char *buf;

	assert_int_equal(parse_hex(HEX_UPDATE_OLD, &outside_stream, &msg, &buf, errstr), 0);
	assert_int_equal(msg.kind, PGO_UPDATE);
	EXPECT_U64("relid", 0x4012, msg.relid);
	assert_true(msg.has_old);
	assert_int_equal(msg.old_kind, 'O');
	assert_true(pgoutput_next_value(&msg.oldtuple, &value));
	assert_true(pgoutput_next_value(&msg.oldtuple, &value));
	EXPECT_BYTES("old v", "a", 1, value.data, value.len);
	assert_false(pgoutput_next_value(&msg.oldtuple, &value));
	assert_true(pgoutput_next_value(&msg.newtuple, &value));
	assert_true(pgoutput_next_value(&msg.newtuple, &value));
	EXPECT_BYTES("new v", "b", 1, value.data, value.len);
	free(buf);

	/* No old tuple: only the new one, here with an unchanged TOAST value. */
	assert_int_equal(parse_hex(HEX_UPDATE_NEW_ONLY, &outside_stream, &msg, &buf, errstr), 0);
	assert_false(msg.has_old);
	assert_true(pgoutput_next_value(&msg.newtuple, &value));
	assert_true(pgoutput_next_value(&msg.newtuple, &value));
	assert_int_equal(value.kind, PGO_VALUE_UNCHANGED_TOAST);
	assert_false(pgoutput_next_value(&msg.newtuple, &value));
	free(buf);

	assert_int_equal(parse_hex(HEX_DELETE_KEY, &outside_stream, &msg, &buf, errstr), 0);
	assert_int_equal(msg.kind, PGO_DELETE);
	assert_int_equal(msg.old_kind, 'K');
	assert_int_equal(msg.oldtuple.ncolumns, 8);
	free(buf);

	assert_int_equal(parse_hex(HEX_TRUNCATE, &outside_stream, &msg, &buf, errstr), 0);
	assert_int_equal(msg.kind, PGO_TRUNCATE);
	assert_int_equal(msg.nrelids, 1);
	EXPECT_U64("truncated relid", 0x4012, pgoutput_relid(&msg, 0));
	free(buf);
}

static void
test_messages(void **state)
{
	PgoMessage msg;
	char errstr[ERRSTR_SIZE];
	char *buf;

	assert_int_equal(parse_hex(HEX_MESSAGE, &outside_stream, &msg, &buf, errstr), 0);
	assert_int_equal(msg.kind, PGO_MESSAGE);
	assert_true(msg.transactional);
	EXPECT_U64("LSN", 0x153E3B8, msg.lsn);
	EXPECT_STR("prefix", "outbox_pg", msg.prefix);
	EXPECT_BYTES("content", "{\"x\":1}", 7, msg.content, msg.content_len);
	free(buf);

	assert_int_equal(parse_hex(HEX_MESSAGE_NONTX, &outside_stream, &msg, &buf, errstr), 0);
	assert_false(msg.transactional);
	EXPECT_STR("prefix", "nt", msg.prefix);
	EXPECT_BYTES("content", "hello", 5, msg.content, msg.content_len);
	free(buf);
}

/* Inside a stream, data messages start with their transaction id. */
static void
test_streaming(void **state)
{
	static const PgoContext in_stream = {true, false};
	static const PgoContext in_parallel_stream = {true, true};
	PgoMessage msg;
	char errstr[ERRSTR_SIZE];
	char *buf;

	assert_int_equal(parse_hex("53000002dc01", &outside_stream, &msg, &buf, errstr), 0);
	assert_int_equal(msg.kind, PGO_STREAM_START);
	EXPECT_U64("xid", 0x2DC, msg.xid);
	assert_true(msg.first_segment);
	free(buf);

	assert_int_equal(parse_hex("49000002dd000040124e0001740000000131",
							   &in_stream, &msg, &buf, errstr),
					 0);
	assert_true(msg.has_xid);
	EXPECT_U64("xid", 0x2DD, msg.xid);
	EXPECT_U64("relid", 0x4012, msg.relid);
	free(buf);

	/* The same bytes outside a stream are another message: refused. */
	assert_int_equal(parse_hex("49000002dd000040124e0001740000000131",
							   &outside_stream, &msg, &buf, errstr),
					 -1);
	free(buf);

	assert_int_equal(parse_hex("45", &in_stream, &msg, &buf, errstr), 0);
	assert_int_equal(msg.kind, PGO_STREAM_STOP);
	free(buf);

	assert_int_equal(parse_hex("41000002dc000002dd", &in_stream, &msg, &buf, errstr), 0);
	assert_int_equal(msg.kind, PGO_STREAM_ABORT);
	EXPECT_U64("subxid", 0x2DD, msg.subxid);
	free(buf);

	assert_int_equal(parse_hex("41000002dc000002dc"
							   "000000000157761800030471502c57f0",
							   &in_parallel_stream, &msg, &buf, errstr),
					 0);
	EXPECT_U64("abort LSN", 0x1577618, msg.lsn);
	free(buf);

	assert_int_equal(parse_hex("63000002dc00"
							   "00000000015775e8000000000157761800030471502c57f0",
							   &outside_stream, &msg, &buf, errstr),
					 0);
	assert_int_equal(msg.kind, PGO_STREAM_COMMIT);
	EXPECT_U64("xid", 0x2DC, msg.xid);
	EXPECT_U64("commit LSN", 0x15775E8, msg.lsn);
	EXPECT_U64("end LSN", 0x1577618, msg.end_lsn);
	free(buf);
}

static void
test_two_phase(void **state)
{
	PgoMessage msg;
	char errstr[ERRSTR_SIZE];
	char *buf;

	/* Begin Prepare: prepare LSN, end LSN, time, xid, gid "g1" */
	assert_int_equal(parse_hex("62000000000000001000000000000000200000000000000030"
							   "000002de673100",
							   &outside_stream, &msg, &buf, errstr),
					 0);
	assert_int_equal(msg.kind, PGO_BEGIN_PREPARE);
	EXPECT_U64("xid", 0x2DE, msg.xid);
	EXPECT_STR("gid", "g1", msg.prefix);
	free(buf);

	/* Rollback Prepared: flags, 2 LSNs, 2 times, xid, gid */
	assert_int_equal(parse_hex("7200000000000000001000000000000000200000000000000030"
							   "0000000000000040000002de673100",
							   &outside_stream, &msg, &buf, errstr),
					 0);
	assert_int_equal(msg.kind, PGO_ROLLBACK_PREPARED);
	EXPECT_U64("time", 0x40, (uint64_t) msg.time);
	EXPECT_STR("gid", "g1", msg.prefix);
	free(buf);
}

/*
 * Every proper prefix of every message is refused with an error, and so
 * is a message with a byte too many: never a read past the end (the ASan
 * and valgrind builds of this test check that) and never a misread.
 */
static void
test_truncated_and_overlong(void **state)
{
	static const char *messages[] = {
		HEX_RELATION, HEX_BEGIN, HEX_INSERT, HEX_MESSAGE, HEX_COMMIT,
		HEX_MESSAGE_NONTX, HEX_DELETE_KEY, HEX_UPDATE_OLD, HEX_UPDATE_NEW_ONLY,
		HEX_TRUNCATE};
	size_t m;

	for (m = 0; m < sizeof(messages) / sizeof(messages[0]); m++)
	{
		PgoMessage msg;
		char errstr[ERRSTR_SIZE];
		size_t len;
		char *full = from_hex(messages[m], &len);
		char *longer = malloc(len + 1);
		size_t cut;

		for (cut = 0; cut < len; cut++)
		{
			/* A copy of exactly cut bytes, so a read past it is caught. */
			char *prefix = malloc(cut > 0 ? cut : 1);

			memcpy(prefix, full, cut);
			errstr[0] = '\0';
			if (pgoutput_parse(prefix, cut, &outside_stream, &msg, errstr, sizeof(errstr)) != -1)
				fail_msg("message %zu cut to %zu of %zu bytes was accepted", m, cut, len);
			assert_true(errstr[0] != '\0');
			free(prefix);
		}
		memcpy(longer, full, len);
		longer[len] = 0;
		assert_int_equal(pgoutput_parse(longer, len + 1, &outside_stream, &msg, errstr,
										sizeof(errstr)),
						 -1);
		assert_non_null(strstr(errstr, "1 bytes left over"));
		free(longer);
		free(full);
	}
}

static void
test_errors_name_the_problem(void **state)
{
	static const struct
	{
		const char *hex;
		const char *error;
	} cases[] = {
		{"", "pgoutput empty message: no type byte"},
		{"5a", "unknown pgoutput message type 0x5a"},
		{"42000000", "pgoutput Begin message: truncated at its final LSN"},
		{"4d01000000000153e3b86f7574", "pgoutput Message message: its prefix does not end inside the message"},
		{"4d0100000000000000016100000000ff61", "pgoutput Message message: content of 255 bytes does not fit in the message"},
		{"4900004000580000", "pgoutput Insert message: expected tuple tag 'N', found 0x58"},
		{"49000040004e000178", "pgoutput Insert message: value 1 has unknown kind 0x78"},
		{"49000040004e000274000000ff", "pgoutput Insert message: value 1 of 255 bytes does not fit in the message"},
		{"49000040004e0002", "pgoutput Insert message: tuple truncated at value 1 of 2"},
		{"4400004000", "pgoutput Delete message: truncated at its old tuple"},
		{"54000000ff00", "pgoutput Truncate message: 255 relation ids do not fit in the message"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		PgoMessage msg;
		char errstr[ERRSTR_SIZE];
		char *buf;

		assert_int_equal(parse_hex(cases[i].hex, &outside_stream, &msg, &buf, errstr), -1);
		EXPECT_STR(cases[i].hex, cases[i].error, errstr);
		free(buf);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_begin_commit),
		cmocka_unit_test(test_relation),
		cmocka_unit_test(test_insert),
		cmocka_unit_test(test_update_delete_truncate),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_streaming),
		cmocka_unit_test(test_two_phase),
		cmocka_unit_test(test_truncated_and_overlong),
		cmocka_unit_test(test_errors_name_the_problem),
	};

	return cmocka_run_group_tests_name("pgoutput", tests, NULL, NULL);
}
