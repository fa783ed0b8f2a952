/*
 * config.c
 *	  Parsing flags and environment variables.
 *
 * Every flag has an environment variable (for Kubernetes), and any
 * librdkafka property can be given as -X name=value or as
 * OUTBOX_KAFKA_<NAME> (upper case, dots as underscores).  Flags win over
 * the environment.  Errors name the flag or variable and what is wrong.
 */
#include "config.h"

#include "topic.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum OptionId
{
	OPT_DBNAME,
	OPT_SLOT,
	OPT_CREATE_SLOT,
	OPT_NO_CREATE_SLOT,
	OPT_PLUGIN_OPTION,
	OPT_BROKERS,
	OPT_TOPIC_TEMPLATE,
	OPT_VALUE,
	OPT_KAFKA_PROPERTY,
	OPT_MAX_INFLIGHT_EVENTS,
	OPT_MAX_INFLIGHT_BYTES,
	OPT_STATUS_INTERVAL,
	OPT_DRAIN_TIMEOUT,
	OPT_ON_PERMANENT_ERROR,
	OPT_DEAD_LETTER_TOPIC,
	OPT_LOG_FORMAT,
	OPT_VERBOSE,
	OPT_HELP,
	OPT_VERSION
} OptionId;

typedef struct OptionSpec
{
	const char *long_name;
	char short_name;
	const char *env; /* NULL: no variable */
	bool takes_value;
	OptionId id;
} OptionSpec;

static const OptionSpec options[] = {
	{"dbname", 'd', "OUTBOX_DBNAME", true, OPT_DBNAME},
	{"slot", 'S', "OUTBOX_SLOT", true, OPT_SLOT},
	{"create-slot", 0, NULL, false, OPT_CREATE_SLOT},
	{"no-create-slot", 0, NULL, false, OPT_NO_CREATE_SLOT},
	{"option", 'o', "OUTBOX_PLUGIN_OPTIONS", true, OPT_PLUGIN_OPTION},
	{"brokers", 'b', "OUTBOX_BROKERS", true, OPT_BROKERS},
	{"topic-template", 't', "OUTBOX_TOPIC_TEMPLATE", true, OPT_TOPIC_TEMPLATE},
	{"value", 0, "OUTBOX_VALUE", true, OPT_VALUE},
	{"kafka-property", 'X', NULL, true, OPT_KAFKA_PROPERTY},
	{"max-inflight-events", 0, "OUTBOX_MAX_INFLIGHT_EVENTS", true, OPT_MAX_INFLIGHT_EVENTS},
	{"max-inflight-bytes", 0, "OUTBOX_MAX_INFLIGHT_BYTES", true, OPT_MAX_INFLIGHT_BYTES},
	{"status-interval", 0, "OUTBOX_STATUS_INTERVAL", true, OPT_STATUS_INTERVAL},
	{"drain-timeout", 0, "OUTBOX_DRAIN_TIMEOUT", true, OPT_DRAIN_TIMEOUT},
	{"on-permanent-error", 0, "OUTBOX_ON_PERMANENT_ERROR", true, OPT_ON_PERMANENT_ERROR},
	{"dead-letter-topic", 0, "OUTBOX_DEAD_LETTER_TOPIC", true, OPT_DEAD_LETTER_TOPIC},
	{"log-format", 0, "OUTBOX_LOG_FORMAT", true, OPT_LOG_FORMAT},
	{"verbose", 'v', NULL, false, OPT_VERBOSE},
	{"help", 'h', NULL, false, OPT_HELP},
	{"version", 'V', NULL, false, OPT_VERSION},
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))
#define KAFKA_ENV_PREFIX "OUTBOX_KAFKA_"

