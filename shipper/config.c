/*
 * config.c
 *	  Parsing flags and environment variables.
 *
 * Every flag has an environment variable (for containers), and any
 * librdkafka property can be given as -X name=value or as
 * OUTBOX_KAFKA_<NAME> (upper case, dots as underscores), and its value
 * read from a file (a Kubernetes secret volume) as --kafka-property-file
 * name=PATH or OUTBOX_KAFKA_<NAME>_FILE=PATH: only the path is kept here,
 * kafka.c reads the file (secret.c).  Flags win over the environment.  Every error is one line naming the flag or variable
 * and what is wrong.  librdkafka property names are checked later, by
 * librdkafka itself (kafka.c), whose errors then name the origin recorded
 * here.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cloudevents.h"
#include "topic.h"

typedef enum OptionId
{
	OPT_DBNAME,
	OPT_SLOT,
	OPT_CREATE_SLOT,
	OPT_NO_CREATE_SLOT,
	OPT_FAILOVER,
	OPT_NO_FAILOVER,
	OPT_PLUGIN_OPTION,
	OPT_BROKERS,
	OPT_TOPIC_TEMPLATE,
	OPT_VALUE,
	OPT_FORMAT,
	OPT_CLOUDEVENTS_SOURCE,
	OPT_KAFKA_PROPERTY,
	OPT_KAFKA_PROPERTY_FILE,
	OPT_MAX_INFLIGHT_EVENTS,
	OPT_MAX_INFLIGHT_BYTES,
	OPT_STATUS_INTERVAL,
	OPT_DRAIN_TIMEOUT,
	OPT_ON_PERMANENT_ERROR,
	OPT_DEAD_LETTER_TOPIC,
	OPT_HTTP_LISTEN,
	OPT_STALL_TIMEOUT,
	OPT_LOG_FORMAT,
	OPT_VERBOSE,
	OPT_HELP,
	OPT_VERSION
} OptionId;

typedef struct OptionSpec
{
	const char *long_name;
	char short_name; /* 0: none */
	const char *env; /* NULL: no variable */
	bool takes_value; /* on the command line */
	OptionId id;
} OptionSpec;

static const OptionSpec options[] = {
	{"dbname", 'd', "OUTBOX_DBNAME", true, OPT_DBNAME},
	{"slot", 'S', "OUTBOX_SLOT", true, OPT_SLOT},
	{"create-slot", 0, "OUTBOX_CREATE_SLOT", false, OPT_CREATE_SLOT},
	{"no-create-slot", 0, NULL, false, OPT_NO_CREATE_SLOT},
	{"failover", 0, "OUTBOX_FAILOVER", false, OPT_FAILOVER},
	{"no-failover", 0, NULL, false, OPT_NO_FAILOVER},
	{"option", 'o', "OUTBOX_PLUGIN_OPTIONS", true, OPT_PLUGIN_OPTION},
	{"brokers", 'b', "OUTBOX_BROKERS", true, OPT_BROKERS},
	{"topic-template", 't', "OUTBOX_TOPIC_TEMPLATE", true, OPT_TOPIC_TEMPLATE},
	{"value", 0, "OUTBOX_VALUE", true, OPT_VALUE},
	{"format", 0, "OUTBOX_FORMAT", true, OPT_FORMAT},
	{"cloudevents-source", 0, "OUTBOX_CLOUDEVENTS_SOURCE", true, OPT_CLOUDEVENTS_SOURCE},
	{"kafka-property", 'X', NULL, true, OPT_KAFKA_PROPERTY},
	{"kafka-property-file", 0, NULL, true, OPT_KAFKA_PROPERTY_FILE},
	{"max-inflight-events", 0, "OUTBOX_MAX_INFLIGHT_EVENTS", true, OPT_MAX_INFLIGHT_EVENTS},
	{"max-inflight-bytes", 0, "OUTBOX_MAX_INFLIGHT_BYTES", true, OPT_MAX_INFLIGHT_BYTES},
	{"status-interval", 0, "OUTBOX_STATUS_INTERVAL", true, OPT_STATUS_INTERVAL},
	{"drain-timeout", 0, "OUTBOX_DRAIN_TIMEOUT", true, OPT_DRAIN_TIMEOUT},
	{"on-permanent-error", 0, "OUTBOX_ON_PERMANENT_ERROR", true, OPT_ON_PERMANENT_ERROR},
	{"dead-letter-topic", 0, "OUTBOX_DEAD_LETTER_TOPIC", true, OPT_DEAD_LETTER_TOPIC},
	{"http-listen", 0, "OUTBOX_HTTP_LISTEN", true, OPT_HTTP_LISTEN},
	{"stall-timeout", 0, "OUTBOX_STALL_TIMEOUT", true, OPT_STALL_TIMEOUT},
	{"log-format", 0, "OUTBOX_LOG_FORMAT", true, OPT_LOG_FORMAT},
	{"verbose", 'v', "OUTBOX_VERBOSE", false, OPT_VERBOSE},
	{"help", 'h', NULL, false, OPT_HELP},
	{"version", 'V', NULL, false, OPT_VERSION},
};

