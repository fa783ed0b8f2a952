/* Unit tests: the preflight's verdicts (outbox-shipper check). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "preflight.h"
#include "unit.h"

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

/* A server where everything is right. */
static ServerFacts
good_server(void)
{
	ServerFacts s;

	memset(&s, 0, sizeof(s));
	strcpy(s.wal_level, "logical");
	s.max_slots = 10;
	s.used_slots = 1;
	s.max_senders = 10;
	s.used_senders = 0;
	s.plugin_libraries_state = LIBRARIES_SET;
	strcpy(s.plugin_libraries, "pgoutput, outbox_pg");
	strcpy(s.keep_size, "50GB");
	strcpy(s.extension_version, "0.1");
	strcpy(s.extension_available, "0.1");
	s.replication_role = true;
	strcpy(s.database, "app");
	strcpy(s.user, "shipper");
	return s;
}

static SlotFacts
good_slot(void)
{
	SlotFacts s;

	memset(&s, 0, sizeof(s));
	s.exists = true;
	strcpy(s.slot_type, "logical");
	strcpy(s.plugin, "outbox_pg");
	strcpy(s.database, "app");
	strcpy(s.wal_status, "reserved");
	return s;
}

static void
expect_item(const char *what, const PreflightItem *item, PreflightVerdict verdict,
			const char *detail, const char *fix_part)
{
	if (item->verdict != verdict)
		fail_msg("%s: want verdict %d, have %d (%s)", what, verdict, item->verdict, item->detail);
	EXPECT_STR(what, detail, item->detail);
	if (fix_part == NULL)
		EXPECT_STR(what, "", item->fix);
	else
		EXPECT_CONTAINS(what, fix_part, item->fix);
}

static void
test_wal_level(void **state)
{
	ServerFacts s = good_server();
	PreflightItem item;

	preflight_wal_level(&s, &item);
	expect_item("logical", &item, PREFLIGHT_PASS, "logical", NULL);
	strcpy(s.wal_level, "replica");
	preflight_wal_level(&s, &item);
	expect_item("replica", &item, PREFLIGHT_FAIL, "replica: logical decoding needs logical",
				"wal_level = logical");
	EXPECT_CONTAINS("restart", "restart PostgreSQL", item.fix);
	EXPECT_STR("name", "wal_level", item.what);
}

/* An existing slot needs no free one; a missing one does. */
static void
test_slots_headroom(void **state)
{
	static const struct
	{
		int used;
		int max;
		bool exists;
		PreflightVerdict verdict;
		const char *detail;
	} cases[] = {
		{1, 10, true, PREFLIGHT_PASS, "1 of 10 in use, the shipper's slot among them"},
		{10, 10, true, PREFLIGHT_PASS, "10 of 10 in use, the shipper's slot among them"},
		{9, 10, false, PREFLIGHT_PASS, "9 of 10 in use"},
		{10, 10, false, PREFLIGHT_FAIL, "10 of 10 in use: no room for the shipper's slot"},
		{0, 0, false, PREFLIGHT_FAIL, "0 of 0 in use: no room for the shipper's slot"},
	};
	size_t i;

	for (i = 0; i < NCASES(cases); i++)
	{
		ServerFacts s = good_server();
		SlotFacts slot = good_slot();
		PreflightItem item;

		s.used_slots = cases[i].used;
		s.max_slots = cases[i].max;
		slot.exists = cases[i].exists;
		preflight_slots(&s, &slot, &item);
		expect_item(cases[i].detail, &item, cases[i].verdict, cases[i].detail,
					cases[i].verdict == PREFLIGHT_FAIL ? "max_replication_slots" : NULL);
	}
}

static void
test_senders_headroom(void **state)
{
	ServerFacts s = good_server();
	PreflightItem item;

	s.used_senders = 9;
	preflight_senders(&s, &item);
	expect_item("one free", &item, PREFLIGHT_PASS, "9 of 10 in use", NULL);
	s.used_senders = 10;
	preflight_senders(&s, &item);
	expect_item("none free", &item, PREFLIGHT_FAIL,
				"10 of 10 in use: no room for the shipper's replication connection",
				"Raise max_wal_senders");
}

