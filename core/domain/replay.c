/* replay.c -- RULES.REPLAY and redressd --replay (see replay.h).
 *
 * Owns: a replay's walk over past cases (in slices on the loop, or in one
 * go offline), the as-of-then answers of redress.recent and
 * redress.customer it gives the staged set, the comparison with the
 * decision log and the report.  Never writes the store, never touches the
 * running rule set.
 */
#include "domain/replay.h"
#include "domain/customers.h"
#include "domain/decisions.h"
#include "domain/intake.h"
#include "lib/clock.h"
#include "lib/counters.h"
#include "lib/detail.h"
#include "lib/money.h"
#include "lib/sorted.h"
#include "rules/rules.h"
#include "store/store.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_ROWS 256                /* cases read per statement run */
#define DIFF_ROWS_MAX 512            /* distinct old -> new rows kept (the rest counted) */
#define DIFF_TEXT_MAX 160            /* an old or new value as shown */
#define LINE_MAX_BYTES 600
#define REPLAY_FIELDS_MAX (INTAKE_FIELD_COUNT + 16)
#define KEY_MAX 300
#define SPIKE_TAG_CUT 200

enum { H_CLASSIFY, H_PRIORITY, H_SLA, H_REFUND, H_COUNT };
static const char *const hook_names[H_COUNT] = {"classify", "priority", "sla", "refund"};

struct diff_row {
    int hook;
    char field[16];
    char from[DIFF_TEXT_MAX], to[DIFF_TEXT_MAX];
    long long count;
    int64_t examples[REPLAY_EXAMPLES];
};

/* ------------------------------------------------------------ recent counts as of then */

/* key -> the instants of the cases counted under it, in the order added
 * (cases are walked by id: their instants grow, but for clock jumps). */
struct moments {
    char *key;
    int64_t *at;
    size_t count, room;
};

struct recent_map {
    struct moments *slots;
    size_t capacity, used;
};

static uint64_t hash_key(const char *key) {
    uint64_t h = 1469598103934665603ULL;
    for (; *key; key++) h = (h ^ (unsigned char)*key) * 1099511628211ULL;
    return h;
}

static struct moments *recent_find(struct recent_map *map, const char *key, int create) {
    if (map->capacity == 0 || (create && 2 * (map->used + 1) > map->capacity)) {
        if (!create) return NULL;
        size_t capacity = map->capacity ? 2 * map->capacity : 1024;
        struct moments *slots = calloc(capacity, sizeof *slots);
        if (slots == NULL) return NULL;
        for (size_t i = 0; i < map->capacity; i++) {
            if (map->slots[i].key == NULL) continue;
            size_t j = hash_key(map->slots[i].key) & (capacity - 1);
            while (slots[j].key) j = (j + 1) & (capacity - 1);
            slots[j] = map->slots[i];
        }
        free(map->slots);
        map->slots = slots;
        map->capacity = capacity;
    }
    size_t i = hash_key(key) & (map->capacity - 1);
    while (map->slots[i].key) {
        if (strcmp(map->slots[i].key, key) == 0) return &map->slots[i];
        i = (i + 1) & (map->capacity - 1);
    }
    if (!create) return NULL;
    map->slots[i].key = strdup(key);
    if (map->slots[i].key == NULL) return NULL;
    map->used++;
    return &map->slots[i];
}

static void recent_add(struct recent_map *map, const char *key, int64_t at) {
    struct moments *m = recent_find(map, key, 1);
    if (m == NULL) return;
    if (m->count == m->room) {
        size_t room = m->room ? 2 * m->room : 8;
        int64_t *grown = realloc(m->at, room * sizeof *grown);
        if (grown == NULL) return;
        m->at = grown;
        m->room = room;
    }
    /* Kept sorted: an instant out of order (a clock jump) moves into place. */
    size_t i = m->count++;
    while (i > 0 && m->at[i - 1] > at) {
        m->at[i] = m->at[i - 1];
        i--;
    }
    m->at[i] = at;
}

static void recent_free(struct recent_map *map) {
    for (size_t i = 0; i < map->capacity; i++) {
        free(map->slots[i].key);
        free(map->slots[i].at);
    }
    free(map->slots);
    memset(map, 0, sizeof *map);
}

/* ------------------------------------------------------------ the job */