#define NOPTIONS (sizeof(options) / sizeof(options[0]))
#define KAFKA_ENV_PREFIX "OUTBOX_KAFKA_"
#define KAFKA_ENV_FILE_SUFFIX "_FILE"

const char *
config_usage(void)
{
	return "outbox-shipper ships outbox_pg events from a PostgreSQL replication slot to Kafka.\n"
		   "\n"
		   "Usage: outbox-shipper [OPTION]...\n"
		   "\n"
		   "PostgreSQL:\n"
		   "  -d, --dbname=CONNINFO        connection string or URI; PG* variables apply (OUTBOX_DBNAME);\n"
		   "                               secrets from files: passfile=, sslkey=, sslcert=, read\n"
		   "                               at every connection (PGPASSFILE, PGSSLKEY, ...)\n"
		   "  -S, --slot=NAME              replication slot (OUTBOX_SLOT, default outbox_pg)\n"
		   "      --create-slot            create the slot if it is missing at this process's first\n"
		   "                               connection, for a first start only: never after it has\n"
		   "                               streamed (OUTBOX_CREATE_SLOT=true|false)\n"
		   "      --no-create-slot         fail if the slot is missing (default)\n"
		   "      --failover               create the slot as a failover slot, which standbys\n"
		   "                               with sync_replication_slots keep in sync; an error\n"
		   "                               before PostgreSQL 17 or on a standby\n"
		   "      --no-failover            create an ordinary slot (default: a failover slot\n"
		   "                               where the server supports it: 17+, not a standby;\n"
		   "                               OUTBOX_FAILOVER=true|false|auto)\n"
		   "  -o, --option=NAME=VALUE      outbox_pg plugin option, repeatable (OUTBOX_PLUGIN_OPTIONS=a=b,c=d)\n"
		   "      --status-interval=SECS   standby status update interval (OUTBOX_STATUS_INTERVAL, default 10)\n"
		   "\n"
		   "Kafka:\n"
		   "  -b, --brokers=HOST:PORT,...  bootstrap servers (OUTBOX_BROKERS)\n"
		   "  -t, --topic-template=TMPL    topic of each event (OUTBOX_TOPIC_TEMPLATE,\n"
		   "                               default outbox.event.{aggregate_type}; also {event_type})\n"
		   "      --value=payload|envelope\n"
		   "                               the record value: the event's payload (default) or\n"
		   "                               the whole event as the plugin wrote it (OUTBOX_VALUE)\n"
		   "      --format=plain|cloudevents|cloudevents-structured\n"
		   "                               the record: as it is (default), a CloudEvent in\n"
		   "                               binary content mode (ce_ headers, the same value),\n"
		   "                               or in structured mode (the value is a JSON\n"
		   "                               CloudEvent) (OUTBOX_FORMAT)\n"
		   "      --cloudevents-source=URI-REFERENCE\n"
		   "                               the CloudEvents source attribute\n"
		   "                               (OUTBOX_CLOUDEVENTS_SOURCE, default /outbox_pg/DATABASE)\n"
		   "  -X, --kafka-property=NAME=VALUE\n"
		   "                               any librdkafka property, repeatable\n"
		   "                               (OUTBOX_KAFKA_<NAME>, e.g. OUTBOX_KAFKA_SASL_PASSWORD)\n"
		   "      --kafka-property-file=NAME=PATH\n"
		   "                               a librdkafka property's value read from a file, such\n"
		   "                               as a mounted Kubernetes secret; repeatable\n"
		   "                               (OUTBOX_KAFKA_<NAME>_FILE, e.g. OUTBOX_KAFKA_SASL_PASSWORD_FILE).\n"
		   "                               Trailing newlines are dropped; the value is never logged.\n"
		   "                               sasl.username and sasl.password files are read again\n"
		   "                               when Kafka refuses them: a rotated secret needs no restart\n"
		   "      --on-permanent-error=stop|dead-letter\n"
		   "                               an event Kafka refuses for good: stop without confirming\n"
		   "                               it (default), or produce it to --dead-letter-topic\n"
		   "                               (OUTBOX_ON_PERMANENT_ERROR)\n"
		   "      --dead-letter-topic=NAME\n"
		   "                               (OUTBOX_DEAD_LETTER_TOPIC); under either policy,\n"
		   "                               forged (unauthenticated) events go there, not dropped\n"
		   "\n"
		   "Limits and shutdown:\n"
		   "      --max-inflight-events=N  unacknowledged events before reading pauses\n"
		   "                               (OUTBOX_MAX_INFLIGHT_EVENTS, default 10000)\n"
		   "      --max-inflight-bytes=N[kB|MB|GB]\n"
		   "                               unacknowledged bytes before reading pauses\n"
		   "                               (OUTBOX_MAX_INFLIGHT_BYTES, default 8MB)\n"
		   "      --drain-timeout=SECS     on SIGTERM or SIGINT, how long to wait for Kafka\n"
		   "                               (OUTBOX_DRAIN_TIMEOUT, default 30)\n"
		   "\n"
		   "Observability:\n"
		   "      --http-listen=HOST:PORT  serve /metrics, /healthz and /readyz there, e.g.\n"
		   "                               0.0.0.0:9187 or [::1]:9187 (OUTBOX_HTTP_LISTEN; default off)\n"
		   "      --stall-timeout=SECS     /healthz fails when the main loop has not turned\n"
		   "                               for this long (OUTBOX_STALL_TIMEOUT, default 60)\n"
		   "      --log-format=text|json   (OUTBOX_LOG_FORMAT, default text)\n"
		   "  -v, --verbose                debug logging (OUTBOX_VERBOSE=true|false)\n"
		   "\n"
		   "Other:\n"
		   "  -h, --help                   this help\n"
		   "  -V, --version                the version\n"
		   "\n"
		   "Preflight: outbox-shipper check [OPTION]...\n"
		   "                               checks PostgreSQL and Kafka as the shipper with these\n"
		   "                               flags and variables would find them, one line per item\n"
		   "                               with its fix; exit status 0 when the shipper can start,\n"
		   "                               1 on a configuration error, 2 when an item failed.\n"
		   "                               Options of check only:\n"
		   "      --topic=NAME             a Kafka topic to check, repeatable (the template's, if\n"
		   "                               it has no placeholder, and --dead-letter-topic are\n"
		   "                               checked anyway)\n"
		   "      --produce-test=TOPIC     also produce one test record to TOPIC (write ACLs)\n"
		   "      --timeout=SECS           the bound of each step (default 10)\n"
		   "      --ascii                  [ok]/[FAIL] marks, not Unicode check marks (the default\n"
		   "                               where the locale is not UTF-8)\n"
		   "\n"
		   "Exit status: 0 after SIGTERM/SIGINT with everything delivered and confirmed;\n"
		   "1 on a configuration error, an event that cannot be delivered or a fatal error;\n"
		   "2 when Kafka did not acknowledge everything within the drain timeout.\n";
}

