/* macros.c -- canned replies filled in from the case (see macros.h).
 *
 * The template is the rule set's (rules_macro, in the case's language);
 * each {placeholder} this file knows is replaced, anything else is kept as
 * written.  The filled text goes out as CASE.REPLY's text does
 * (case_work_message: the response clocks are met).
 */
#include "domain/macros.h"
#include "domain/case_work.h"
#include "rules/rules.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LANG_MAX 64
#define ETA_TEXT_MAX 20     /* "2026-09-22 13:00" */

struct filled {
    char *text;
    size_t len, room;
};

static int append(struct filled *out, const char *text, size_t len) {
    if (out->len + len >= out->room) return -1;
    memcpy(out->text + out->len, text, len);
    out->len += len;
    out->text[out->len] = '\0';
    return 0;
}

int macros_reply(struct call *call, struct case_row *row, const char *name, size_t len) {
    static const char sql[] = "SELECT coalesce(lang, ''), next_due FROM cases WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) sqlite3_bind_int64(statement, 1, row->id);
    int found = call_row(call, statement);
    if (found <= 0) return found < 0 ? -1 : call_fail(call, CALL_NOTFOUND, "case %lld does not exist", (long long)row->id);
    char lang[LANG_MAX + 1], eta[ETA_TEXT_MAX + 1] = "";
    snprintf(lang, sizeof lang, "%s", (const char *)sqlite3_column_text(statement, 0));
    int has_due = sqlite3_column_type(statement, 1) != SQLITE_NULL;
    int64_t due = sqlite3_column_int64(statement, 1);
    sqlite3_reset(statement);
    char iso[RULES_ISO_MAX];
    if (has_due && rules_local_iso(due, iso, sizeof iso) == 0) {
        snprintf(eta, sizeof eta, "%.16s", iso);   /* YYYY-MM-DDTHH:MM */
        eta[10] = ' ';
    }
    char *template = malloc(RULES_REPLY_MAX);
    struct filled out = {malloc(MACRO_TEXT_MAX + 1), 0, MACRO_TEXT_MAX + 1};
    if (template == NULL || out.text == NULL) {
        free(template);
        free(out.text);
        return call_fail(call, CALL_ERR, "out of memory");
    }
    out.text[0] = '\0';
    char why[RULES_REASON_MAX + 512];
    if (rules_macro(name, len, lang, template, RULES_REPLY_MAX, why, sizeof why) != 0) {
        free(template);
        free(out.text);
        return call_fail(call, CALL_INVALID, "%s", why);
    }
    char number[24];
    snprintf(number, sizeof number, "%lld", (long long)row->id);
    const struct { const char *key, *value; } values[] = {
        {"{customer}", row->customer}, {"{order}", row->order_id}, {"{case}", number},
        {"{subject}", row->subject}, {"{eta}", eta},
    };
    int failed = 0;
    for (const char *p = template; *p && !failed;) {
        size_t i = 0, n = sizeof values / sizeof values[0];
        for (; *p == '{' && i < n; i++)
            if (strncmp(p, values[i].key, strlen(values[i].key)) == 0) break;
        if (*p == '{' && i < n) {
            failed = append(&out, values[i].value, strlen(values[i].value));
            p += strlen(values[i].key);
        } else {
            failed = append(&out, p, 1);
            p++;
        }
    }
    free(template);
    if (failed) {
        free(out.text);
        return call_fail(call, CALL_INVALID, "macro '%.*s' filled in is longer than a reply may be", (int)len, name);
    }
    int rc = case_work_message(call, row, 1, out.text, out.len, NULL);
    free(out.text);
    return rc;
}
