/* triage.c -- triage: classify, then priority, on a new case; and the
 * intake dry run of RULES.EVAL TRIAGE.
 *
 * Owns the triage of a case by the running set (and by the staged one, for
 * a replay): the defaults a missing set or a failed or refused hook leaves
 * (the set's, else load.c's built-in ones), classify's decision handed to
 * priority (category, queue, tags), and the whole struct rules_triage with
 * each step's error and duration.  The dry run walks intake's hooks in
 * intake's order (classify, priority, sla unless the auto-reply resolved
 * the case, escalate at open) on the running set, tracking the line each
 * decision was returned at.
 *
 * Must never touch the store or encode a reply: what triage decides is
 * applied by intake (domain/intake.c), and the dry run only describes it.
 */
#include "rules/set.h"

#include "lib/log.h"
#include "rules/sandbox.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRIORITY_FIELDS_ON_STACK 32   /* the fields priority sees, without an allocation */

/* Copies at most `max` bytes of text into out (size bytes, terminated):
 * what snprintf("%.*s") would write, without the format parsing (triage
 * runs on every intake). */
static void copy_text(char *out, size_t size, const char *text, size_t max) {
    size_t len = strnlen(text, max < size - 1 ? max : size - 1);
    memcpy(out, text, len);
    out[len] = '\0';
}

static void set_defaults(const struct rule_set *set, struct rules_triage *out) {
    copy_text(out->category, sizeof out->category,
              set ? set->default_category : rules_builtin_default(RULES_CATEGORY), SIZE_MAX);
    copy_text(out->queue, sizeof out->queue, set ? set->default_queue : rules_builtin_default(RULES_QUEUE),
              SIZE_MAX);
    copy_text(out->priority, sizeof out->priority,
              set ? set->default_priority : rules_builtin_default(RULES_PRIORITY), SIZE_MAX);
}

static void classify(struct rule_set *set, const struct rules_field *fields, int count, struct rules_triage *out,
                     int *decided) {
    lua_State *state = sandbox_state(set->sandbox);
    char why[RULES_REASON_MAX] = "";
    out->classify_called = 1;
    int status = rules_call_hook(set, HOOK_CLASSIFY, fields, count, NULL, NULL, why, sizeof why);
    out->classify_microseconds = rules_hook_microseconds();
    if (status == 0) {
        struct rules_classification decision;
        if (rules_check_classify(set, state, &decision, why, sizeof why) == 0) {
            /* The texts up to their ends, not the whole arrays (tags, faq
             * and auto_reply are 6 KiB, mostly zeros already in out). */
            copy_text(out->category, sizeof out->category, decision.category, SIZE_MAX);
            copy_text(out->queue, sizeof out->queue, decision.queue, SIZE_MAX);
            copy_text(out->tags, sizeof out->tags, decision.tags, SIZE_MAX);
            copy_text(out->faq, sizeof out->faq, decision.faq, SIZE_MAX);
            copy_text(out->classify_reason, sizeof out->classify_reason, decision.reason, SIZE_MAX);
            copy_text(out->auto_reply, sizeof out->auto_reply, decision.auto_reply, SIZE_MAX);
            out->auto_resolve = decision.auto_resolve;
            copy_text(out->escalate, sizeof out->escalate, decision.escalate, SIZE_MAX);
            *decided = 1;
        } else {
            rules_refused(set, HOOK_CLASSIFY, why);
            rules_append_where(set, HOOK_CLASSIFY, why, sizeof why);
        }
        lua_pop(state, 1);
    } else {
        if (set != rules_staged_set) log_warn("rule hook failed, default applied", "hook=classify error=\"%s\"",
        LOG_ESC(why));
    }
    if (why[0]) {
        snprintf(out->error, sizeof out->error, "classify: %s", why);
        snprintf(out->classify_error, sizeof out->classify_error, "%s", why);
    }
}