struct job {
    struct replay_options options;
    int warming;                       /* phase 1: the 31 days before since */
    int64_t cursor;                    /* last case id done */
    long long cases, refunds, unlogged, failed_cases;
    long long decided[H_COUNT], changed[H_COUNT], failed_by_hook[H_COUNT];
    struct diff_row *rows;
    int row_count;
    long long rows_dropped;
    char errors[REPLAY_ERRORS_SHOWN][LINE_MAX_BYTES];
    int error_count;
    struct recent_map recent;
    char version[65];
    replay_done_fn done;
    void *context;
    struct event *slice;               /* NULL offline */
    int failed;                        /* a store error ended it */
    char store_error[LINE_MAX_BYTES];
};

static struct job *running;            /* the one replay of the daemon */
/* The cases the replayed decision could see: those up to this id, and
 * those opened before the replayed instant -- at intake the cases before
 * the one replayed, at a refund the case itself and those before it, and
 * any opened since by an earlier second. */
static int64_t visible_id;

static long long job_recent(const char *key, int64_t window, int64_t now) {
    if (running == NULL) return 0;
    struct moments *m = recent_find(&running->recent, key, 0);
    if (m == NULL) return 0;
    size_t from = sorted_lower_bound(m->at, m->count, now - window);
    size_t to = sorted_lower_bound(m->at, m->count, now + 1);
    return (long long)(to - from);
}

/* redress.customer as of an instant: the customer's cases opened before it. */
static int job_customer(const char *id, size_t len, int64_t as_of, struct rules_customer *out, char *why,
                        size_t why_size) {
    static const char sql[] =
        "SELECT currency, count(*), count(*) FILTER (WHERE resolved_at IS NULL OR resolved_at >= ?2), max(created_at),"
        " sum(amount / 4294967296), count(amount), sum(amount % 4294967296) FROM cases WHERE customer_id ="
        " (SELECT customer_id FROM customer_identities WHERE kind = ?1 AND value = ?4)"
        " AND (id <= ?3 OR created_at < ?2) GROUP BY currency";
    memset(out, 0, sizeof *out);
    struct customer_identity identity;
    if (customers_parse_identity(id, len, &identity) != NULL) return 0;   /* no such customer: no cases */
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) {
        snprintf(why, why_size, "%s", store_error());
        return -1;
    }
    store_bind_text(statement, 1, identity.kind, -1, STORE_STATIC);
    store_bind_text(statement, 4, identity.value, (int)identity.len, STORE_STATIC);
    store_bind_int64(statement, 2, as_of);
    store_bind_int64(statement, 3, visible_id);
    int rc, currencies = 0;
    long long total = 0;
    out->has_amount_total = 1;
    while ((rc = store_step(statement)) == STORE_ROW) {
        out->cases += store_column_int64(statement, 1);
        out->open += store_column_int64(statement, 2);
        int64_t last = store_column_int64(statement, 3);
        if (!out->has_last_case_at || last > out->last_case_at) out->last_case_at = last;
        out->has_last_case_at = 1;
        const char *currency = (const char *)store_column_text(statement, 0);
        if (currency && store_column_int64(statement, 5) > 0 && out->currency_count < RULES_CURRENCIES_MAX) {
            snprintf(out->totals[out->currency_count].currency, 4, "%s", currency);
            /* money_sum's parts, as domain/facts.c reads them. */
            struct money_sum sum = {store_column_int64(statement, 4), store_column_int64(statement, 6)};
            out->totals[out->currency_count++].total = money_sum_value(&sum);
            total = money_sum_value(&sum);
            currencies++;
        }
    }
    store_reset(statement);
    if (rc != STORE_DONE) {
        snprintf(why, why_size, "%s", store_error());
        return -1;
    }
    out->has_amount_total = currencies <= 1;
    out->amount_total = currencies == 1 ? total : 0;
    return 0;
}

static const struct rules_replay_provider provider = {job_recent, job_customer};

void replay_init(void) { rules_set_replay_provider(&provider); }

int replay_running(void) { return running != NULL; }

/* A decision whose rule failed (or was refused): counted as failed, never
 * compared -- the default that applied is not something the staged set
 * decided, so it is no change of policy. */
