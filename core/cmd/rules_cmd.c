/* rules_cmd.c -- RULES.RELOAD, RULES.INFO and RULES.EVAL (one hook, or TRIAGE).
 *
 * Owns: parsing these commands' arguments and encoding their replies (the
 * rules host hands over data: struct rules_info, typed decisions).  Never:
 * loads rules itself (domain/tick.c has the one reload) or writes the store.
 */
#include "cmd/rules_cmd.h"
#include "cmd/reply.h"
#include "domain/intake.h"
#include "domain/tick.h"
#include "lib/money.h"
#include "lib/quote.h"
#include "lib/timeparse.h"
#include "rules/rules.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FIELDS_MAX 64
#define EVAL_ERROR_MAX 512
#define COUNTERS_TEXT_MAX 160
#define HOOKS_TEXT_MAX 160     /* the hook names, space-separated, in an error */
#define QUOTED_FIELD_MAX 40    /* how much of a bad value a message repeats, as CASE.OPEN's */
#define QUOTED_CURRENCY_MAX 16

/* ------------------------------------------------------------- rules */

/* RULES.RELOAD: a fresh state, checked (and tested if configured), swapped in;
 * on failure the running set stays and the reply says file, line and why. */
void rules_reload_command(struct request *request) {
    char error[TICK_RELOAD_ERROR_MAX];
    if (tick_reload_rules(error, sizeof error) != 0) {
        request_error(request, "RULE", "%s", error);
        return;
    }
    reply_bulk_string(request->reply, rules_version());
}

/* RULES.INFO: a flat field/value array. */
void rules_info_command(struct request *request) {
    struct rules_info info;
    struct evbuffer *out = request->reply;
    rules_info(&info);
    if (!info.loaded) {
        reply_map(out, 2);
        reply_bulk_string(out, "loaded");
        reply_bulk_string(out, "no");
        reply_bulk_string(out, "reloads");
        reply_bulk_integer(out, info.reloads);
        return;
    }
    /* Counters for the hooks the set defines (`hooks`), none for the others. */
    int defined = 0;
    for (int h = 0; h < HOOK_COUNT; h++) defined += info.defined[h];
    reply_map(out, 11 + defined);
    reply_bulk_string(out, "loaded");
    reply_bulk_string(out, "yes");
    reply_bulk_string(out, "version");
    reply_bulk_string(out, info.version);
    reply_bulk_string(out, "loaded_at");
    reply_bulk_integer(out, info.loaded_at);
    reply_bulk_string(out, "directory");
    reply_bulk_string(out, info.directory);
    reply_bulk_string(out, "files");
    reply_bulk_string(out, info.files);
    reply_bulk_string(out, "hooks");
    reply_bulk_string(out, info.hooks);
    reply_bulk_string(out, "memory_bytes");
    reply_bulk_integer(out, info.memory_bytes);
    reply_bulk_string(out, "reloads");
    reply_bulk_integer(out, info.reloads);
    reply_bulk_string(out, "reload_failures");
    reply_bulk_integer(out, info.reload_failures);
    char staged[65] = "none";
    rules_staged(staged, sizeof staged, NULL, 0);
    reply_bulk_string(out, "staged");   /* RULES.STAGE's version, or none */
    reply_bulk_string(out, staged);
    /* Whether the live set is a RULES.PROMOTE recorded in DATA/rules.promoted
     * (what reloads and restarts read): its folder, or no. */
    int promoted;
    const char *folder = tick_rules_folder(&promoted);
    reply_bulk_string(out, "promoted");
    reply_bulk_string(out, promoted ? folder : "no");
    for (int h = 0; h < HOOK_COUNT; h++) {
        if (!info.defined[h]) continue;
        char text[COUNTERS_TEXT_MAX];
        const struct rules_hook_counters *c = &info.counters[h];
        snprintf(text, sizeof text, "calls=%lld errors=%lld refusals=%lld microseconds=%lld", c->calls, c->errors,
                 c->refusals, c->microseconds);
        reply_bulk_string(out, rules_hook_name((enum rules_hook)h));
        reply_bulk_string(out, text);
    }
}

/* Counts a decision's pairs, then writes them. */
static void count_pair(void *context, const char *name, const char *value) {
    (void)name, (void)value;
    (*(long long *)context)++;
}