/* Whether word occurs in text, ignoring case. */
static bool
contains_word(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (; *text; text++)
		if (strncasecmp(text, word, n) == 0)
			return true;
	return false;
}

/*
 * Property names whose values must never be logged: a word counts wherever
 * it is in the name, however long the name.
 */
bool
config_is_secret(const char *name)
{
	static const char *const words[] = {"password", "secret", "key", "token", "credential"};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (contains_word(name, words[i]))
			return true;
	return false;
}

static int
fail(char *errstr, size_t errstr_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
fail(char *errstr, size_t errstr_size, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(errstr, errstr_size, fmt, args);
	va_end(args);
	return -1;
}

static int
set_string(char **field, const char *value, char *errstr, size_t errstr_size)
{
	char *copy = strdup(value);

	if (copy == NULL)
		return fail(errstr, errstr_size, "out of memory");
	free(*field);
	*field = copy;
	return 0;
}

/* Appends name=value (split at the first '=') to a list. */
static int
add_name_value(NameValue **list, int *n, const char *text, const char *origin,
			   bool from_file, char *errstr, size_t errstr_size)
{
	const char *eq = strchr(text, '=');
	NameValue *grown;
	NameValue *item;

	if (eq == NULL || eq == text)
		return fail(errstr, errstr_size, "%s: \"%s\" is not NAME=VALUE", origin, text);
	grown = realloc(*list, (size_t) (*n + 1) * sizeof(NameValue));
	if (grown == NULL)
		return fail(errstr, errstr_size, "out of memory");
	*list = grown;
	item = &grown[*n];
	item->name = strndup(text, (size_t) (eq - text));
	item->value = strdup(eq + 1);
	item->origin = strdup(origin);
	item->from_file = from_file;
	(*n)++;
	if (item->name == NULL || item->value == NULL || item->origin == NULL)
		return fail(errstr, errstr_size, "out of memory");
	return 0;
}

static int
parse_bool(const char *text, bool *value, const char *what, char *errstr,
		   size_t errstr_size)
{
	static const char *const yes[] = {"true", "1", "yes", "on"};
	static const char *const no[] = {"false", "0", "no", "off"};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
	{
		if (strcasecmp(text, yes[i]) == 0 || strcasecmp(text, no[i]) == 0)
		{
			*value = strcasecmp(text, yes[i]) == 0;
			return 0;
		}
	}
	return fail(errstr, errstr_size, "%s must be true or false, not \"%s\"", what, text);
}

/* --failover (value NULL) or OUTBOX_FAILOVER=true|false|auto. */
static int
parse_failover(const char *value, FailoverMode *mode, const char *what,
			   char *errstr, size_t errstr_size)
{
	bool on = true;

	if (value != NULL && strcasecmp(value, "auto") == 0)
	{
		*mode = FAILOVER_AUTO;
		return 0;
	}
	if (value != NULL && parse_bool(value, &on, what, errstr, errstr_size) != 0)
		return fail(errstr, errstr_size, "%s must be true, false or auto, not \"%s\"", what, value);
	*mode = on ? FAILOVER_ON : FAILOVER_OFF;
	return 0;
}

/* The multiplier of a size unit (1024-based), 1 for none, 0 if unknown. */
static long long
unit_multiplier(const char *unit)
{
	if (*unit == '\0')
		return 1;
	if (strcasecmp(unit, "k") == 0 || strcasecmp(unit, "kB") == 0)
		return 1LL << 10;
	if (strcasecmp(unit, "M") == 0 || strcasecmp(unit, "MB") == 0)
		return 1LL << 20;
	if (strcasecmp(unit, "G") == 0 || strcasecmp(unit, "GB") == 0)
		return 1LL << 30;
	return 0;
}

/* A positive whole number; with allow_unit, optionally kB, MB or GB. */
static int
parse_count(const char *text, long long *value, bool allow_unit,
			const char *what, char *errstr, size_t errstr_size)
{
	char *end;
	long long v;
	long long multiplier;

	errno = 0;
	v = strtoll(text, &end, 10);
	multiplier = allow_unit ? unit_multiplier(end) : (*end == '\0');
	if (errno != 0 || end == text || v <= 0 || !isdigit((unsigned char) text[0]) ||
		multiplier == 0)
		return fail(errstr, errstr_size, "%s must be a positive whole number%s, not \"%s\"",
					what, allow_unit ? " (optionally with kB, MB or GB)" : "", text);
	if (v > LLONG_MAX / multiplier)
		return fail(errstr, errstr_size, "%s is too large: \"%s\"", what, text);
	*value = v * multiplier;
	return 0;
}

static int
parse_seconds(const char *text, double *value, const char *what,
			  char *errstr, size_t errstr_size)
{
	char *end;

	errno = 0;
	*value = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !(*value > 0) || *value > 86400)
		return fail(errstr, errstr_size,
					"%s must be a number of seconds above 0 and at most 86400, not \"%s\"",
					what, text);
	return 0;
}