static void
test_list_has(void **state)
{
	static const struct
	{
		const char *list;
		bool has;
	} cases[] = {
		{"outbox_pg", true},
		{"pgoutput, outbox_pg", true},
		{"pgoutput,outbox_pg,test_decoding", true},
		{"  outbox_pg  ", true},
		{"\"outbox_pg\", pgoutput", true},
		{"OUTBOX_PG", true},
		{"\"OUTBOX_PG\"", false}, /* quoted: exact */
		{"pgoutput, test_decoding", false},
		{"outbox_pg2", false},
		{"xoutbox_pg", false},
		{"outbox", false},
		{"", false},
		{"\"outbox_pg", false},
	};
	size_t i;

	for (i = 0; i < NCASES(cases); i++)
		if (preflight_list_has(cases[i].list, "outbox_pg") != cases[i].has)
			fail_msg("list \"%s\": want %d", cases[i].list, cases[i].has);
}

/* Unknown to the build (upstream PostgreSQL): every plugin is allowed. */
static void
test_plugin_allowed(void **state)
{
	ServerFacts s = good_server();
	PreflightItem item;

	preflight_plugin_allowed(&s, &item);
	expect_item("listed", &item, PREFLIGHT_PASS, "'pgoutput, outbox_pg' allows outbox_pg", NULL);
	s.plugin_libraries_state = LIBRARIES_UNKNOWN;
	s.plugin_libraries[0] = '\0';
	preflight_plugin_allowed(&s, &item);
	expect_item("unrecognized", &item, PREFLIGHT_PASS,
				"not a setting of this server: every installed plugin may be used", NULL);
	/* A superuser setting: the plugin's own line answers for other roles. */
	s.plugin_libraries_state = LIBRARIES_UNREADABLE;
	preflight_plugin_allowed(&s, &item);
	expect_item("unreadable", &item, PREFLIGHT_SKIP,
				"not readable by role \"shipper\" (superusers and pg_read_all_settings only): the output plugin line below says whether it allows outbox_pg",
				NULL);
	s.plugin_libraries_state = LIBRARIES_SET;
	strcpy(s.plugin_libraries, "pgoutput, test_decoding");
	preflight_plugin_allowed(&s, &item);
	expect_item("not listed", &item, PREFLIGHT_FAIL,
				"'pgoutput, test_decoding' lacks outbox_pg: the server refuses the plugin to every role, superusers too",
				"output_plugin_libraries = 'pgoutput, test_decoding, outbox_pg'");
	s.plugin_libraries[0] = '\0';
	preflight_plugin_allowed(&s, &item);
	expect_item("empty", &item, PREFLIGHT_FAIL,
				"'' lacks outbox_pg: the server refuses the plugin to every role, superusers too",
				"output_plugin_libraries = 'outbox_pg'");
}

static void
test_extension(void **state)
{
	ServerFacts s = good_server();
	PreflightItem item;

	preflight_extension(&s, &item);
	expect_item("installed", &item, PREFLIGHT_PASS, "version 0.1 in database \"app\"", NULL);
	s.extension_version[0] = '\0';
	preflight_extension(&s, &item);
	expect_item("available", &item, PREFLIGHT_FAIL,
				"not created in database \"app\" (version 0.1 is available)",
				"CREATE EXTENSION outbox_pg;");
	s.extension_available[0] = '\0';
	preflight_extension(&s, &item);
	expect_item("no files", &item, PREFLIGHT_FAIL,
				"not created in database \"app\", and its files are not installed on the server",
				"Install the plugin and extension files");
}

