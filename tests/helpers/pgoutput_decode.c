/*
 * pgoutput_decode.c
 *	  Turns pgoutput messages into outbox events with the shipper's own
 *	  code (pgoutput.c, pgoutput_events.c), for tests that compare them
 *	  with what the outbox_pg plugin writes from the same WAL.
 *
 * Reads lines from stdin:
 *	  L RELID NAME TYPE NAME TYPE ...	a declared outbox table: for each of
 *										the 7 fields (id, aggregate_type,
 *										aggregate_id, event_type, payload,
 *										headers, created_at) its column
 *										("-": none) and base type OID
 *	  M HEX								one message, as
 *										pg_logical_slot_peek_binary_changes
 *										returns it
 * and writes each event on its own line.  Exits 1 with the error on stderr
 * at the first message the shipper would refuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgoutput.h"
#include "pgoutput_events.h"

#define MAX_DECLARED 64

typedef struct Declared
{
	uint32_t relid;
	PgoLayout layout;
} Declared;

typedef struct Declarations
{
	Declared tables[MAX_DECLARED];
	int n;
} Declarations;

static int
lookup(void *arg, const PgoMessage *relation, PgoLayout *layout, char *errstr,
	   size_t errstr_size)
{
	Declarations *declarations = arg;
	int i;

	for (i = 0; i < declarations->n; i++)
		if (declarations->tables[i].relid == relation->relid)
		{
			*layout = declarations->tables[i].layout;
			return 1;
		}
	return 0;
}

static int
print_event(void *arg, const char *json, size_t len)
{
	fwrite(json, 1, len, stdout);
	putchar('\n');
	return 0;
}

static int
read_declaration(char *line, Declarations *declarations)
{
	Declared *d;
	char *field;
	int f;

	if (declarations->n == MAX_DECLARED)
		return -1;
	d = &declarations->tables[declarations->n];
	memset(d, 0, sizeof(*d));
	if ((field = strtok(line, " \n")) == NULL)
		return -1;
	d->relid = (uint32_t) strtoul(field, NULL, 10);
	for (f = 0; f < PGO_NFIELDS; f++)
	{
		char *name = strtok(NULL, " \n");
		char *type = strtok(NULL, " \n");

		if (name == NULL || type == NULL || strlen(name) >= sizeof(d->layout.columns[f]))
			return -1;
		if (strcmp(name, "-") != 0)
			strcpy(d->layout.columns[f], name);
		d->layout.base_types[f] = (uint32_t) strtoul(type, NULL, 10);
	}
	declarations->n++;
	return 0;
}

/* Decodes hex in place; returns the number of bytes. */
static size_t
unhex(char *hex)
{
	size_t n = 0;
	unsigned byte;

	while (sscanf(hex + 2 * n, "%2x", &byte) == 1)
		hex[n++] = (char) byte;
	return n;
}

int
main(void)
{
	static Declarations declarations;
	PgoContext context = {false, false};
	PgoEvents *events = pgo_events_new(lookup, &declarations, print_event, NULL);
	char errstr[512];
	char *line = NULL;
	size_t size = 0;
	int status = 0;

	while (events != NULL && getline(&line, &size, stdin) > 0)
	{
		PgoMessage msg;
		size_t len;

		if (line[0] == 'L' && line[1] == ' ')
		{
			if (read_declaration(line + 2, &declarations) != 0)
			{
				fprintf(stderr, "pgoutput_decode: bad declaration line\n");
				status = 1;
				break;
			}
			continue;
		}
		if (line[0] != 'M' || line[1] != ' ')
			continue;
		len = unhex(line + 2);
		if (pgoutput_parse(line + 2, len, &context, &msg, errstr, sizeof(errstr)) != 0 ||
			pgo_events_feed(events, &msg, errstr, sizeof(errstr)) != 0)
		{
			fprintf(stderr, "pgoutput_decode: %s\n", errstr);
			status = 1;
			break;
		}
	}
	free(line);
	pgo_events_free(events);
	return events == NULL ? 1 : status;
}
