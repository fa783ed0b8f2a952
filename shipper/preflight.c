/*
 * preflight.c
 *	  What each fact means for shipping, and what to do about it.
 *
 * Each function turns facts into one item: a verdict, what was found (in
 * the server's own words where it has them) and, for anything but a pass,
 * the fix.  A failure means the shipper would not start, or would start
 * and stop at the first event; a warning, that it would ship with a risk
 * the user should know of (an unbounded slot, a slot it must create).
 */
#include "preflight.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PLUGIN "outbox_pg"

static void
item_detail(PreflightItem *item, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void
item_fix(PreflightItem *item, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Starts an item: its verdict and name, no detail, no fix. */
static void
item_start(PreflightItem *item, PreflightVerdict verdict, const char *what)
{
	item->verdict = verdict;
	snprintf(item->what, sizeof(item->what), "%s", what);
	item->detail[0] = '\0';
	item->fix[0] = '\0';
}

static void
item_detail(PreflightItem *item, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(item->detail, sizeof(item->detail), fmt, args);
	va_end(args);
	/* One line: a server's message may hold newlines. */
	item->detail[strcspn(item->detail, "\n")] = '\0';
}

static void
item_fix(PreflightItem *item, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vsnprintf(item->fix, sizeof(item->fix), fmt, args);
	va_end(args);
}

void
preflight_skip(const char *what, const char *why, PreflightItem *item)
{
	item_start(item, PREFLIGHT_SKIP, what);
	item_detail(item, "not checked: %s", why);
}

/*
 * The fix for a refused connection, by the server's message.  A logical
 * replication connection (replication=database) is matched in pg_hba.conf
 * like any connection to its database: a "replication" line, which is for
 * physical replication, does not cover it.
 */
static void
connection_fix(const char *error, const char *user, PreflightItem *item)
{
	if (strstr(error, "pg_hba.conf") != NULL)
		item_fix(item, "Let role \"%s\" connect to the database in pg_hba.conf, above any line that rejects it, e.g. \"hostssl mydb %s 10.0.0.0/8 scram-sha-256\", and reload; the shipper's replication=database connections match such a line (a \"replication\" line is for physical replication only).",
				 user, user);
	else if (strstr(error, "replication role") != NULL || strstr(error, "WAL sender") != NULL)
		item_fix(item, "As a superuser: ALTER ROLE \"%s\" REPLICATION;", user);
	else if (strstr(error, "max_wal_senders") != NULL)
		item_fix(item, "Raise max_wal_senders in postgresql.conf and restart.");
	else if (strstr(error, "password") != NULL)
		item_fix(item, "Check the password (PGPASSWORD, passfile=) for role \"%s\".", user);
	else if (strstr(error, "no answer") != NULL || strstr(error, "Connection refused") != NULL ||
			 strstr(error, "could not translate host name") != NULL)
		item_fix(item, "Check host and port in --dbname (OUTBOX_DBNAME) or PGHOST/PGPORT: the server must be up and reachable from here.");
	else
		item_fix(item, "Check --dbname (OUTBOX_DBNAME) and the PG* variables; the server's log says why it refused.");
}

/* error is NULL when the connection was made; user as the conninfo says. */
void
preflight_connection(const char *error, const char *server, const char *user,
					 PreflightItem *item)
{
	if (error == NULL)
	{
		item_start(item, PREFLIGHT_PASS, "PostgreSQL connection");
		item_detail(item, "%s", server);
		return;
	}
	item_start(item, PREFLIGHT_FAIL, "PostgreSQL connection");
	item_detail(item, "%s", error);
	connection_fix(error, user, item);
}

void
preflight_wal_level(const ServerFacts *server, PreflightItem *item)
{
	if (strcmp(server->wal_level, "logical") == 0)
	{
		item_start(item, PREFLIGHT_PASS, "wal_level");
		item_detail(item, "logical");
		return;
	}
	item_start(item, PREFLIGHT_FAIL, "wal_level");
	item_detail(item, "%s: logical decoding needs logical", server->wal_level);
	item_fix(item, "Set wal_level = logical in postgresql.conf (or ALTER SYSTEM SET wal_level = logical) and restart PostgreSQL.");
}

/*
 * The shipper takes no slot besides its own: an existing slot needs no
 * room, a missing one (to be created) needs one free.
 */
void
preflight_slots(const ServerFacts *server, const SlotFacts *slot, PreflightItem *item)
{
	int free_slots = server->max_slots - server->used_slots;

	if (slot->exists || free_slots > 0)
	{
		item_start(item, PREFLIGHT_PASS, "max_replication_slots");
		item_detail(item, "%d of %d in use%s", server->used_slots, server->max_slots,
					slot->exists ? ", the shipper's slot among them" : "");
		return;
	}
	item_start(item, PREFLIGHT_FAIL, "max_replication_slots");
	item_detail(item, "%d of %d in use: no room for the shipper's slot", server->used_slots,
				server->max_slots);
	item_fix(item, "Raise max_replication_slots in postgresql.conf and restart, or drop slots nothing uses (SELECT slot_name, active FROM pg_replication_slots; SELECT pg_drop_replication_slot('name')).");
}

/*
 * The shipper holds one walsender; a hot standby shipper takes one only
 * for the moment it asks whether the slot is free.
 */
void
preflight_senders(const ServerFacts *server, PreflightItem *item)
{
	if (server->used_senders < server->max_senders)
	{
		item_start(item, PREFLIGHT_PASS, "max_wal_senders");
		item_detail(item, "%d of %d in use", server->used_senders, server->max_senders);
		return;
	}
	item_start(item, PREFLIGHT_FAIL, "max_wal_senders");
	item_detail(item, "%d of %d in use: no room for the shipper's replication connection",
				server->used_senders, server->max_senders);
	item_fix(item, "Raise max_wal_senders in postgresql.conf and restart (each standby, pg_basebackup and logical consumer holds one).");
}

/*
 * Whether a GUC list ("pgoutput, outbox_pg", items maybe double-quoted)
 * holds name.
 */
bool
preflight_list_has(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;
	const char *end;

	while (*p)
	{
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '"')
		{
			end = strchr(p + 1, '"');
			if (end == NULL)
				return false;
			if ((size_t) (end - p - 1) == n && strncmp(p + 1, name, n) == 0)
				return true;
			p = end + 1;
			continue;
		}
		end = p + strcspn(p, ", \t");
		if ((size_t) (end - p) == n && strncasecmp(p, name, n) == 0)
			return true;
		p = end;
	}
	return false;
}

/*
 * output_plugin_libraries is Debian's: where the build lacks it, every
 * installed plugin is allowed (upstream PostgreSQL).  Where it has it,
 * superusers are refused too.
 */
void
preflight_plugin_allowed(const ServerFacts *server, PreflightItem *item)
{
	if (server->plugin_libraries_state == LIBRARIES_UNREADABLE)
	{
		preflight_skip("output_plugin_libraries", "", item);
		item_detail(item, "not readable by role \"%s\" (superusers and pg_read_all_settings only): the output plugin line below says whether it allows " PLUGIN,
					server->user);
		return;
	}
	if (server->plugin_libraries_state == LIBRARIES_UNKNOWN)
	{
		item_start(item, PREFLIGHT_PASS, "output_plugin_libraries");
		item_detail(item, "not a setting of this server: every installed plugin may be used");
		return;
	}
	if (preflight_list_has(server->plugin_libraries, PLUGIN))
	{
		item_start(item, PREFLIGHT_PASS, "output_plugin_libraries");
		item_detail(item, "'%s' allows " PLUGIN, server->plugin_libraries);
		return;
	}
	item_start(item, PREFLIGHT_FAIL, "output_plugin_libraries");
	item_detail(item, "'%s' lacks " PLUGIN ": the server refuses the plugin to every role, superusers too",
				server->plugin_libraries);
	item_fix(item, "Add it in postgresql.conf, e.g. output_plugin_libraries = '%s%s" PLUGIN "', and reload (SELECT pg_reload_conf()).",
			 server->plugin_libraries, server->plugin_libraries[0] ? ", " : "");
}

void
preflight_extension(const ServerFacts *server, PreflightItem *item)
{
	if (server->extension_version[0] != '\0')
	{
		item_start(item, PREFLIGHT_PASS, "extension " PLUGIN);
		item_detail(item, "version %s in database \"%s\"", server->extension_version,
					server->database);
		return;
	}
	item_start(item, PREFLIGHT_FAIL, "extension " PLUGIN);
	if (server->extension_available[0] != '\0')
	{
		item_detail(item, "not created in database \"%s\" (version %s is available)",
					server->database, server->extension_available);
		item_fix(item, "In database \"%s\", as a role that may create it: CREATE EXTENSION " PLUGIN ";",
				 server->database);
		return;
	}
	item_detail(item, "not created in database \"%s\", and its files are not installed on the server",
				server->database);
	item_fix(item, "Install the plugin and extension files on the server (make install, or the postgresql-NN-outbox-pg package), then CREATE EXTENSION " PLUGIN "; in database \"%s\".",
			 server->database);
}

void
preflight_role(const ServerFacts *server, PreflightItem *item)
{
	if (server->replication_role || server->superuser)
	{
		item_start(item, PREFLIGHT_PASS, "REPLICATION attribute");
		item_detail(item, "role \"%s\" has it%s", server->user,
					server->replication_role ? "" : " (a superuser)");
		return;
	}
	item_start(item, PREFLIGHT_FAIL, "REPLICATION attribute");
	item_detail(item, "role \"%s\" lacks it: the server refuses it a replication connection",
				server->user);
	item_fix(item, "As a superuser: ALTER ROLE \"%s\" REPLICATION;", server->user);
}

/*
 * The server's refusal of a replication connection, by its message (16
 * reworded the role's one: both forms are known).
 */
void
preflight_replication(const char *error, const ServerFacts *server, PreflightItem *item)
{
	if (error == NULL)
	{
		item_start(item, PREFLIGHT_PASS, "replication connection");
		item_detail(item, "replication=database accepted for role \"%s\"", server->user);
		return;
	}
	item_start(item, PREFLIGHT_FAIL, "replication connection");
	item_detail(item, "%s", error);
	connection_fix(error, server->user, item);
}

/*
 * A temporary slot created with the plugin: the server loads it, runs its
 * start-up, and checks output_plugin_libraries, exactly as for the
 * shipper's slot.  error is NULL when that worked.
 */
void
preflight_plugin_loads(const char *error, bool timed_out, PreflightItem *item)
{
	if (error == NULL)
	{
		item_start(item, PREFLIGHT_PASS, "output plugin " PLUGIN);
		item_detail(item, "loads: a temporary slot with it was created and dropped");
		return;
	}
	if (timed_out)
	{
		item_start(item, PREFLIGHT_WARN, "output plugin " PLUGIN);
		item_detail(item, "%s", error);
		item_fix(item, "Creating a slot waits for the transactions running at that moment to end: look for old ones (SELECT pid, xact_start FROM pg_stat_activity ORDER BY xact_start) and run the check again.");
		return;
	}
	item_start(item, PREFLIGHT_FAIL, "output plugin " PLUGIN);
	item_detail(item, "%s", error);
	if (strstr(error, "may not be used as an output plugin") != NULL)
		item_fix(item, "Add " PLUGIN " to output_plugin_libraries in postgresql.conf and reload.");
	else if (strstr(error, "could not access file") != NULL || strstr(error, "could not load") != NULL)
		item_fix(item, "Install outbox_pg.so on the server, built for its major version (make install PG_CONFIG=..., or the postgresql-NN-outbox-pg package).");
	else
		item_fix(item, "See the server's log for the plugin's error.");
}

/* The slot's state beyond its existence: in use, and its WAL. */
static void
slot_state(const char *slot_name, const SlotFacts *slot, PreflightItem *item)
{
	if (strcmp(slot->wal_status, "lost") == 0)
	{
		item_start(item, PREFLIGHT_FAIL, "slot");
		item_detail(item, "\"%s\" is invalidated (wal_status lost): the WAL its events need is gone",
					slot_name);
		item_fix(item, "Drop and create the slot, then ship what it missed with outbox.replay(since => ...) (README, Operations).");
		return;
	}
	if (slot->active)
	{
		item_start(item, PREFLIGHT_FAIL, "slot");
		item_detail(item, "\"%s\" is in use by PID %d%s%s%s: the shipper would wait for it as a hot standby",
					slot_name, slot->active_pid,
					slot->active_application[0] ? " (application_name \"" : "",
					slot->active_application, slot->active_application[0] ? "\")" : "");
		item_fix(item, "Stop the other consumer, or end it with SELECT pg_terminate_backend(%d); a second shipper on purpose (hot standby) may ignore this.",
				 slot->active_pid);
		return;
	}
	item_start(item, strcmp(slot->wal_status, "unreserved") == 0 ? PREFLIGHT_WARN : PREFLIGHT_PASS,
			   "slot");
	item_detail(item, "\"%s\": " PLUGIN ", not in use, wal_status %s", slot_name,
				slot->wal_status[0] ? slot->wal_status : "unknown");
	if (item->verdict == PREFLIGHT_WARN)
		item_fix(item, "The slot retains more WAL than max_slot_wal_keep_size and is about to be invalidated: start the shipper now, or raise max_slot_wal_keep_size.");
}

void
preflight_slot(const char *slot_name, bool create_slot, const SlotFacts *slot,
			   const ServerFacts *server, PreflightItem *item)
{
	if (!slot->exists)
	{
		item_start(item, create_slot ? PREFLIGHT_WARN : PREFLIGHT_FAIL, "slot");
		item_detail(item, "\"%s\" does not exist%s", slot_name,
					create_slot ? "; --create-slot will create it at the first start" : "");
		if (create_slot)
			item_fix(item, "A new slot starts at the current WAL position: right for a first start only. If events were shipped from this database before, ship what the slot missed with outbox.replay(since => ...) (README, Operations).");
		else
			item_fix(item, "In database \"%s\": SELECT pg_create_logical_replication_slot('%s', '" PLUGIN "'); or start the shipper once with --create-slot if nothing was ever shipped from this database.",
					 server->database, slot_name);
		return;
	}
	item_start(item, PREFLIGHT_FAIL, "slot");
	if (strcmp(slot->slot_type, "logical") != 0)
	{
		item_detail(item, "\"%s\" is a %s slot, not a logical one", slot_name, slot->slot_type);
		item_fix(item, "Name an " PLUGIN " slot with --slot, or create one: SELECT pg_create_logical_replication_slot('name', '" PLUGIN "');");
	}
	else if (strcmp(slot->plugin, PLUGIN) != 0)
	{
		item_detail(item, "\"%s\" uses plugin %s, not " PLUGIN, slot_name, slot->plugin);
		item_fix(item, "Name an " PLUGIN " slot with --slot, or create one: SELECT pg_create_logical_replication_slot('name', '" PLUGIN "');");
	}
	else if (strcmp(slot->database, server->database) != 0)
	{
		item_detail(item, "\"%s\" belongs to database \"%s\", not \"%s\" (a slot decodes only its own database)",
					slot_name, slot->database, server->database);
		item_fix(item, "Point --dbname at database \"%s\", or create a slot in \"%s\".",
				 slot->database, server->database);
	}
	else
		slot_state(slot_name, slot, item);
}

/*
 * -1 lets a slot retain WAL without limit: a stopped shipper fills the
 * disk, and a full disk stops the primary.  A limit makes the slot the
 * victim instead: invalidated, its missed events to be replayed.
 */
void
preflight_keep_size(const ServerFacts *server, PreflightItem *item)
{
	if (strcmp(server->keep_size, "-1") != 0)
	{
		item_start(item, PREFLIGHT_PASS, "max_slot_wal_keep_size");
		item_detail(item, "%s: past it the slot is invalidated rather than the disk filled", server->keep_size);
		return;
	}
	item_start(item, PREFLIGHT_WARN, "max_slot_wal_keep_size");
	item_detail(item, "-1 (unlimited): while the shipper is stopped or Kafka down, the slot retains WAL until the disk is full, and a full disk stops the primary");
	item_fix(item, "Set a bound that your disk can hold (e.g. max_slot_wal_keep_size = '50GB') and reload: past it the slot is invalidated instead and what it missed is replayed with outbox.replay(); alert on pg_replication_slots.safe_wal_size.");
}

void
preflight_kafka(int brokers, const char *error, PreflightItem *item)
{
	if (error == NULL)
	{
		item_start(item, PREFLIGHT_PASS, "Kafka");
		item_detail(item, "%d broker%s answered a metadata request", brokers, brokers == 1 ? "" : "s");
		return;
	}
	item_start(item, PREFLIGHT_FAIL, "Kafka");
	item_detail(item, "%s", error);
	item_fix(item, "Check --brokers (OUTBOX_BROKERS) and the -X properties: security.protocol, the sasl.* and ssl.* settings; the brokers must be reachable from here at the addresses they advertise.");
}

void
preflight_topic(const TopicFacts *topic, PreflightItem *item)
{
	char what[TOPIC_NAME_MAX + 32];

	snprintf(what, sizeof(what), "topic %s", topic->name);
	if (topic->missing)
	{
		item_start(item, PREFLIGHT_FAIL, what);
		item_detail(item, "does not exist");
		item_fix(item, "Create it, e.g. kafka-topics.sh --create --topic %s --partitions 6 --replication-factor 3 --config min.insync.replicas=2 (or let the brokers create topics: auto.create.topics.enable, with their defaults).",
				 topic->name);
		return;
	}
	if (topic->error[0] != '\0')
	{
		item_start(item, PREFLIGHT_FAIL, what);
		item_detail(item, "%s", topic->error);
		item_fix(item, "The shipper's Kafka principal needs DESCRIBE and WRITE on the topic.");
		return;
	}
	if (topic->min_insync > topic->replicas)
	{
		item_start(item, PREFLIGHT_FAIL, what);
		item_detail(item, "min.insync.replicas %d is more than its %d replica%s: every acks=all write is refused (NOT_ENOUGH_REPLICAS) and retried for ever",
					topic->min_insync, topic->replicas, topic->replicas == 1 ? "" : "s");
		item_fix(item, "Lower it (kafka-configs.sh --alter --entity-type topics --entity-name %s --add-config min.insync.replicas=%d) or add replicas.",
				 topic->name, topic->replicas);
		return;
	}
	if (topic->min_insync > topic->in_sync)
	{
		item_start(item, PREFLIGHT_FAIL, what);
		item_detail(item, "a partition has %d in-sync replica%s, fewer than min.insync.replicas %d: writes to it wait",
					topic->in_sync, topic->in_sync == 1 ? "" : "s", topic->min_insync);
		item_fix(item, "Bring the topic's brokers back (kafka-topics.sh --describe --under-min-isr-partitions).");
		return;
	}
	item_start(item, PREFLIGHT_PASS, what);
	if (topic->min_insync > 0)
		item_detail(item, "%d partition%s, %d replica%s, min.insync.replicas %d", topic->partitions,
					topic->partitions == 1 ? "" : "s", topic->replicas,
					topic->replicas == 1 ? "" : "s", topic->min_insync);
	else
		item_detail(item, "%d partition%s, %d replica%s (min.insync.replicas not readable)",
					topic->partitions, topic->partitions == 1 ? "" : "s", topic->replicas,
					topic->replicas == 1 ? "" : "s");
}

/* error_name is librdkafka's name of the delivery error; NULL: acknowledged. */
void
preflight_produce(const char *topic, const char *error_name, const char *error,
				  PreflightItem *item)
{
	char what[TOPIC_NAME_MAX + 32];

	snprintf(what, sizeof(what), "produce to %s", topic);
	if (error_name == NULL)
	{
		item_start(item, PREFLIGHT_PASS, what);
		item_detail(item, "a test record was acknowledged (acks as configured)");
		return;
	}
	item_start(item, PREFLIGHT_FAIL, what);
	item_detail(item, "%s: %s", error_name, error);
	if (strstr(error_name, "AUTHORIZATION") != NULL)
		item_fix(item, "Grant the shipper's principal WRITE on the topic (kafka-acls.sh --add --allow-principal User:NAME --operation Write --topic %s), and IDEMPOTENT_WRITE on the cluster for brokers before 2.8.",
				 topic);
	else if (strstr(error_name, "UNKNOWN_TOPIC") != NULL)
		item_fix(item, "Create the topic (see above), or name an existing one.");
	else if (strstr(error_name, "ENOUGH_REPLICAS") != NULL)
		item_fix(item, "The topic's in-sync replicas are fewer than its min.insync.replicas: bring its brokers back.");
	else
		item_fix(item, "See the error: the same would stop or stall the shipper.");
}

/*
 * A template with placeholders names a topic per event: which ones exist
 * only the events will say, so the user names them.
 */
void
preflight_topics_unknown(const char *template, PreflightItem *item)
{
	item_start(item, PREFLIGHT_WARN, "topics");
	item_detail(item, "not checked: the template \"%s\" names a topic per event", template);
	item_fix(item, "Name the topics the events will use with --topic NAME (repeatable), e.g. --topic outbox.event.order.");
}

bool
preflight_fixed_topic(const char *template, char topic[TOPIC_NAME_MAX + 1])
{
	char err[256];

	if (strchr(template, '{') != NULL)
		return false;
	return topic_render(template, NULL, 0, NULL, 0, topic, err, sizeof(err)) == 0;
}

bool
preflight_utf8(const char *codeset)
{
	return codeset != NULL &&
		   (strcasecmp(codeset, "UTF-8") == 0 || strcasecmp(codeset, "UTF8") == 0);
}

static const char *
mark(PreflightVerdict verdict, bool ascii)
{
	static const char *const utf8[] = {"✓", "⚠", "✗", "-"};
	static const char *const plain[] = {"[ok]  ", "[warn]", "[FAIL]", "[skip]"};

	return ascii ? plain[verdict] : utf8[verdict];
}

void
preflight_format(const PreflightItem *item, bool ascii, char *out, size_t out_size)
{
	int n;

	n = snprintf(out, out_size, "%s %s: %s\n", mark(item->verdict, ascii), item->what,
				 item->detail);
	if (item->fix[0] != '\0' && n >= 0 && (size_t) n < out_size)
		snprintf(out + n, out_size - (size_t) n, "    fix: %s\n", item->fix);
}

int
preflight_exit_status(const PreflightItem *items, int nitems)
{
	int i;

	for (i = 0; i < nitems; i++)
		if (items[i].verdict == PREFLIGHT_FAIL)
			return PREFLIGHT_EXIT_FAILED;
	return 0;
}