/* Index of value among the two choices, or -1 with errstr set. */
static int
parse_choice(const char *value, const char *what, const char *a, const char *b,
			 char *errstr, size_t errstr_size)
{
	if (strcmp(value, a) == 0)
		return 0;
	if (strcmp(value, b) == 0)
		return 1;
	return fail(errstr, errstr_size, "%s must be %s or %s, not \"%s\"", what, a, b, value);
}

static int
parse_format(const char *value, RecordFormat *format, const char *what,
			 char *errstr, size_t errstr_size)
{
	if (strcmp(value, "plain") == 0)
		*format = FORMAT_PLAIN;
	else if (strcmp(value, "cloudevents") == 0)
		*format = FORMAT_CLOUDEVENTS;
	else if (strcmp(value, "cloudevents-structured") == 0)
		*format = FORMAT_CLOUDEVENTS_STRUCTURED;
	else
		return fail(errstr, errstr_size,
					"%s must be plain, cloudevents or cloudevents-structured, not \"%s\"",
					what, value);
	return 0;
}

/* OUTBOX_PLUGIN_OPTIONS holds several, comma-separated. */
static int
add_plugin_options(ShipperConfig *c, const char *value, bool from_env,
				   const char *what, char *errstr, size_t errstr_size)
{
	char *copy;
	char *item;
	char *save = NULL;
	int rc = 0;

	if (!from_env)
		return add_name_value(&c->plugin_options, &c->nplugin_options, value,
							  what, false, errstr, errstr_size);
	if ((copy = strdup(value)) == NULL)
		return fail(errstr, errstr_size, "out of memory");
	for (item = strtok_r(copy, ",", &save); item && rc == 0;
		 item = strtok_r(NULL, ",", &save))
		rc = add_name_value(&c->plugin_options, &c->nplugin_options, item,
							what, false, errstr, errstr_size);
	free(copy);
	return rc;
}