/* priority sees classify's decision: category (as the extra field), queue and tags. */
static void prioritise(struct rule_set *set, const struct rules_field *fields, int count, struct rules_triage *out,
                       int *decided) {
    lua_State *state = sandbox_state(set->sandbox);
    char why[RULES_REASON_MAX] = "";
    out->priority_called = 1;
    /* On the stack up to PRIORITY_FIELDS_ON_STACK fields (intake gives
     * fewer): no allocation per intake. */
    struct rules_field on_stack[PRIORITY_FIELDS_ON_STACK];
    struct rules_field *seen = count + 2 <= PRIORITY_FIELDS_ON_STACK ? on_stack
                               : malloc((size_t)(count + 2) * sizeof *seen);
    int seen_count = count;
    if (seen) {
        memcpy(seen, fields, (size_t)count * sizeof *seen);
        seen[seen_count++] = (struct rules_field){.name = "queue", .text = out->queue, .len = strlen(out->queue)};
        seen[seen_count++] = (struct rules_field){.name = "tags", .text = out->tags, .len = strlen(out->tags)};
    }
    int status = rules_call_hook(set, HOOK_PRIORITY, seen ? seen : fields, seen ? seen_count : count, "category",
                                 out->category, why, sizeof why);
    if (seen != on_stack) free(seen);
    out->priority_microseconds = rules_hook_microseconds();
    if (status == 0) {
        struct rules_priority_decision decision;
        if (rules_check_priority(set, state, &decision, why, sizeof why) == 0) {
            memcpy(out->priority, decision.priority, sizeof out->priority);
            memcpy(out->priority_reason, decision.reason, sizeof out->priority_reason);
            memcpy(out->incident, decision.incident, sizeof out->incident);
            out->incident_window = decision.incident_window;
            *decided = 1;
        } else {
            rules_refused(set, HOOK_PRIORITY, why);
            rules_append_where(set, HOOK_PRIORITY, why, sizeof why);
        }
        lua_pop(state, 1);
    } else {
        if (set != rules_staged_set) log_warn("rule hook failed, default applied", "hook=priority error=\"%s\"",
        LOG_ESC(why));
    }
    if (why[0]) {
        if (!out->error[0]) snprintf(out->error, sizeof out->error, "priority: %s", why);
        snprintf(out->priority_error, sizeof out->priority_error, "%s", why);
    }
}

static void triage_on(struct rule_set *set, const struct rules_field *fields, int count, struct rules_triage *out) {
    memset(out, 0, sizeof *out);
    set_defaults(set, out);
    copy_text(out->decided_by, sizeof out->decided_by, "default", SIZE_MAX);
    if (set == NULL) {
        snprintf(out->classify_reason, sizeof out->classify_reason, "no rule set loaded");
        return;
    }
    copy_text(out->version, sizeof out->version, set->version, 16);
    int decided = 0;
    if (set->hook_refs[HOOK_CLASSIFY] != LUA_NOREF) classify(set, fields, count, out, &decided);
    else snprintf(out->classify_reason, sizeof out->classify_reason, "the rule set has no classify hook");
    if (set->hook_refs[HOOK_PRIORITY] != LUA_NOREF) prioritise(set, fields, count, out, &decided);
    if (decided) copy_text(out->decided_by, sizeof out->decided_by, "rules", SIZE_MAX);
    lua_settop(sandbox_state(set->sandbox), 0);
}

void rules_triage(const struct rules_field *fields, int count, struct rules_triage *out) {
    triage_on(rules_current, fields, count, out);
}

void rules_staged_triage(const struct rules_field *fields, int count, struct rules_triage *out) {
    triage_on(rules_staged_set, fields, count, out);
}

/* ------------------------------------------------------------ the intake dry run */

/* The case the later steps see: the given fields without the names a
 * step sets, then those (category, queue, tags, priority, ...). */
#define DRY_FIELDS_MAX 160
static int dry_fields(const struct rules_field *fields, int count, const char *const *names,
                      const char *const *values, int extra, struct rules_field *out) {
    int n = 0;
    for (int i = 0; i < count && n < DRY_FIELDS_MAX - extra; i++) {
        int replaced = 0;
        for (int e = 0; e < extra; e++)
            if (strcmp(fields[i].name, names[e]) == 0) replaced = 1;
        if (!replaced) out[n++] = fields[i];
    }
    for (int e = 0; e < extra; e++)
        out[n++] = (struct rules_field){.name = names[e], .text = values[e], .len = strlen(values[e])};
    return n;
}

