/*
 * test-util: small helpers shared by the check programs: temporary directories,
 * fixture paths, hex conversion, JSON fixture loading and file hashing.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

/* A new temporary directory (removed by test_rmtree()). */
char *test_tmpdir(void);
/* Remove a directory tree created by a test. */
void test_rmtree(const char *path);
/* Path of a file in tests/fixtures/pmxcfs-reference (uses $SOURCE_ROOT). */
char *test_fixture_path(const char *name);
/* Parse a JSON fixture; aborts the test on error. */
JsonNode *test_fixture_json(const char *name);
/* Lowercase hex of @len bytes. */
char *test_hex(const void *data, size_t len);
/* SHA-256 of a file as lowercase hex, or NULL if unreadable. */
char *test_file_sha256(const char *path);
/* Copy a file; returns 0 or -errno. */
int test_copy_file(const char *from, const char *to);
