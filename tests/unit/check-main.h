/*
 * check-main: the shared main() of every check program.
 *
 * A test program defines `Suite *test_suite(void)` and links check-main.c.  The main
 * runs the suite in fork mode and prints TAP to stdout (meson parses it), so each
 * program is one `meson test` entry whose TAP lines name every test case.
 */
#pragma once

#include <check.h>

/* Implemented by each test program. */
Suite *test_suite(void);

/* Exit status 77 tells meson the test was skipped; print why first. */
#define TEST_SKIP_EXIT 77