const char *
config_usage(void)
{
	return "outbox-shipper ships outbox_pg events from a PostgreSQL replication slot to Kafka.\n"
		   "\n"
		   "Usage: outbox-shipper [OPTION]...\n"
		   "\n"
		   "PostgreSQL:\n"
		   "  -d, --dbname=CONNINFO        libpq connection string or URI (OUTBOX_DBNAME); PG* variables apply\n"
		   "  -S, --slot=NAME              replication slot (OUTBOX_SLOT, default outbox_pg)\n"
		   "      --create-slot            create the slot if missing (default)\n"
		   "      --no-create-slot         fail if the slot is missing\n"
		   "  -o, --option=NAME=VALUE      outbox_pg plugin option, repeatable (OUTBOX_PLUGIN_OPTIONS: a=b,c=d)\n"
		   "      --status-interval=SECS   status update interval (OUTBOX_STATUS_INTERVAL, default 10)\n"
		   "\n"
		   "Kafka:\n"
		   "  -b, --brokers=LIST           bootstrap servers (OUTBOX_BROKERS)\n"
		   "  -t, --topic-template=TMPL    topic per event (OUTBOX_TOPIC_TEMPLATE,\n"
		   "                               default outbox.event.{aggregate_type}; also {event_type})\n"
		   "      --value=payload|envelope record value: the payload (default) or the whole event (OUTBOX_VALUE)\n"
		   "  -X, --kafka-property=NAME=VALUE  any librdkafka property, repeatable\n"
		   "                               (OUTBOX_KAFKA_<NAME>, e.g. OUTBOX_KAFKA_SASL_PASSWORD)\n"
		   "      --on-permanent-error=stop|dead-letter\n"
		   "                               an event Kafka refuses for good: stop without confirming it\n"
		   "                               (default) or send it to --dead-letter-topic (OUTBOX_ON_PERMANENT_ERROR)\n"
		   "      --dead-letter-topic=NAME (OUTBOX_DEAD_LETTER_TOPIC)\n"
		   "\n"
		   "Limits and shutdown:\n"
		   "      --max-inflight-events=N  unacknowledged events before reading pauses\n"
		   "                               (OUTBOX_MAX_INFLIGHT_EVENTS, default 10000)\n"
		   "      --max-inflight-bytes=N   unacknowledged bytes before reading pauses\n"
		   "                               (OUTBOX_MAX_INFLIGHT_BYTES, default 8388608)\n"
		   "      --drain-timeout=SECS     on SIGTERM, how long to wait for Kafka (OUTBOX_DRAIN_TIMEOUT, default 30)\n"
		   "\n"
		   "Other:\n"
		   "      --log-format=text|json   (OUTBOX_LOG_FORMAT, default text)\n"
		   "  -v, --verbose                debug logging\n"
		   "  -h, --help                   this help\n"
		   "  -V, --version                version\n";
}

/* Property names whose values must never be logged. */
bool
config_is_secret(const char *name)
{
	static const char *const words[] = {"password", "secret", "key", "token", "credential"};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(name, words[i]) != NULL)
			return true;
	return false;
}

static int
fail(char *errstr, size_t errstr_size, const char *fmt, const char *a, const char *b)
{
	snprintf(errstr, errstr_size, fmt, a, b);
	return -1;
}

static int
set_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (copy == NULL)
		return -1;
	free(*field);
	*field = copy;
	return 0;
}

/* Appends name=value (split at the first '=') to a list. */
static int
add_name_value(NameValue **list, int *n, const char *text, const char *what,
			   char *errstr, size_t errstr_size)
{
	const char *eq = strchr(text, '=');
	NameValue *grown;

	if (eq == NULL || eq == text)
		return fail(errstr, errstr_size, "%s \"%s\" is not NAME=VALUE", what, text);
	grown = realloc(*list, (size_t) (*n + 1) * sizeof(NameValue));
	if (grown == NULL)
		return fail(errstr, errstr_size, "out of memory%s%s", "", "");
	*list = grown;
	grown[*n].name = strndup(text, (size_t) (eq - text));
	grown[*n].value = strdup(eq + 1);
	(*n)++;
	return 0;
}

static int
parse_positive(const char *text, double *value, const char *what,
			   char *errstr, size_t errstr_size)
{
	char *end;

	errno = 0;
	*value = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !(*value > 0))
		return fail(errstr, errstr_size, "%s must be a positive number, not \"%s\"", what, text);
	return 0;
}

static int
parse_count(const char *text, long *value, const char *what,
			char *errstr, size_t errstr_size)
{
	double d;

	if (parse_positive(text, &d, what, errstr, errstr_size) != 0)
		return -1;
	if (d != (double) (long) d)
		return fail(errstr, errstr_size, "%s must be a whole number, not \"%s\"", what, text);
	*value = (long) d;
	return 0;
}

static int
apply_list(NameValue **list, int *n, const char *value, bool from_env,
		   const char *what, char *errstr, size_t errstr_size)
{
	char *copy;
	char *item;
	char *save = NULL;
	int rc = 0;

	if (!from_env)
		return add_name_value(list, n, value, what, errstr, errstr_size);
	/* OUTBOX_PLUGIN_OPTIONS holds several, comma-separated */
	copy = strdup(value);
	for (item = strtok_r(copy, ",", &save); item && rc == 0; item = strtok_r(NULL, ",", &save))
		rc = add_name_value(list, n, item, what, errstr, errstr_size);
	free(copy);
	return rc;
}

