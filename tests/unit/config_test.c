/* Unit tests: flags and environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "unit.h"

#define ARGC(a) ((int) (sizeof(a) / sizeof((a)[0])))

static void
test_defaults(void **state)
{
	char *argv[] = {"outbox-shipper", "-b", "k:9092"};
	char *envp[] = {NULL};
	ShipperConfig c;
	char err[256];

	assert_int_equal(config_parse(ARGC(argv), argv, envp, &c, err, sizeof(err)), 0);
	assert_string_equal(c.slot, "outbox_pg");
	/* Creating a slot loses what came before it: opt-in only. */
	assert_false(c.create_slot);
	assert_string_equal(c.topic_template, "outbox.event.{aggregate_type}");
	assert_int_equal(c.value_mode, VALUE_PAYLOAD);
	assert_int_equal(c.max_inflight_events, 10000);
	assert_int_equal(c.max_inflight_bytes, 8L * 1024 * 1024);
	assert_true(c.status_interval == 10);
	assert_true(c.drain_timeout == 30);
	assert_int_equal(c.on_permanent_error, ON_ERROR_STOP);
	assert_string_equal(c.brokers, "k:9092");
	config_free(&c);
}

static void
test_flags(void **state)
{
	char *argv[] = {"outbox-shipper", "--dbname=host=db user=s", "-S", "s1", "--no-create-slot",
					"-o", "include-xid=false", "--option=include-timestamp=0", "-t", "{event_type}",
					"--value", "envelope", "-X", "linger.ms=20", "-Xacks=1", "--max-inflight-events=10",
					"--max-inflight-bytes", "1000", "--status-interval=0.5", "--drain-timeout", "3",
					"--on-permanent-error=dead-letter", "--dead-letter-topic", "dlq", "--log-format=json", "-v"};
	char *envp[] = {"OUTBOX_BROKERS=b:1", NULL};
	ShipperConfig c;
	char err[256];

	assert_int_equal(config_parse(ARGC(argv), argv, envp, &c, err, sizeof(err)), 0);
	assert_string_equal(c.conninfo, "host=db user=s");
	assert_string_equal(c.slot, "s1");
	assert_false(c.create_slot);
	assert_int_equal(c.nplugin_options, 2);
	assert_string_equal(c.plugin_options[0].name, "include-xid");
	assert_string_equal(c.plugin_options[0].value, "false");
	assert_string_equal(c.plugin_options[1].name, "include-timestamp");
	assert_string_equal(c.topic_template, "{event_type}");
	assert_int_equal(c.value_mode, VALUE_ENVELOPE);
	assert_int_equal(c.nkafka, 2);
	assert_string_equal(c.kafka[0].name, "linger.ms");
	assert_string_equal(c.kafka[0].value, "20");
	assert_string_equal(c.kafka[1].name, "acks");
	assert_int_equal(c.max_inflight_events, 10);
	assert_int_equal(c.max_inflight_bytes, 1000);
	assert_true(c.status_interval == 0.5);
	assert_true(c.drain_timeout == 3);
	assert_int_equal(c.on_permanent_error, ON_ERROR_DEAD_LETTER);
	assert_string_equal(c.dead_letter_topic, "dlq");
	assert_int_equal(c.log_format, LOG_FORMAT_JSON);
	assert_true(c.verbose);
	config_free(&c);
}

