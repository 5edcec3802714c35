/* hook_decisions.c -- the hooks after triage, each into its typed decision.
 *
 * Owns sla, refund, escalate, automations, thread, customer_notice and
 * assign as the domain asks them of the running set (sla and refund also of
 * the staged set, for a replay): each hook run, its output checked
 * (check.c), and on a failure or a refusal the safe default of its struct
 * (a zeroed decision; no cap for refund, level -1 for escalate).  And
 * RULES.EVAL of one hook: its decision, checked as the domain checks it
 * against what it offered (assign's candidates, thread's open cases), or
 * why there is none.
 *
 * Must never log or count a call itself (hook_call.c does) or name a
 * default policy (load.c's built-in table does).
 */
#include "rules/set.h"

#include "rules/sandbox.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

static int sla_on(struct rule_set *set, const struct rules_field *fields, int count, struct rules_sla *out) {
    char why[RULES_REASON_MAX];
    lua_State *state = rules_run_hook(set, HOOK_SLA, fields, count);
    if (state && rules_settle(set, HOOK_SLA, state, rules_check_sla(set, state, out, why, sizeof why), why) == 0)
        return 0;
    memset(out, 0, sizeof *out);
    return -1;
}

int rules_sla(const struct rules_field *fields, int count, struct rules_sla *out) {
    return sla_on(rules_current, fields, count, out);
}

int rules_staged_sla(const struct rules_field *fields, int count, struct rules_sla *out) {
    return sla_on(rules_staged_set, fields, count, out);
}

static int refund_on(struct rule_set *set, const struct rules_field *fields, int count, struct rules_refund *out) {
    char why[RULES_REASON_MAX];
    lua_State *state = rules_run_hook(set, HOOK_REFUND, fields, count);
    if (state &&
        rules_settle(set, HOOK_REFUND, state, rules_check_refund(set, state, out, why, sizeof why), why) == 0)
        return 0;
    memset(out, 0, sizeof *out);
    out->cap = -1;
    return -1;
}

int rules_refund(const struct rules_field *fields, int count, struct rules_refund *out) {
    return refund_on(rules_current, fields, count, out);
}

int rules_staged_refund(const struct rules_field *fields, int count, struct rules_refund *out) {
    return refund_on(rules_staged_set, fields, count, out);
}

int rules_escalate(const struct rules_field *fields, int count, struct rules_escalation *out) {
    char why[RULES_REASON_MAX];
    lua_State *state = rules_run_hook(rules_current, HOOK_ESCALATE, fields, count);
    if (state &&
        rules_settle(rules_current, HOOK_ESCALATE, state,
                     rules_check_escalation(rules_current, state, out, why, sizeof why), why) == 0)
        return 0;
    memset(out, 0, sizeof *out);
    out->level = -1;
    return -1;
}

int rules_automation(const struct rules_field *fields, int count, struct rules_automation *out) {
    char why[RULES_REASON_MAX];
    lua_State *state = rules_run_hook(rules_current, HOOK_AUTOMATIONS, fields, count);
    if (state &&
        rules_settle(rules_current, HOOK_AUTOMATIONS, state,
                     rules_check_automation(rules_current, state, out, why, sizeof why), why) == 0)
        return 0;
    memset(out, 0, sizeof *out);
    return -1;
}

int rules_has_hook(enum rules_hook hook) {
    return rules_current != NULL && (unsigned)hook < HOOK_COUNT && rules_current->hook_refs[hook] != LUA_NOREF;
}

int rules_thread(const struct rules_field *fields, int count, const struct rules_record *open_cases, int open_count,
                 struct rules_thread *out) {
    char why[RULES_REASON_MAX];
    rules_hook_offer_list("open_cases", open_cases, open_count);
    lua_State *state = rules_run_hook(rules_current, HOOK_THREAD, fields, count);
    rules_hook_offer_list(NULL, NULL, 0);
    if (state &&
        rules_settle(rules_current, HOOK_THREAD, state, rules_check_thread(state, out, why, sizeof why), why) == 0)
        return 0;
    memset(out, 0, sizeof *out);
    return -1;
}

int rules_customer_notice(const struct rules_field *fields, int count, struct rules_customer_notice *out) {
    char why[RULES_REASON_MAX];
    lua_State *state = rules_run_hook(rules_current, HOOK_CUSTOMER_NOTICE, fields, count);
    if (state && rules_settle(rules_current, HOOK_CUSTOMER_NOTICE, state,
                              rules_check_customer_notice(rules_current, state, out, why, sizeof why), why) == 0)
        return 0;
    memset(out, 0, sizeof *out);
    return -1;
}

