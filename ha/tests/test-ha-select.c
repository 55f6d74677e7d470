/*
 * test-ha-select: node selection (ha.md §6.6), the basic and static schedulers
 * (TOPSIS) and rule checks/compilation (§6.10).
 */
#include "ha/rules.h"
#include "ha/select.h"
#include "ha/usage.h"
#include "tests/unit/check-main.h"

#include <string.h>

static GPtrArray *strv(const char *first, ...)
{
    GPtrArray *a = g_ptr_array_new();
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        g_ptr_array_add(a, (gpointer)s);
    va_end(ap);
    return a;
}

static GHashTable *ss_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)ha_service_state_free);
}

static ha_service_state *ss_add(GHashTable *ss, const char *sid, ha_svc_state st, const char *node,
                                const char *target)
{
    ha_service_state *sd = ha_service_state_new();
    sd->state = st;
    sd->node = g_strdup(node);
    sd->target = g_strdup(target);
    g_hash_table_insert(ss, g_strdup(sid), sd);
    return sd;
}

static ha_usage *usage_for(GHashTable *ss, GPtrArray *nodes)
{
    ha_usage *u = NULL;
    ck_assert_int_eq(ha_usage_new(NULL, HA_SCHED_BASIC, nodes, &u, NULL), 0);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, ss);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        ha_service_state *sd = v;
        ha_usage_add_service(u, k, sd->state, sd->node, sd->target);
    }
    return u;
}

static ha_compiled_rules *compile(const char *text, GPtrArray *nodes, GPtrArray *msgs)
{
    g_autoptr(ha_rules) rules = ha_rules_parse(text, "rules", NULL);
    return ha_rules_compile(rules, nodes, msgs);
}

START_TEST(test_usage_table)
{
    g_autoptr(GPtrArray) nodes = strv("n1", "n2", "n3", NULL);
    g_autoptr(GHashTable) ss = ss_new();
    ss_add(ss, "vm:101", HA_SS_STARTED, "n1", NULL);
    ss_add(ss, "vm:102", HA_SS_STOPPED, "n1", NULL);
    ss_add(ss, "vm:103", HA_SS_MIGRATE, "n2", "n3");
    ss_add(ss, "vm:104", HA_SS_REQUEST_START_BALANCE, "n1", "n2");
    ss_add(ss, "vm:105", HA_SS_STARTED, "n9", NULL); /* offline node: not counted */
    g_autoptr(ha_usage) u = usage_for(ss, nodes);
    g_autoptr(GHashTable) sc = ha_usage_score_nodes(u, "vm:200");
    ck_assert_double_eq(*(double *)g_hash_table_lookup(sc, "n1"), 1);
    ck_assert_double_eq(*(double *)g_hash_table_lookup(sc, "n2"), 2);
    ck_assert_double_eq(*(double *)g_hash_table_lookup(sc, "n3"), 1);
    ha_usage_remove_service(u, "vm:103");
    g_autoptr(GHashTable) sc2 = ha_usage_score_nodes(u, "vm:200");
    ck_assert_double_eq(*(double *)g_hash_table_lookup(sc2, "n3"), 0);
}
END_TEST

START_TEST(test_select_basic)
{
    g_autoptr(GPtrArray) nodes = strv("n1", "n2", "n3", NULL);
    g_autoptr(GHashTable) ss = ss_new();
    ss_add(ss, "vm:101", HA_SS_STARTED, "n1", NULL);
    ss_add(ss, "vm:102", HA_SS_STARTED, "n1", NULL);
    ss_add(ss, "vm:103", HA_SS_STARTED, "n2", NULL);
    ha_service_state *sd = ss_add(ss, "vm:104", HA_SS_RECOVERY, "n4", NULL);
    g_autoptr(ha_usage) u = usage_for(ss, nodes);
    g_autofree char *best = ha_select_node(NULL, u, ss, "vm:104", sd, true, HA_SELECT_BEST_SCORE);
    ck_assert_str_eq(best, "n3");
    /* none: stay on the current node if it is a candidate */
    ha_service_state *s1 = g_hash_table_lookup(ss, "vm:101");
    g_autofree char *stay = ha_select_node(NULL, u, ss, "vm:101", s1, true, HA_SELECT_NONE);
    ck_assert_str_eq(stay, "n1");
    /* try-next after a failure on n1: failed nodes removed, best of the rest */
    s1->failed_nodes = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(s1->failed_nodes, g_strdup("n1"));
    g_autofree char *next = ha_select_node(NULL, u, ss, "vm:101", s1, true, HA_SELECT_TRY_NEXT);
    ck_assert_str_eq(next, "n3");
    g_ptr_array_add(s1->failed_nodes, g_strdup("n2"));
    g_ptr_array_add(s1->failed_nodes, g_strdup("n3"));
    g_autofree char *none = ha_select_node(NULL, u, ss, "vm:101", s1, true, HA_SELECT_TRY_NEXT);
    ck_assert_ptr_null(none);
}
END_TEST

