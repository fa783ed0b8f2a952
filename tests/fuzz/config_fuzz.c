/*
 * config_fuzz.c
 *	  libFuzzer target for shipper/config.c: a command line and an
 *	  environment, as whoever starts the shipper (or writes its ConfigMap)
 *	  gives them.
 *
 * The input is NUL-separated strings: the arguments after the program
 * name, then an empty string, then environment entries.  A successful
 * parse must give a configuration main.c can use as it is; a failed one
 * must leave nothing allocated.  ASan's leak checker sees anything
 * config_free forgets.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "topic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Enough for any command line worth trying; the rest is ignored. */
#define MAX_STRINGS 64

/*
 * Values of properties named like secrets are never logged (main.c,
 * kafka.c): the words count wherever they are in the name.
 */
static bool
named_like_secret(const char *name)
{
	static const char *const words[] = {"password", "secret", "key", "token", "credential"};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasestr(name, words[i]) != NULL)
			return true;
	return false;
}

static void
check_list(const NameValue *list, int n)
{
	int i;

	FUZZ_CHECK(n >= 0);
	FUZZ_CHECK((n == 0) == (list == NULL));
	for (i = 0; i < n; i++)
	{
		FUZZ_CHECK(list[i].name != NULL && list[i].name[0] != '\0');
		FUZZ_CHECK(list[i].value != NULL && list[i].origin != NULL);
		FUZZ_CHECK(strchr(list[i].name, '=') == NULL);
		FUZZ_CHECK(config_is_secret(list[i].name) == named_like_secret(list[i].name));
	}
}

static bool
seconds_ok(double seconds)
{
	return seconds > 0 && seconds <= 86400;
}

static void
check_config(const ShipperConfig *c)
{
	char errstr[512];
	int i;

	check_list(c->plugin_options, c->nplugin_options);
	check_list(c->kafka, c->nkafka);
	FUZZ_CHECK(c->slot != NULL && c->topic_template != NULL);
	if (c->show_help || c->show_version)
		return;
	FUZZ_CHECK(c->slot[0] != '\0');
	/* A property read from a file names one (kafka.c reads it). */
	for (i = 0; i < c->nkafka; i++)
		FUZZ_CHECK(!c->kafka[i].from_file || c->kafka[i].value[0] != '\0');
	FUZZ_CHECK(topic_template_check(c->topic_template, errstr, sizeof(errstr)) == 0);
	FUZZ_CHECK(c->brokers != NULL || c->nkafka > 0);
	FUZZ_CHECK(c->on_permanent_error != ON_ERROR_DEAD_LETTER ||
			   c->dead_letter_topic != NULL);
	FUZZ_CHECK(c->max_inflight_events > 0 && c->max_inflight_bytes > 0);
	FUZZ_CHECK(seconds_ok(c->status_interval) && seconds_ok(c->drain_timeout) &&
			   seconds_ok(c->stall_timeout));
}

/* Splits the input into NULL-terminated argv and envp arrays of copies. */
static char *
split(const uint8_t *data, size_t size, char **argv, int *argc, char **envp)
{
	char *text = malloc(size + 1);
	char *p;
	char *end;
	int nargs = 1;
	int nenv = 0;
	bool in_env = false;

	if (text == NULL)
		return NULL;
	memcpy(text, data, size);
	text[size] = '\0';
	argv[0] = "outbox-shipper";
	for (p = text, end = text + size; p < end && nargs + nenv < MAX_STRINGS;
		 p += strlen(p) + 1)
	{
		if (!in_env && *p == '\0')
			in_env = true;
		else if (in_env)
			envp[nenv++] = p;
		else
			argv[nargs++] = p;
	}
	argv[nargs] = NULL;
	envp[nenv] = NULL;
	*argc = nargs;
	return text;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_STRINGS + 1];
	char *envp[MAX_STRINGS + 1];
	int argc;
	char *text = split(data, size, argv, &argc, envp);
	ShipperConfig config;
	ShipperConfig zero;
	char errstr[512];

	if (text == NULL)
		return 0;
	memset(&zero, 0, sizeof(zero));
	memset(errstr, 'x', sizeof(errstr));
	if (config_parse(argc, argv, envp, &config, errstr, sizeof(errstr)) == 0)
	{
		check_config(&config);
		config_free(&config);
	}
	else
	{
		FUZZ_CHECK(memchr(errstr, '\0', sizeof(errstr)) != NULL);
		FUZZ_CHECK(errstr[0] != '\0');
	}
	FUZZ_CHECK(memcmp(&config, &zero, sizeof(config)) == 0);
	free(text);
	return 0;
}
