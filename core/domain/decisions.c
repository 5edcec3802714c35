/* decisions.c -- the decision log (see decisions.h).
 *
 * Owns: the rows of `decisions` -- writing them (one, or a case's several
 * in one statement), reading a case's or a refund's back in order, pruning
 * the oldest in slices.  Never: calls a hook or decides anything; a row
 * says what the rules decided, the caller applies it.
 */
#include "domain/decisions.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLUMNS "(at, case_id, refund_id, hook, version, inputs, output, reason, microseconds, error)"

static void bind_text(struct store_stmt *statement, int index, const char *text) {
    store_bind_text(statement, index, text ? text : "", -1, STORE_STATIC);
}

int decisions_record(struct call *call, int64_t case_id, int64_t refund_id, const struct decision *decision) {
    static const char sql[] = "INSERT INTO decisions" COLUMNS " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, clock_now());
        store_bind_int64(statement, 2, case_id);
        if (refund_id > 0) store_bind_int64(statement, 3, refund_id);
        else store_bind_null(statement, 3);
        bind_text(statement, 4, decision->hook);
        bind_text(statement, 5, decision->version);
        bind_text(statement, 6, decision->inputs);
        store_bind_text(statement, 7, decision->output ? decision->output : "",
                          decision->output ? (int)decision->output_len : 0, STORE_STATIC);
        bind_text(statement, 8, decision->reason);
        store_bind_int64(statement, 9, decision->microseconds);
        if (decision->error && decision->error[0]) bind_text(statement, 10, decision->error);
        else store_bind_null(statement, 10);
    }
    return call_step(call, statement);
}

/* ------------------------------------------------------------ logfmt */

void decisions_logfmt(const char *text, size_t len,
                      int (*fn)(void *context, const char *key, size_t key_len, const char *value, size_t value_len),
                      void *context) {
    static char value[DETAIL_MAX];
    const char *p = text, *end = text + len;
    while (p < end) {
        while (p < end && *p == ' ') p++;
        const char *key = p;
        while (p < end && *p != '=' && *p != ' ') p++;
        size_t key_len = (size_t)(p - key);
        if (p >= end || *p != '=') {
            if (key_len && fn(context, key, key_len, "", 0)) return;
            continue;
        }
        p++;
        size_t n = 0;
        if (p < end && *p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                char c = *p;
                if (c == '\\' && p + 1 < end) {
                    c = *++p;
                    if (c == 'n') c = '\n';
                }
                if (n < sizeof value - 1) value[n++] = c;
            }
            if (p < end) p++; /* the closing quote */
        } else {
            while (p < end && *p != ' ') {
                if (n < sizeof value - 1) value[n++] = *p;
                p++;
            }
        }
        value[n] = '\0';
        if (fn(context, key, key_len, value, n)) return;
    }
}

/* ------------------------------------------------------------ unpacking a triage row */

#define TRIAGE_HOOKS 3
static const char *const triage_hooks[TRIAGE_HOOKS] = {"classify", "priority", "sla"};
static const char *const triage_inputs[TRIAGE_HOOKS] = {DECISIONS_INPUTS_INTAKE, DECISIONS_INPUTS_AFTER_CLASSIFY,
                                                        DECISIONS_INPUTS_AFTER_PRIORITY};

struct unpacking {
    int present[TRIAGE_HOOKS];
    struct detail output[TRIAGE_HOOKS];
    char reason[TRIAGE_HOOKS][DETAIL_MAX / 4];
    char error[TRIAGE_HOOKS][DETAIL_MAX / 4];
    long long microseconds[TRIAGE_HOOKS];
};

static int unpack_pair(void *context, const char *key, size_t key_len, const char *value, size_t value_len) {
    struct unpacking *u = context;
    const char *dot = memchr(key, '.', key_len);
    if (dot == NULL) return 0;
    size_t prefix = (size_t)(dot - key), rest_len = key_len - prefix - 1;
    const char *rest = dot + 1;
    for (int h = 0; h < TRIAGE_HOOKS; h++) {
        if (strlen(triage_hooks[h]) != prefix || memcmp(triage_hooks[h], key, prefix) != 0) continue;
        u->present[h] = 1;
        if (rest_len == 6 && memcmp(rest, "reason", 6) == 0)
            snprintf(u->reason[h], sizeof u->reason[h], "%.*s", (int)value_len, value);
        else if (rest_len == 5 && memcmp(rest, "error", 5) == 0)
            snprintf(u->error[h], sizeof u->error[h], "%.*s", (int)value_len, value);
        else if (rest_len == 2 && memcmp(rest, "us", 2) == 0)
            u->microseconds[h] = strtoll(value, NULL, 10);
        else {
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(rest_len < 63 ? rest_len : 63), rest);
            detail_add(&u->output[h], name, value, value_len);
        }
    }
    return 0;
}

