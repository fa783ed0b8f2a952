/*
 * preflight.h
 *	  The verdicts of `outbox-shipper check`: facts read from PostgreSQL
 *	  and Kafka in, one item (pass, warn, fail or skip, what was found, the
 *	  fix) out.  Pure: no I/O, so the unit tests feed it facts; check.c
 *	  reads them.
 */
#ifndef SHIPPER_PREFLIGHT_H
#define SHIPPER_PREFLIGHT_H

#include <stdbool.h>
#include <stddef.h>

#include "topic.h"

typedef enum PreflightVerdict
{
	PREFLIGHT_PASS,
	PREFLIGHT_WARN, /* shipping can start, with a risk worth knowing */
	PREFLIGHT_FAIL, /* shipping cannot start (or would fail) until fixed */
	PREFLIGHT_SKIP /* not checked: something it depends on failed */
} PreflightVerdict;

#define PREFLIGHT_TEXT 640

typedef struct PreflightItem
{
	PreflightVerdict verdict;
	char what[TOPIC_NAME_MAX + 32];
	char detail[PREFLIGHT_TEXT]; /* what was found */
	char fix[PREFLIGHT_TEXT]; /* "" when there is nothing to do */
} PreflightItem;

/*
 * output_plugin_libraries, Debian's setting: other builds lack it, and it
 * is for superusers (and pg_read_all_settings) to read.
 */
typedef enum PluginLibraries
{
	LIBRARIES_SET,
	LIBRARIES_UNKNOWN, /* not a setting of this build */
	LIBRARIES_UNREADABLE /* the role may not read it */
} PluginLibraries;

/* What an ordinary connection says about the server. */
typedef struct ServerFacts
{
	char wal_level[32];
	int max_slots;
	int used_slots; /* every slot, of every database and type */
	int max_senders;
	int used_senders; /* walsenders running now */
	PluginLibraries plugin_libraries_state;
	char plugin_libraries[512]; /* LIBRARIES_SET: its value */
	char keep_size[32]; /* max_slot_wal_keep_size as SHOW says it */
	char extension_version[32]; /* installed in this database, or "" */
	char extension_available[32]; /* default_version of the files, or "" */
	bool replication_role; /* rolreplication */
	bool superuser;
	char database[128];
	char user[128];
} ServerFacts;

/* The shipper's slot, from pg_replication_slots. */
typedef struct SlotFacts
{
	bool exists;
	char slot_type[16]; /* logical or physical */
	char plugin[128];
	char database[128];
	bool active;
	int active_pid;
	char active_application[128]; /* "" if unknown */
	char wal_status[16]; /* reserved, extended, unreserved, lost; "" */
} SlotFacts;

/* A Kafka topic, from a metadata request and DescribeConfigs. */
typedef struct TopicFacts
{
	char name[TOPIC_NAME_MAX + 1];
	char error[256]; /* Kafka's error for the topic, or "" */
	bool missing; /* UNKNOWN_TOPIC_OR_PART */
	int partitions;
	int replicas; /* the fewest of any partition */
	int in_sync; /* the fewest in-sync replicas of any partition */
	int min_insync; /* min.insync.replicas; 0: unknown */
} TopicFacts;

extern void preflight_connection(const char *error, const char *server,
								 const char *user, PreflightItem *item);
extern void preflight_wal_level(const ServerFacts *server, PreflightItem *item);
extern void preflight_slots(const ServerFacts *server, const SlotFacts *slot,
							PreflightItem *item);
extern void preflight_senders(const ServerFacts *server, PreflightItem *item);
extern bool preflight_list_has(const char *list, const char *name);
extern void preflight_plugin_allowed(const ServerFacts *server,
									 PreflightItem *item);
extern void preflight_extension(const ServerFacts *server, PreflightItem *item);
extern void preflight_role(const ServerFacts *server, PreflightItem *item);
extern void preflight_replication(const char *error, const ServerFacts *server,
								  PreflightItem *item);
extern void preflight_plugin_loads(const char *error, bool timed_out,
								   PreflightItem *item);
extern void preflight_slot(const char *slot_name, bool create_slot,
						   const SlotFacts *slot, const ServerFacts *server,
						   PreflightItem *item);
extern void preflight_keep_size(const ServerFacts *server, PreflightItem *item);
extern void preflight_kafka(int brokers, const char *error, PreflightItem *item);
extern void preflight_topic(const TopicFacts *topic, PreflightItem *item);
extern void preflight_topics_unknown(const char *template, PreflightItem *item);
extern void preflight_produce(const char *topic, const char *error_name,
							  const char *error, PreflightItem *item);
extern void preflight_skip(const char *what, const char *why,
						   PreflightItem *item);

/* The template's one topic when it has no placeholder; false otherwise. */
extern bool preflight_fixed_topic(const char *template,
								  char topic[TOPIC_NAME_MAX + 1]);
/* Whether a locale codeset (nl_langinfo(CODESET)) can print ✓ and ✗. */
extern bool preflight_utf8(const char *codeset);
/* The item as printed: a mark, what, detail, and an indented fix line. */
extern void preflight_format(const PreflightItem *item, bool ascii, char *out,
							 size_t out_size);
/* 0 when no item failed (shipping can start), PREFLIGHT_EXIT_FAILED if one did. */
#define PREFLIGHT_EXIT_FAILED 2
extern int preflight_exit_status(const PreflightItem *items, int nitems);

#endif /* SHIPPER_PREFLIGHT_H */
