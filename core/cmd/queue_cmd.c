/* queue_cmd.c -- CASE.CLAIM, CASE.TRANSFER, QUEUE.LIST: the adapters.
 *
 * Owns: their arguments, INVALID messages and reply shapes (a claimed id
 * or nil; OK; one map per queue).  Never: reads or writes a case itself
 * (domain/queues.c and the case module do); the named queue and case were
 * checked before the handler (the table marks them: known, visible, one the
 * caller may work).
 */
#include "cmd/queue_cmd.h"
#include "cmd/reply.h"
#include "domain/assignment.h"
#include "domain/notices.h"
#include "domain/case.h"
#include "domain/queues.h"

#define TRANSFER_REASON_MAX 1024

/* CASE.CLAIM [queue] -> the claimed case id, or nil when nothing waits. */
void case_claim_command(struct request *request) {
    int64_t id = 0;
    int named = request->argc == 2;
    int claimed = queues_claim(&request->call, named ? request->argv[1] : NULL, named ? request->argvlen[1] : 0, &id);
    if (claimed < 0) return;
    if (claimed == 0) reply_nil(request->reply);
    else reply_integer(request->reply, id);
}

/* CASE.TRANSFER id queue [reason]: to another department, history kept;
 * any caller may hand a case to any department. */
void case_transfer_command(struct request *request) {
    int64_t id;
    if (request_id(request, 1, "case", &id) != 0) return;
    int reason = request->argc == 4;
    if (reason && request->argvlen[3] > TRANSFER_REASON_MAX) {
        request_error(request, "INVALID", "reason is too long (at most %d bytes)", TRANSFER_REASON_MAX);
        return;
    }
    struct case_row row;
    if (case_load(&request->call, id, 0, &row) != 0) return;
    if (assignment_transfer(&request->call, &row, request->argv[2], request->argvlen[2],
                            reason ? request->argv[3] : NULL, reason ? request->argvlen[3] : 0) != 0 ||
        notices_tell(&request->call, &row, "transferred", 0) != 0)
        return;
    reply_ok(request->reply);
}

static void reply_queue(void *context, const struct queue_summary *summary) {
    struct evbuffer *rows = context;
    reply_map(rows, 8);
    reply_bulk_string(rows, "queue");
    reply_bulk_string(rows, summary->queue);
    reply_bulk_string(rows, "open");
    reply_bulk_integer(rows, summary->open);
    reply_bulk_string(rows, "unassigned");
    reply_bulk_integer(rows, summary->unassigned);
    reply_bulk_string(rows, "breached");
    reply_bulk_integer(rows, summary->breached);
    reply_bulk_string(rows, "oldest_waiting_seconds");
    if (summary->has_oldest) reply_bulk_integer(rows, summary->oldest_waiting_seconds);
    else reply_bulk_string(rows, "");
    reply_bulk_string(rows, "assignment");
    reply_bulk_string(rows, summary->mode);
    reply_bulk_string(rows, "agents_online");
    reply_bulk_integer(rows, summary->agents_online);
    reply_bulk_string(rows, "agents");
    reply_bulk_string(rows, summary->agents);
}

/* QUEUE.LIST: per queue: open, unassigned, breached, oldest unassigned case's
 * age -- of the queues the caller may work (an agent: its own). */
void queue_list_command(struct request *request) {
    struct evbuffer *rows = evbuffer_new();
    if (rows == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    int count = queues_list(&request->call, reply_queue, rows);
    if (count >= 0) {
        reply_array(request->reply, count);
        evbuffer_add_buffer(request->reply, rows);
    }
    evbuffer_free(rows);
}
