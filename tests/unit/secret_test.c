/* Unit tests: secrets read from files (secret.c), on real temporary files. */
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"
#include "unit.h"

/* A temporary file holding len bytes of content; its path in path. */
static void
write_file(char *path, size_t path_size, const char *content, size_t len)
{
	int fd;

	snprintf(path, path_size, "/tmp/outbox_secret_test.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t) len);
	close(fd);
}

/* Trailing newlines go, anything else stays, inner newlines included. */
static void
test_values(void **state)
{
	static const struct
	{
		const char *content;
		size_t len;
		const char *want;
	} cases[] = {
		{"s3cret", 6, "s3cret"},
		{"s3cret\n", 7, "s3cret"},
		{"s3cret\r\n", 8, "s3cret"},
		{"s3cret\n\n\n", 9, "s3cret"},
		{" spaces kept \t", 14, " spaces kept \t"},
		{"-----BEGIN KEY-----\nabc\n-----END KEY-----\n", 42,
		 "-----BEGIN KEY-----\nabc\n-----END KEY-----"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char path[64];
		char err[256];
		char *value;

		write_file(path, sizeof(path), cases[i].content, cases[i].len);
		if (secret_read(path, &value, err, sizeof(err)) != 0)
			fail_msg("case %zu: %s", i, err);
		EXPECT_STR("value", cases[i].want, value);
		secret_free(value);
		unlink(path);
	}
}

/* Errors name the path and never show what the file holds. */
static void
test_errors(void **state)
{
	static const struct
	{
		const char *content;
		size_t len;
		const char *error;
	} cases[] = {
		{"", 0, " is empty (newlines aside)"},
		{"\n\r\n", 3, " is empty (newlines aside)"},
		{"pass\0word", 9, " holds a NUL byte, which no property value can"},
	};
	size_t i;
	char path[64];
	char err[256];
	char want[128];
	char *value = (char *) "untouched";

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		write_file(path, sizeof(path), cases[i].content, cases[i].len);
		assert_int_equal(secret_read(path, &value, err, sizeof(err)), -1);
		assert_null(value);
		snprintf(want, sizeof(want), "%s%s", path, cases[i].error);
		EXPECT_STR("error", want, err);
		unlink(path);
	}
	assert_int_equal(secret_read("/nonexistent/outbox/password", &value, err, sizeof(err)), -1);
	EXPECT_STR("error", "could not read /nonexistent/outbox/password: No such file or directory", err);
	assert_int_equal(secret_read("/tmp", &value, err, sizeof(err)), -1);
	EXPECT_STR("error", "could not read /tmp: Is a directory", err);
}

/* SECRET_MAX_BYTES is accepted, one more byte is not. */
static void
test_size_limit(void **state)
{
	char *big = malloc(SECRET_MAX_BYTES + 1);
	char path[64];
	char err[256];
	char want[128];
	char *value;

	assert_non_null(big);
	memset(big, 'x', SECRET_MAX_BYTES + 1);
	write_file(path, sizeof(path), big, SECRET_MAX_BYTES);
	assert_int_equal(secret_read(path, &value, err, sizeof(err)), 0);
	assert_int_equal(strlen(value), SECRET_MAX_BYTES);
	secret_free(value);
	unlink(path);
	write_file(path, sizeof(path), big, SECRET_MAX_BYTES + 1);
	assert_int_equal(secret_read(path, &value, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s is larger than 64 kB: not a secret", path);
	EXPECT_STR("error", want, err);
	unlink(path);
	free(big);
}

/* A file read again gives what it holds now (rotation). */
static void
test_read_again(void **state)
{
	char path[64];
	char err[256];
	char *value;
	FILE *f;

	write_file(path, sizeof(path), "old\n", 4);
	assert_int_equal(secret_read(path, &value, err, sizeof(err)), 0);
	EXPECT_STR("first", "old", value);
	secret_free(value);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("new-password\n", f);
	fclose(f);
	assert_int_equal(secret_read(path, &value, err, sizeof(err)), 0);
	EXPECT_STR("after rotation", "new-password", value);
	secret_free(value);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_read_again),
	};

	return cmocka_run_group_tests_name("secret", tests, NULL, NULL);
}
