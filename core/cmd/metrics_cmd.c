/* metrics_cmd.c -- METRICS: the daemon's figures as Prometheus text
 * (exposition format 0.0.4), one bulk reply; GET /metrics serves it.
 *
 * Owns: the metric names, their types, units and help lines.  Names follow
 * Prometheus' conventions: a `redress_` prefix, base units in the name
 * (`_seconds`, `_bytes`), `_total` for counters; process_* as client
 * libraries name them.  Figures come from where they are kept: cases and
 * refunds grouped from the store (domain/figures.c), committed event kinds,
 * rule hooks' counters and durations (rules_info), the store's commits,
 * its corrupt flag and integrity check's state, the last backup
 * (domain/backups.c), the command table's counts, and INFO's server lines (connections, AUTH
 * failures), read from the text INFO shows (plain, not INFO's reply, whose
 * framing follows the caller's protocol) so both say the same.  A scrape reads nothing from
 * the database: the loop is never held by it, however many cases there are.
 * Never: narrows figures to a caller (METRICS is for supervisors, finance
 * and admins: the command table), or names a case.
 */
#include "cmd/metrics_cmd.h"
#include "cmd/conn.h"
#include "cmd/reply.h"
#include "domain/backups.h"
#include "domain/figures.h"
#include "lib/histogram.h"
#include "lib/money.h"
#include "rules/rules.h"
#include "store/store.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LABEL_MAX 256          /* an escaped label value */
#define INFO_LINE_MAX 256

static void (*command_counts)(void (*visit)(void *context, const char *name, long long calls), void *context);

void metrics_set_command_counts(void (*each)(void (*visit)(void *context, const char *name, long long calls),
                                             void *context)) {
    command_counts = each;
}

/* A label value with \\, " and newlines escaped (exposition format). */
static const char *label(const char *value, char out[LABEL_MAX]) {
    size_t n = 0;
    for (; *value && n + 2 < LABEL_MAX; value++) {
        if (*value == '\\' || *value == '"') out[n++] = '\\';
        if (*value == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
            continue;
        }
        out[n++] = *value;
    }
    out[n] = '\0';
    return out;
}

static void header(struct evbuffer *out, const char *name, const char *type, const char *help) {
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void histogram_lines(struct evbuffer *out, const char *name, const char *labels, const struct histogram *h,
                            const double *bounds, int count) {
    unsigned long long cumulative = 0;
    const char *comma = labels[0] ? "," : "";
    for (int i = 0; i < count; i++) {
        cumulative += h->buckets[i];
        evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, comma, bounds[i], cumulative);
    }
    evbuffer_add_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, comma, h->count);
    evbuffer_add_printf(out, "%s_sum%s%s%s %.9g\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "", h->sum);
    evbuffer_add_printf(out, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
                        h->count);
}

/* ------------------------------------------------------- cases, refunds */

/* Two metric families come from one read: the first's lines go to out,
 * the second's to also (appended after it). */
struct pass {
    struct evbuffer *out, *also;
};

static void state_line(void *context, const char *state, long long cases) {
    struct pass *pass = context;
    char s[LABEL_MAX];
    evbuffer_add_printf(pass->out, "redress_cases{state=\"%s\"} %lld\n", label(state, s), cases);
}

static void case_line(void *context, const char *state, const char *queue, const char *priority, long long cases,
                      long long breached) {
    struct pass *pass = context;
    char s[LABEL_MAX], q[LABEL_MAX], p[LABEL_MAX];
    label(state, s);
    label(queue, q);
    label(priority, p);
    evbuffer_add_printf(pass->out, "redress_open_cases{state=\"%s\",queue=\"%s\",priority=\"%s\"} %lld\n", s, q, p,
                        cases);
    evbuffer_add_printf(pass->also, "redress_open_cases_breached{state=\"%s\",queue=\"%s\",priority=\"%s\"} %lld\n",
                        s, q, p, breached);
}

static void category_line(void *context, const char *category, long long opened, long long resolved) {
    struct pass *pass = context;
    char c[LABEL_MAX];
    label(category, c);
    evbuffer_add_printf(pass->out, "redress_cases_opened_total{category=\"%s\"} %lld\n", c, opened);
    evbuffer_add_printf(pass->also, "redress_cases_resolved_total{category=\"%s\"} %lld\n", c, resolved);
}

