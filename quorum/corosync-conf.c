/*
 * corosync-conf: parser and writer of the corosync.conf syntax.
 *
 * The parser is a single pass over the lines with an explicit stack of open sections;
 * comments are collected until the next item claims them.  It never guesses: anything
 * that corosync itself would not read is an error with its line number, and the caller
 * keeps its old file.  The writer sorts copies of the child arrays, never the tree, so
 * writing is free of side effects.
 */
#include "quorum/corosync-conf.h"

#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK(corosync_conf_error_quark, corosync_conf_error)

static void item_free_cb(gpointer p)
{
    corosync_conf_item_free(p);
}

static corosync_conf_item *item_new(const char *key, const char *value, bool section)
{
    corosync_conf_item *it = g_new0(corosync_conf_item, 1);
    it->key = g_strdup(key);
    it->value = section ? NULL : g_strdup(value ? value : "");
    if (section)
        it->items = g_ptr_array_new_with_free_func(item_free_cb);
    return it;
}

corosync_conf_item *corosync_conf_section_new(const char *name)
{
    return item_new(name ? name : "", NULL, true);
}

void corosync_conf_item_free(corosync_conf_item *item)
{
    if (!item)
        return;
    g_free(item->key);
    g_free(item->value);
    if (item->items)
        g_ptr_array_unref(item->items);
    if (item->comments)
        g_ptr_array_unref(item->comments);
    if (item->tail)
        g_ptr_array_unref(item->tail);
    g_free(item);
}

/* ------------------------------------------------------------------ parsing */

static bool name_valid(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (g_ascii_isspace(*s) || *s == '{' || *s == '}' || *s == ':' || *s == '#')
            return false;
    return true;
}

corosync_conf_item *corosync_conf_parse(const char *text, size_t len, GError **error)
{
    if (text && memchr(text, '\0', len)) {
        const char *nul = memchr(text, '\0', len);
        unsigned line = 1;
        for (const char *p = text; p < nul; p++)
            line += *p == '\n';
        g_set_error(error, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_SYNTAX,
                    "line %u: NUL byte in the file", line);
        return NULL;
    }
    g_autoptr(corosync_conf_item) root = corosync_conf_section_new("");
    corosync_conf_item *stack[COROSYNC_CONF_MAX_DEPTH + 1];
    unsigned depth = 0;
    stack[0] = root;
    g_autoptr(GPtrArray) pending = NULL; /* comments waiting for their item */
    g_autofree char *copy = g_strndup(text ? text : "", text ? len : 0);
    unsigned lineno = 0;
    char *p = copy;
    while (p && *p) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        char *line = g_strstrip(p);
        p = nl ? nl + 1 : NULL;
        size_t n = strlen(line);
        if (n == 0)
            continue;
        corosync_conf_item *cur = stack[depth];
        if (line[0] == '#') {
            if (!pending)
                pending = g_ptr_array_new_with_free_func(g_free);
            g_ptr_array_add(pending, g_strdup(line));
            continue;
        }
        if (strcmp(line, "}") == 0) {
            if (depth == 0) {
                g_set_error(error, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_SYNTAX,
                            "line %u: '}' without an open section", lineno);
                return NULL;
            }
            cur->tail = g_steal_pointer(&pending);
            depth--;
            continue;
        }
        if (line[n - 1] == '{') {
            line[n - 1] = '\0';
            char *name = g_strstrip(line);
            if (!name_valid(name)) {
                g_set_error(error, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_SYNTAX,
                            *name ? "line %u: invalid section name '%s'"
                                  : "line %u: section without a name%s",
                            lineno, name);
                return NULL;
            }
            if (depth == COROSYNC_CONF_MAX_DEPTH) {
                g_set_error(error, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_SYNTAX,
                            "line %u: sections nested deeper than %d levels", lineno,
                            COROSYNC_CONF_MAX_DEPTH);
                return NULL;
            }
            corosync_conf_item *sec = item_new(name, NULL, true);
            sec->line = lineno;
            sec->comments = g_steal_pointer(&pending);
            g_ptr_array_add(cur->items, sec);
            stack[++depth] = sec;
            continue;
        }
        char *colon = strchr(line, ':');
        if (!colon) {
            g_set_error(error, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_SYNTAX,
                        "line %u: expected 'key: value', 'name {' or '}', got '%s'", lineno, line);
            return NULL;
        }
        *colon = '\0';
        char *key = g_strstrip(line);
        char *value = g_strstrip(colon + 1);
        if (!name_valid(key)) {
            g_set_error(error, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_SYNTAX,
                        *key ? "line %u: invalid key '%s'" : "line %u: empty key%s", lineno, key);
            return NULL;
        }
        if (strchr(value, '{') || strchr(value, '}')) {
            g_set_error(error, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_SYNTAX,
                        "line %u: braces in the value of '%s' (one item per line)", lineno, key);
            return NULL;
        }
        corosync_conf_item *kv = item_new(key, value, false);
        kv->line = lineno;
        kv->comments = g_steal_pointer(&pending);
        g_ptr_array_add(cur->items, kv);
    }
    if (depth > 0) {
        g_set_error(error, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_SYNTAX,
                    "line %u: section '%s' opened on line %u is not closed", lineno,
                    stack[depth]->key, stack[depth]->line);
        return NULL;
    }
    root->tail = g_steal_pointer(&pending);
    return g_steal_pointer(&root);
}