static void job_error(struct job *job, int64_t case_id, int hook, const char *why) {
    job->failed_cases++;
    job->failed_by_hook[hook]++;
    if (job->error_count < REPLAY_ERRORS_SHOWN)
        snprintf(job->errors[job->error_count++], LINE_MAX_BYTES, "  case %lld %s: %s", (long long)case_id,
                 hook_names[hook], why);
}

/* Counts one decision of hook: changed when any of its fields changed; a
 * field that changed is a row old -> new. */
static void compare(struct job *job, int hook, int64_t case_id, const char *const *fields, const char *const *old,
                    const char *const *new, int count) {
    job->decided[hook]++;
    int changed = 0;
    for (int f = 0; f < count; f++) {
        if (strcmp(old[f], new[f]) == 0) continue;
        changed = 1;
        struct diff_row *row = NULL;
        for (int r = 0; r < job->row_count; r++) {
            struct diff_row *at = &job->rows[r];
            if (at->hook == hook && strcmp(at->field, fields[f]) == 0 && strncmp(at->from, old[f], DIFF_TEXT_MAX - 1) == 0 &&
                strncmp(at->to, new[f], DIFF_TEXT_MAX - 1) == 0) {
                row = at;
                break;
            }
        }
        if (row == NULL) {
            if (job->row_count == DIFF_ROWS_MAX) {
                job->rows_dropped++;
                continue;
            }
            row = &job->rows[job->row_count++];
            memset(row, 0, sizeof *row);
            row->hook = hook;
            snprintf(row->field, sizeof row->field, "%s", fields[f]);
            snprintf(row->from, sizeof row->from, "%s", old[f][0] ? old[f] : "-");
            snprintf(row->to, sizeof row->to, "%s", new[f][0] ? new[f] : "-");
        }
        if (row->count < REPLAY_EXAMPLES) row->examples[row->count] = case_id;
        row->count++;
    }
    if (changed) job->changed[hook]++;
}

/* What the decision log says intake decided (a triage row's values). */
struct old_triage {
    int found, has_sla;
    char category[RULES_NAME_MAX + 1], queue[RULES_NAME_MAX + 1], priority[RULES_NAME_MAX + 1], tags[RULES_LIST_MAX];
    char sla[DIFF_TEXT_MAX];
    long long first_response, next_response, resolution;
    char calendar[RULES_NAME_MAX + 1];
};

static int read_old(void *context, const char *key, size_t key_len, const char *value, size_t value_len) {
    struct old_triage *old = context;
    (void)value_len;
#define KEY_IS(k) (key_len == sizeof k - 1 && memcmp(key, k, key_len) == 0)
    if (KEY_IS("classify.category")) snprintf(old->category, sizeof old->category, "%s", value);
    else if (KEY_IS("classify.queue")) snprintf(old->queue, sizeof old->queue, "%s", value);
    else if (KEY_IS("classify.tags")) snprintf(old->tags, sizeof old->tags, "%s", value);
    else if (KEY_IS("priority.priority")) snprintf(old->priority, sizeof old->priority, "%s", value);
    else if (KEY_IS("sla.first_response")) old->first_response = strtoll(value, NULL, 10), old->has_sla = 1;
    else if (KEY_IS("sla.next_response")) old->next_response = strtoll(value, NULL, 10);
    else if (KEY_IS("sla.resolution")) old->resolution = strtoll(value, NULL, 10);
    else if (KEY_IS("sla.calendar")) snprintf(old->calendar, sizeof old->calendar, "%s", value);
    else if (KEY_IS("sla.us")) old->has_sla = 1;
#undef KEY_IS
    return 0;
}

static void sla_text(char *out, size_t size, long long first, long long next, long long resolution,
                     const char *calendar) {
    snprintf(out, size, "%lld/%lld/%lld %s", first, next, resolution, calendar[0] ? calendar : "-");
}

/* The cases the counts see: category, each tag, customer, as intake counted them. */
static void count_case(struct job *job, const char *category, const char *tags, const char *customer, int64_t at) {
    char key[KEY_MAX];
    snprintf(key, sizeof key, "category:%s", category);
    recent_add(&job->recent, key, at);
    snprintf(key, sizeof key, "customer:%s", customer);
    recent_add(&job->recent, key, at);
    while (tags && *tags) {
        const char *end = strchr(tags, ',');
        size_t len = end ? (size_t)(end - tags) : strlen(tags);
        snprintf(key, sizeof key, "tag:%.*s", (int)(len > SPIKE_TAG_CUT ? SPIKE_TAG_CUT : len), tags);
        recent_add(&job->recent, key, at);
        tags += len + (end ? 1 : 0);
    }
}