static void refund_line(void *context, const char *state, const char *currency, long long refunds,
                        long long amount_minor) {
    struct pass *pass = context;
    char s[LABEL_MAX], c[LABEL_MAX];
    label(state, s);
    label(currency, c);
    evbuffer_add_printf(pass->out, "redress_refunds{state=\"%s\",currency=\"%s\"} %lld\n", s, c, refunds);
    /* In the currency's unit (CNY, not fen), as dashboards show money, and
     * exact: the decimal text of the minor units (a double rounded sums
     * above 2^53 minor units). */
    int digits = money_currency_digits(currency, strlen(currency));
    char amount[32];
    if (money_format(amount_minor, digits < 0 ? 2 : digits, amount, sizeof amount) < 0) return; /* cannot: 32 fits */
    evbuffer_add_printf(pass->also, "redress_refunds_amount{state=\"%s\",currency=\"%s\"} %s\n", s, c, amount);
}

/* One family pair: headers, the read, the lines; 0 or -1 (store error). */
static int pair_of(struct request *request, struct evbuffer *out, struct evbuffer *also, const char *first,
                   const char *first_type, const char *first_help, const char *second, const char *second_type,
                   const char *second_help, int (*read)(struct request *, struct pass *)) {
    struct pass pass = {out, also};
    header(out, first, first_type, first_help);
    header(also, second, second_type, second_help);
    if (read(request, &pass) != 0) return -1;
    evbuffer_add_buffer(out, also);
    return 0;
}

static int read_cases(struct request *request, struct pass *pass) {
    return figures_cases(&request->call, case_line, pass);
}
static int read_categories(struct request *request, struct pass *pass) {
    return figures_categories(&request->call, category_line, pass);
}
static int read_refunds(struct request *request, struct pass *pass) {
    return figures_refunds(&request->call, refund_line, pass);
}

static int store_figures(struct request *request, struct evbuffer *out) {
    struct evbuffer *also = evbuffer_new();
    if (also == NULL) return call_fail(&request->call, CALL_ERR, "out of memory");
    struct pass pass = {out, also};
    header(out, "redress_cases", "gauge", "Cases by state.");
    int status = figures_states(&request->call, state_line, &pass);
    if (status == 0)
        status = pair_of(request, out, also, "redress_open_cases", "gauge",
                         "Cases not resolved or closed, by state, queue and priority.", "redress_open_cases_breached",
                         "gauge", "Of those, cases with a missed deadline.", read_cases);
    if (status == 0)
        status = pair_of(request, out, also, "redress_cases_opened_total", "counter",
                         "Cases opened, by their category now.", "redress_cases_resolved_total", "counter",
                         "Cases resolved at least once, by category.", read_categories);
    if (status == 0)
        status = pair_of(request, out, also, "redress_refunds", "gauge", "Refunds by state and currency.",
                         "redress_refunds_amount", "gauge", "Sum of refund amounts by state, in units of the currency.",
                         read_refunds);
    evbuffer_free(also);
    return status;
}

/* --------------------------------------------------------- the rest */

static void event_line(void *context, const char *kind, long long count) {
    char k[LABEL_MAX];
    evbuffer_add_printf(context, "redress_events_total{kind=\"%s\"} %lld\n", label(kind, k), count);
}

static void command_line(void *context, const char *name, long long calls) {
    char n[LABEL_MAX];
    evbuffer_add_printf(context, "redress_commands_total{command=\"%s\"} %lld\n", label(name, n), calls);
}