/* ------------------------------------------------------------------ writing */

/* Sort key of a repeated section below nodelist (node name) or totem (link number). */
static const char *item_order_key(const corosync_conf_item *parent, const corosync_conf_item *it)
{
    if (!it->items)
        return NULL;
    if (strcmp(parent->key, "nodelist") == 0 && strcmp(it->key, "node") == 0) {
        const char *name = corosync_conf_get(it, "name");
        return name ? name : corosync_conf_get(it, "ring0_addr");
    }
    if (strcmp(parent->key, "totem") == 0 && strcmp(it->key, "interface") == 0)
        return corosync_conf_get(it, "linknumber");
    return NULL;
}

typedef struct sort_entry {
    const corosync_conf_item *item;
    const char *order;
    unsigned pos;
} sort_entry;

static int sort_entry_cmp(const void *a, const void *b)
{
    const sort_entry *x = a, *y = b;
    int c = strcmp(x->item->key, y->item->key);
    if (c)
        return c;
    if (x->order && y->order && (c = strcmp(x->order, y->order)))
        return c;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void write_comments(GString *out, const GPtrArray *comments, unsigned depth)
{
    if (!comments)
        return;
    for (unsigned i = 0; i < comments->len; i++) {
        for (unsigned d = 0; d < depth; d++)
            g_string_append(out, "  ");
        g_string_append_printf(out, "%s\n", (const char *)comments->pdata[i]);
    }
}

static void write_section(GString *out, const corosync_conf_item *sec, unsigned depth)
{
    unsigned n = sec->items->len;
    g_autofree sort_entry *order = g_new0(sort_entry, n ? n : 1);
    for (unsigned i = 0; i < n; i++) {
        order[i].item = sec->items->pdata[i];
        order[i].order = item_order_key(sec, order[i].item);
        order[i].pos = i;
    }
    qsort(order, n, sizeof(*order), sort_entry_cmp);
    for (unsigned i = 0; i < n; i++) {
        const corosync_conf_item *it = order[i].item;
        write_comments(out, it->comments, depth);
        for (unsigned d = 0; d < depth; d++)
            g_string_append(out, "  ");
        if (!it->items) {
            g_string_append_printf(out, "%s: %s\n", it->key, it->value);
            continue;
        }
        g_string_append_printf(out, "%s {\n", it->key);
        write_section(out, it, depth + 1);
        write_comments(out, it->tail, depth + 1);
        for (unsigned d = 0; d < depth; d++)
            g_string_append(out, "  ");
        g_string_append(out, "}\n");
        if (depth == 0)
            g_string_append_c(out, '\n');
    }
}

char *corosync_conf_write(const corosync_conf_item *root)
{
    GString *out = g_string_new(NULL);
    write_section(out, root, 0);
    write_comments(out, root->tail, 0);
    return g_string_free(out, FALSE);
}

/* ------------------------------------------------------------------ access */

corosync_conf_item *corosync_conf_section(const corosync_conf_item *sec, const char *name)
{
    g_auto(GStrv) parts = g_strsplit(name, ".", -1);
    const corosync_conf_item *cur = sec;
    for (unsigned k = 0; parts[k] && cur; k++) {
        const corosync_conf_item *next = NULL;
        for (unsigned i = 0; i < cur->items->len && !next; i++) {
            const corosync_conf_item *it = cur->items->pdata[i];
            if (it->items && strcmp(it->key, parts[k]) == 0)
                next = it;
        }
        cur = next;
    }
    return (corosync_conf_item *)cur;
}

/* Split "a.b.c" into the section "a.b" below @sec (NULL if missing) and the key "c". */
static const corosync_conf_item *path_parent(const corosync_conf_item *sec, const char *path,
                                             const char **ret_key)
{
    const char *dot = strrchr(path, '.');
    if (!dot) {
        *ret_key = path;
        return sec;
    }
    *ret_key = dot + 1;
    g_autofree char *head = g_strndup(path, (gsize)(dot - path));
    return corosync_conf_section(sec, head);
}

static corosync_conf_item *last_key(const corosync_conf_item *sec, const char *key)
{
    for (unsigned i = sec->items->len; i-- > 0;) {
        corosync_conf_item *it = sec->items->pdata[i];
        if (!it->items && strcmp(it->key, key) == 0)
            return it;
    }
    return NULL;
}

const char *corosync_conf_get(const corosync_conf_item *sec, const char *path)
{
    const char *key;
    const corosync_conf_item *parent = path_parent(sec, path, &key);
    if (!parent)
        return NULL;
    const corosync_conf_item *it = last_key(parent, key);
    return it ? it->value : NULL;
}

void corosync_conf_set(corosync_conf_item *sec, const char *path, const char *value)
{
    g_auto(GStrv) parts = g_strsplit(path, ".", -1);
    unsigned n = g_strv_length(parts);
    corosync_conf_item *cur = sec;
    for (unsigned k = 0; k + 1 < n; k++) {
        corosync_conf_item *next = corosync_conf_section(cur, parts[k]);
        cur = next ? next : corosync_conf_section_add(cur, parts[k]);
    }
    corosync_conf_item *it = last_key(cur, parts[n - 1]);
    if (it) {
        g_free(it->value);
        it->value = g_strdup(value);
        return;
    }
    g_ptr_array_add(cur->items, item_new(parts[n - 1], value, false));
}

unsigned corosync_conf_unset(corosync_conf_item *sec, const char *key)
{
    unsigned removed = 0;
    for (unsigned i = sec->items->len; i-- > 0;) {
        corosync_conf_item *it = sec->items->pdata[i];
        if (!it->items && strcmp(it->key, key) == 0) {
            g_ptr_array_remove_index(sec->items, i);
            removed++;
        }
    }
    return removed;
}

corosync_conf_item *corosync_conf_section_add(corosync_conf_item *sec, const char *name)
{
    corosync_conf_item *it = item_new(name, NULL, true);
    g_ptr_array_add(sec->items, it);
    return it;
}

bool corosync_conf_remove(corosync_conf_item *sec, corosync_conf_item *item)
{
    return sec->items && g_ptr_array_remove(sec->items, item);
}

GPtrArray *corosync_conf_sections(const corosync_conf_item *sec, const char *name)
{
    GPtrArray *res = g_ptr_array_new();
    for (unsigned i = 0; sec && i < sec->items->len; i++) {
        corosync_conf_item *it = sec->items->pdata[i];
        if (it->items && strcmp(it->key, name) == 0)
            g_ptr_array_add(res, it);
    }
    return res;
}
