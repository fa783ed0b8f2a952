/*
 * check.h
 *	  `outbox-shipper check`: the preflight.  Reads PostgreSQL and Kafka as
 *	  the daemon with the same flags and environment would see them, prints
 *	  one line per item (preflight.c says what each fact means) and returns
 *	  the exit status: 0 when shipping can start, 1 on a configuration
 *	  error, 2 when an item failed.
 */
#ifndef SHIPPER_CHECK_H
#define SHIPPER_CHECK_H

/* argv[0] is "check"; envp as main's environ. */
extern int check_main(int argc, char **argv, char **envp);

#endif /* SHIPPER_CHECK_H */