static void write_pair(void *context, const char *name, const char *value) {
    reply_bulk_string(context, name);
    reply_bulk_string(context, value);
}

/* RULES.EVAL TRIAGE field value ...: the intake pipeline, each step as
 * hook, then its pairs (with microseconds, and error when refused). */
static void eval_triage(struct request *request, const struct rules_field *fields, int count) {
    struct rules_dry_run *run = malloc(sizeof *run);
    if (run == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    char why[EVAL_ERROR_MAX];
    if (rules_eval_triage(fields, count, run, why, sizeof why) != 0) {
        request_error(request, "RULE", "%s", why);
        free(run);
        return;
    }
    struct evbuffer *out = request->reply;
    int steps = 0;
    for (int i = 0; i < RULES_DRY_STEPS; i++) steps += run->steps[i].ran;
    reply_map(out, 1 + steps);
    reply_bulk_string(out, "version");
    reply_bulk_string(out, run->version);
    for (int i = 0; i < RULES_DRY_STEPS; i++) {
        const struct rules_dry_step *step = &run->steps[i];
        if (!step->ran) continue;
        long long pairs = 0;
        rules_decision_pairs(step->hook, &step->decision, count_pair, &pairs);
        reply_bulk_string(out, rules_hook_name(step->hook));
        reply_map(out, pairs + 1 + (step->error[0] != 0));
        rules_decision_pairs(step->hook, &step->decision, write_pair, out);
        reply_bulk_string(out, "microseconds");
        reply_bulk_integer(out, step->microseconds);
        if (step->error[0]) {
            reply_bulk_string(out, "error");
            reply_bulk_string(out, step->error);
        }
    }
    free(run);
}

/* One hook on the fields: its checked decision and the version, or -RULE. */
static void eval_hook(struct request *request, enum rules_hook hook, const struct rules_field *fields, int count) {
    union rules_decision decision;
    char why[EVAL_ERROR_MAX];
    if (rules_eval(hook, fields, count, &decision, why, sizeof why) != 0) {
        request_error(request, "RULE", "%s", why);
        return;
    }
    long long pairs = 0;
    rules_decision_pairs(hook, &decision, count_pair, &pairs);
    reply_map(request->reply, pairs + 1);
    reply_bulk_string(request->reply, "version");
    reply_bulk_string(request->reply, rules_version());
    rules_decision_pairs(hook, &decision, write_pair, request->reply);
}

/* A field RULES.EVAL reads as money: what CASE.OPEN (amount) and
 * REFUND.REQUEST (refund_amount) take as a decimal amount, and the order's
 * totals the host counts in the same units.  The customer_notice hook's
 * `amount` is a text ("199.00 CNY"), taken as it is. */
static int is_money_field(const char *name, int hook) {
    if (hook == HOOK_CUSTOMER_NOTICE) return 0;
    return strcmp(name, "amount") == 0 || strcmp(name, "refund_amount") == 0 ||
           strcmp(name, "order_refunded") == 0 || strcmp(name, "order_in_review") == 0;
}

/* An instant: every field named *_at (paid_at, delivered_at, ...). */
static int is_instant_field(const char *name) {
    size_t len = strlen(name);
    return len > 3 && strcmp(name + len - 3, "_at") == 0;
}

/* The fields as the hook reads them, read as intake reads them, so that a
 * dry run and CASE.OPEN agree on the same words: money as a decimal amount
 * in the digits of the currency given (the default currency without one)
 * -- `amount 2000.00` and `amount 2000` are both 200000 minor units of
 * CNY -- instants as unix seconds or ISO 8601, each refused -INVALID
 * naming the field as CASE.OPEN refuses it; other whole numbers become
 * integers, the rest texts.  0, or -1 after the reply. */
static int read_fields(struct request *request, int hook, char *const *name_at, struct rules_field *fields,
                       int *count) {
    const char *currency = cases_default_currency();
    size_t currency_len = strlen(currency);
    for (int i = 2, n = 0; i + 1 < request->argc && n < FIELDS_MAX; i += 2, n++)
        if (strcmp(name_at[n], "currency") == 0) {
            currency = request->argv[i + 1];
            currency_len = request->argvlen[i + 1];
            if (money_currency_digits(currency, currency_len) < 0) {
                request_error(request, "INVALID", "currency '%s' is not a 3-letter ISO 4217 code like CNY",
                              QUOTE(currency, currency_len, QUOTED_CURRENCY_MAX));
                return -1;
            }
        }
    for (int i = 2; i + 1 < request->argc && *count < FIELDS_MAX; i += 2) {
        struct rules_field *field = &fields[*count];
        memset(field, 0, sizeof *field);
        field->name = name_at[(*count)++];
        const char *text = request->argv[i + 1];
        size_t len = request->argvlen[i + 1];
        const char *why = NULL;
        int64_t value = 0;
        long long number;
        if (is_money_field(field->name, hook))
            why = money_parse(text, len, money_currency_digits(currency, currency_len), &value);
        else if (is_instant_field(field->name))
            why = timeparse_instant(text, len, &value);
        else if (request_integer(request, i + 1, 1, &number) == 0)
            value = number;
        else {
            field->text = text;
            field->len = len;
            continue;
        }
        if (why) {
            /* Quoted: "5\0" printed as a C string would name a number. */
            request_error(request, "INVALID", "%s '%s' %s", field->name, QUOTE(text, len, QUOTED_FIELD_MAX), why);
            return -1;
        }
        field->is_integer = 1;
        field->integer = value;
    }
    return 0;
}

/* RULES.EVAL hook field value ...: a dry run, nothing written. */
void rules_eval_command(struct request *request) {
    if (request->argc % 2 != 0) {
        request_error(request, "INVALID", "fields come in pairs: RULES.EVAL hook|TRIAGE field value ...");
        return;
    }
    /* The hook and field names go on as C strings: a NUL would cut them short. */
    for (int i = 1; i < request->argc; i += i == 1 ? 1 : 2)
        if (request_c_string(request, i, i == 1 ? "hook" : "field name")) return;
    int triage = request_argument_is(request, 1, "triage");
    int hook = rules_hook_parse(request->argv[1]);
    if (hook < 0 && !triage) {
        /* Every hook the host knows, from its own list: the error never
         * forgets one RULES.EVAL takes. */
        char hooks[HOOKS_TEXT_MAX] = "";
        size_t used = 0;
        for (int h = 0; h < HOOK_COUNT && used < sizeof hooks; h++)
            used += (size_t)snprintf(hooks + used, sizeof hooks - used, "%s%s", h ? " " : "",
                                     rules_hook_name((enum rules_hook)h));
        request_error(request, "INVALID", "unknown hook '%s' (hooks: %s; TRIAGE for the intake pipeline)",
                      QUOTE(request->argv[1], request->argvlen[1], 32), hooks);
        return;
    }
    /* Field names in any case, as CASE.OPEN takes them: the host's (and the
     * rules') names are lower case, so SUBJECT is the subject the hook
     * reads.  Folded into a copy: argv may be a plugin's (case_api.c). */
    size_t names_size = 1;
    for (int i = 2; i < request->argc; i += 2) names_size += request->argvlen[i] + 1;
    char *names = malloc(names_size), *name_at[FIELDS_MAX];
    if (names == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    char *next = names;
    for (int i = 2, n = 0; i < request->argc && n < FIELDS_MAX; i += 2, n++) {
        name_at[n] = next;
        for (size_t k = 0; k < request->argvlen[i]; k++) *next++ = (char)tolower((unsigned char)request->argv[i][k]);
        *next++ = '\0';
    }
    /* A field given twice is refused, as CASE.OPEN refuses it (subject
     * beside SUBJECT too): the hook would see only one of the two, and the
     * caller would not know which. */
    for (int i = 2; i < request->argc; i += 2)
        for (int j = 2; j < i; j += 2)
            if (strcasecmp(request->argv[i], request->argv[j]) == 0) {
                int n = (i - 2) / 2;
                request_error(request, "INVALID", "field '%s' given twice",
                              QUOTE(n < FIELDS_MAX ? name_at[n] : request->argv[i], request->argvlen[i], 64));
                free(names);
                return;
            }
    struct rules_field fields[FIELDS_MAX];
    int count = 0;
    if (read_fields(request, hook, name_at, fields, &count) != 0) {
        free(names);
        return;
    }
    if (triage) eval_triage(request, fields, count);
    else eval_hook(request, (enum rules_hook)hook, fields, count);
    free(names);
}
