/*
 * config.h
 *	  The shipper's configuration: flags and environment into one struct.
 *	  Pure: no I/O, so the unit tests drive it with argv and envp arrays.
 */
#ifndef SHIPPER_CONFIG_H
#define SHIPPER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define SHIPPER_VERSION "0.1.0"

/* A name=value setting and where it came from, for error messages. */
typedef struct NameValue
{
	char *name;
	char *value;
	char *origin; /* "-X", "--option" or the variable's name */
	bool from_file; /* value is the path of a file holding the value */
} NameValue;

typedef enum ValueMode
{
	VALUE_PAYLOAD, /* the record value is the event's payload */
	VALUE_ENVELOPE /* the whole event as the plugin wrote it */
} ValueMode;

/* The record's shape: the plain one, or a CloudEvent (cloudevents.h). */
typedef enum RecordFormat
{
	FORMAT_PLAIN, /* value and headers as docs/format.md says */
	FORMAT_CLOUDEVENTS, /* binary content mode: ce_ headers */
	FORMAT_CLOUDEVENTS_STRUCTURED /* the value is a JSON CloudEvent */
} RecordFormat;

typedef enum ErrorPolicy
{
	ON_ERROR_STOP,
	ON_ERROR_DEAD_LETTER
} ErrorPolicy;

/* Whether a slot the shipper creates is a failover slot (PostgreSQL 17+). */
typedef enum FailoverMode
{
	FAILOVER_AUTO, /* where the server supports it (17+, not a standby) */
	FAILOVER_ON, /* always: an error where the server cannot */
	FAILOVER_OFF
} FailoverMode;

typedef enum LogFormat
{
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON
} LogFormat;

typedef struct ShipperConfig
{
	char *conninfo; /* NULL: libpq's PG* variables alone */
	char *slot;
	bool create_slot;
	FailoverMode failover;
	NameValue *plugin_options;
	int nplugin_options;
	char *brokers;
	char *topic_template;
	ValueMode value_mode;
	RecordFormat format;
	char *cloudevents_source; /* NULL: /outbox_pg/<database> */
	NameValue *kafka; /* librdkafka properties; later ones win */
	int nkafka;
	long long max_inflight_events;
	long long max_inflight_bytes;
	double status_interval; /* seconds */
	double drain_timeout; /* seconds */
	ErrorPolicy on_permanent_error;
	char *dead_letter_topic;
	char *http_listen; /* NULL: no HTTP endpoint */
	double stall_timeout; /* seconds without a loop turn: unhealthy */
	LogFormat log_format;
	bool verbose;
	bool show_help;
	bool show_version;
} ShipperConfig;

extern int config_parse(int argc, char *const argv[], char *const envp[],
						ShipperConfig *config, char *errstr,
						size_t errstr_size);
extern void config_free(ShipperConfig *config);
extern const char *config_usage(void);
extern bool config_is_secret(const char *name);

#endif /* SHIPPER_CONFIG_H */
