/*
 * test-section-config: the shared section-config parser and writer helpers.
 */
#include "lib/section-config.h"
#include "tests/unit/check-main.h"

#include <errno.h>
#include <string.h>

START_TEST(test_parse_sections)
{
    const char *text = "# comment\n"
                       "vm: 100\n"
                       "\tcomment billing  frontend  \n"
                       "\tfailback 0\n"
                       "   # indented comment\n"
                       "\tdisable\n"
                       "\n"
                       "ct:   201\n"
                       "    max_relocate 2\n";
    g_autoptr(section_config) cfg = section_config_parse(text, "resources.cfg");
    ck_assert_int_eq(cfg->sections->len, 2);
    ck_assert_int_eq(cfg->warnings->len, 0);
    section_config_section *a = g_ptr_array_index(cfg->sections, 0);
    ck_assert_str_eq(a->type, "vm");
    ck_assert_str_eq(a->id, "100");
    ck_assert_str_eq(section_config_section_get(a, "comment"), "billing  frontend");
    ck_assert_str_eq(section_config_section_get(a, "failback"), "0");
    ck_assert_str_eq(section_config_section_get(a, "disable"), "1");
    section_config_section *b = g_ptr_array_index(cfg->sections, 1);
    ck_assert_str_eq(b->id, "201");
    ck_assert_str_eq(section_config_section_get(b, "max_relocate"), "2");
    ck_assert_int_eq(strlen(cfg->digest), 40);
}
END_TEST

START_TEST(test_parse_bad_input_warns)
{
    const char *text = "bad header line\n"
                       "\tkey value\n"
                       "\n"
                       "vm: 100\n"
                       "\tstate started\n"
                       "\tstate stopped\n"
                       "\tbad=key x\n"
                       "\n"
                       "\torphan 1\n"
                       "vm: 101\n";
    g_autoptr(section_config) cfg = section_config_parse(text, "f");
    ck_assert_int_eq(cfg->sections->len, 2);
    ck_assert_int_eq(cfg->warnings->len, 4);
    section_config_section *a = g_ptr_array_index(cfg->sections, 0);
    ck_assert_str_eq(section_config_section_get(a, "state"), "started"); /* first wins */
    ck_assert_ptr_nonnull(strstr(g_ptr_array_index(cfg->warnings, 0), "f:1:"));
    ck_assert_ptr_nonnull(strstr(g_ptr_array_index(cfg->warnings, 1), "duplicate key 'state'"));
}
END_TEST

START_TEST(test_empty_and_null)
{
    g_autoptr(section_config) a = section_config_parse(NULL, "x");
    ck_assert_int_eq(a->sections->len, 0);
    g_autoptr(section_config) b = section_config_parse("", "x");
    ck_assert_int_eq(b->sections->len, 0);
    ck_assert_str_eq(a->digest, b->digest);
}
END_TEST

START_TEST(test_split_and_bool)
{
    g_auto(GStrv) items = section_config_split_list(" a,b;c  d,,");
    ck_assert_int_eq(g_strv_length(items), 4);
    ck_assert_str_eq(items[3], "d");
    ck_assert_int_eq(section_config_parse_bool("yes"), 1);
    ck_assert_int_eq(section_config_parse_bool("Off"), 0);
    ck_assert_int_eq(section_config_parse_bool("2"), -EINVAL);
}
END_TEST

START_TEST(test_writer)
{
    GString *out = g_string_new(NULL);
    section_config_write_header(out, "group", "g1");
    section_config_write_prop(out, "disable", NULL);
    section_config_write_prop(out, "nodes", "n1,n2");
    section_config_write_end(out);
    ck_assert_str_eq(out->str, "group: g1\n\tdisable\n\tnodes n1,n2\n\n");
    g_autoptr(section_config) cfg = section_config_parse(out->str, "w");
    ck_assert_int_eq(cfg->sections->len, 1);
    g_string_free(out, TRUE);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("section-config");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_parse_sections);
    tcase_add_test(tc, test_parse_bad_input_warns);
    tcase_add_test(tc, test_empty_and_null);
    tcase_add_test(tc, test_split_and_bool);
    tcase_add_test(tc, test_writer);
    suite_add_tcase(s, tc);
    return s;
}
