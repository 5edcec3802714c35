/* merge_cmd.c -- CASE.MERGE from into [reason]: the adapter.
 *
 * Owns: its arguments and reply.  Never: reads or writes a case itself
 * (domain/merge.c does); both cases were checked before the handler (the
 * table marks them: they exist and the caller may work both).
 */
#include "cmd/merge_cmd.h"
#include "cmd/args.h"
#include "cmd/reply.h"
#include "domain/merge.h"

void case_merge_command(struct request *request) {
    int64_t from, into;
    if (request_id(request, 1, "case", &from) != 0 || request_id(request, 2, "case", &into) != 0) return;
    int reason = request->argc == 4;
    if (reason && args_text(request, "reason", request->argv[3], request->argvlen[3], ARGS_REASON_MAX, ARGS_LINE, 0))
        return;
    if (merge_cases(&request->call, from, into, reason ? request->argv[3] : NULL, reason ? request->argvlen[3] : 0) != 0)
        return;
    reply_ok(request->reply);
}
