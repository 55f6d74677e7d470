/*
 * section-config: parser and writer helpers for the section config syntax.
 *
 * The parser is line based and schema-free.  It mirrors the reference rules: a
 * header has no leading whitespace, `<type>:` then optional spaces and an id without
 * whitespace; property lines start with whitespace; comment lines (first non-blank
 * character '#') are skipped anywhere; a blank line ends the section.  Problems never
 * abort the parse: they are recorded as warnings and the line (or, for a bad header,
 * the whole section) is skipped, so nothing valid is lost.
 */
#include "lib/section-config.h"

#include <errno.h>
#include <string.h>

static void prop_free(gpointer p)
{
    section_config_prop *prop = p;
    if (!prop)
        return;
    g_free(prop->key);
    g_free(prop->value);
    g_free(prop);
}

static void section_free(gpointer p)
{
    section_config_section *sec = p;
    if (!sec)
        return;
    g_free(sec->type);
    g_free(sec->id);
    g_ptr_array_unref(sec->props);
    g_free(sec);
}

void section_config_free(section_config *cfg)
{
    if (!cfg)
        return;
    g_ptr_array_unref(cfg->sections);
    g_ptr_array_unref(cfg->warnings);
    g_free(cfg->digest);
    g_free(cfg);
}

void section_config_warn(section_config *cfg, int line, const char *filename, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_ptr_array_add(cfg->warnings,
                    g_strdup_printf("%s:%d: %s", filename ? filename : "<input>", line, msg));
}

char *section_config_digest(const char *data, gsize len)
{
    return g_compute_checksum_for_data(G_CHECKSUM_SHA1, (const guchar *)(data ? data : ""),
                                       data ? len : 0);
}

static gboolean is_blank(const char *s)
{
    for (; *s; s++)
        if (!g_ascii_isspace(*s))
            return FALSE;
    return TRUE;
}

/* Parse a header line; on success fills type and id (new strings). */
static gboolean parse_header(const char *line, char **ret_type, char **ret_id)
{
    const char *colon = strchr(line, ':');
    if (!colon || colon == line)
        return FALSE;
    for (const char *p = line; p < colon; p++)
        if (!(g_ascii_isalnum(*p) || *p == '-' || *p == '_'))
            return FALSE;
    const char *id = colon + 1;
    while (*id == ' ' || *id == '\t')
        id++;
    const char *end = id;
    while (*end && !g_ascii_isspace(*end))
        end++;
    if (end == id)
        return FALSE;
    for (const char *p = end; *p; p++)
        if (!g_ascii_isspace(*p))
            return FALSE;
    *ret_type = g_strndup(line, colon - line);
    *ret_id = g_strndup(id, end - id);
    return TRUE;
}