static void rule_figures(struct evbuffer *out) {
    struct rules_info info;
    rules_info(&info);
    header(out, "redress_rules_loaded", "gauge", "1 when a rule set is loaded.");
    evbuffer_add_printf(out, "redress_rules_loaded %d\n", info.loaded ? 1 : 0);
    header(out, "redress_rules_reloads_total", "counter", "Rule set reloads, and failed ones.");
    evbuffer_add_printf(out, "redress_rules_reloads_total{outcome=\"ok\"} %lld\n", info.reloads);
    evbuffer_add_printf(out, "redress_rules_reloads_total{outcome=\"failed\"} %lld\n", info.reload_failures);
    header(out, "redress_rule_hook_calls_total", "counter", "Rule hook calls of the running rule set.");
    for (int h = 0; h < HOOK_COUNT; h++)
        evbuffer_add_printf(out, "redress_rule_hook_calls_total{hook=\"%s\"} %lld\n", rules_hook_name((enum rules_hook)h),
                            info.counters[h].calls);
    header(out, "redress_rule_hook_errors_total", "counter", "Rule hook calls that failed (the default applied).");
    for (int h = 0; h < HOOK_COUNT; h++)
        evbuffer_add_printf(out, "redress_rule_hook_errors_total{hook=\"%s\"} %lld\n",
                            rules_hook_name((enum rules_hook)h), info.counters[h].errors);
    header(out, "redress_rule_hook_refusals_total", "counter", "Rule hook outputs the host refused.");
    for (int h = 0; h < HOOK_COUNT; h++)
        evbuffer_add_printf(out, "redress_rule_hook_refusals_total{hook=\"%s\"} %lld\n",
                            rules_hook_name((enum rules_hook)h), info.counters[h].refusals);
    header(out, "redress_rule_hook_duration_seconds", "histogram", "Duration of rule hook calls.");
    for (int h = 0; h < HOOK_COUNT; h++) {
        char labels[64];
        snprintf(labels, sizeof labels, "hook=\"%s\"", rules_hook_name((enum rules_hook)h));
        histogram_lines(out, "redress_rule_hook_duration_seconds", labels, &info.counters[h].seconds,
                        histogram_seconds, HISTOGRAM_SECONDS_COUNT);
    }
    header(out, "redress_rules_memory_bytes", "gauge", "Memory of the rule set's Lua state.");
    evbuffer_add_printf(out, "redress_rules_memory_bytes %lld\n", info.loaded ? info.memory_bytes : 0);
}

static void store_lines(struct evbuffer *out) {
    const struct store_stats *stats = store_stats();
    header(out, "redress_store_commits_total", "counter", "Batches committed (group commit).");
    evbuffer_add_printf(out, "redress_store_commits_total %lld\n", stats->commits);
    header(out, "redress_store_commit_failures_total", "counter", "Batches whose COMMIT failed.");
    evbuffer_add_printf(out, "redress_store_commit_failures_total %lld\n", stats->commit_failures);
    header(out, "redress_store_writes_refused_total", "counter",
           "Writes refused before they began: the database is corrupt, or was replaced under the daemon.");
    evbuffer_add_printf(out, "redress_store_writes_refused_total %lld\n", stats->writes_refused);
    header(out, "redress_store_connected", "gauge",
           "1 while commands can reach the store; 0 while its PostgreSQL connection is down and being made again "
           "(every command fails meanwhile).");
    evbuffer_add_printf(out, "redress_store_connected %d\n", store_is_connected());
    header(out, "redress_store_database_corrupt", "gauge",
           "1 once the database is known to be corrupt: every write is refused until a restore.");
    evbuffer_add_printf(out, "redress_store_database_corrupt %d\n", store_is_corrupt());
    header(out, "redress_store_database_replaced", "gauge",
           "1 once DATA/redress.db no longer names the file opened (a restore or removal under the daemon): "
           "every write is refused until a restart.");
    evbuffer_add_printf(out, "redress_store_database_replaced %d\n", store_is_replaced());
    header(out, "redress_store_integrity_check", "gauge",
           "The full check of the database after start: 1 for its state now (INFO's integrity_check).");
    for (int s = 0; store_integrity_state_name(s); s++)
        evbuffer_add_printf(out, "redress_store_integrity_check{state=\"%s\"} %d\n", store_integrity_state_name(s),
                            s == store_integrity_state());
    header(out, "redress_store_commit_duration_seconds", "histogram", "Duration of each COMMIT, its fsync included.");
    histogram_lines(out, "redress_store_commit_duration_seconds", "", &stats->commit_seconds, histogram_seconds,
                    HISTOGRAM_SECONDS_COUNT);
    header(out, "redress_store_commit_batch_writes", "histogram", "Write commands per committed batch.");
    histogram_lines(out, "redress_store_commit_batch_writes", "", &stats->batch_writes, histogram_sizes,
                    HISTOGRAM_SIZES_COUNT);
}

/* The last backup: an alert on its age or its failure (ADMIN.BACKUP's
 * reply comes before the copy is written). */
static void backup_lines(struct evbuffer *out) {
    const struct backups_outcome *last = backups_last();
    header(out, "redress_backup_in_progress", "gauge", "1 while an ADMIN.BACKUP copy runs.");
    evbuffer_add_printf(out, "redress_backup_in_progress %d\n", backups_running());
    header(out, "redress_backup_last_success_timestamp_seconds", "gauge",
           "When the last backup that was written whole ended (0: none since start).");
    evbuffer_add_printf(out, "redress_backup_last_success_timestamp_seconds %lld\n", (long long)last->last_success_at);
    header(out, "redress_backup_last_failed", "gauge", "1 when the last backup that ended failed.");
    evbuffer_add_printf(out, "redress_backup_last_failed %d\n", last->status == BACKUP_FAILED);
    header(out, "redress_backup_failures_total", "counter", "Backups that failed since start.");
    evbuffer_add_printf(out, "redress_backup_failures_total %lld\n", last->failures);
}