static void text_field(struct rules_field *fields, int *count, const char *name, struct store_stmt *row, int column) {
    if (store_column_type(row, column) == STORE_NULL) return;
    fields[(*count)++] = (struct rules_field){.name = name, .text = (const char *)store_column_text(row, column),
                                              .len = (size_t)store_column_bytes(row, column)};
}

static void integer_field(struct rules_field *fields, int *count, const char *name, struct store_stmt *row, int column) {
    if (store_column_type(row, column) == STORE_NULL) return;
    fields[(*count)++] = (struct rules_field){.name = name, .integer = store_column_int64(row, column),
                                              .is_integer = 1};
}

/* The case's refunds, as requested: re-decided at their instants.  -1 on a store error. */
static int replay_refunds(struct job *job, int64_t case_id, const struct rules_field *base, int base_count,
                          const struct rules_triage *triage) {
    static const char sql[] =
        "SELECT d.at, d.inputs, d.output, coalesce(r.kind, ''), coalesce(r.reason, '') FROM decisions d"
        " LEFT JOIN refunds r ON r.id = d.refund_id WHERE d.case_id = ?1 AND d.hook = 'refund' ORDER BY d.id";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return -1;
    store_bind_int64(statement, 1, case_id);
    int rc;
    while ((rc = store_step(statement)) == STORE_ROW) {
        struct rules_field fields[REPLAY_FIELDS_MAX];
        int count = 0;
        for (int i = 0; i < base_count; i++)
            if (strcmp(base[i].name, "amount") != 0 && strcmp(base[i].name, "currency") != 0) fields[count++] = base[i];
        fields[count++] = (struct rules_field){.name = "category", .text = triage->category, .len = strlen(triage->category)};
        fields[count++] = (struct rules_field){.name = "queue", .text = triage->queue, .len = strlen(triage->queue)};
        fields[count++] = (struct rules_field){.name = "priority", .text = triage->priority, .len = strlen(triage->priority)};
        /* The request's facts: its decision's inputs (refund_amount, refund_kind, amount, currency). */
        char kind[RULES_NAME_MAX + 1] = "", currency[8] = "";
        long long refund_amount = 0, paid = 0;
        struct detail inputs = DETAIL_INIT;
        const char *text = (const char *)store_column_text(statement, 1);
        inputs.len = text ? strlen(text) : 0;
        if (inputs.len >= sizeof inputs.text) inputs.len = sizeof inputs.text - 1;
        memcpy(inputs.text, text ? text : "", inputs.len);
        inputs.text[inputs.len] = '\0';
        const char *p;
        if ((p = strstr(inputs.text, "refund_amount="))) refund_amount = strtoll(p + 14, NULL, 10);
        if ((p = strstr(inputs.text, " amount="))) paid = strtoll(p + 8, NULL, 10);
        if ((p = strstr(inputs.text, "refund_kind="))) sscanf(p + 12, "%64[^ ]", kind);
        if ((p = strstr(inputs.text, "currency="))) sscanf(p + 9, "%7[^ ]", currency);
        fields[count++] = (struct rules_field){.name = "refund_kind", .text = kind, .len = strlen(kind)};
        fields[count++] = (struct rules_field){.name = "refund_reason", .text = (const char *)store_column_text(statement, 4),
                                               .len = (size_t)store_column_bytes(statement, 4)};
        fields[count++] = (struct rules_field){.name = "amount", .integer = paid, .is_integer = 1};
        fields[count++] = (struct rules_field){.name = "refund_amount", .integer = refund_amount, .is_integer = 1};
        fields[count++] = (struct rules_field){.name = "currency", .text = currency, .len = strlen(currency)};
        /* The goods' facts the request gave (goods_type, item_opened): names, logged when given. */
        char goods_type[RULES_NAME_MAX + 1] = "", item_opened[4] = "";
        if ((p = strstr(inputs.text, " goods_type="))) sscanf(p + 12, "%64[^ ]", goods_type);
        if ((p = strstr(inputs.text, " item_opened="))) sscanf(p + 13, "%3[^ ]", item_opened);
        if (goods_type[0])
            fields[count++] = (struct rules_field){.name = "goods_type", .text = goods_type, .len = strlen(goods_type)};
        if (item_opened[0])
            fields[count++] = (struct rules_field){.name = "item_opened", .text = item_opened, .len = strlen(item_opened)};
        /* What the order and the case had before the request, as the hook was told (logged since then). */
        static const char *const history[] = {"order_refunded", "order_in_review", "order_refunds", "case_refunds"};
        for (size_t h = 0; h < sizeof history / sizeof history[0]; h++) {
            char key[32];
            snprintf(key, sizeof key, " %s=", history[h]);
            if ((p = strstr(inputs.text, key)))
                fields[count++] = (struct rules_field){.name = history[h], .integer = strtoll(p + strlen(key), NULL, 10),
                                                       .is_integer = 1};
        }
        /* What was decided: decision=... [role=...] */
        char old[DIFF_TEXT_MAX] = "", new[DIFF_TEXT_MAX];
        const char *output = (const char *)store_column_text(statement, 2);
        char verdict[32] = "", role[RULES_NAME_MAX + 1] = "";
        if (output && (p = strstr(output, "decision="))) sscanf(p + 9, "%31[^ ]", verdict);
        if (output && (p = strstr(output, "role="))) sscanf(p + 5, "%64[^ ]", role);
        snprintf(old, sizeof old, "%s%s%s", verdict, strcmp(verdict, "review") == 0 ? ":" : "",
                 strcmp(verdict, "review") == 0 ? role : "");
        rules_replay_at(store_column_int64(statement, 0));
        struct rules_refund decision;
        job->refunds++;
        if (rules_staged_refund(fields, count, &decision) != 0) {
            const struct rules_call_record *last = rules_last_call();
            if (last->called) job_error(job, case_id, H_REFUND, last->error);
            continue;
        }
        snprintf(new, sizeof new, "%s%s%s", rules_verdict_name(decision.verdict),
                 decision.verdict == RULES_REVIEW ? ":" : "", decision.verdict == RULES_REVIEW ? decision.role : "");
        const char *names[] = {"decision"}, *olds[] = {old}, *news[] = {new};
        compare(job, H_REFUND, case_id, names, olds, news, 1);
    }
    store_reset(statement);
    return rc == STORE_DONE ? 0 : -1;
}

