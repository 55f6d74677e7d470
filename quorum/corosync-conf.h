/*
 * corosync-conf: the syntax of corosync.conf: a tree of sections and `key: value`
 * items, with comments.
 *
 * Owns only the syntax (no knowledge of totem or nodelist; see cluster-conf for that).
 * Input rules, as corosync reads its file: one item per line; surrounding blanks are
 * ignored; a line whose first non-blank character is `#` is a comment; `name {` opens a
 * section, `}` closes it; anything else must be `key: value` (split at the first colon,
 * so IPv6 addresses in values are fine).  Unknown keys and sections are kept, in file
 * order, duplicates included.  A comment is attached to the item that follows it (or,
 * before a `}` or the end of the file, to the end of its section), so rewriting a file
 * keeps every comment next to what it described.
 *
 * The writer produces the reference layout that `pvecm` and the PVE tools write: items
 * sorted by name, two-space indentation, a blank line after every top-level section;
 * `nodelist { node {...} }` entries ordered by node name and `totem { interface {...} }`
 * entries by link number.  Sorting is stable, so repeated keys keep their order.  For any
 * tree t: parse(write(t)) writes back to exactly write(t).
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

/* Nesting limit of sections; corosync.conf uses three levels. */
#define COROSYNC_CONF_MAX_DEPTH 16

#define COROSYNC_CONF_ERROR (corosync_conf_error_quark())
GQuark corosync_conf_error_quark(void);

typedef enum {
    COROSYNC_CONF_ERROR_SYNTAX, /* message: "line N: ..." */
} corosync_conf_error;

typedef struct corosync_conf_item corosync_conf_item;
struct corosync_conf_item {
    char *key;           /* item key or section name ("" for the root) */
    char *value;         /* NULL for a section */
    GPtrArray *items;    /* children of a section (of corosync_conf_item *), NULL for a key */
    GPtrArray *comments; /* comment lines before the item ("# text"), or NULL */
    GPtrArray *tail;     /* comments before the closing brace of a section, or NULL */
    unsigned line;       /* source line (0 for items created in memory) */
};

/*
 * Parse @len bytes of @text.  Returns the root section (key "") to free with
 * corosync_conf_item_free(), or NULL with @error set (COROSYNC_CONF_ERROR_SYNTAX,
 * message "line N: what is wrong") on malformed input: a line that is neither a comment,
 * a section start, `}` nor `key: value`; an empty key or section name; an unmatched `}`;
 * a section left open at the end; nesting deeper than COROSYNC_CONF_MAX_DEPTH; a NUL byte.
 */
corosync_conf_item *corosync_conf_parse(const char *text, size_t len, GError **error);

/* The reference layout of @root (see the header comment); a new string. */
char *corosync_conf_write(const corosync_conf_item *root);

/* A new empty section named @name (use "" for a new root). */
corosync_conf_item *corosync_conf_section_new(const char *name);
void corosync_conf_item_free(corosync_conf_item *item);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(corosync_conf_item, corosync_conf_item_free)

/*
 * The first section named @name directly below @sec, or NULL.  @name may be a dotted
 * path ("totem.interface"): each component names the first matching section.
 */
corosync_conf_item *corosync_conf_section(const corosync_conf_item *sec, const char *name);

/*
 * The value of key @path below @sec ("totem.cluster_name"), or NULL.  When a key is
 * repeated the last one counts, as in corosync.
 */
const char *corosync_conf_get(const corosync_conf_item *sec, const char *path);

/*
 * Set key @path below @sec to @value: replaces the value of the last existing key,
 * otherwise appends a new key, creating missing sections on the way.
 */
void corosync_conf_set(corosync_conf_item *sec, const char *path, const char *value);

/* Remove every key @key directly below @sec; returns how many were removed. */
unsigned corosync_conf_unset(corosync_conf_item *sec, const char *key);

/* Append a new empty section @name to @sec; returns it (owned by @sec). */
corosync_conf_item *corosync_conf_section_add(corosync_conf_item *sec, const char *name);

/* Remove and free the child @item of @sec; false if it is not a child of @sec. */
bool corosync_conf_remove(corosync_conf_item *sec, corosync_conf_item *item);

/*
 * Every section named @name directly below @sec, in file order: a new array of borrowed
 * pointers (free the array only).
 */
GPtrArray *corosync_conf_sections(const corosync_conf_item *sec, const char *name);