START_TEST(test_select_node_affinity)
{
    g_autoptr(GPtrArray) nodes = strv("n1", "n2", "n3", NULL);
    g_autoptr(GPtrArray) online = strv("n2", "n3", NULL);
    g_autoptr(GHashTable) ss = ss_new();
    ha_service_state *sd = ss_add(ss, "vm:101", HA_SS_STARTED, "n3", NULL);
    ss_add(ss, "vm:102", HA_SS_STARTED, "n2", NULL);
    g_autoptr(ha_compiled_rules) rules =
        compile("node-affinity: prefer\n\tnodes n1:2,n2:1\n\tresources vm:101\n", nodes, NULL);
    g_autoptr(ha_usage) u = usage_for(ss, online);
    /* n1 (prio 2) offline: highest available priority is n2; failback moves it there */
    g_autofree char *a = ha_select_node(rules, u, ss, "vm:101", sd, true, HA_SELECT_NONE);
    ck_assert_str_eq(a, "n2");
    /* failback 0 keeps it on n3 (allowed at priority -1 in a non-strict rule) */
    g_autofree char *b = ha_select_node(rules, u, ss, "vm:101", sd, false, HA_SELECT_NONE);
    ck_assert_str_eq(b, "n3");
    /* strict: n3 not allowed; with n2 offline nothing is left */
    g_autoptr(ha_compiled_rules) strict =
        compile("node-affinity: only\n\tnodes n1,n2\n\tresources vm:101\n\tstrict 1\n", nodes, NULL);
    g_autoptr(GPtrArray) only3 = strv("n3", NULL);
    g_autoptr(ha_usage) u3 = usage_for(ss, only3);
    g_autofree char *c = ha_select_node(strict, u3, ss, "vm:101", sd, true, HA_SELECT_BEST_SCORE);
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_select_resource_affinity)
{
    g_autoptr(GPtrArray) nodes = strv("n1", "n2", "n3", NULL);
    g_autoptr(GHashTable) ss = ss_new();
    ss_add(ss, "vm:101", HA_SS_STARTED, "n1", NULL);
    ss_add(ss, "vm:102", HA_SS_STARTED, "n1", NULL);
    ha_service_state *sd = ss_add(ss, "vm:103", HA_SS_RECOVERY, "n9", NULL);
    ss_add(ss, "vm:104", HA_SS_MIGRATE, "n2", "n3");
    g_autoptr(ha_usage) u = usage_for(ss, nodes);
    /* scores n1 2, n2 1, n3 1: without rules n2 (tie broken by name) */
    g_autofree char *plain = ha_select_node(NULL, u, ss, "vm:103", sd, true, HA_SELECT_BEST_SCORE);
    ck_assert_str_eq(plain, "n2");
    /* positive with vm:101 pulls it to n1 despite the load */
    g_autoptr(ha_compiled_rules) pos = compile(
        "resource-affinity: with\n\taffinity positive\n\tresources vm:101,vm:103\n", nodes, NULL);
    g_autofree char *a = ha_select_node(pos, u, ss, "vm:103", sd, true, HA_SELECT_BEST_SCORE);
    ck_assert_str_eq(a, "n1");
    /* negative with vm:104: its current (n2) and target (n3) are excluded */
    g_autoptr(ha_compiled_rules) neg = compile(
        "resource-affinity: apart\n\taffinity negative\n\tresources vm:103,vm:104\n", nodes, NULL);
    g_autofree char *b = ha_select_node(neg, u, ss, "vm:103", sd, true, HA_SELECT_BEST_SCORE);
    ck_assert_str_eq(b, "n1");
    /* negative partner on n1: separate wins over together for the same node */
    g_autoptr(ha_compiled_rules) both = compile(
        "resource-affinity: with\n\taffinity positive\n\tresources vm:101,vm:103\n\n"
        "resource-affinity: apart\n\taffinity negative\n\tresources vm:102,vm:103\n",
        nodes, NULL);
    g_autofree char *c = ha_select_node(both, u, ss, "vm:103", sd, true, HA_SELECT_BEST_SCORE);
    ck_assert_str_eq(c, "n2");
}
END_TEST