/* Re-decides one case (the statement's current row).  -1 on a store error. */
static int replay_case(struct job *job, struct store_stmt *row, struct rules_triage *triage) {
    int64_t id = store_column_int64(row, 0), at = store_column_int64(row, 1);
    struct rules_field fields[REPLAY_FIELDS_MAX];
    int count = 0;
    text_field(fields, &count, "channel", row, 2);
    text_field(fields, &count, "customer", row, 3);
    text_field(fields, &count, "subject", row, 4);
    text_field(fields, &count, "body", row, 5);
    text_field(fields, &count, "order", row, 6);
    integer_field(fields, &count, "amount", row, 7);
    text_field(fields, &count, "currency", row, 8);
    integer_field(fields, &count, "paid_at", row, 9);
    integer_field(fields, &count, "delivered_at", row, 10);
    text_field(fields, &count, "tier", row, 11);
    text_field(fields, &count, "lang", row, 12);
    text_field(fields, &count, "external_id", row, 13);
    /* What the log says was decided then. */
    static const char sql[] = "SELECT output FROM decisions WHERE case_id = ?1 AND hook = 'triage' LIMIT 1";
    struct store_stmt *logged = store_statement(sql);
    if (logged == NULL) return -1;
    store_bind_int64(logged, 1, id);
    struct old_triage old;
    memset(&old, 0, sizeof old);
    int rc = store_step(logged);
    if (rc == STORE_ROW) {
        old.found = 1;
        const char *text = (const char *)store_column_text(logged, 0);
        decisions_logfmt(text ? text : "", text ? strlen(text) : 0, read_old, &old);
    }
    store_reset(logged);
    if (rc != STORE_ROW && rc != STORE_DONE) return -1;
    job->cases++;
    visible_id = id - 1;
    rules_replay_at(at);
    rules_staged_triage(fields, count, triage);
    if (triage->classify_error[0]) job_error(job, id, H_CLASSIFY, triage->classify_error);
    if (triage->priority_error[0]) job_error(job, id, H_PRIORITY, triage->priority_error);
    if (!old.found) {
        job->unlogged++;
    } else {
        if (!triage->classify_error[0]) {
            const char *names[] = {"category", "queue"}, *olds[] = {old.category, old.queue},
                       *news[] = {triage->category, triage->queue};
            compare(job, H_CLASSIFY, id, names, olds, news, 2);
        }
        if (!triage->priority_error[0]) {
            const char *pnames[] = {"priority"}, *polds[] = {old.priority}, *pnews[] = {triage->priority};
            compare(job, H_PRIORITY, id, pnames, polds, pnews, 1);
        }
    }
    int resolved = triage->auto_reply[0] && triage->auto_resolve;
    if (!resolved) {
        struct rules_field seen[REPLAY_FIELDS_MAX];
        int n = 0;
        for (int i = 0; i < count; i++)
            if (strcmp(fields[i].name, "paid_at") != 0 && strcmp(fields[i].name, "delivered_at") != 0) seen[n++] = fields[i];
        seen[n++] = (struct rules_field){.name = "category", .text = triage->category, .len = strlen(triage->category)};
        seen[n++] = (struct rules_field){.name = "priority", .text = triage->priority, .len = strlen(triage->priority)};
        seen[n++] = (struct rules_field){.name = "queue", .text = triage->queue, .len = strlen(triage->queue)};
        struct rules_sla sla;
        if (rules_staged_sla(seen, n, &sla) == 0) {
            if (old.found) {
                char was[DIFF_TEXT_MAX] = "", now[DIFF_TEXT_MAX];
                if (old.has_sla)
                    sla_text(was, sizeof was, old.first_response, old.next_response, old.resolution, old.calendar);
                sla_text(now, sizeof now, sla.first_response, sla.next_response, sla.resolution, sla.calendar);
                const char *names[] = {"targets"}, *olds[] = {was}, *news[] = {now};
                compare(job, H_SLA, id, names, olds, news, 1);
            }
        } else if (rules_last_call()->called) {
            job_error(job, id, H_SLA, rules_last_call()->error);
        }
    }
    /* Counted, for its refunds and the cases after it, as intake counted
     * it once committed: its decision then. */
    const char *customer = (const char *)store_column_text(row, 3);
    count_case(job, old.found ? old.category : (const char *)store_column_text(row, 14),
               old.found ? old.tags : (const char *)store_column_text(row, 15), customer ? customer : "", at);
    visible_id = id;
    return replay_refunds(job, id, fields, count, triage);
}