/*
 * Applies one option.  value is NULL for a flag given on the command line
 * without one; what names it in errors (--flag or VARIABLE).
 */
static int
apply(ShipperConfig *c, OptionId id, const char *value, bool from_env,
	  const char *what, char *errstr, size_t errstr_size)
{
	int choice;

	switch (id)
	{
		case OPT_DBNAME:
			return set_string(&c->conninfo, value, errstr, errstr_size);
		case OPT_SLOT:
			return set_string(&c->slot, value, errstr, errstr_size);
		case OPT_CREATE_SLOT:
			c->create_slot = true;
			return value ? parse_bool(value, &c->create_slot, what, errstr, errstr_size) : 0;
		case OPT_NO_CREATE_SLOT:
			c->create_slot = false;
			return 0;
		case OPT_FAILOVER:
			return parse_failover(value, &c->failover, what, errstr, errstr_size);
		case OPT_NO_FAILOVER:
			c->failover = FAILOVER_OFF;
			return 0;
		case OPT_PLUGIN_OPTION:
			return add_plugin_options(c, value, from_env, what, errstr, errstr_size);
		case OPT_BROKERS:
			return set_string(&c->brokers, value, errstr, errstr_size);
		case OPT_TOPIC_TEMPLATE:
			return set_string(&c->topic_template, value, errstr, errstr_size);
		case OPT_VALUE:
			if ((choice = parse_choice(value, what, "payload", "envelope", errstr, errstr_size)) < 0)
				return -1;
			c->value_mode = choice == 0 ? VALUE_PAYLOAD : VALUE_ENVELOPE;
			return 0;
		case OPT_FORMAT:
			return parse_format(value, &c->format, what, errstr, errstr_size);
		case OPT_CLOUDEVENTS_SOURCE:
			return set_string(&c->cloudevents_source, value, errstr, errstr_size);
		case OPT_KAFKA_PROPERTY:
			return add_name_value(&c->kafka, &c->nkafka, value, "-X", false, errstr, errstr_size);
		case OPT_KAFKA_PROPERTY_FILE:
			return add_name_value(&c->kafka, &c->nkafka, value, what, true, errstr, errstr_size);
		case OPT_MAX_INFLIGHT_EVENTS:
			return parse_count(value, &c->max_inflight_events, false, what, errstr, errstr_size);
		case OPT_MAX_INFLIGHT_BYTES:
			return parse_count(value, &c->max_inflight_bytes, true, what, errstr, errstr_size);
		case OPT_STATUS_INTERVAL:
			return parse_seconds(value, &c->status_interval, what, errstr, errstr_size);
		case OPT_DRAIN_TIMEOUT:
			return parse_seconds(value, &c->drain_timeout, what, errstr, errstr_size);
		case OPT_ON_PERMANENT_ERROR:
			if ((choice = parse_choice(value, what, "stop", "dead-letter", errstr, errstr_size)) < 0)
				return -1;
			c->on_permanent_error = choice == 0 ? ON_ERROR_STOP : ON_ERROR_DEAD_LETTER;
			return 0;
		case OPT_DEAD_LETTER_TOPIC:
			return set_string(&c->dead_letter_topic, value, errstr, errstr_size);
		case OPT_HTTP_LISTEN:
			return set_string(&c->http_listen, value, errstr, errstr_size);
		case OPT_STALL_TIMEOUT:
			return parse_seconds(value, &c->stall_timeout, what, errstr, errstr_size);
		case OPT_LOG_FORMAT:
			if ((choice = parse_choice(value, what, "text", "json", errstr, errstr_size)) < 0)
				return -1;
			c->log_format = choice == 0 ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
			return 0;
		case OPT_VERBOSE:
			c->verbose = true;
			return value ? parse_bool(value, &c->verbose, what, errstr, errstr_size) : 0;
		case OPT_HELP:
			c->show_help = true;
			return 0;
		case OPT_VERSION:
			c->show_version = true;
			return 0;
	}
	return 0;
}

