/* rules_cmd.c -- RULES.RELOAD, RULES.INFO and RULES.EVAL.
 *
 * Owns: parsing these commands' arguments and their replies.  Never: loads
 * rules itself (domain/tick.c has the one reload) or writes the store.
 */
#include "cmd/rules_cmd.h"
#include "cmd/reply.h"
#include "domain/tick.h"
#include "rules/rules.h"

#include <string.h>

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

void rules_info_command(struct request *request) { rules_info(request->reply); }

/* RULES.EVAL hook field value ...: a dry run, nothing written. */
void rules_eval_command(struct request *request) {
    if (request->argc % 2 != 0) {
        request_error(request, "INVALID", "fields come in pairs: RULES.EVAL hook field value ...");
        return;
    }
    struct rules_field fields[64];
    int count = 0;
    for (int i = 2; i + 1 < request->argc && count < 64; i += 2) {
        struct rules_field *field = &fields[count++];
        memset(field, 0, sizeof *field);
        field->name = request->argv[i];
        /* Whole numbers go to rules as integers (amount in minor units, times). */
        long long number;
        if (request_signed(request, i + 1, &number) == 0) {
            field->is_integer = 1;
            field->integer = number;
        } else {
            field->text = request->argv[i + 1];
            field->len = request->argvlen[i + 1];
        }
    }
    if (rules_eval(request->argv[1], fields, count, request->reply) != 0) request->failed = 1;
}