/* Feeds the counts with the cases of the 31 days before since (a page). 1 when done, 0 for more, -1 on error. */
static int warm_page(struct job *job, int64_t deadline_us) {
    static const char sql[] =
        "SELECT id, created_at, category, tags, customer FROM cases WHERE id > ?1 AND created_at >= ?2"
        " AND created_at < ?3 ORDER BY id LIMIT ?4";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return -1;
    store_bind_int64(statement, 1, job->cursor);
    store_bind_int64(statement, 2, job->options.since - COUNTER_WINDOW_MAX);
    store_bind_int64(statement, 3, job->options.since);
    store_bind_int(statement, 4, PAGE_ROWS);
    int rc, rows = 0;
    while ((rc = store_step(statement)) == STORE_ROW) {
        rows++;
        job->cursor = store_column_int64(statement, 0);
        count_case(job, (const char *)store_column_text(statement, 2), (const char *)store_column_text(statement, 3),
                   (const char *)store_column_text(statement, 4), store_column_int64(statement, 1));
        if (deadline_us && clock_real_monotonic_us() > deadline_us) break;
    }
    int more = rc == STORE_ROW || rows == PAGE_ROWS;
    store_reset(statement);
    if (rc != STORE_ROW && rc != STORE_DONE) return -1;
    return more ? 0 : 1;
}