section_config *section_config_parse(const char *text, const char *filename)
{
    section_config *cfg = g_new0(section_config, 1);
    cfg->sections = g_ptr_array_new_with_free_func(section_free);
    cfg->warnings = g_ptr_array_new_with_free_func(g_free);
    cfg->digest = section_config_digest(text, text ? strlen(text) : 0);
    if (!text)
        return cfg;

    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    section_config_section *cur = NULL;
    gboolean skipping = FALSE; /* inside a section whose header was invalid */

    for (int i = 0; lines[i]; i++) {
        int lineno = i + 1;
        char *line = lines[i];
        gsize len = strlen(line);
        if (len > 0 && line[len - 1] == '\r')
            line[len - 1] = '\0';

        const char *first = line;
        while (*first == ' ' || *first == '\t')
            first++;
        if (*first == '#')
            continue;
        if (is_blank(line)) {
            cur = NULL;
            skipping = FALSE;
            continue;
        }
        if (line[0] != ' ' && line[0] != '\t') {
            if (cur || skipping) {
                /* a header without a blank line before it: start a new section anyway */
                cur = NULL;
                skipping = FALSE;
            }
            char *type = NULL, *id = NULL;
            if (!parse_header(line, &type, &id)) {
                section_config_warn(cfg, lineno, filename, "invalid section header '%s', skipping section",
                                    line);
                skipping = TRUE;
                continue;
            }
            cur = g_new0(section_config_section, 1);
            cur->type = type;
            cur->id = id;
            cur->line = lineno;
            cur->props = g_ptr_array_new_with_free_func(prop_free);
            g_ptr_array_add(cfg->sections, cur);
            continue;
        }
        if (skipping)
            continue;
        if (!cur) {
            section_config_warn(cfg, lineno, filename, "property line outside of a section, ignoring");
            continue;
        }
        /* property line: key, optional whitespace and value up to the last non-blank */
        const char *k = first;
        const char *kend = k;
        while (*kend && !g_ascii_isspace(*kend))
            kend++;
        g_autofree char *key = g_strndup(k, kend - k);
        gboolean key_ok = key[0] != '\0';
        for (const char *p = key; *p; p++)
            if (!(g_ascii_isalnum(*p) || *p == '-' || *p == '_'))
                key_ok = FALSE;
        if (!key_ok) {
            section_config_warn(cfg, lineno, filename, "unable to parse line '%s', ignoring", line);
            continue;
        }
        const char *v = kend;
        while (*v == ' ' || *v == '\t')
            v++;
        g_autofree char *value = g_strdup(v);
        g_strchomp(value);
        if (section_config_section_has(cur, key)) {
            section_config_warn(cfg, lineno, filename, "duplicate key '%s' in section '%s', ignoring",
                                key, cur->id);
            continue;
        }
        section_config_prop *prop = g_new0(section_config_prop, 1);
        prop->key = g_steal_pointer(&key);
        prop->value = value[0] ? g_steal_pointer(&value) : g_strdup("1");
        prop->line = lineno;
        g_ptr_array_add(cur->props, prop);
    }
    return cfg;
}

const char *section_config_section_get(const section_config_section *sec, const char *key)
{
    for (guint i = 0; i < sec->props->len; i++) {
        section_config_prop *p = g_ptr_array_index(sec->props, i);
        if (strcmp(p->key, key) == 0)
            return p->value;
    }
    return NULL;
}

gboolean section_config_section_has(const section_config_section *sec, const char *key)
{
    return section_config_section_get(sec, key) != NULL;
}

void section_config_write_header(GString *out, const char *type, const char *id)
{
    g_string_append_printf(out, "%s: %s\n", type, id);
}

void section_config_write_prop(GString *out, const char *key, const char *value)
{
    if (value)
        g_string_append_printf(out, "\t%s %s\n", key, value);
    else
        g_string_append_printf(out, "\t%s\n", key);
}

void section_config_write_end(GString *out)
{
    g_string_append_c(out, '\n');
}

char **section_config_split_list(const char *value)
{
    GPtrArray *items = g_ptr_array_new();
    const char *p = value ? value : "";
    while (*p) {
        while (*p && (*p == ',' || *p == ';' || g_ascii_isspace(*p)))
            p++;
        const char *start = p;
        while (*p && !(*p == ',' || *p == ';' || g_ascii_isspace(*p)))
            p++;
        if (p > start)
            g_ptr_array_add(items, g_strndup(start, p - start));
    }
    g_ptr_array_add(items, NULL);
    return (char **)g_ptr_array_free(items, FALSE);
}

int section_config_parse_bool(const char *value)
{
    static const char *const yes[] = {"1", "yes", "on", "true"};
    static const char *const no[] = {"0", "no", "off", "false"};
    if (!value)
        return -EINVAL;
    for (gsize i = 0; i < G_N_ELEMENTS(yes); i++) {
        if (g_ascii_strcasecmp(value, yes[i]) == 0)
            return 1;
        if (g_ascii_strcasecmp(value, no[i]) == 0)
            return 0;
    }
    return -EINVAL;
}
