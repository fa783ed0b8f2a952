/*
 * topic.h
 *	  Kafka topic names from a template such as outbox.event.{aggregate_type}.
 *	  Pure: no I/O.
 */
#ifndef SHIPPER_TOPIC_H
#define SHIPPER_TOPIC_H

#include <stddef.h>

/* Kafka's limit on topic names. */
#define TOPIC_NAME_MAX 249

extern int topic_template_check(const char *template, char *errstr,
								size_t errstr_size);
extern int topic_render(const char *template, const char *aggregate_type,
						size_t aggregate_type_len, const char *event_type,
						size_t event_type_len, char *topic, char *errstr,
						size_t errstr_size);
extern size_t topic_render_unchecked(const char *template,
									 const char *aggregate_type,
									 size_t aggregate_type_len,
									 const char *event_type,
									 size_t event_type_len, char *topic,
									 size_t topic_size);

#endif /* SHIPPER_TOPIC_H */