/* One page of the replay proper.  1 when done, 0 for more, -1 on error. */
static int replay_page(struct job *job, int64_t deadline_us, struct rules_triage *triage) {
    static const char sql[] =
        "SELECT id, created_at, channel, customer, subject, body, order_id, amount, currency, paid_at, delivered_at,"
        " tier, lang, external_id, category, tags FROM cases WHERE id > ?1 AND created_at >= ?2 AND created_at < ?3"
        " ORDER BY id LIMIT ?4";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return -1;
    long long left = job->options.limit ? job->options.limit - job->cases : PAGE_ROWS;
    if (left <= 0) return 1;
    store_bind_int64(statement, 1, job->cursor);
    store_bind_int64(statement, 2, job->options.since);
    store_bind_int64(statement, 3, job->options.until ? job->options.until : INT64_MAX);
    store_bind_int64(statement, 4, left < PAGE_ROWS ? left : PAGE_ROWS);
    int rc, rows = 0, status = 0;
    while ((rc = store_step(statement)) == STORE_ROW) {
        rows++;
        job->cursor = store_column_int64(statement, 0);
        /* A case's hooks (triage, sla, its refunds) share one time budget,
         * as a CASE.OPEN's do: the slice ends after 2 ms, so one looping
         * case holds the loop one rules_time_ms, not one per hook (a
         * staged set looping in each held it 617 ms). */
        rules_budget_begin();
        int replayed = replay_case(job, statement, triage);
        rules_budget_end();
        if (replayed != 0) {
            status = -1;
            break;
        }
        if (deadline_us && clock_real_monotonic_us() > deadline_us) break;
    }
    int more = rc == STORE_ROW || rows == (left < PAGE_ROWS ? left : PAGE_ROWS);
    store_reset(statement);
    if (status != 0 || (rc != STORE_ROW && rc != STORE_DONE)) return -1;
    if (job->options.limit && job->cases >= job->options.limit) return 1;
    return more ? 0 : 1;
}

/* Work until deadline_us (0: to the end).  1 when done, 0 for more, -1 on error. */
static int job_work(struct job *job, int64_t deadline_us) {
    struct rules_triage *triage = malloc(sizeof *triage);
    if (triage == NULL) return -1;
    int status = 0;
    while (status == 0) {
        if (job->warming) {
            status = warm_page(job, deadline_us);
            if (status == 1) {
                job->warming = 0;
                job->cursor = 0;
                status = 0;
            }
        } else {
            status = replay_page(job, deadline_us, triage);
        }
        if (status == 0 && deadline_us && clock_real_monotonic_us() > deadline_us) break;
    }
    free(triage);
    return status;
}

/* ------------------------------------------------------------ the report */

static void report(struct job *job) {
    int room = 8 + H_COUNT + job->row_count + job->error_count;
    char (*lines)[LINE_MAX_BYTES] = calloc((size_t)room, LINE_MAX_BYTES);
    const char **pointers = calloc((size_t)room, sizeof *pointers);
    if (lines == NULL || pointers == NULL) {
        free(lines);
        free(pointers);
        job->done(job->context, NULL, 0, "out of memory for the replay's report");
        return;
    }
    int n = 0;
    /* The range asked: 0 is an open end (since the first case, until now),
     * never an instant, so it is left out rather than read as an empty range. */
    char range[64] = "all cases";
    if (job->options.since && job->options.until)
        snprintf(range, sizeof range, "since %lld until %lld", (long long)job->options.since,
                 (long long)job->options.until);
    else if (job->options.since)
        snprintf(range, sizeof range, "since %lld", (long long)job->options.since);
    else if (job->options.until)
        snprintf(range, sizeof range, "until %lld", (long long)job->options.until);
    snprintf(lines[n++], LINE_MAX_BYTES, "replayed %lld cases and %lld refunds with staged version %.16s"
             " (%s): %lld unlogged, %lld failed", job->cases, job->refunds, job->version, range, job->unlogged,
             job->failed_cases);
    for (int h = 0; h < H_COUNT; h++) {
        /* ", F failed" only when some failed: the line reads as before otherwise. */
        int head = snprintf(lines[n], LINE_MAX_BYTES, "%s: %lld decided, %lld changed", hook_names[h],
                            job->decided[h], job->changed[h]);
        if (job->failed_by_hook[h] && head > 0 && head < LINE_MAX_BYTES)
            snprintf(lines[n] + head, LINE_MAX_BYTES - (size_t)head, ", %lld failed", job->failed_by_hook[h]);
        n++;
        for (int r = 0; r < job->row_count; r++) {
            const struct diff_row *row = &job->rows[r];
            if (row->hook != h) continue;
            char examples[80] = "";
            size_t used = 0;
            for (long long e = 0; e < row->count && e < REPLAY_EXAMPLES; e++)
                used += (size_t)snprintf(examples + used, sizeof examples - used, "%s%lld", used ? " " : "",
                                         (long long)row->examples[e]);
            snprintf(lines[n++], LINE_MAX_BYTES, "  %s %s -> %s: %lld (e.g. %s)", row->field, row->from, row->to,
                     row->count, examples);
        }
    }
    if (job->rows_dropped)
        snprintf(lines[n++], LINE_MAX_BYTES, "(%lld more changes not tabled)", job->rows_dropped);
    if (job->failed_cases) {
        snprintf(lines[n++], LINE_MAX_BYTES, "failed: %lld decisions", job->failed_cases);
        for (int e = 0; e < job->error_count; e++) snprintf(lines[n++], LINE_MAX_BYTES, "%s", job->errors[e]);
    }
    for (int i = 0; i < n; i++) pointers[i] = lines[i];
    job->done(job->context, pointers, n, NULL);
    free(lines);
    free(pointers);
}

