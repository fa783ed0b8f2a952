/*-------------------------------------------------------------------------
 *
 * options.c
 *	  Parsing the options given to the outbox_pg output plugin.
 *
 * Bad options fail at slot start, never later: an error while decoding a
 * row would leave the slot stuck on that row.
 *
 *-------------------------------------------------------------------------
 */
#include "outbox_pg.h"

#include "nodes/pg_list.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"

#define OUTBOX_OPTIONS_HINT \
	"Valid options are format-version, include-xid, include-lsn, include-timestamp and max-event-size."

static bool
parse_bool_option(DefElem *elem)
{
	bool result;

	/* A bare option name means true, as with test_decoding. */
	if (elem->arg == NULL)
		return true;
	if (!parse_bool(strVal(elem->arg), &result))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not parse value \"%s\" for outbox_pg option \"%s\"",
						strVal(elem->arg), elem->defname),
				 errhint("Use true or false.")));
	return result;
}

static int
parse_format_version(DefElem *elem)
{
	if (elem->arg == NULL ||
		strcmp(strVal(elem->arg), CppAsString2(OUTBOX_FORMAT_VERSION)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("outbox_pg format-version \"%s\" is not supported",
						elem->arg ? strVal(elem->arg) : ""),
				 errhint("This version of outbox_pg writes format-version %d.",
						 OUTBOX_FORMAT_VERSION)));
	return OUTBOX_FORMAT_VERSION;
}

static Size
parse_max_event_size(DefElem *elem)
{
	const char *text = elem->arg ? strVal(elem->arg) : "";
	char *end;
	unsigned long long value;

	errno = 0;
	value = strtoull(text, &end, 10);
	if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 ||
		value < OUTBOX_MIN_MAX_EVENT_SIZE || value > OUTBOX_MAX_MAX_EVENT_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not parse value \"%s\" for outbox_pg option \"%s\"",
						text, elem->defname),
				 errhint("Give a number of bytes from %zu to %zu.",
						 OUTBOX_MIN_MAX_EVENT_SIZE, OUTBOX_MAX_MAX_EVENT_SIZE)));
	return (Size) value;
}

static void
check_not_given(bool given, DefElem *elem)
{
	if (given)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("conflicting or redundant options"),
				 errdetail("outbox_pg option \"%s\" is given more than once.",
						   elem->defname)));
}

void
outbox_parse_options(List *options, OutboxOptions *opts)
{
	ListCell *option;
	bool format_version_given = false;
	bool include_xid_given = false;
	bool include_lsn_given = false;
	bool include_timestamp_given = false;
	bool max_event_size_given = false;

	opts->format_version = OUTBOX_FORMAT_VERSION;
	opts->include_xid = true;
	opts->include_lsn = true;
	opts->include_timestamp = true;
	opts->max_event_size = OUTBOX_DEFAULT_MAX_EVENT_SIZE;

	foreach (option, options)
	{
		DefElem *elem = lfirst(option);

		Assert(elem->arg == NULL || IsA(elem->arg, String));

		if (strcmp(elem->defname, "format-version") == 0)
		{
			check_not_given(format_version_given, elem);
			format_version_given = true;
			opts->format_version = parse_format_version(elem);
		}
		else if (strcmp(elem->defname, "include-xid") == 0)
		{
			check_not_given(include_xid_given, elem);
			include_xid_given = true;
			opts->include_xid = parse_bool_option(elem);
		}
		else if (strcmp(elem->defname, "include-lsn") == 0)
		{
			check_not_given(include_lsn_given, elem);
			include_lsn_given = true;
			opts->include_lsn = parse_bool_option(elem);
		}
		else if (strcmp(elem->defname, "include-timestamp") == 0)
		{
			check_not_given(include_timestamp_given, elem);
			include_timestamp_given = true;
			opts->include_timestamp = parse_bool_option(elem);
		}
		else if (strcmp(elem->defname, "max-event-size") == 0)
		{
			check_not_given(max_event_size_given, elem);
			max_event_size_given = true;
			opts->max_event_size = parse_max_event_size(elem);
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("outbox_pg option \"%s\" is unknown", elem->defname),
					 errhint(OUTBOX_OPTIONS_HINT)));
	}
}