/* Every flag has a variable; flags win; OUTBOX_KAFKA_* are properties. */
static void
test_environment(void **state)
{
	char *argv[] = {"outbox-shipper", "--slot", "from-flag"};
	char *envp[] = {"OUTBOX_DBNAME=host=env", "OUTBOX_SLOT=from-env", "OUTBOX_BROKERS=b:1",
					"OUTBOX_PLUGIN_OPTIONS=a=1,b=2", "OUTBOX_KAFKA_SASL_PASSWORD=s3cret",
					"OUTBOX_KAFKA_SECURITY_PROTOCOL=SASL_SSL", "OUTBOX_MAX_INFLIGHT_EVENTS=7",
					"OUTBOX_VALUE=envelope", "UNRELATED=1", NULL};
	ShipperConfig c;
	char err[256];

	assert_int_equal(config_parse(ARGC(argv), argv, envp, &c, err, sizeof(err)), 0);
	assert_string_equal(c.conninfo, "host=env");
	assert_string_equal(c.slot, "from-flag");
	assert_int_equal(c.nplugin_options, 2);
	assert_string_equal(c.plugin_options[1].name, "b");
	assert_int_equal(c.nkafka, 2);
	assert_string_equal(c.kafka[0].name, "sasl.password");
	assert_string_equal(c.kafka[0].value, "s3cret");
	assert_string_equal(c.kafka[1].name, "security.protocol");
	assert_int_equal(c.max_inflight_events, 7);
	assert_int_equal(c.value_mode, VALUE_ENVELOPE);
	config_free(&c);
}

static void
test_errors(void **state)
{
	static const struct
	{
		const char *args[5];
		const char *error;
	} cases[] = {
		{{"--bogus"}, "unknown argument \"--bogus\""},
		{{"-b"}, "needs a value"},
		{{"-b", "k", "--verbose=1"}, "takes no value"},
		{{"-b", "k", "--value=both"}, "must be payload or envelope"},
		{{"-b", "k", "--max-inflight-events=0"}, "--max-inflight-events must be a positive whole number, not \"0\""},
		{{"-b", "k", "--max-inflight-events=-5"}, "must be a positive whole number"},
		{{"-b", "k", "--max-inflight-events=10kB"}, "must be a positive whole number, not \"10kB\""},
		{{"-b", "k", "--max-inflight-bytes=12XB"}, "(optionally with kB, MB or GB), not \"12XB\""},
		{{"-b", "k", "--max-inflight-bytes=99999999999GB"}, "--max-inflight-bytes is too large"},
		{{"-b", "k", "--drain-timeout=0"}, "--drain-timeout must be a number of seconds above 0"},
		{{"-b", "k", "--status-interval=1e9"}, "at most 86400"},
		{{"-b", "k", "--create-slot=yes"}, "--create-slot takes no value"},
		{{"-b", "k", "-o", "include-lsn=false"}, "--option: the shipper needs include-lsn"},
		{{"-b", "k", "-o", "=x"}, "--option: \"=x\" is not NAME=VALUE"},
		{{"-b", "k", "--dead-letter-topic", "dl q"}, "--dead-letter-topic: topic name \"dl q\" has a character Kafka does not allow"},
		{{"-b", "k", "-t", "a b.{event_type}"}, "topic template \"a b.{event_type}\" cannot give a valid name"},
		{{"-b", "k", "-t", ""}, "the topic template is empty"},
		{{"-b", "k", "-S", ""}, "the slot name is empty"},
		{{"-b", "k", "--log-format=xml"}, "--log-format must be text or json, not \"xml\""},
		{{"-b", "k", "--max-inflight-events=1.5"}, "whole number"},
		{{"-b", "k", "--status-interval=soon"}, "--status-interval must be a number of seconds above 0"},
		{{"-b", "k", "-X", "nonsense"}, "-X: \"nonsense\" is not NAME=VALUE"},
		{{"-b", "k", "--on-permanent-error=dead-letter"}, "needs --dead-letter-topic"},
		{{"-b", "k", "--on-permanent-error=retry"}, "must be stop or dead-letter"},
		{{"-b", "k", "-t", "x.{aggregateType}"}, "unknown placeholder"},
		{{"-d", "x"}, "no Kafka brokers"},
		{{"-b", "k", "-X", "enable.idempotence=false"}, "-X: enable.idempotence=false lets retries reorder the events of an aggregate"},
		{{"-b", "k", "-X", "enable.idempotence=FALSE"}, "enable.idempotence=FALSE lets retries reorder"},
		{{"-b", "k", "-X", "enable.idempotence=0"}, "enable.idempotence=0 lets retries reorder"},
		{{"-b", "k", "--format=json"}, "--format must be plain, cloudevents or cloudevents-structured, not \"json\""},
		{{"-b", "k", "--format=CloudEvents"}, "--format must be plain, cloudevents or cloudevents-structured"},
		{{"-b", "k", "--cloudevents-source=/x"}, "--cloudevents-source (OUTBOX_CLOUDEVENTS_SOURCE) needs --format=cloudevents"},
		{{"-b", "k", "--format=cloudevents", "--cloudevents-source="}, "--cloudevents-source must be a non-empty URI-reference"},
		{{"-b", "k", "--format=cloudevents", "--cloudevents-source=/a b"}, "not \"/a b\""},
		{{"-b", "k", "--format=cloudevents-structured", "--cloudevents-source=x:y#a#b"}, "must be a non-empty URI-reference"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char *argv[6] = {"outbox-shipper"};
		char *envp[] = {NULL};
		int argc = 1;
		ShipperConfig c;
		char err[256] = "";

		while (argc < 6 && cases[i].args[argc - 1])
		{
			argv[argc] = (char *) cases[i].args[argc - 1];
			argc++;
		}
		if (config_parse(argc, argv, envp, &c, err, sizeof(err)) == 0)
		{
			config_free(&c);
			fail_msg("case %zu: parsed, but should fail with \"%s\"", i, cases[i].error);
		}
		if (strstr(err, cases[i].error) == NULL)
			fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err, cases[i].error);
	}
}