static int
apply_choice(const char *value, const char *what, const char *a, const char *b,
			 int *choice, char *errstr, size_t errstr_size)
{
	char msg[160];

	if (strcmp(value, a) == 0)
		*choice = 0;
	else if (strcmp(value, b) == 0)
		*choice = 1;
	else
	{
		snprintf(msg, sizeof(msg), "%%s must be %s or %s, not \"%%s\"", a, b);
		return fail(errstr, errstr_size, msg, what, value);
	}
	return 0;
}

/* Applies one option; what names it in errors (--flag or VARIABLE). */
static int
apply(ShipperConfig *c, const OptionSpec *spec, const char *value, bool from_env,
	  const char *what, char *errstr, size_t errstr_size)
{
	int choice;

	switch (spec->id)
	{
		case OPT_DBNAME:
			return set_string(&c->conninfo, value);
		case OPT_SLOT:
			return set_string(&c->slot, value);
		case OPT_CREATE_SLOT:
			c->create_slot = true;
			return 0;
		case OPT_NO_CREATE_SLOT:
			c->create_slot = false;
			return 0;
		case OPT_PLUGIN_OPTION:
			return apply_list(&c->plugin_options, &c->nplugin_options, value,
							  from_env, what, errstr, errstr_size);
		case OPT_BROKERS:
			return set_string(&c->brokers, value);
		case OPT_TOPIC_TEMPLATE:
			return set_string(&c->topic_template, value);
		case OPT_VALUE:
			if (apply_choice(value, what, "payload", "envelope", &choice, errstr, errstr_size) != 0)
				return -1;
			c->value_mode = choice ? VALUE_ENVELOPE : VALUE_PAYLOAD;
			return 0;
		case OPT_KAFKA_PROPERTY:
			return add_name_value(&c->kafka, &c->nkafka, value, what, errstr, errstr_size);
		case OPT_MAX_INFLIGHT_EVENTS:
			return parse_count(value, &c->max_inflight_events, what, errstr, errstr_size);
		case OPT_MAX_INFLIGHT_BYTES:
			return parse_count(value, &c->max_inflight_bytes, what, errstr, errstr_size);
		case OPT_STATUS_INTERVAL:
			return parse_positive(value, &c->status_interval, what, errstr, errstr_size);
		case OPT_DRAIN_TIMEOUT:
			return parse_positive(value, &c->drain_timeout, what, errstr, errstr_size);
		case OPT_ON_PERMANENT_ERROR:
			if (apply_choice(value, what, "stop", "dead-letter", &choice, errstr, errstr_size) != 0)
				return -1;
			c->on_permanent_error = choice ? ON_ERROR_DEAD_LETTER : ON_ERROR_STOP;
			return 0;
		case OPT_DEAD_LETTER_TOPIC:
			return set_string(&c->dead_letter_topic, value);
		case OPT_LOG_FORMAT:
			if (apply_choice(value, what, "text", "json", &choice, errstr, errstr_size) != 0)
				return -1;
			c->log_format = choice ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT;
			return 0;
		case OPT_VERBOSE:
			c->verbose = true;
			return 0;
		case OPT_HELP:
			c->show_help = true;
			return 0;
		case OPT_VERSION:
			c->show_version = true;
			return 0;
	}
	return 0;
}

static void
set_defaults(ShipperConfig *c)
{
	memset(c, 0, sizeof(*c));
	c->slot = strdup("outbox_pg");
	c->create_slot = true;
	c->topic_template = strdup("outbox.event.{aggregate_type}");
	c->max_inflight_events = 10000;
	c->max_inflight_bytes = 8L * 1024 * 1024;
	c->status_interval = 10;
	c->drain_timeout = 30;
}

/* OUTBOX_KAFKA_SASL_PASSWORD=x becomes sasl.password=x. */
static int
apply_kafka_env(ShipperConfig *c, const char *entry, char *errstr, size_t errstr_size)
{
	const char *name = entry + strlen(KAFKA_ENV_PREFIX);
	const char *eq = strchr(name, '=');
	char *prop;
	size_t i;
	int rc;

	if (eq == NULL || eq == name)
		return 0;
	prop = malloc(strlen(name) + 1);
	for (i = 0; name + i < eq; i++)
		prop[i] = name[i] == '_' ? '.' : (char) tolower((unsigned char) name[i]);
	strcpy(prop + i, eq);
	rc = add_name_value(&c->kafka, &c->nkafka, prop, entry, errstr, errstr_size);
	free(prop);
	return rc;
}

