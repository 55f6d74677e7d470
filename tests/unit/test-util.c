/*
 * test-util: helpers for the check programs (see test-util.h).
 */
#include "tests/unit/test-util.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <unistd.h>

char *test_tmpdir(void)
{
    g_autoptr(GError) err = NULL;
    char *dir = g_dir_make_tmp("pmxcfs-test-XXXXXX", &err);
    ck_assert_msg(dir != NULL, "cannot create temp dir: %s", err ? err->message : "?");
    return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void test_rmtree(const char *path)
{
    if (path)
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *test_fixture_path(const char *name)
{
    const char *root = g_getenv("SOURCE_ROOT");
    if (!root)
        root = ".";
    return g_build_filename(root, "tests", "fixtures", "pmxcfs-reference", name, NULL);
}

JsonNode *test_fixture_json(const char *name)
{
    g_autofree char *path = test_fixture_path(name);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) err = NULL;
    ck_assert_msg(json_parser_load_from_file(parser, path, &err), "cannot parse %s: %s", path,
                  err ? err->message : "?");
    return json_node_copy(json_parser_get_root(parser));
}

char *test_hex(const void *data, size_t len)
{
    const uint8_t *p = data;
    char *s = g_malloc(len * 2 + 1);
    for (size_t i = 0; i < len; i++)
        sprintf(s + 2 * i, "%02x", p[i]);
    s[len * 2] = '\0';
    return s;
}

char *test_file_sha256(const char *path)
{
    g_autofree char *content = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &content, &len, NULL))
        return NULL;
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)content, len);
}

int test_copy_file(const char *from, const char *to)
{
    g_autofree char *content = NULL;
    gsize len = 0;
    if (!g_file_get_contents(from, &content, &len, NULL))
        return -EIO;
    if (!g_file_set_contents(to, content, (gssize)len, NULL))
        return -EIO;
    return 0;
}