static void
test_role(void **state)
{
	ServerFacts s = good_server();
	PreflightItem item;

	preflight_role(&s, &item);
	expect_item("replication", &item, PREFLIGHT_PASS, "role \"shipper\" has it", NULL);
	s.replication_role = false;
	s.superuser = true;
	preflight_role(&s, &item);
	expect_item("superuser", &item, PREFLIGHT_PASS, "role \"shipper\" has it (a superuser)", NULL);
	s.superuser = false;
	preflight_role(&s, &item);
	expect_item("neither", &item, PREFLIGHT_FAIL,
				"role \"shipper\" lacks it: the server refuses it a replication connection",
				"ALTER ROLE \"shipper\" REPLICATION;");
}

/* The server's refusals, as PostgreSQL 15 and 16+ word them. */
static void
test_replication_refusals(void **state)
{
	static const struct
	{
		const char *error;
		const char *fix_part;
	} cases[] = {
		{"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  pg_hba.conf rejects connection for host \"127.0.0.1\", user \"shipper\", database \"app\", no encryption",
		 "\"hostssl mydb shipper 10.0.0.0/8 scram-sha-256\""},
		{"FATAL:  no pg_hba.conf entry for host \"10.1.2.3\", user \"shipper\", database \"app\", SSL encryption",
		 "a \"replication\" line is for physical replication only"},
		{"FATAL:  must be superuser or replication role to start walsender", "ALTER ROLE \"shipper\" REPLICATION;"},
		{"FATAL:  permission denied to start WAL sender", "ALTER ROLE \"shipper\" REPLICATION;"},
		{"FATAL:  number of requested standby connections exceeds max_wal_senders (currently 1)",
		 "Raise max_wal_senders"},
		{"FATAL:  password authentication failed for user \"shipper\"", "Check the password"},
		{"no answer from db:5432 within 10 s", "must be up and reachable"},
		{"FATAL:  the database system is starting up", "the server's log says why"},
	};
	ServerFacts s = good_server();
	PreflightItem item;
	size_t i;

	preflight_replication(NULL, &s, &item);
	expect_item("accepted", &item, PREFLIGHT_PASS,
				"replication=database accepted for role \"shipper\"", NULL);
	for (i = 0; i < NCASES(cases); i++)
	{
		preflight_replication(cases[i].error, &s, &item);
		expect_item(cases[i].error, &item, PREFLIGHT_FAIL, cases[i].error, cases[i].fix_part);
	}
}

static void
test_plugin_loads(void **state)
{
	PreflightItem item;

	preflight_plugin_loads(NULL, false, &item);
	expect_item("loads", &item, PREFLIGHT_PASS,
				"loads: a temporary slot with it was created and dropped", NULL);
	preflight_plugin_loads("library \"outbox_pg\" may not be used as an output plugin", false, &item);
	expect_item("refused", &item, PREFLIGHT_FAIL,
				"library \"outbox_pg\" may not be used as an output plugin",
				"Add outbox_pg to output_plugin_libraries");
	preflight_plugin_loads("could not access file \"outbox_pg\": No such file or directory", false, &item);
	expect_item("missing", &item, PREFLIGHT_FAIL,
				"could not access file \"outbox_pg\": No such file or directory",
				"Install outbox_pg.so");
	/* A long transaction delays slot creation: not a failure of the plugin. */
	preflight_plugin_loads("no answer within 10 s", true, &item);
	expect_item("slow", &item, PREFLIGHT_WARN, "no answer within 10 s", "transactions running");
}

