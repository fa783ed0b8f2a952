/*
 * log.h
 *	  One line per event worth knowing, to stderr: plain text or JSON lines.
 */
#ifndef SHIPPER_LOG_H
#define SHIPPER_LOG_H

#include <stdbool.h>

typedef enum LogLevel
{
	LOG_DEBUG,
	LOG_INFO,
	LOG_WARNING,
	LOG_ERROR
} LogLevel;

extern void log_setup(bool json, bool verbose);
extern void log_message(LogLevel level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_debug(...) log_message(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_message(LOG_INFO, __VA_ARGS__)
#define log_warning(...) log_message(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_message(LOG_ERROR, __VA_ARGS__)

#endif /* SHIPPER_LOG_H */