START_TEST(test_select_maintenance_fallback)
{
    g_autoptr(GPtrArray) nodes = strv("n1", "n2", "n3", NULL);
    g_autoptr(GHashTable) ss = ss_new();
    ha_service_state *sd = ss_add(ss, "vm:101", HA_SS_STARTED, "n2", NULL);
    sd->maintenance_node = g_strdup("n1");
    ss_add(ss, "vm:102", HA_SS_STARTED, "n1", NULL);
    ss_add(ss, "vm:103", HA_SS_STARTED, "n1", NULL);
    g_autoptr(ha_usage) u = usage_for(ss, nodes);
    g_autofree char *a = ha_select_node(NULL, u, ss, "vm:101", sd, true, HA_SELECT_NONE);
    ck_assert_str_eq(a, "n1");
}
END_TEST

START_TEST(test_topsis)
{
    /* two criteria, both costs: row 0 dominates */
    const double m[] = {1.0, 1.0, 2.0, 2.0, 1.5, 1.5};
    const double w[] = {-1.0, -1.0};
    double s[3];
    ha_topsis_score(m, 3, 2, w, s);
    ck_assert_double_eq_tol(s[0], 1.0, 1e-9);
    ck_assert_double_eq_tol(s[1], 0.0, 1e-9);
    ck_assert_double_eq_tol(s[2], 0.5, 1e-9);
    /* all equal: score 0 */
    const double eq[] = {1.0, 1.0, 1.0, 1.0};
    ha_topsis_score(eq, 2, 2, w, s);
    ck_assert_double_eq(s[0], 0.0);
    ck_assert_double_eq(s[1], 0.0);
}
END_TEST

/* A minimal env for the static scheduler: node and service stats only. */
static bool st_node(ha_env *env, const char *node, ha_stats *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->maxcpu = strcmp(node, "big") == 0 ? 32 : 8;
    ret->maxmem = (strcmp(node, "big") == 0 ? 128ULL : 16ULL) << 30;
    return true;
}

static bool st_service(ha_env *env, const char *sid, ha_stats *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->maxcpu = 4;
    ret->maxmem = 8ULL << 30;
    return true;
}

static bool no_node_stats(ha_env *env, const char *node, ha_stats *ret)
{
    return false;
}

START_TEST(test_static_scheduler)
{
    ha_env_ops ops = {.get_static_node_stats = st_node, .get_static_service_stats = st_service};
    ha_env env = {.ops = &ops};
    g_autoptr(GPtrArray) nodes = strv("big", "small", NULL);
    ha_usage *u = NULL;
    ck_assert_int_eq(ha_usage_new(&env, HA_SCHED_STATIC, nodes, &u, NULL), 0);
    ha_usage_add_service(u, "vm:1", HA_SS_STARTED, "small", NULL);
    g_autoptr(GHashTable) sc = ha_usage_score_nodes(u, "vm:2");
    double big = *(double *)g_hash_table_lookup(sc, "big");
    double small = *(double *)g_hash_table_lookup(sc, "small");
    ck_assert(big < small); /* lower is better: the big, emptier node */
    ck_assert(big >= -1.0 && small <= 0.0);
    ha_usage_free(u);
    /* missing node stats: init fails with the reference message, the caller falls back */
    ha_env_ops none = {.get_static_node_stats = no_node_stats};
    ha_env env2 = {.ops = &none};
    g_autoptr(GError) err = NULL;
    u = NULL;
    ck_assert_int_lt(ha_usage_new(&env2, HA_SCHED_STATIC, nodes, &u, &err), 0);
    ck_assert_ptr_null(u);
    ck_assert_str_eq(err->message, "did not get static node usage information for 'big'");
}
END_TEST

