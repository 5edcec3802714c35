/* history_cmd.c -- STATS.HISTORY (see history_cmd.h).
 *
 * Owns: its arguments and reply.  The counts are domain/history.c's.
 */
#include "cmd/history_cmd.h"
#include "cmd/reply.h"
#include "domain/history.h"

#define HISTORY_HOURS_DEFAULT 48

struct rows {
    struct evbuffer *reply;
};

static void hour_row(void *context, const struct history_hour *hour) {
    struct rows *rows = context;
    reply_map(rows->reply, 4);
    reply_bulk_string(rows->reply, "at");
    reply_integer(rows->reply, hour->start);
    reply_bulk_string(rows->reply, "opened");
    reply_integer(rows->reply, hour->opened);
    reply_bulk_string(rows->reply, "resolved");
    reply_integer(rows->reply, hour->resolved);
    reply_bulk_string(rows->reply, "breached");
    reply_integer(rows->reply, hour->breached);
}

void stats_history_command(struct request *request) {
    long long hours = HISTORY_HOURS_DEFAULT;
    if (request->argc != 1 && (request->argc != 3 || !request_argument_is(request, 1, "HOURS"))) {
        request_error(request, "INVALID", "usage: STATS.HISTORY [HOURS n]");
        return;
    }
    if (request->argc == 3 && (request_integer(request, 2, 0, &hours) != 0 || hours < 1 || hours > HISTORY_HOURS_MAX)) {
        request_error(request, "INVALID", "HOURS must be an integer from 1 to %d", HISTORY_HOURS_MAX);
        return;
    }
    /* The rows go to a buffer first: a store error must be the whole reply. */
    struct evbuffer *rows_buffer = evbuffer_new();
    if (rows_buffer == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    struct rows rows = {rows_buffer};
    int complete = 0;
    if (history_hours(&request->call, (int)hours, &complete, hour_row, &rows) == 0) {
        reply_map(request->reply, 2);
        reply_bulk_string(request->reply, "complete");
        reply_integer(request->reply, complete);
        reply_bulk_string(request->reply, "hours");
        reply_array(request->reply, hours);
        evbuffer_add_buffer(request->reply, rows_buffer);
    }
    evbuffer_free(rows_buffer);
}
