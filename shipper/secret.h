/*
 * secret.h
 *	  Secrets read from files (Kubernetes secret volumes): read at start and
 *	  again when a credential is refused, so a rotated file is picked up
 *	  without a restart.  No libpq, no librdkafka: unit-tested directly.
 *
 *	  Ownership: *value is malloc'd and the caller's; free it with
 *	  secret_free, which wipes it first.
 */
#ifndef SHIPPER_SECRET_H
#define SHIPPER_SECRET_H

#include <stddef.h>

/* Larger files are refused: a secret, not a document. */
#define SECRET_MAX_BYTES 65536

extern int secret_read(const char *path, char **value, char *errstr,
					   size_t errstr_size);
extern void secret_free(char *value);

#endif /* SHIPPER_SECRET_H */