/* INFO's lines that are metrics, under their Prometheus names. */
static const struct {
    const char *info, *name, *type, *help;
} info_metrics[] = {
    {"connected_clients", "redress_connected_clients", "gauge", "RESP connections open now."},
    {"unauthenticated_clients", "redress_unauthenticated_clients", "gauge", "TCP connections that have not authenticated."},
    {"total_connections_received", "redress_connections_received_total", "counter", "RESP connections accepted."},
    {"rejected_connections", "redress_connections_rejected_total", "counter", "RESP connections refused at a limit."},
    {"total_commands_processed", "redress_resp_commands_total", "counter", "Commands received over RESP."},
    {"protocol_errors", "redress_protocol_errors_total", "counter", "Malformed or oversize RESP frames."},
    {"subscribers", "redress_subscribers", "gauge", "EVENTS.SUBSCRIBE connections."},
    {"events_published", "redress_events_published_total", "counter", "Events pushed to subscribers."},
    {"auth_failures", "redress_auth_failures_total", "counter", "Failed AUTHs."},
    {"auth_delays", "redress_auth_delays_total", "counter", "AUTHs made to wait after failures of their address."},
};

/* INFO's server lines as plain text (not an INFO reply, whose framing
 * follows the caller's protocol: a RESP3 caller's is verbatim text), so
 * the figures are the same whoever asks. */
static void info_figures(struct evbuffer *out) {
    struct evbuffer *text = evbuffer_new();
    if (text == NULL) return;
    evbuffer_add(text, "\n", 1);  /* every key then follows a newline */
    commands_server_info(text);
    evbuffer_add(text, "", 1);     /* a C string for strstr */
    const char *flat = (const char *)evbuffer_pullup(text, -1);
    for (size_t m = 0; flat && m < sizeof info_metrics / sizeof info_metrics[0]; m++) {
        char key[INFO_LINE_MAX];
        snprintf(key, sizeof key, "\n%s:", info_metrics[m].info);
        const char *at = strstr(flat, key);
        if (at == NULL) continue;
        header(out, info_metrics[m].name, info_metrics[m].type, info_metrics[m].help);
        evbuffer_add_printf(out, "%s %lld\n", info_metrics[m].name, strtoll(at + strlen(key), NULL, 10));
    }
    evbuffer_free(text);
}

/* process_* as Prometheus' client libraries name them (Linux /proc). */
static void process_figures(struct evbuffer *out) {
    FILE *statm = fopen("/proc/self/statm", "r");
    long long size = 0, resident = 0;
    if (statm) {
        if (fscanf(statm, "%lld %lld", &size, &resident) != 2) resident = 0;
        fclose(statm);
    }
    long page = sysconf(_SC_PAGESIZE);
    header(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    evbuffer_add_printf(out, "process_resident_memory_bytes %lld\n", resident * (page > 0 ? page : 4096));
    header(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    evbuffer_add_printf(out, "process_virtual_memory_bytes %lld\n", size * (page > 0 ? page : 4096));
}

void metrics_command(struct request *request) {
    struct evbuffer *out = evbuffer_new();
    if (out == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    if (store_figures(request, out) != 0) {
        evbuffer_free(out);
        return; /* the store error is in the call: request_finish replies it */
    }
    header(out, "redress_events_total", "counter", "Committed events of the kinds operators alert on, since start.");
    figures_each_event(event_line, out);
    if (command_counts) {
        header(out, "redress_commands_total", "counter", "Commands run, over RESP and HTTP, since start.");
        command_counts(command_line, out);
    }
    rule_figures(out);
    store_lines(out);
    backup_lines(out);
    info_figures(out);
    process_figures(out);
    header(out, "redress_build_info", "gauge", "The running version.");
    evbuffer_add_printf(out, "redress_build_info{version=\"%s\"} 1\n", REDRESS_VERSION);
    size_t len = evbuffer_get_length(out);
    reply_bulk(request->reply, (const char *)evbuffer_pullup(out, -1), len);
    evbuffer_free(out);
}
