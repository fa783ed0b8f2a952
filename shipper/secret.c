/*
 * secret.c
 *	  Reading a secret from a file.
 *
 * The file's bytes are the value, less trailing newlines and carriage
 * returns (`echo secret > file` and an editor's final newline must not
 * become part of a password; Kubernetes writes none).  An empty file, a
 * NUL byte or more than SECRET_MAX_BYTES is refused: each is a mistake
 * that would otherwise surface later as a puzzling authentication failure.
 * Errors name the path, never the contents.
 */
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
secret_fail(char *buf, char *errstr, size_t errstr_size, const char *fmt,
			const char *path, const char *reason)
{
	/* Whatever was read may be part of a secret. */
	if (buf != NULL)
	{
		explicit_bzero(buf, SECRET_MAX_BYTES + 2);
		free(buf);
	}
	snprintf(errstr, errstr_size, fmt, path, reason);
	return -1;
}

/* Reads at most SECRET_MAX_BYTES + 1 bytes: one more tells it is too large. */
static int
read_all(FILE *f, char *buf, size_t *len)
{
	size_t n;

	*len = 0;
	while ((n = fread(buf + *len, 1, SECRET_MAX_BYTES + 1 - *len, f)) > 0)
	{
		*len += n;
		if (*len > SECRET_MAX_BYTES)
			break;
	}
	return ferror(f) ? -1 : 0;
}

int
secret_read(const char *path, char **value, char *errstr, size_t errstr_size)
{
	FILE *f;
	char *buf;
	size_t len;
	int saved_errno;

	*value = NULL;
	if ((buf = malloc(SECRET_MAX_BYTES + 2)) == NULL)
		return secret_fail(NULL, errstr, errstr_size, "could not read %s: %s", path,
						   "out of memory");
	if ((f = fopen(path, "rb")) == NULL)
		return secret_fail(buf, errstr, errstr_size, "could not read %s: %s", path,
						   strerror(errno));
	if (read_all(f, buf, &len) != 0)
	{
		saved_errno = errno;
		fclose(f);
		return secret_fail(buf, errstr, errstr_size, "could not read %s: %s", path,
						   strerror(saved_errno));
	}
	fclose(f);
	if (len > SECRET_MAX_BYTES)
		return secret_fail(buf, errstr, errstr_size, "%s is larger than %s", path,
						   "64 kB: not a secret");
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len == 0)
		return secret_fail(buf, errstr, errstr_size, "%s is empty%s", path,
						   " (newlines aside)");
	if (memchr(buf, '\0', len) != NULL)
		return secret_fail(buf, errstr, errstr_size, "%s holds a NUL byte%s", path,
						   ", which no property value can");
	buf[len] = '\0';
	*value = buf;
	return 0;
}

/* Wipes and frees a value secret_read returned; NULL is fine. */
void
secret_free(char *value)
{
	if (value == NULL)
		return;
	explicit_bzero(value, strlen(value));
	free(value);
}
