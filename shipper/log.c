/*
 * log.c
 *	  Logging.  Callers never pass secrets: the conninfo is logged without
 *	  its password and librdkafka properties named like secrets are masked
 *	  (config_is_secret) before they get here.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static bool log_json = false;
static bool log_verbose = false;

static const char *const level_names[] = {"debug", "info", "warning", "error"};

void
log_setup(bool json, bool verbose)
{
	log_json = json;
	log_verbose = verbose;
}

static void
write_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

void
log_message(LogLevel level, const char *fmt, ...)
{
	char message[2048];
	char stamp[64];
	char seconds[40];
	struct timeval now;
	struct tm tm;
	va_list args;

	if (level == LOG_DEBUG && !log_verbose)
		return;
	va_start(args, fmt);
	vsnprintf(message, sizeof(message), fmt, args);
	va_end(args);

	gettimeofday(&now, NULL);
	gmtime_r(&now.tv_sec, &tm);
	strftime(seconds, sizeof(seconds), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp, sizeof(stamp), "%s.%03dZ", seconds, (int) (now.tv_usec / 1000));
	/* librdkafka's and the HTTP thread's lines must not interleave with ours. */
	flockfile(stderr);
	if (log_json)
	{
		fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"message\":", stamp,
				level_names[level]);
		write_json_string(stderr, message);
		fputs("}\n", stderr);
	}
	else
		fprintf(stderr, "%s %s: %s\n", stamp, level_names[level], message);
	fflush(stderr);
	funlockfile(stderr);
}
