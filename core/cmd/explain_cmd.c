/* explain_cmd.c -- CASE.EXPLAIN id and REFUND.EXPLAIN id: the decision log
 * of a case or a refund, oldest first.
 *
 * Owns: the reply -- one flat field/value array per decision (id, at,
 * hook, version, refund, inputs, output, reason, microseconds, error),
 * readable in redis-cli.  The command table checks who may see the case or
 * refund before this runs (as for CASE.GET / REFUND.GET).  Never: reads
 * the store itself (domain/decisions.c does).
 */
#include "cmd/explain_cmd.h"
#include "cmd/reply.h"
#include "domain/decisions.h"

#include <string.h>

struct explained {
    struct evbuffer *rows;
    long long count;
};

static void pair(struct evbuffer *out, const char *name, const char *value) {
    reply_bulk_string(out, name);
    reply_bulk_string(out, value);
}

static void pair_integer(struct evbuffer *out, const char *name, long long value) {
    reply_bulk_string(out, name);
    reply_bulk_integer(out, value);
}

static void explain_row(void *context, const struct decision_row *row) {
    struct explained *explained = context;
    struct evbuffer *out = explained->rows;
    int with_refund = row->refund_id > 0, with_error = row->error && row->error[0];
    reply_map(out, 8 + with_refund + with_error);
    pair_integer(out, "id", row->id);
    pair_integer(out, "at", row->at);
    pair(out, "hook", row->hook);
    pair(out, "version", row->version);
    if (with_refund) pair_integer(out, "refund", row->refund_id);
    pair(out, "inputs", row->inputs);
    pair(out, "output", row->output);
    pair(out, "reason", row->reason);
    pair_integer(out, "microseconds", row->microseconds);
    if (with_error) pair(out, "error", row->error);
    explained->count++;
}

static void explain(struct request *request, const char *what) {
    int64_t id;
    if (request_id(request, 1, what, &id) != 0) return;
    struct explained explained = {evbuffer_new(), 0};
    if (explained.rows == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    int refund = strcmp(what, "refund") == 0;
    if (decisions_list(&request->call, refund ? 0 : id, refund ? id : 0, explain_row, &explained) < 0) {
        evbuffer_free(explained.rows);
        return; /* request_finish answers the store error */
    }
    reply_array(request->reply, explained.count);
    evbuffer_add_buffer(request->reply, explained.rows);
    evbuffer_free(explained.rows);
}

void case_explain_command(struct request *request) { explain(request, "case"); }
void refund_explain_command(struct request *request) { explain(request, "refund"); }