int decisions_unpack(const struct decision_row *row, void (*fn)(void *context, const struct decision_row *row),
                     void *context) {
    struct unpacking *u = calloc(1, sizeof *u);
    if (u == NULL) return 0;
    decisions_logfmt(row->output, strlen(row->output), unpack_pair, u);
    int count = 0;
    for (int h = 0; h < TRIAGE_HOOKS; h++) {
        if (!u->present[h]) continue;
        struct decision_row one = *row;
        one.hook = triage_hooks[h];
        one.inputs = triage_inputs[h];
        one.output = u->output[h].text;
        one.reason = u->reason[h];
        one.error = u->error[h];
        one.microseconds = u->microseconds[h];
        fn(context, &one);
        count++;
    }
    free(u);
    return count;
}

/* ------------------------------------------------------------ typed decisions */

struct describing {
    struct detail *out;
    const char *reason;
};

static void describe_pair(void *context, const char *name, const char *value) {
    struct describing *describing = context;
    if (strcmp(name, "reason") == 0) describing->reason = value;
    else detail_add_string(describing->out, name, value);
}

void decisions_describe(enum rules_hook hook, const union rules_decision *decision, struct detail *out,
                        const char **reason) {
    struct describing describing = {out, ""};
    rules_decision_pairs(hook, decision, describe_pair, &describing);
    *reason = describing.reason;
}

int decisions_record_hook(struct call *call, int64_t case_id, int64_t refund_id, enum rules_hook hook,
                          const union rules_decision *applied, const char *inputs) {
    const struct rules_call_record *last = rules_last_call();
    if (!last->called) return 0;
    struct detail output = DETAIL_INIT;
    const char *reason = "";
    if (applied) decisions_describe(hook, applied, &output, &reason);
    struct decision decision = {
        .hook = rules_hook_name(hook), .version = last->version, .inputs = inputs, .output = output.text,
        .output_len = output.len, .reason = reason, .microseconds = last->microseconds, .error = last->error,
    };
    return decisions_record(call, case_id, refund_id, &decision);
}

/* ------------------------------------------------------------ reading */

int decisions_list(struct call *call, int64_t case_id, int64_t refund_id,
                   void (*fn)(void *context, const struct decision_row *row), void *context) {
    static const char by_case[] =
        "SELECT id, at, case_id, coalesce(refund_id, 0), hook, version, inputs, output, reason, microseconds,"
        " coalesce(error, '') FROM decisions WHERE case_id = ?1 ORDER BY id LIMIT ?2";
    static const char by_refund[] =
        "SELECT d.id, d.at, d.case_id, d.refund_id, d.hook, d.version, d.inputs, d.output, d.reason,"
        " d.microseconds, coalesce(d.error, '') FROM refunds r JOIN decisions d ON d.case_id = r.case_id"
        " AND d.refund_id = r.id WHERE r.id = ?1 ORDER BY d.id LIMIT ?2";
    struct store_stmt *statement = store_statement(refund_id > 0 ? by_refund : by_case);
    if (statement) {
        store_bind_int64(statement, 1, refund_id > 0 ? refund_id : case_id);
        store_bind_int(statement, 2, DECISIONS_LIST_MAX);
    }
    int rc, count = 0;
    while ((rc = call_row(call, statement)) > 0) {
        struct decision_row row = {
            .id = store_column_int64(statement, 0),
            .at = store_column_int64(statement, 1),
            .case_id = store_column_int64(statement, 2),
            .refund_id = store_column_int64(statement, 3),
            .hook = (const char *)store_column_text(statement, 4),
            .version = (const char *)store_column_text(statement, 5),
            .inputs = (const char *)store_column_text(statement, 6),
            .output = (const char *)store_column_text(statement, 7),
            .reason = (const char *)store_column_text(statement, 8),
            .microseconds = store_column_int64(statement, 9),
            .error = (const char *)store_column_text(statement, 10),
        };
        if (strcmp(row.hook, DECISIONS_HOOK_TRIAGE) == 0) {
            count += decisions_unpack(&row, fn, context);
        } else {
            fn(context, &row);
            count++;
        }
    }
    return rc < 0 ? -1 : count;
}

/* ------------------------------------------------------------ pruning */

int decisions_prune_slice(long long days) {
    /* The oldest rows by id, a slice at a time: the scan is bounded by the
     * slice whatever the table holds (no index by time; ids grow with
     * time).  A slice with nothing old ends the run. */
    static const char sql[] =
        "DELETE FROM decisions WHERE id IN"
        " (SELECT id FROM (SELECT id, at FROM decisions ORDER BY id LIMIT ?2) AS oldest WHERE at < ?1)";
    static const char oldest[] = "SELECT at FROM decisions ORDER BY id LIMIT 1";
    struct call call = {.who = {.internal = 1}, .actor = "decisions", .status = CALL_OK};
    int64_t cutoff = clock_now() - days * 86400;
    /* Nothing old: no batch is opened for nothing. */
    struct store_stmt *first = store_statement(oldest);
    int found = call_row(&call, first);
    if (found < 0) return -1;
    int64_t at = found ? store_column_int64(first, 0) : 0;
    if (found) store_reset(first);
    if (!found || at >= cutoff) return 0;
    if (store_command_begin() != 0) return -1;
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, cutoff);
        store_bind_int(statement, 2, DECISIONS_PRUNE_SLICE);
    }
    int failed = call_step(&call, statement) != 0;
    int deleted = failed ? -1 : store_changes();
    if (store_command_end(!failed) != 0) return -1;
    return deleted;
}