int rules_assign(const struct rules_field *fields, int count, struct rules_assignment *out) {
    char why[RULES_REASON_MAX];
    lua_State *state = rules_run_hook(rules_current, HOOK_ASSIGN, fields, count);
    if (state && rules_settle(rules_current, HOOK_ASSIGN, state,
                              rules_check_assign(rules_current, state, out, why, sizeof why), why) == 0)
        return 0;
    memset(out, 0, sizeof *out);
    return -1;
}

/* 1 if name is an item of the comma list, else 0. */
static int list_has(const char *list, size_t list_len, const char *name) {
    size_t len = strlen(name);
    for (size_t at = 0; at < list_len;) {
        const char *comma = memchr(list + at, ',', list_len - at);
        size_t end = comma ? (size_t)(comma - list) : list_len;
        if (end - at == len && memcmp(list + at, name, len) == 0) return 1;
        at = end + 1;
    }
    return 0;
}

/* RULES.EVAL's side of what the domain checks against what it offered
 * (domain/assignment.c, domain/threading.c), so the dry run shows what the
 * host would do: an agent must be one of the `candidates` given (none given
 * is none offered), `none = true` leaves the case waiting whatever agent is
 * named; a join must be an open case offered, and RULES.EVAL offers none
 * (open cases are records; a rule test passes them to decide()).  0, or -1
 * with why. */
static int eval_offered(enum rules_hook hook, const struct rules_field *fields, int count,
                        union rules_decision *out, char *why, size_t why_size) {
    if (hook == HOOK_ASSIGN) {
        struct rules_assignment *a = &out->assignment;
        if (a->none) a->agent[0] = '\0';   /* live: the case waits, the agent is not read */
        if (!a->agent[0]) return 0;
        const char *candidates = NULL;
        size_t len = 0;
        for (int i = 0; i < count; i++)
            if (strcmp(fields[i].name, "candidates") == 0 && !fields[i].is_integer) {
                candidates = fields[i].text;
                len = fields[i].len;
            }
        if (candidates && list_has(candidates, len, a->agent)) return 0;
        snprintf(why, why_size, "agent '%s' is not one of the candidates offered (%.*s); live, the mode's choice stands",
                 a->agent, candidates && len ? (int)(len > 200 ? 200 : len) : 10, candidates && len ? candidates : "none given");
        return -1;
    }
    if (hook == HOOK_THREAD && out->thread.join > 0) {
        snprintf(why, why_size, "join %lld is not an open case of the customer (RULES.EVAL offers no open cases; "
                 "a rule test can pass open_cases to decide)", out->thread.join);
        return -1;
    }
    return 0;
}

static int eval_running(enum rules_hook hook, const struct rules_field *fields, int count, union rules_decision *out,
                        char *why, size_t why_size) {
    const char *name = rules_hook_name(hook);
    if (rules_current == NULL) {
        snprintf(why, why_size, "no rule set is loaded");
        return -1;
    }
    if (rules_current->hook_refs[hook] == LUA_NOREF) {
        snprintf(why, why_size, "the rule set has no %s hook", name);
        return -1;
    }
    const char *category = rules_given_category(fields, count);
    char reason[RULES_REASON_MAX] = "";
    lua_State *state = sandbox_state(rules_current->sandbox);
    rules_dry_run_enter(); /* RULES.EVAL writes nothing: nor may what its rules call */
    int failed = rules_call_hook(rules_current, hook, fields, count, category ? NULL : "category",
                                 category ? NULL : rules_current->default_category, reason, sizeof reason) != 0;
    rules_dry_run_leave();
    if (failed) {
        snprintf(why, why_size, "%s failed: %s", name, reason);
        return -1;
    }
    int status = rules_check_decision(rules_current, hook, state, out, reason, sizeof reason);
    lua_settop(state, 0);
    if (status != 0) {
        rules_current->counters[hook].refusals++;
        rules_append_where(rules_current, hook, reason, sizeof reason);
        snprintf(why, why_size, "%s decision refused: %s", name, reason);
        return -1;
    }
    if (eval_offered(hook, fields, count, out, reason, sizeof reason) != 0) {
        snprintf(why, why_size, "%s decision refused: %s", name, reason);
        return -1;
    }
    return 0;
}

/* On RULES.EVAL's own instance of the running set (host.c): a dry run
 * neither changes nor fills the state live decisions see. */
int rules_eval(enum rules_hook hook, const struct rules_field *fields, int count, union rules_decision *out,
               char *why, size_t why_size) {
    if (rules_eval_enter(why, why_size) != 0) return -1;
    int status = eval_running(hook, fields, count, out, why, why_size);
    rules_eval_leave();
    return status;
}