START_TEST(test_rule_checks)
{
    g_autoptr(GPtrArray) nodes = strv("n1", "n2", NULL);
    g_autoptr(GPtrArray) msgs = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(ha_compiled_rules) c = compile(
        "node-affinity: na1\n\tnodes n1\n\tresources vm:101\n\n"
        "node-affinity: na2\n\tnodes n2\n\tresources vm:101,vm:102\n\n"
        "resource-affinity: lonely\n\taffinity positive\n\tresources vm:103\n\n"
        "resource-affinity: toomany\n\taffinity negative\n\tresources vm:104,vm:105,vm:106\n\n"
        "resource-affinity: ok-neg\n\taffinity negative\n\tresources vm:107,vm:108\n\n"
        "resource-affinity: off\n\tdisable\n\taffinity negative\n\tresources vm:107\n",
        nodes, msgs);
    ck_assert_int_eq(msgs->len, 4);
    ck_assert_str_eq(g_ptr_array_index(msgs, 0),
                     "Drop rule 'lonely', because rule is ineffective as there are less than two resources.");
    ck_assert_str_eq(g_ptr_array_index(msgs, 1),
                     "Drop rule 'na1', because resource 'vm:101' is already used in another node affinity rule.");
    ck_assert_str_eq(g_ptr_array_index(msgs, 2),
                     "Drop rule 'na2', because resource 'vm:101' is already used in another node affinity rule.");
    ck_assert_str_eq(g_ptr_array_index(msgs, 3),
                     "Drop rule 'toomany', because rule defines more resources than available nodes.");
    ck_assert(!g_hash_table_contains(c->node_affinity, "vm:101"));
    ck_assert(g_hash_table_contains(c->negative, "vm:107"));
}
END_TEST

START_TEST(test_groups_translate)
{
    g_autoptr(GPtrArray) nodes = strv("n1", "n2", "n3", NULL);
    g_autoptr(ha_groups) gs = ha_groups_parse("group: g1\n\tnodes n1:2,n2\n\trestricted 1\n", "groups", NULL);
    g_autoptr(ha_resources) sc = ha_resources_new();
    ha_resource *r = ha_resource_new("vm:101");
    r->group = g_strdup("g1");
    ha_resources_add(sc, r);
    g_autoptr(ha_rules) rules = ha_rules_new();
    ha_rules_add_groups(rules, gs, sc);
    ck_assert_int_eq(rules->rules->len, 1);
    ha_rule *rule = g_ptr_array_index(rules->rules, 0);
    ck_assert_str_eq(rule->id, "ha-group-g1");
    ck_assert(rule->strict);
    ck_assert_str_eq(rule->comment, "Generated from HA group 'g1'.");
    g_autoptr(ha_compiled_rules) c = ha_rules_compile(rules, nodes, NULL);
    ha_node_affinity *na = g_hash_table_lookup(c->node_affinity, "vm:101");
    bool found;
    ck_assert_int_eq(ha_node_affinity_priority(na, "n1", &found), 2);
    ha_node_affinity_priority(na, "n3", &found);
    ck_assert(!found); /* strict: other nodes not added */
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("ha-select");
    TCase *tc = tcase_create("usage");
    tcase_add_test(tc, test_usage_table);
    tcase_add_test(tc, test_topsis);
    tcase_add_test(tc, test_static_scheduler);
    suite_add_tcase(s, tc);
    tc = tcase_create("select");
    tcase_add_test(tc, test_select_basic);
    tcase_add_test(tc, test_select_node_affinity);
    tcase_add_test(tc, test_select_resource_affinity);
    tcase_add_test(tc, test_select_maintenance_fallback);
    suite_add_tcase(s, tc);
    tc = tcase_create("rules");
    tcase_add_test(tc, test_rule_checks);
    tcase_add_test(tc, test_groups_translate);
    suite_add_tcase(s, tc);
    return s;
}