/* Environment errors name the variable; values are checked like flags. */
static void
test_environment_errors(void **state)
{
	static const struct
	{
		const char *env;
		const char *error;
	} cases[] = {
		{"OUTBOX_MAX_INFLIGHT_EVENTS=many", "OUTBOX_MAX_INFLIGHT_EVENTS must be a positive whole number, not \"many\""},
		{"OUTBOX_CREATE_SLOT=perhaps", "OUTBOX_CREATE_SLOT must be true or false, not \"perhaps\""},
		{"OUTBOX_VALUE=both", "OUTBOX_VALUE must be payload or envelope"},
		{"OUTBOX_PLUGIN_OPTIONS=a=1,bad", "OUTBOX_PLUGIN_OPTIONS: \"bad\" is not NAME=VALUE"},
		{"OUTBOX_KAFKA_=x", "environment variable OUTBOX_KAFKA_ names no Kafka property"},
		{"OUTBOX_ON_PERMANENT_ERROR=dead-letter", "needs --dead-letter-topic"},
		{"OUTBOX_FORMAT=binary", "OUTBOX_FORMAT must be plain, cloudevents or cloudevents-structured, not \"binary\""},
		{"OUTBOX_CLOUDEVENTS_SOURCE=/x", "--cloudevents-source (OUTBOX_CLOUDEVENTS_SOURCE) needs --format=cloudevents"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char *argv[] = {"outbox-shipper", "-b", "k"};
		char *envp[] = {(char *) cases[i].env, NULL};
		ShipperConfig c;
		char err[256] = "";

		assert_int_equal(config_parse(ARGC(argv), argv, envp, &c, err, sizeof(err)), -1);
		if (strstr(err, cases[i].error) == NULL)
			fail_msg("case %s: \"%s\" does not contain \"%s\"", cases[i].env, err, cases[i].error);
	}
}

/* Sizes with units, booleans from the environment, and where each
 * librdkafka property came from (for its error messages). */
static void
test_units_booleans_origins(void **state)
{
	char *argv[] = {"outbox-shipper", "--max-inflight-bytes=64MB", "-X", "acks=1",
					"--kafka-property", "linger.ms=1", "--verbose"};
	char *envp[] = {"OUTBOX_CREATE_SLOT=true", "OUTBOX_VERBOSE=no",
					"OUTBOX_KAFKA_METADATA_BROKER_LIST=m:1", "OUTBOX_KAFKA_SSL_KEY_PASSWORD=x", NULL};
	ShipperConfig c;
	char err[256];

	assert_int_equal(config_parse(ARGC(argv), argv, envp, &c, err, sizeof(err)), 0);
	assert_true(c.max_inflight_bytes == 64LL * 1024 * 1024);
	assert_true(c.create_slot);
	assert_true(c.verbose); /* the flag wins over OUTBOX_VERBOSE=no */
	assert_int_equal(c.nkafka, 4);
	assert_string_equal(c.kafka[0].name, "metadata.broker.list");
	assert_string_equal(c.kafka[0].origin, "OUTBOX_KAFKA_METADATA_BROKER_LIST");
	assert_string_equal(c.kafka[1].name, "ssl.key.password");
	assert_string_equal(c.kafka[1].origin, "OUTBOX_KAFKA_SSL_KEY_PASSWORD");
	assert_string_equal(c.kafka[2].name, "acks");
	assert_string_equal(c.kafka[2].origin, "-X");
	assert_string_equal(c.kafka[3].name, "linger.ms");
	assert_null(c.brokers); /* metadata.broker.list is enough */
	config_free(&c);

	{
		char *argv2[] = {"outbox-shipper", "-b", "k", "--max-inflight-bytes", "512k", "-o",
						 "include-lsn=true"};
		char *envp2[] = {NULL};

		assert_int_equal(config_parse(ARGC(argv2), argv2, envp2, &c, err, sizeof(err)), 0);
		assert_true(c.max_inflight_bytes == 512 * 1024);
		config_free(&c);
	}
}

/*
 * config_parse of "outbox-shipper -b k" and up to nargs more arguments (a
 * NULL ends them early), with env as the only variable (or none).
 */
static int
parse_case(const char *const *args, int nargs, const char *env,
		   ShipperConfig *c, char *err, size_t err_size)
{
	char *argv[8] = {"outbox-shipper", "-b", "k"};
	char *envp[2] = {(char *) env, NULL};
	int argc = 3;
	int a;

	for (a = 0; a < nargs && a < 5 && args[a]; a++)
		argv[argc++] = (char *) args[a];
	return config_parse(argc, argv, envp, c, err, err_size);
}

/* Slot creation: opt-in by flag or variable; the last word wins. */
static void
test_create_slot(void **state)
{
	static const struct
	{
		const char *args[3];
		const char *env;
		bool want;
	} cases[] = {
		{{"--create-slot"}, NULL, true},
		{{NULL}, "OUTBOX_CREATE_SLOT=true", true},
		{{"--no-create-slot"}, "OUTBOX_CREATE_SLOT=true", false},
		{{"--create-slot", "--no-create-slot"}, NULL, false},
		{{"--no-create-slot", "--create-slot"}, NULL, true},
		{{"--create-slot"}, "OUTBOX_CREATE_SLOT=false", true},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		ShipperConfig c;
		char err[256];

		assert_int_equal(parse_case(cases[i].args, 3, cases[i].env, &c, err, sizeof(err)), 0);
		assert_int_equal(c.create_slot, cases[i].want);
		config_free(&c);
	}
}

/* Failover slots: on where supported unless a flag or the variable says. */
static void
test_failover(void **state)
{
	static const struct
	{
		const char *args[2];
		const char *env;
		FailoverMode want;
		const char *error;
	} cases[] = {
		{{NULL}, NULL, FAILOVER_AUTO, NULL},
		{{"--failover"}, NULL, FAILOVER_ON, NULL},
		{{"--no-failover"}, NULL, FAILOVER_OFF, NULL},
		{{NULL}, "OUTBOX_FAILOVER=false", FAILOVER_OFF, NULL},
		{{NULL}, "OUTBOX_FAILOVER=on", FAILOVER_ON, NULL},
		{{"--failover"}, "OUTBOX_FAILOVER=false", FAILOVER_ON, NULL},
		{{"--failover", "--no-failover"}, NULL, FAILOVER_OFF, NULL},
		{{"--no-failover"}, "OUTBOX_FAILOVER=AUTO", FAILOVER_OFF, NULL},
		{{NULL}, "OUTBOX_FAILOVER=auto", FAILOVER_AUTO, NULL},
		{{NULL}, "OUTBOX_FAILOVER=sometimes", FAILOVER_AUTO, "OUTBOX_FAILOVER must be true, false or auto, not \"sometimes\""},
		{{"--failover=yes"}, NULL, FAILOVER_AUTO, "--failover takes no value"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		ShipperConfig c;
		char err[256];

		if (cases[i].error)
		{
			assert_int_equal(parse_case(cases[i].args, 2, cases[i].env, &c, err, sizeof(err)), -1);
			assert_string_equal(err, cases[i].error);
			continue;
		}
		assert_int_equal(parse_case(cases[i].args, 2, cases[i].env, &c, err, sizeof(err)), 0);
		assert_int_equal(c.failover, cases[i].want);
		config_free(&c);
	}
}

static void
test_secrets(void **state)
{
	assert_true(config_is_secret("sasl.password"));
	assert_true(config_is_secret("ssl.key.password"));
	assert_true(config_is_secret("sasl.oauthbearer.client.secret"));
	assert_false(config_is_secret("bootstrap.servers"));
	assert_false(config_is_secret("linger.ms"));
	assert_true(config_is_secret("SASL.PASSWORD"));
	assert_true(config_is_secret("sasl.oauthbearer.token.endpoint.url"));
}

/*
 * However long the name: a 300-character name ending in "password" once
 * passed as not secret (only its first 255 characters were looked at), so
 * main.c's debug log showed its value.  Found by tests/fuzz/config_fuzz.c.
 */
static void
test_secret_long_name(void **state)
{
	char name[301];

	memset(name, 'a', sizeof(name) - 1);
	strcpy(name + sizeof(name) - 1 - strlen("password"), "PassWord");
	assert_int_equal(strlen(name), 300);
	assert_true(config_is_secret(name));
	name[sizeof(name) - 2] = 'x';
	assert_false(config_is_secret(name));
}

/*
 * enable.idempotence=false is refused unless one request in flight per
 * broker keeps the order; the last setting of each property counts, from
 * flags or the environment.
 */
static void
test_ordering(void **state)
{
	static const struct
	{
		const char *args[7];
		const char *env;
		const char *error; /* NULL: accepted */
	} cases[] = {
		{{"-X", "enable.idempotence=false", "-X", "max.in.flight.requests.per.connection=1"}, NULL, NULL},
		{{"-X", "max.in.flight=1", "-X", "enable.idempotence=f"}, NULL, NULL},
		{{"-X", "enable.idempotence=false", "-X", "enable.idempotence=true"}, NULL, NULL},
		{{"-X", "enable.idempotence=true"}, NULL, NULL},
		{{"-X", "max.in.flight.requests.per.connection=5"}, NULL, NULL},
		{{"-X", "enable.idempotence=true", "-X", "enable.idempotence=false"}, NULL, "-X: enable.idempotence=false lets retries reorder"},
		{{"-X", "enable.idempotence=false", "-X", "max.in.flight=1", "-X", "max.in.flight.requests.per.connection=5"}, NULL, "enable.idempotence=false"},
		{{"-X", "enable.idempotence=false", "-X", "max.in.flight.requests.per.connection=2"}, NULL, "also set max.in.flight.requests.per.connection=1 (one request in flight per broker keeps the order)"},
		{{NULL}, "OUTBOX_KAFKA_ENABLE_IDEMPOTENCE=false", "OUTBOX_KAFKA_ENABLE_IDEMPOTENCE: enable.idempotence=false lets retries reorder"},
		{{"-X", "max.in.flight.requests.per.connection=1"}, "OUTBOX_KAFKA_ENABLE_IDEMPOTENCE=0", NULL},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char *argv[10] = {"outbox-shipper", "-b", "k"};
		char *envp[] = {(char *) cases[i].env, NULL};
		int argc = 3;
		ShipperConfig c;
		char err[512] = "";
		int rc;

		while (cases[i].args[argc - 3])
		{
			argv[argc] = (char *) cases[i].args[argc - 3];
			argc++;
		}
		rc = config_parse(argc, argv, envp, &c, err, sizeof(err));
		if (cases[i].error == NULL)
		{
			if (rc != 0)
				fail_msg("case %zu: want it accepted, have \"%s\"", i, err);
			config_free(&c);
			continue;
		}
		if (rc == 0)
		{
			config_free(&c);
			fail_msg("case %zu: accepted, want \"%s\"", i, cases[i].error);
		}
		if (strstr(err, cases[i].error) == NULL)
			fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err, cases[i].error);
	}
}

static void
test_help_needs_nothing(void **state)
{
	char *argv[] = {"outbox-shipper", "--help"};
	char *envp[] = {NULL};
	ShipperConfig c;
	char err[256];

	assert_int_equal(config_parse(ARGC(argv), argv, envp, &c, err, sizeof(err)), 0);
	assert_true(c.show_help);
	assert_non_null(strstr(config_usage(), "--on-permanent-error"));
	config_free(&c);
}

/*
 * Kafka properties from files: OUTBOX_KAFKA_<NAME>_FILE and
 * --kafka-property-file keep the path, marked, in order with the others;
 * the file is read later (kafka.c), so parsing does no I/O.
 */
static void
test_kafka_property_files(void **state)
{
	char *argv[] = {"outbox-shipper", "-b", "k:1", "-X", "sasl.username=u",
					"--kafka-property-file", "ssl.key.pem=/s/key.pem",
					"--kafka-property-file=sasl.password=/s/later"};
	char *envp[] = {"OUTBOX_KAFKA_SASL_PASSWORD_FILE=/var/run/secrets/kafka/password",
					"OUTBOX_KAFKA_SASL_MECHANISM=SCRAM-SHA-512", NULL};
	static const struct
	{
		const char *name;
		const char *value;
		const char *origin;
		bool from_file;
	} want[] = {
		{"sasl.password", "/var/run/secrets/kafka/password", "OUTBOX_KAFKA_SASL_PASSWORD_FILE", true},
		{"sasl.mechanism", "SCRAM-SHA-512", "OUTBOX_KAFKA_SASL_MECHANISM", false},
		{"sasl.username", "u", "-X", false},
		{"ssl.key.pem", "/s/key.pem", "--kafka-property-file", true},
		{"sasl.password", "/s/later", "--kafka-property-file", true},
	};
	ShipperConfig c;
	char err[256];
	size_t i;

	assert_int_equal(config_parse(ARGC(argv), argv, envp, &c, err, sizeof(err)), 0);
	assert_int_equal(c.nkafka, (int) (sizeof(want) / sizeof(want[0])));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
	{
		EXPECT_STR("name", want[i].name, c.kafka[i].name);
		EXPECT_STR("value", want[i].value, c.kafka[i].value);
		EXPECT_STR("origin", want[i].origin, c.kafka[i].origin);
		if (c.kafka[i].from_file != want[i].from_file)
			fail_msg("case %zu (%s): from_file is %d", i, want[i].name, c.kafka[i].from_file);
	}
	config_free(&c);
}

/* What names no property or no file is refused, naming the origin. */
static void
test_kafka_property_file_errors(void **state)
{
	static const struct
	{
		const char *arg;
		const char *env;
		const char *error;
	} cases[] = {
		{NULL, "OUTBOX_KAFKA__FILE=/x", "environment variable OUTBOX_KAFKA__FILE names no Kafka property"},
		{NULL, "OUTBOX_KAFKA_SASL_PASSWORD_FILE=",
		 "OUTBOX_KAFKA_SASL_PASSWORD_FILE: Kafka property sasl.password: the file's path is empty"},
		{"--kafka-property-file=sasl.password=",
		 NULL, "--kafka-property-file: Kafka property sasl.password: the file's path is empty"},
		{"--kafka-property-file=/only/a/path", NULL, "--kafka-property-file: \"/only/a/path\" is not NAME=VALUE"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char *argv[] = {"outbox-shipper", "-b", "k:1", (char *) cases[i].arg};
		char *envp[] = {(char *) cases[i].env, NULL};
		ShipperConfig c;
		char err[256];

		assert_int_equal(config_parse(cases[i].arg ? 4 : 3, argv, envp, &c, err, sizeof(err)), -1);
		if (strstr(err, cases[i].error) == NULL)
			fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err, cases[i].error);
	}
}

/* The variable without _FILE stays a value, even if it looks like a path. */
static void
test_kafka_value_not_file(void **state)
{
	char *argv[] = {"outbox-shipper", "-b", "k:1"};
	char *envp[] = {"OUTBOX_KAFKA_SSL_CA_LOCATION=/etc/ca.crt", "OUTBOX_KAFKA_FILE=x", NULL};
	ShipperConfig c;
	char err[256];

	assert_int_equal(config_parse(ARGC(argv), argv, envp, &c, err, sizeof(err)), 0);
	assert_int_equal(c.nkafka, 2);
	EXPECT_STR("name", "ssl.ca.location", c.kafka[0].name);
	assert_false(c.kafka[0].from_file);
	/* "_FILE" alone is a property named "file" (librdkafka will refuse it). */
	EXPECT_STR("name", "file", c.kafka[1].name);
	assert_false(c.kafka[1].from_file);
	config_free(&c);
}

/* --format and --cloudevents-source, from flags and the environment. */
static void
test_cloudevents(void **state)
{
	char *argv[] = {"outbox-shipper", "-b", "k", "--format=cloudevents-structured"};
	char *envp[] = {"OUTBOX_FORMAT=cloudevents", "OUTBOX_CLOUDEVENTS_SOURCE=https://example.com/orders?db=1", NULL};
	char *plain[] = {"outbox-shipper", "-b", "k", "--format", "plain"};
	char *no_env[] = {NULL};
	ShipperConfig c;
	char err[256];

	assert_int_equal(config_parse(ARGC(argv), argv, envp, &c, err, sizeof(err)), 0);
	assert_int_equal(c.format, FORMAT_CLOUDEVENTS_STRUCTURED);
	assert_string_equal(c.cloudevents_source, "https://example.com/orders?db=1");
	config_free(&c);
	assert_int_equal(config_parse(3, argv, envp, &c, err, sizeof(err)), 0);
	assert_int_equal(c.format, FORMAT_CLOUDEVENTS);
	config_free(&c);
	assert_int_equal(config_parse(3, argv, no_env, &c, err, sizeof(err)), 0);
	assert_int_equal(c.format, FORMAT_PLAIN);
	assert_null(c.cloudevents_source);
	config_free(&c);
	assert_int_equal(config_parse(ARGC(plain), plain, no_env, &c, err, sizeof(err)), 0);
	assert_int_equal(c.format, FORMAT_PLAIN);
	config_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_environment_errors),
		cmocka_unit_test(test_units_booleans_origins),
		cmocka_unit_test(test_create_slot),
		cmocka_unit_test(test_failover),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_secret_long_name),
		cmocka_unit_test(test_help_needs_nothing),
		cmocka_unit_test(test_ordering),
		cmocka_unit_test(test_kafka_property_files),
		cmocka_unit_test(test_kafka_property_file_errors),
		cmocka_unit_test(test_kafka_value_not_file),
		cmocka_unit_test(test_cloudevents),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
