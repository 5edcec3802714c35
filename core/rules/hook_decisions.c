/* hook_decisions.c -- the hooks after triage, each into its typed decision.
 *
 * Owns sla, refund, escalate, automations, thread, customer_notice and
 * assign as the domain asks them of the running set (sla and refund also of
 * the staged set, for a replay): each hook run, its output checked
 * (check.c), and on a failure or a refusal the safe default of its struct
 * (a zeroed decision; no cap for refund, level -1 for escalate).  And
 * RULES.EVAL of one hook: its decision, or why there is none.
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

int rules_eval(enum rules_hook hook, const struct rules_field *fields, int count, union rules_decision *out,
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
    return 0;
}

