/* Unit tests: flags and environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

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
	assert_true(c.create_slot);
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
		const char *args[4];
		const char *error;
	} cases[] = {
		{{"--bogus"}, "unknown argument \"--bogus\""},
		{{"-b"}, "needs a value"},
		{{"-b", "k", "--verbose=1"}, "takes no value"},
		{{"-b", "k", "--value=both"}, "must be payload or envelope"},
		{{"-b", "k", "--max-inflight-events=0"}, "must be a positive number"},
		{{"-b", "k", "--max-inflight-events=1.5"}, "whole number"},
		{{"-b", "k", "--status-interval=soon"}, "positive number"},
		{{"-b", "k", "-X", "nonsense"}, "is not NAME=VALUE"},
		{{"-b", "k", "--on-permanent-error=dead-letter"}, "needs --dead-letter-topic"},
		{{"-b", "k", "--on-permanent-error=retry"}, "must be stop or dead-letter"},
		{{"-b", "k", "-t", "x.{aggregateType}"}, "unknown placeholder"},
		{{"-d", "x"}, "no Kafka brokers"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char *argv[5] = {"outbox-shipper"};
		char *envp[] = {NULL};
		int argc = 1;
		ShipperConfig c;
		char err[256] = "";

		while (argc < 5 && cases[i].args[argc - 1])
		{
			argv[argc] = (char *) cases[i].args[argc - 1];
			argc++;
		}
		assert_int_equal(config_parse(argc, argv, envp, &c, err, sizeof(err)), -1);
		if (strstr(err, cases[i].error) == NULL)
			fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err, cases[i].error);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_help_needs_nothing),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
