/* macro_text.c -- a rule set macro filled in from a case (see macro_text.h).
 *
 * The template is the rule set's (rules_macro, in the case's language);
 * each {placeholder} this file knows is replaced, anything else is kept as
 * written.  Owns only the text: CASE.REPLY MACRO sends it (macros.c), the
 * receipt at intake carries it (notices.c).  Never: reads or writes the
 * store.
 */
#include "domain/macro_text.h"
#include "rules/rules.h"

#include <stdio.h>
#include <string.h>

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

/* An instant as the macros write it: "2026-09-22 13:00" in the rule set's zone. */
static void eta_text(int64_t due, char eta[ETA_TEXT_MAX + 1]) {
    char iso[RULES_ISO_MAX];
    eta[0] = '\0';
    if (due > 0 && rules_local_iso(due, iso, sizeof iso) == 0) {
        snprintf(eta, ETA_TEXT_MAX + 1, "%.16s", iso);   /* YYYY-MM-DDTHH:MM */
        eta[10] = ' ';
    }
}

int macros_fill(const struct case_row *row, const char *name, size_t len, const char *lang, int64_t due, char *out,
                size_t size, size_t *out_len, char *why, size_t why_size) {
    char eta[ETA_TEXT_MAX + 1];
    eta_text(due, eta);
    char template[RULES_REPLY_MAX];   /* on the stack: intake fills the receipt per case */
    if (rules_macro(name, len, lang, template, sizeof template, why, why_size) != 0) return 1;
    char number[24];
    snprintf(number, sizeof number, "%lld", (long long)row->id);
    const struct { const char *key, *value; } values[] = {
        {"{customer}", row->customer}, {"{order}", row->order_id}, {"{case}", number},
        {"{subject}", row->subject}, {"{eta}", eta},
    };
    struct filled filled = {out, 0, size};
    out[0] = '\0';
    int failed = 0;
    for (const char *p = template; *p && !failed;) {
        size_t i = 0, n = sizeof values / sizeof values[0];
        for (; *p == '{' && i < n; i++)
            if (strncmp(p, values[i].key, strlen(values[i].key)) == 0) break;
        if (*p == '{' && i < n) {
            failed = append(&filled, values[i].value, strlen(values[i].value));
            p += strlen(values[i].key);
        } else {
            /* the run up to the next brace at once */
            const char *brace = strchr(p + 1, '{');
            size_t run = brace ? (size_t)(brace - p) : strlen(p);
            failed = append(&filled, p, run);
            p += run;
        }
    }
    if (failed) {
        snprintf(why, why_size, "macro '%.*s' filled in is longer than a reply may be", (int)(len > 64 ? 64 : len), name);
        return 1;
    }
    *out_len = filled.len;
    return 0;
}