static void job_free(struct job *job) {
    if (job == NULL) return;
    if (job->slice) store_event_free(job->slice);
    recent_free(&job->recent);
    free(job->rows);
    free(job);
}

static struct job *job_new(struct call *call, const struct replay_options *options, replay_done_fn done,
                           void *context) {
    if (running) {
        call_fail(call, CALL_BADSTATE, "a replay is running: wait for its report");
        return NULL;
    }
    struct job *job = calloc(1, sizeof *job);
    if (job) job->rows = calloc(DIFF_ROWS_MAX, sizeof *job->rows);
    if (job == NULL || job->rows == NULL) {
        free(job);
        call_fail(call, CALL_ERR, "out of memory");
        return NULL;
    }
    if (!rules_staged(job->version, sizeof job->version, NULL, 0)) {
        job_free(job);
        call_fail(call, CALL_BADSTATE, "no rule set is staged: RULES.STAGE dir first");
        return NULL;
    }
    job->options = *options;
    job->warming = options->since > 0;
    job->done = done;
    job->context = context;
    return job;
}

static void finish(struct job *job, int status) {
    running = NULL;
    if (status < 0) {
        char why[LINE_MAX_BYTES];
        snprintf(why, sizeof why, "store: %s", store_error());
        job->done(job->context, NULL, 0, why);
    } else {
        report(job);
    }
    job_free(job);
}

/* The next slice, after a poll of the sockets: a timer of no delay
 * becomes active only once the loop has looked at its I/O (an event made
 * active from its own callback would run again before any I/O). */
static void schedule(struct job *job) {
    static const struct timeval now = {0, 0};
    if (event_add(job->slice, &now) != 0) event_active(job->slice, EV_TIMEOUT, 0);
}

static void on_slice(evutil_socket_t fd, short what, void *argument) {
    (void)fd, (void)what;
    struct job *job = argument;
    int status = job_work(job, clock_real_monotonic_us() + REPLAY_SLICE_MS * 1000);
    if (status == 0) {
        schedule(job);
        return;
    }
    finish(job, status);
}

int replay_start(struct call *call, struct event_base *base, const struct replay_options *options,
                 replay_done_fn done, void *context) {
    struct job *job = job_new(call, options, done, context);
    if (job == NULL) return -1;
    job->slice = store_event_new(base, -1, 0, on_slice, job);
    if (job->slice == NULL) {
        job_free(job);
        return call_fail(call, CALL_ERR, "out of memory");
    }
    /* The lowest priority: every client's input and the commit go first. */
    event_priority_set(job->slice, event_base_get_npriorities(base) - 1);
    running = job;
    schedule(job);
    return 0;
}

void replay_cancel(void) {
    job_free(running);
    running = NULL;
}

int replay_run(struct call *call, const struct replay_options *options, replay_done_fn done, void *context) {
    struct job *job = job_new(call, options, done, context);
    if (job == NULL) return -1;
    running = job;
    finish(job, job_work(job, 0));
    return 0;
}