static int
set_defaults(ShipperConfig *c, char *errstr, size_t errstr_size)
{
	memset(c, 0, sizeof(*c));
	/*
	 * A slot created where one is missing starts at the current WAL
	 * position, so it is safe only when nothing was ever shipped: a restarted
	 * process cannot know that, so creating is opt-in.
	 */
	c->create_slot = false;
	/*
	 * A failover slot survives a promotion of a standby that synchronizes
	 * it; asking for one where the server cannot make one (before 17, on a
	 * standby) would stop a shipper that works, so only where it can.
	 */
	c->failover = FAILOVER_AUTO;
	/* Enough to keep Kafka busy; more only costs memory (docs/benchmarks.md). */
	c->max_inflight_events = 10000;
	c->max_inflight_bytes = 8LL * 1024 * 1024;
	c->status_interval = 10;
	c->drain_timeout = 30;
	/* Far above any bounded wait in the loop (connect_timeout is 10 s). */
	c->stall_timeout = 60;
	if (set_string(&c->slot, "outbox_pg", errstr, errstr_size) != 0 ||
		set_string(&c->topic_template, "outbox.event.{aggregate_type}", errstr, errstr_size) != 0)
		return -1;
	return 0;
}

/*
 * Whether the variable's name (name_len bytes from name) ends in _FILE:
 * then its value is a path.  No librdkafka property ends in ".file".
 */
static bool
names_file(const char *name, size_t name_len)
{
	size_t n = strlen(KAFKA_ENV_FILE_SUFFIX);

	return name_len >= n && strncmp(name + name_len - n, KAFKA_ENV_FILE_SUFFIX, n) == 0;
}

/*
 * OUTBOX_KAFKA_SASL_PASSWORD=x becomes sasl.password=x, and
 * OUTBOX_KAFKA_SASL_PASSWORD_FILE=/path sasl.password read from /path.
 */
static int
apply_kafka_env(ShipperConfig *c, const char *entry, char *errstr, size_t errstr_size)
{
	const char *name = entry + strlen(KAFKA_ENV_PREFIX);
	const char *eq = strchr(name, '=');
	size_t name_len = eq ? (size_t) (eq - name) : 0;
	bool from_file = names_file(name, name_len);
	char origin[256];
	char *prop;
	size_t i;
	int rc;

	if (from_file)
		name_len -= strlen(KAFKA_ENV_FILE_SUFFIX);
	if (eq == NULL || name_len == 0)
		return fail(errstr, errstr_size, "environment variable %.*s names no Kafka property",
					(int) (eq ? eq - entry : (long) strlen(entry)), entry);
	snprintf(origin, sizeof(origin), "%.*s", (int) (eq - entry), entry);
	if ((prop = malloc(strlen(name) + 1)) == NULL)
		return fail(errstr, errstr_size, "out of memory");
	for (i = 0; i < name_len; i++)
		prop[i] = name[i] == '_' ? '.' : (char) tolower((unsigned char) name[i]);
	strcpy(prop + i, eq);
	rc = add_name_value(&c->kafka, &c->nkafka, prop, origin, from_file, errstr, errstr_size);
	free(prop);
	return rc;
}