static int
apply_environment(ShipperConfig *c, char *const envp[], char *errstr, size_t errstr_size)
{
	size_t i;
	int e;

	for (e = 0; envp && envp[e]; e++)
	{
		if (strncmp(envp[e], KAFKA_ENV_PREFIX, strlen(KAFKA_ENV_PREFIX)) == 0)
		{
			if (apply_kafka_env(c, envp[e], errstr, errstr_size) != 0)
				return -1;
			continue;
		}
		for (i = 0; i < NOPTIONS; i++)
		{
			size_t n;

			if (options[i].env == NULL)
				continue;
			n = strlen(options[i].env);
			if (strncmp(envp[e], options[i].env, n) == 0 && envp[e][n] == '=' &&
				apply(c, &options[i], envp[e] + n + 1, true, options[i].env,
					  errstr, errstr_size) != 0)
				return -1;
		}
	}
	return 0;
}

static const OptionSpec *
find_option(const char *arg, const char **inline_value)
{
	size_t i;

	*inline_value = NULL;
	if (arg[0] == '-' && arg[1] == '-')
	{
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		size_t len = eq ? (size_t) (eq - name) : strlen(name);

		for (i = 0; i < NOPTIONS; i++)
			if (strlen(options[i].long_name) == len &&
				strncmp(options[i].long_name, name, len) == 0)
			{
				*inline_value = eq ? eq + 1 : NULL;
				return &options[i];
			}
		return NULL;
	}
	if (arg[0] == '-' && arg[1] != '\0')
		for (i = 0; i < NOPTIONS; i++)
			if (options[i].short_name == arg[1])
			{
				*inline_value = arg[2] ? arg + 2 : NULL;
				return &options[i];
			}
	return NULL;
}

static int
apply_arguments(ShipperConfig *c, int argc, char *const argv[], char *errstr, size_t errstr_size)
{
	int i;

	for (i = 1; i < argc; i++)
	{
		const char *value;
		const OptionSpec *spec = find_option(argv[i], &value);

		if (spec == NULL)
			return fail(errstr, errstr_size, "unknown argument \"%s\"%s; see --help", argv[i], "");
		if (spec->takes_value && value == NULL)
		{
			if (i + 1 >= argc)
				return fail(errstr, errstr_size, "option %s needs a value%s", argv[i], "");
			value = argv[++i];
		}
		else if (!spec->takes_value && value != NULL)
			return fail(errstr, errstr_size, "option %s takes no value%s", argv[i], "");
		if (apply(c, spec, value, false, argv[i], errstr, errstr_size) != 0)
			return -1;
	}
	return 0;
}

static int
validate(ShipperConfig *c, char *errstr, size_t errstr_size)
{
	if (c->show_help || c->show_version)
		return 0;
	if (c->brokers == NULL)
	{
		int i;
		bool given = false;

		for (i = 0; i < c->nkafka; i++)
			given |= strcmp(c->kafka[i].name, "bootstrap.servers") == 0;
		if (!given)
			return fail(errstr, errstr_size,
						"no Kafka brokers: give --brokers (OUTBOX_BROKERS) or -X bootstrap.servers=...%s%s", "", "");
	}
	if (c->on_permanent_error == ON_ERROR_DEAD_LETTER && c->dead_letter_topic == NULL)
		return fail(errstr, errstr_size,
					"--on-permanent-error=dead-letter needs --dead-letter-topic (OUTBOX_DEAD_LETTER_TOPIC)%s%s", "", "");
	if (topic_template_check(c->topic_template, errstr, errstr_size) != 0)
		return -1;
	if (c->dead_letter_topic)
	{
		char topic[TOPIC_NAME_MAX + 1];

		if (topic_render(c->dead_letter_topic, NULL, NULL, topic, errstr, errstr_size) != 0)
			return -1;
	}
	return 0;
}

int
config_parse(int argc, char *const argv[], char *const envp[],
			 ShipperConfig *config, char *errstr, size_t errstr_size)
{
	set_defaults(config);
	if (apply_environment(config, envp, errstr, errstr_size) != 0 ||
		apply_arguments(config, argc, argv, errstr, errstr_size) != 0 ||
		validate(config, errstr, errstr_size) != 0)
	{
		config_free(config);
		return -1;
	}
	return 0;
}

static void
free_list(NameValue *list, int n)
{
	int i;

	for (i = 0; i < n; i++)
	{
		free(list[i].name);
		free(list[i].value);
	}
	free(list);
}

void
config_free(ShipperConfig *config)
{
	free(config->conninfo);
	free(config->slot);
	free_list(config->plugin_options, config->nplugin_options);
	free(config->brokers);
	free(config->topic_template);
	free_list(config->kafka, config->nkafka);
	free(config->dead_letter_topic);
	memset(config, 0, sizeof(*config));
}
