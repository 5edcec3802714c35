/* stats.c -- STATS for supervisors.
 *
 * The figures: case counts, SLA compliance (clocks met on time against
 * clocks breached, automations excluded) per priority and per queue, the
 * median and 90th percentile of the time to first response and to
 * resolution (wall seconds from opening; nearest-rank values), and
 * satisfaction (CSAT, schema 17): responses, average score and the share
 * of 4s and 5s, overall, per queue and per agent.
 *
 * Three ways to the same figures, none holding the loop at 100,000 open
 * cases and a million resolved:
 *  - STATS alone (and GET /api/stats, which is STATS) reads what is kept at
 *    commit: the counts and every case's times in memory
 *    (domain/figures.c), the SLA and CSAT sums in sla_figures and
 *    csat_figures (schema 25, kept by triggers) -- a few dozen rows.
 *  - SINCE / UNTIL / AGENT bound every figure (cases by when they opened,
 *    SLA clocks by when they ended, surveys by when they were answered;
 *    AGENT: the cases the agent holds, the surveys of their cases), which
 *    nothing kept in advance can answer: the connection is parked and the
 *    rows are read in slices of STATS_SLICE_MS, one per loop turn after
 *    the clients' input (ranges of ids, so a slice never scans more than
 *    STATS_SLICE_IDS rows of a table), the times kept sorted
 *    (lib/rankset.h) for the percentiles; the reply comes when the last
 *    table is read.
 *  - A windowed STATS that cannot wait (inside MULTI/EXEC, or a request
 *    with no connection) reads the tables at once, as STATS always did.
 * This file is the adapter: STATS's options and which of the three ways
 * answers (stats_window.c reads in slices, stats_reply.c replies each
 * way's figures).  Never: writes a row; a store error is replied as one
 * (never a -1 or a figure cut short).
 */
#include "cmd/args.h"
#include "cmd/stats.h"
#include "cmd/stats_internal.h"
#include "lib/timeparse.h"

#include <stdint.h>
#include <stdio.h>

/* [SINCE t] [UNTIL t] [AGENT name]: 0, or -1 after the error. */
static int parse_options(struct request *request, struct stats_window *w) {
    w->since = INT64_MIN;
    w->until = INT64_MAX;
    w->agent = NULL;
    w->agent_len = 0;
    for (int i = 1; i < request->argc; i++) {
        int has_value = i + 1 < request->argc;
        const char *why = NULL;
        if (request_argument_is(request, i, "SINCE") && has_value) {
            i++;
            why = timeparse_instant(request->argv[i], request->argvlen[i], &w->since);
        } else if (request_argument_is(request, i, "UNTIL") && has_value) {
            i++;
            why = timeparse_instant(request->argv[i], request->argvlen[i], &w->until);
        } else if (request_argument_is(request, i, "AGENT") && has_value) {
            i++;
            if (args_name(request, "AGENT", request->argv[i], request->argvlen[i])) return -1;
            w->agent = request->argv[i];
            w->agent_len = request->argvlen[i];
        } else {
            request_error(request, "INVALID", "unknown or incomplete STATS option '%s' (options: SINCE t, "
                          "UNTIL t, AGENT name)",
                          QUOTE(request->argv[i], request->argvlen[i], 32));
            return -1;
        }
        if (why) {
            request_error(request, "INVALID", "%s %s", request->argv[i - 1], why);
            return -1;
        }
    }
    return 0;
}

void stats_command(struct request *request) {
    struct stats_window w;
    if (parse_options(request, &w) != 0) return;
    if (w.since == INT64_MIN && w.until == INT64_MAX && w.agent == NULL) {
        stats_reply_kept(request);
        return;
    }
    if (stats_window_start(request, &w) == 0) stats_reply_tables(request, &w);
}