static void
test_slot(void **state)
{
	static const struct
	{
		const char *name;
		bool exists;
		const char *type;
		const char *plugin;
		const char *database;
		bool active;
		const char *wal_status;
		bool create;
		PreflightVerdict verdict;
		const char *detail;
		const char *fix_part;
	} cases[] = {
		{"good", true, "logical", "outbox_pg", "app", false, "reserved", false, PREFLIGHT_PASS,
		 "\"s\": outbox_pg, not in use, wal_status reserved", NULL},
		{"extended", true, "logical", "outbox_pg", "app", false, "extended", false, PREFLIGHT_PASS,
		 "\"s\": outbox_pg, not in use, wal_status extended", NULL},
		{"missing", false, "", "", "", false, "", false, PREFLIGHT_FAIL,
		 "\"s\" does not exist", "SELECT pg_create_logical_replication_slot('s', 'outbox_pg')"},
		{"missing, --create-slot", false, "", "", "", false, "", true, PREFLIGHT_WARN,
		 "\"s\" does not exist; --create-slot will create it at the first start",
		 "outbox.replay(since => ...)"},
		{"physical", true, "physical", "", "", false, "reserved", false, PREFLIGHT_FAIL,
		 "\"s\" is a physical slot, not a logical one", "--slot"},
		{"other plugin", true, "logical", "test_decoding", "app", false, "reserved", false,
		 PREFLIGHT_FAIL, "\"s\" uses plugin test_decoding, not outbox_pg", "--slot"},
		{"other database", true, "logical", "outbox_pg", "other", false, "reserved", false,
		 PREFLIGHT_FAIL,
		 "\"s\" belongs to database \"other\", not \"app\" (a slot decodes only its own database)",
		 "Point --dbname at database \"other\""},
		{"active", true, "logical", "outbox_pg", "app", true, "reserved", false, PREFLIGHT_FAIL,
		 "\"s\" is in use by PID 4242 (application_name \"outbox-shipper\"): the shipper would wait for it as a hot standby",
		 "pg_terminate_backend(4242)"},
		{"unreserved", true, "logical", "outbox_pg", "app", false, "unreserved", false,
		 PREFLIGHT_WARN, "\"s\": outbox_pg, not in use, wal_status unreserved",
		 "about to be invalidated"},
		{"lost", true, "logical", "outbox_pg", "app", false, "lost", false, PREFLIGHT_FAIL,
		 "\"s\" is invalidated (wal_status lost): the WAL its events need is gone",
		 "Drop and create the slot"},
	};
	ServerFacts s = good_server();
	size_t i;

	for (i = 0; i < NCASES(cases); i++)
	{
		SlotFacts slot;
		PreflightItem item;

		memset(&slot, 0, sizeof(slot));
		slot.exists = cases[i].exists;
		strcpy(slot.slot_type, cases[i].type);
		strcpy(slot.plugin, cases[i].plugin);
		strcpy(slot.database, cases[i].database);
		slot.active = cases[i].active;
		slot.active_pid = cases[i].active ? 4242 : 0;
		strcpy(slot.active_application, cases[i].active ? "outbox-shipper" : "");
		strcpy(slot.wal_status, cases[i].wal_status);
		preflight_slot("s", cases[i].create, &slot, &s, &item);
		expect_item(cases[i].name, &item, cases[i].verdict, cases[i].detail, cases[i].fix_part);
	}
}

/* -1 is a warning, not a failure: shipping works, with a risk. */
static void
test_keep_size(void **state)
{
	ServerFacts s = good_server();
	PreflightItem item;

	preflight_keep_size(&s, &item);
	expect_item("set", &item, PREFLIGHT_PASS,
				"50GB: past it the slot is invalidated rather than the disk filled", NULL);
	strcpy(s.keep_size, "-1");
	preflight_keep_size(&s, &item);
	expect_item("unset", &item, PREFLIGHT_WARN,
				"-1 (unlimited): while the shipper is stopped or Kafka down, the slot retains WAL until the disk is full, and a full disk stops the primary",
				"max_slot_wal_keep_size = '50GB'");
}

static void
test_kafka(void **state)
{
	PreflightItem item;

	preflight_kafka(1, NULL, &item);
	expect_item("one", &item, PREFLIGHT_PASS, "1 broker answered a metadata request", NULL);
	preflight_kafka(3, NULL, &item);
	expect_item("three", &item, PREFLIGHT_PASS, "3 brokers answered a metadata request", NULL);
	preflight_kafka(-1, "no metadata from k:9092 within 10 s (_TRANSPORT)", &item);
	expect_item("down", &item, PREFLIGHT_FAIL, "no metadata from k:9092 within 10 s (_TRANSPORT)",
				"--brokers");
}

