/* macros.c -- canned replies filled in from the case (see macros.h).
 *
 * The macro is filled in by macro_text.c; the text goes out as CASE.REPLY's
 * text does
 * (case_work_message: the response clocks are met).
 */
#include "domain/macros.h"
#include "domain/macro_text.h"
#include "domain/case_work.h"
#include "rules/rules.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LANG_MAX 64

int macros_reply(struct call *call, struct case_row *row, const char *name, size_t len) {
    static const char sql[] = "SELECT coalesce(lang, ''), next_due FROM cases WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, row->id);
    int found = call_row(call, statement);
    if (found <= 0) return found < 0 ? -1 : call_fail(call, CALL_NOTFOUND, "case %lld does not exist", (long long)row->id);
    char lang[LANG_MAX + 1];
    snprintf(lang, sizeof lang, "%s", (const char *)store_column_text(statement, 0));
    int64_t due = store_column_type(statement, 1) != STORE_NULL ? store_column_int64(statement, 1) : 0;
    store_reset(statement);
    char *text = malloc(MACRO_TEXT_MAX + 1);
    if (text == NULL) return call_fail(call, CALL_ERR, "out of memory");
    char why[RULES_REASON_MAX + 512];
    size_t text_len = 0;
    int filled = macros_fill(row, name, len, lang, due, text, MACRO_TEXT_MAX + 1, &text_len, why, sizeof why);
    if (filled != 0) {
        free(text);
        return call_fail(call, filled < 0 ? CALL_ERR : CALL_INVALID, "%s", why);
    }
    int rc = case_work_message(call, row, 1, text, text_len, NULL);
    free(text);
    return rc;
}
