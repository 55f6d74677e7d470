/*
 * section-config: the "section config" text format shared by resources.cfg,
 * rules.cfg, groups.cfg and others.
 *
 * Owns only the syntax: sections `<type>: <id>` followed by tab/space-indented
 * `key [value]` lines, `#` comments, a blank line ending a section.  It knows no
 * schema: callers validate types and keys.  Malformed lines, duplicate keys and
 * invalid headers are not fatal; they become warnings ("<file>:<line>: <text>")
 * collected in the parse result, and the offending line or section is skipped.
 *
 * Invariants: sections keep file order; properties keep file order within a
 * section; a boolean key without a value has the value "1".
 */
#pragma once

#include <glib.h>

typedef struct {
    char *key;
    char *value; /* never NULL; "1" for a bare key */
    int line;
} section_config_prop;

typedef struct {
    char *type;
    char *id;
    int line;
    GPtrArray *props; /* of section_config_prop* */
} section_config_section;

typedef struct {
    GPtrArray *sections; /* of section_config_section* */
    GPtrArray *warnings; /* of char*, "<file>:<line>: <text>" */
    char *digest;        /* SHA-1 hex of the raw bytes */
} section_config;

/*
 * Parse @text (may be NULL or empty: no sections).  @filename only names the
 * source in warnings.  Never fails; returns a new object to free with
 * section_config_free().
 */
section_config *section_config_parse(const char *text, const char *filename);
void section_config_free(section_config *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(section_config, section_config_free)

/* The value of @key in @sec, or NULL. */
const char *section_config_section_get(const section_config_section *sec, const char *key);

/* Whether @key is present in @sec (with any value). */
gboolean section_config_section_has(const section_config_section *sec, const char *key);

/* Add a warning to @cfg (printf-style text, the caller adds no file/line). */
void section_config_warn(section_config *cfg, int line, const char *filename, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

/*
 * Writer helpers.  section_config_write_header() appends "<type>: <id>\n",
 * section_config_write_prop() appends "\t<key> <value>\n" (or "\t<key>\n" when
 * @value is NULL), section_config_write_end() appends the blank line.
 */
void section_config_write_header(GString *out, const char *type, const char *id);
void section_config_write_prop(GString *out, const char *key, const char *value);
void section_config_write_end(GString *out);

/*
 * Split a list value on commas, semicolons and whitespace; empty items are
 * dropped.  Returns a NULL-terminated vector (g_strfreev).
 */
char **section_config_split_list(const char *value);

/* Parse a boolean (0/1, yes/no, on/off, true/false).  Returns 0/1, or -EINVAL. */
int section_config_parse_bool(const char *value);

/* SHA-1 hex digest of @len bytes (for file digests). */
char *section_config_digest(const char *data, gsize len);