static void
test_topic(void **state)
{
	static const struct
	{
		bool missing;
		const char *error;
		int partitions;
		int replicas;
		int in_sync;
		int min_insync;
		PreflightVerdict verdict;
		const char *detail;
		const char *fix_part;
	} cases[] = {
		{false, "", 3, 3, 3, 2, PREFLIGHT_PASS, "3 partitions, 3 replicas, min.insync.replicas 2", NULL},
		{false, "", 1, 1, 1, 1, PREFLIGHT_PASS, "1 partition, 1 replica, min.insync.replicas 1", NULL},
		{false, "", 6, 3, 3, 0, PREFLIGHT_PASS,
		 "6 partitions, 3 replicas (min.insync.replicas not readable)", NULL},
		{true, "", 0, 0, 0, 0, PREFLIGHT_FAIL, "does not exist", "kafka-topics.sh --create --topic t"},
		{false, "TOPIC_AUTHORIZATION_FAILED: Broker: Topic authorization failed", 0, 0, 0, 0,
		 PREFLIGHT_FAIL, "TOPIC_AUTHORIZATION_FAILED: Broker: Topic authorization failed", "DESCRIBE"},
		{false, "", 3, 1, 1, 2, PREFLIGHT_FAIL,
		 "min.insync.replicas 2 is more than its 1 replica: every acks=all write is refused (NOT_ENOUGH_REPLICAS) and retried for ever",
		 "--add-config min.insync.replicas=1"},
		{false, "", 3, 3, 1, 2, PREFLIGHT_FAIL,
		 "a partition has 1 in-sync replica, fewer than min.insync.replicas 2: writes to it wait",
		 "under-min-isr-partitions"},
	};
	size_t i;

	for (i = 0; i < NCASES(cases); i++)
	{
		TopicFacts t;
		PreflightItem item;

		memset(&t, 0, sizeof(t));
		strcpy(t.name, "t");
		t.missing = cases[i].missing;
		strcpy(t.error, cases[i].error);
		t.partitions = cases[i].partitions;
		t.replicas = cases[i].replicas;
		t.in_sync = cases[i].in_sync;
		t.min_insync = cases[i].min_insync;
		preflight_topic(&t, &item);
		expect_item(cases[i].detail, &item, cases[i].verdict, cases[i].detail, cases[i].fix_part);
		EXPECT_STR("name", "topic t", item.what);
	}
}

static void
test_produce(void **state)
{
	PreflightItem item;

	preflight_produce("t", NULL, NULL, &item);
	expect_item("acked", &item, PREFLIGHT_PASS,
				"a test record was acknowledged (acks as configured)", NULL);
	EXPECT_STR("name", "produce to t", item.what);
	preflight_produce("t", "TOPIC_AUTHORIZATION_FAILED", "Broker: Topic authorization failed", &item);
	expect_item("denied", &item, PREFLIGHT_FAIL,
				"TOPIC_AUTHORIZATION_FAILED: Broker: Topic authorization failed",
				"--operation Write --topic t");
	preflight_produce("t", "UNKNOWN_TOPIC_OR_PART", "Broker: Unknown topic or partition", &item);
	expect_item("missing", &item, PREFLIGHT_FAIL,
				"UNKNOWN_TOPIC_OR_PART: Broker: Unknown topic or partition", "Create the topic");
}

static void
test_topics_named(void **state)
{
	char topic[TOPIC_NAME_MAX + 1];
	PreflightItem item;

	assert_true(preflight_fixed_topic("orders", topic));
	assert_string_equal(topic, "orders");
	assert_false(preflight_fixed_topic("outbox.event.{aggregate_type}", topic));
	assert_false(preflight_fixed_topic("bad/name", topic));
	preflight_topics_unknown("outbox.event.{aggregate_type}", &item);
	expect_item("template", &item, PREFLIGHT_WARN,
				"not checked: the template \"outbox.event.{aggregate_type}\" names a topic per event",
				"--topic NAME");
}