/* Applies envp entry if it is one of ours. */
static int
apply_env_entry(ShipperConfig *c, const char *entry, char *errstr, size_t errstr_size)
{
	size_t i;

	if (strncmp(entry, KAFKA_ENV_PREFIX, strlen(KAFKA_ENV_PREFIX)) == 0)
		return apply_kafka_env(c, entry, errstr, errstr_size);
	for (i = 0; i < NOPTIONS; i++)
	{
		size_t n;

		if (options[i].env == NULL)
			continue;
		n = strlen(options[i].env);
		if (strncmp(entry, options[i].env, n) == 0 && entry[n] == '=')
			return apply(c, options[i].id, entry + n + 1, true, options[i].env,
						 errstr, errstr_size);
	}
	return 0;
}

static const OptionSpec *
find_long_option(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NOPTIONS; i++)
		if (strlen(options[i].long_name) == len &&
			strncmp(options[i].long_name, name, len) == 0)
			return &options[i];
	return NULL;
}

/*
 * Finds the option an argument names: --name, --name=value, -x, -xvalue.
 * *inline_value is the value given in the same argument, or NULL.
 */
static const OptionSpec *
find_option(const char *arg, const char **inline_value)
{
	size_t i;

	*inline_value = NULL;
	if (arg[0] == '-' && arg[1] == '-')
	{
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');

		*inline_value = eq ? eq + 1 : NULL;
		return find_long_option(name, eq ? (size_t) (eq - name) : strlen(name));
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
apply_arguments(ShipperConfig *c, int argc, char *const argv[], char *errstr,
				size_t errstr_size)
{
	int i;

	for (i = 1; i < argc; i++)
	{
		const char *value;
		const OptionSpec *spec = find_option(argv[i], &value);
		char what[64];

		if (spec == NULL)
			return fail(errstr, errstr_size, "unknown argument \"%s\"; see --help", argv[i]);
		snprintf(what, sizeof(what), "--%s", spec->long_name);
		if (spec->takes_value && value == NULL)
		{
			if (i + 1 >= argc)
				return fail(errstr, errstr_size, "%s needs a value", what);
			value = argv[++i];
		}
		else if (!spec->takes_value && value != NULL)
			return fail(errstr, errstr_size, "%s takes no value", what);
		if (apply(c, spec->id, value, false, what, errstr, errstr_size) != 0)
			return -1;
	}
	return 0;
}

static int
validate_kafka(const ShipperConfig *c, char *errstr, size_t errstr_size)
{
	char topic[TOPIC_NAME_MAX + 1];
	char reason[512];
	bool given = c->brokers != NULL;
	int i;

	for (i = 0; i < c->nkafka; i++)
		given |= strcmp(c->kafka[i].name, "bootstrap.servers") == 0 ||
				 strcmp(c->kafka[i].name, "metadata.broker.list") == 0;
	if (!given)
		return fail(errstr, errstr_size,
					"no Kafka brokers: give --brokers (OUTBOX_BROKERS) or -X bootstrap.servers=...");
	for (i = 0; i < c->nkafka; i++)
		if (c->kafka[i].from_file && c->kafka[i].value[0] == '\0')
			return fail(errstr, errstr_size, "%s: Kafka property %s: the file's path is empty",
						c->kafka[i].origin, c->kafka[i].name);
	if (topic_template_check(c->topic_template, errstr, errstr_size) != 0)
		return -1;
	if (c->on_permanent_error == ON_ERROR_DEAD_LETTER && c->dead_letter_topic == NULL)
		return fail(errstr, errstr_size,
					"--on-permanent-error=dead-letter needs --dead-letter-topic (OUTBOX_DEAD_LETTER_TOPIC)");
	if (c->dead_letter_topic &&
		topic_render(c->dead_letter_topic, NULL, 0, NULL, 0, topic, reason, sizeof(reason)) != 0)
		return fail(errstr, errstr_size, "--dead-letter-topic: %s", reason);
	return 0;
}

/* The last setting of a librdkafka property (later ones win), or NULL. */
static const NameValue *
last_kafka_property(const ShipperConfig *c, const char *name, const char *alias)
{
	const NameValue *found = NULL;
	int i;

	for (i = 0; i < c->nkafka; i++)
		if (strcmp(c->kafka[i].name, name) == 0 ||
			(alias && strcmp(c->kafka[i].name, alias) == 0))
			found = &c->kafka[i];
	return found;
}

/*
 * Without the idempotent producer a retried batch can land after the batch
 * sent behind it: the events of one aggregate out of commit order, silently.
 * Only one request in flight per broker keeps the order then.  The values
 * are read as librdkafka reads booleans and integers.
 */
static int
validate_ordering(const ShipperConfig *c, char *errstr, size_t errstr_size)
{
	const NameValue *idempotence = last_kafka_property(c, "enable.idempotence", NULL);
	const NameValue *inflight = last_kafka_property(c, "max.in.flight.requests.per.connection",
													"max.in.flight");
	const char *v;

	if (idempotence == NULL)
		return 0;
	v = idempotence->value;
	if (strcasecmp(v, "false") != 0 && strcasecmp(v, "f") != 0 && strcmp(v, "0") != 0)
		return 0;
	if (inflight != NULL && strcmp(inflight->value, "1") == 0)
		return 0;
	return fail(errstr, errstr_size,
				"%s: enable.idempotence=%s lets retries reorder the events of an aggregate; "
				"keep it on, or also set max.in.flight.requests.per.connection=1 (one request in flight per broker keeps the order)",
				idempotence->origin, v);
}

/*
 * A source given for CloudEvents must be one (a URI-reference), and is
 * pointless in the plain format: said, rather than ignored.
 */
static int
validate_cloudevents(const ShipperConfig *c, char *errstr, size_t errstr_size)
{
	const char *source = c->cloudevents_source;

	if (source == NULL)
		return 0;
	if (c->format == FORMAT_PLAIN)
		return fail(errstr, errstr_size,
					"--cloudevents-source (OUTBOX_CLOUDEVENTS_SOURCE) needs --format=cloudevents or cloudevents-structured");
	if (strlen(source) > CLOUDEVENTS_SOURCE_MAX)
		return fail(errstr, errstr_size, "--cloudevents-source is longer than %d bytes",
					CLOUDEVENTS_SOURCE_MAX);
	if (!cloudevents_is_uri_reference(source, strlen(source)))
		return fail(errstr, errstr_size,
					"--cloudevents-source must be a non-empty URI-reference (RFC 3986), such as /orders or https://example.com/orders, not \"%s\"",
					source);
	return 0;
}

/* The shipper cannot confirm anything without the plugin's LSNs. */
static int
validate_plugin_options(const ShipperConfig *c, char *errstr, size_t errstr_size)
{
	int i;
	bool off = false;

	for (i = 0; i < c->nplugin_options; i++)
		if (strcmp(c->plugin_options[i].name, "include-lsn") == 0 &&
			parse_bool(c->plugin_options[i].value, &off, c->plugin_options[i].origin,
					   errstr, errstr_size) == 0 &&
			!off)
			return fail(errstr, errstr_size,
						"%s: the shipper needs include-lsn, which says which position to confirm",
						c->plugin_options[i].origin);
	if (*c->slot == '\0')
		return fail(errstr, errstr_size, "the slot name is empty");
	return 0;
}

int
config_parse(int argc, char *const argv[], char *const envp[],
			 ShipperConfig *config, char *errstr, size_t errstr_size)
{
	int e;

	if (set_defaults(config, errstr, errstr_size) != 0)
		goto fail;
	for (e = 0; envp && envp[e]; e++)
		if (apply_env_entry(config, envp[e], errstr, errstr_size) != 0)
			goto fail;
	if (apply_arguments(config, argc, argv, errstr, errstr_size) != 0)
		goto fail;
	if (config->show_help || config->show_version)
		return 0;
	if (validate_kafka(config, errstr, errstr_size) != 0 ||
		validate_ordering(config, errstr, errstr_size) != 0 ||
		validate_cloudevents(config, errstr, errstr_size) != 0 ||
		validate_plugin_options(config, errstr, errstr_size) != 0)
		goto fail;
	return 0;

fail:
	config_free(config);
	return -1;
}

static void
free_list(NameValue *list, int n)
{
	int i;

	for (i = 0; i < n; i++)
	{
		free(list[i].name);
		free(list[i].value);
		free(list[i].origin);
	}
	free(list);
}

void
config_free(ShipperConfig *config)
{
	free(config->conninfo);
	free(config->slot);
	free(config->http_listen);
	free_list(config->plugin_options, config->nplugin_options);
	free(config->brokers);
	free(config->topic_template);
	free_list(config->kafka, config->nkafka);
	free(config->dead_letter_topic);
	free(config->cloudevents_source);
	memset(config, 0, sizeof(*config));
}