static int eval_triage_running(const struct rules_field *fields, int count, struct rules_dry_run *out, char *why,
                               size_t why_size) {
    if (rules_current == NULL) {
        snprintf(why, why_size, "no rule set is loaded");
        return -1;
    }
    snprintf(out->version, sizeof out->version, "%s", rules_current->version);
    rules_track_returns(1); /* refusals name the line that returned them */
    struct rules_triage *triage = malloc(sizeof *triage);
    struct rules_field *seen = malloc(DRY_FIELDS_MAX * sizeof *seen);
    if (triage == NULL || seen == NULL) {
        free(triage);
        free(seen);
        rules_track_returns(0);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    rules_dry_run_enter(); /* nothing written: nor by what its rules call */
    rules_triage(fields, count, triage);
    struct rules_dry_step *step = out->steps;
    step[0].hook = HOOK_CLASSIFY;
    step[0].ran = triage->classify_called;
    struct rules_classification *c = &step[0].decision.classification;
    memcpy(c->category, triage->category, sizeof c->category);
    memcpy(c->queue, triage->queue, sizeof c->queue);
    memcpy(c->tags, triage->tags, sizeof c->tags);
    memcpy(c->faq, triage->faq, sizeof c->faq);
    memcpy(c->reason, triage->classify_reason, sizeof c->reason);
    memcpy(c->auto_reply, triage->auto_reply, sizeof c->auto_reply);
    c->auto_resolve = triage->auto_resolve;
    memcpy(c->escalate, triage->escalate, sizeof c->escalate);
    snprintf(step[0].error, sizeof step[0].error, "%s", triage->classify_error);
    step[0].microseconds = triage->classify_microseconds;
    step[1].hook = HOOK_PRIORITY;
    step[1].ran = triage->priority_called;
    memcpy(step[1].decision.priority.priority, triage->priority, sizeof triage->priority);
    memcpy(step[1].decision.priority.reason, triage->priority_reason, sizeof triage->priority_reason);
    snprintf(step[1].error, sizeof step[1].error, "%s", triage->priority_error);
    step[1].microseconds = triage->priority_microseconds;
    /* sla, as intake asks it: unless the auto-reply resolved the case. */
    step[2].hook = HOOK_SLA;
    int resolved = triage->auto_reply[0] && triage->auto_resolve;
    const char *names[] = {"category", "priority", "queue", "event", "level"};
    const char *values[] = {triage->category, triage->priority, triage->queue, triage->escalate, "0"};
    int n = dry_fields(fields, count, names, values, 3, seen);
    if (!resolved) {
        rules_sla(seen, n, &step[2].decision.sla);
        step[2].ran = rules_last_call()->called;
        snprintf(step[2].error, sizeof step[2].error, "%s", rules_last_call()->error);
        step[2].microseconds = rules_last_call()->microseconds;
    }
    /* escalate at open: the event classify named. */
    step[3].hook = HOOK_ESCALATE;
    if (!resolved && triage->escalate[0]) {
        n = dry_fields(fields, count, names, values, 4, seen);
        seen[n++] = (struct rules_field){.name = "level", .integer = 0, .is_integer = 1};
        seen[n++] = (struct rules_field){.name = "deadline", .text = "", .len = 0};
        rules_escalate(seen, n, &step[3].decision.escalation);
        step[3].ran = rules_last_call()->called;
        snprintf(step[3].error, sizeof step[3].error, "%s", rules_last_call()->error);
        step[3].microseconds = rules_last_call()->microseconds;
    }
    rules_dry_run_leave();
    rules_track_returns(0);
    free(triage);
    free(seen);
    return 0;
}

/* On RULES.EVAL's own instance of the running set (host.c), as rules_eval. */
int rules_eval_triage(const struct rules_field *fields, int count, struct rules_dry_run *out, char *why,
                      size_t why_size) {
    memset(out, 0, sizeof *out);
    if (rules_eval_enter(why, why_size) != 0) return -1;
    int status = eval_triage_running(fields, count, out, why, why_size);
    rules_eval_leave();
    return status;
}