static void
test_utf8(void **state)
{
	assert_true(preflight_utf8("UTF-8"));
	assert_true(preflight_utf8("utf8"));
	assert_false(preflight_utf8("ANSI_X3.4-1968"));
	assert_false(preflight_utf8("ISO-8859-1"));
	assert_false(preflight_utf8(NULL));
}

/* The exact lines: marks, the fix indented below. */
static void
test_format(void **state)
{
	PreflightItem item;
	char out[2048];

	memset(&item, 0, sizeof(item));
	item.verdict = PREFLIGHT_FAIL;
	strcpy(item.what, "wal_level");
	strcpy(item.detail, "replica");
	strcpy(item.fix, "Set it.");
	preflight_format(&item, false, out, sizeof(out));
	assert_string_equal(out, "✗ wal_level: replica\n    fix: Set it.\n");
	preflight_format(&item, true, out, sizeof(out));
	assert_string_equal(out, "[FAIL] wal_level: replica\n    fix: Set it.\n");
	item.verdict = PREFLIGHT_PASS;
	item.fix[0] = '\0';
	preflight_format(&item, false, out, sizeof(out));
	assert_string_equal(out, "✓ wal_level: replica\n");
	preflight_format(&item, true, out, sizeof(out));
	assert_string_equal(out, "[ok]   wal_level: replica\n");
	item.verdict = PREFLIGHT_WARN;
	preflight_format(&item, false, out, sizeof(out));
	assert_string_equal(out, "⚠ wal_level: replica\n");
	preflight_format(&item, true, out, sizeof(out));
	assert_string_equal(out, "[warn] wal_level: replica\n");
	preflight_skip("slot", "no connection to PostgreSQL", &item);
	preflight_format(&item, true, out, sizeof(out));
	assert_string_equal(out, "[skip] slot: not checked: no connection to PostgreSQL\n");
}

/* Warnings and skips leave the exit status 0; one failure makes it 2. */
static void
test_exit_status(void **state)
{
	PreflightItem items[3];

	memset(items, 0, sizeof(items));
	items[0].verdict = PREFLIGHT_PASS;
	items[1].verdict = PREFLIGHT_WARN;
	items[2].verdict = PREFLIGHT_SKIP;
	assert_int_equal(preflight_exit_status(items, 3), 0);
	assert_int_equal(preflight_exit_status(items, 0), 0);
	items[2].verdict = PREFLIGHT_FAIL;
	assert_int_equal(preflight_exit_status(items, 3), 2);
}

/* A server's message with newlines stays one line. */
static void
test_one_line(void **state)
{
	PreflightItem item;

	preflight_connection("FATAL:  database \"x\" does not exist\nDETAIL: more", "", "shipper", &item);
	expect_item("newline", &item, PREFLIGHT_FAIL, "FATAL:  database \"x\" does not exist", "--dbname");
	preflight_connection("FATAL:  pg_hba.conf rejects connection for host \"[local]\", user \"shipper\", database \"app\", no encryption",
						 "", "shipper", &item);
	EXPECT_CONTAINS("pg_hba", "Let role \"shipper\" connect to the database in pg_hba.conf", item.fix);
	preflight_connection(NULL, "db:5432, database \"app\" as \"shipper\", PostgreSQL 15", "shipper", &item);
	expect_item("connected", &item, PREFLIGHT_PASS,
				"db:5432, database \"app\" as \"shipper\", PostgreSQL 15", NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wal_level),
		cmocka_unit_test(test_slots_headroom),
		cmocka_unit_test(test_senders_headroom),
		cmocka_unit_test(test_list_has),
		cmocka_unit_test(test_plugin_allowed),
		cmocka_unit_test(test_extension),
		cmocka_unit_test(test_role),
		cmocka_unit_test(test_replication_refusals),
		cmocka_unit_test(test_plugin_loads),
		cmocka_unit_test(test_slot),
		cmocka_unit_test(test_keep_size),
		cmocka_unit_test(test_kafka),
		cmocka_unit_test(test_topic),
		cmocka_unit_test(test_produce),
		cmocka_unit_test(test_topics_named),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_one_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
