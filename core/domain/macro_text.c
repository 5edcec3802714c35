/* macro_text.c -- a rule set macro filled in from a case (see macro_text.h).
 *
 * The template is the rule set's (rules_macro, in the case's language);
 * each {placeholder} this file knows is replaced, anything else is kept as
 * written.  Owns only the text: CASE.REPLY MACRO sends it (macros.c), the
 * receipt at intake carries it (notices.c).  Never: reads or writes the
 * store.
 * The receipt is filled in for every case, so a template is read from the
 * rule set once per (rule set version, macro, language) and kept, and the
 * last {eta} written is kept with its instant.  The rule set version is the
 * hash of its files: a reload of other rules reads the templates again.
 */
#include "domain/macro_text.h"
#include "lib/decimal.h"
#include "rules/rules.h"

#include <stdio.h>
#include <string.h>

#define ETA_TEXT_MAX 20        /* "2026-09-22 13:00" */
#define TEMPLATES_KEPT 4       /* (macro, language) pairs kept */
#define TEMPLATE_NAME_MAX 64   /* a longer macro name or language is not kept: read each time */

/* The placeholders, in the order of the values macros_fill gives. */
static const struct { const char *key; size_t len; } placeholders[] = {
    {"{customer}", 10}, {"{order}", 7}, {"{case}", 6}, {"{subject}", 9}, {"{eta}", 5},
};
#define PLACEHOLDER_COUNT ((int)(sizeof placeholders / sizeof placeholders[0]))

struct template {
    char version[65], name[TEMPLATE_NAME_MAX + 1], lang[TEMPLATE_NAME_MAX + 1];
    char text[RULES_REPLY_MAX];
    int kept;             /* 0: the slot is empty */
};
static struct template templates[TEMPLATES_KEPT];
static unsigned next_template;   /* the slot the next template takes */

/* The last {eta} written, for the rule set version it was written under. */
static struct {
    char version[65];
    int64_t due;
    char text[ETA_TEXT_MAX + 1];
} last_eta;

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
    const char *version = rules_version();
    if (due > 0 && due == last_eta.due && strcmp(version, last_eta.version) == 0) {
        memcpy(eta, last_eta.text, sizeof last_eta.text);
        return;
    }
    char iso[RULES_ISO_MAX];
    eta[0] = '\0';
    if (due > 0 && rules_local_iso(due, iso, sizeof iso) == 0) {
        size_t len = strnlen(iso, 16);   /* YYYY-MM-DDTHH:MM */
        memcpy(eta, iso, len);
        eta[len] = '\0';
        if (len > 10) eta[10] = ' ';
        if (strlen(version) < sizeof last_eta.version) {
            memcpy(last_eta.version, version, strlen(version) + 1);
            last_eta.due = due;
            memcpy(last_eta.text, eta, sizeof last_eta.text);
        }
    }
}

static int same(const char *kept, const char *text, size_t len) {
    return strlen(kept) == len && memcmp(kept, text, len) == 0;
}

/* The template of (name, lang) under the running rule set, kept or read
 * (and kept): 0 with *text, or 1 with why (no such macro or text). */
static int template_of(const char *name, size_t len, const char *lang, const char **text, char *why,
                       size_t why_size) {
    static struct template unkept;   /* a name or language too long to keep: read for this fill only */
    const char *version = rules_version();
    const char *language = lang ? lang : "";
    int keep = len <= TEMPLATE_NAME_MAX && strlen(language) <= TEMPLATE_NAME_MAX &&
               strlen(version) < sizeof unkept.version;
    struct template *t = &unkept;
    if (keep) {
        for (int i = 0; i < TEMPLATES_KEPT; i++) {
            const struct template *k = &templates[i];
            if (k->kept && same(k->name, name, len) && strcmp(k->lang, language) == 0 &&
                strcmp(k->version, version) == 0) {
                *text = k->text;
                return 0;
            }
        }
        t = &templates[next_template++ % TEMPLATES_KEPT];
    }
    t->kept = 0;
    if (rules_macro(name, len, lang, t->text, sizeof t->text, why, why_size) != 0) return 1;
    if (keep) {
        memcpy(t->name, name, len);
        t->name[len] = '\0';
        memcpy(t->lang, language, strlen(language) + 1);
        memcpy(t->version, version, strlen(version) + 1);
        t->kept = 1;
    }
    *text = t->text;
    return 0;
}

int macros_fill(const struct case_row *row, const char *name, size_t len, const char *lang, int64_t due, char *out,
                size_t size, size_t *out_len, char *why, size_t why_size) {
    char eta[ETA_TEXT_MAX + 1];
    eta_text(due, eta);
    const char *template;
    if (template_of(name, len, lang, &template, why, why_size) != 0) return 1;
    char number[DECIMAL_MAX];
    decimal_format(row->id, number);
    const char *values[PLACEHOLDER_COUNT] = {row->customer, row->order_id, number, row->subject, eta};
    struct filled filled = {out, 0, size};
    out[0] = '\0';
    int failed = 0;
    for (const char *p = template; *p && !failed;) {
        int i = 0;
        for (; *p == '{' && i < PLACEHOLDER_COUNT; i++)
            if (strncmp(p, placeholders[i].key, placeholders[i].len) == 0) break;
        if (*p == '{' && i < PLACEHOLDER_COUNT) {
            failed = append(&filled, values[i], strlen(values[i]));
            p += placeholders[i].len;
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
