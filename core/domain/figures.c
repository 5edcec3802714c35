/* figures.c -- the figures /metrics and INFO show (see figures.h).
 *
 * Why in memory and not grouped reads at each scrape: at 100,000 open cases
 * the reads took a quarter of a second of the loop per scrape.  The counts
 * follow the disk: figures_load groups the tables at start, and each
 * change a command makes to a case's or refund's group is recorded as a
 * pending move (the strings copied) with a store_after_command callback of
 * its own: at commit the callback applies its move; when the command's
 * savepoint or the batch rolls back it drops its move and every later one
 * (the failed command's moves are the newest pending ones).  The counts of
 * a few event kinds are kept from committed events, since start (a
 * Prometheus counter may restart), and this node's only.  STATS' response
 * and resolution times are kept the same way, every value in a rank set
 * (lib/rankset.h), and STATS reads them all with the open batch's pending
 * moves applied for the read (figures_view_begin/end), as its reads of the
 * tables see that batch.
 *
 * Several nodes on one database (PostgreSQL): another node's commits move
 * no count here, so a note of its events marks the counts stale, and the
 * tick reads them again whole (figures_refresh) -- not at each note (a
 * busy peer commits many batches a second, and each read groups every
 * case), at most once in FIGURES_PEER_REFRESH seconds, and only between
 * batches, when no move of this node is pending that the read would count
 * twice.  INFO's count of events is not read again: counting the log (it
 * grows without end) every few seconds would cost more than the figures;
 * it stays what the start read plus this node's commits.
 */
#include "domain/figures.h"
#include "lib/clock.h"
#include "lib/lifecycle.h"
#include "lib/money.h"
#include "lib/rankset.h"
#include "lib/log.h"
#include "lib/refund_states.h"
#include "store/store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_KIND_BYTES 48
#define FIGURES_FIRST_CAPACITY 16

static struct {
    int used;
    char kinds[FIGURES_EVENT_KINDS][EVENT_KIND_BYTES];
    long long counts[FIGURES_EVENT_KINDS];
    long long other;
} events_seen;

/* ------------------------------------------------------------ the counts */

struct open_group {             /* cases not resolved or closed */
    int state;
    char queue[FIGURES_NAME_BYTES], priority[FIGURES_NAME_BYTES];
    long long cases, breached;
};
struct category_group {
    char category[FIGURES_NAME_BYTES];
    long long opened, resolved;
};
struct refund_group {
    int state;
    char currency[4];
    long long refunds;
    struct money_sum amount;    /* never overflows: amounts stored before the cap may be up to INT64_MAX */
};

/* A grow-only array of groups: there are as many as the rule set has
 * queue x priority x state and category, or state x currency, not cases. */
struct groups {
    void *items;
    size_t used, capacity, size;
};

struct counts {
    long long states[CASE_STATE_COUNT];
    struct groups open, categories, refunds;
    struct rankset times[FIGURES_TIMES];   /* every case's time of each kind, sorted */
};

#define COUNTS_EMPTY                                                                                   \
    {.open = {.size = sizeof(struct open_group)}, .categories = {.size = sizeof(struct category_group)}, \
     .refunds = {.size = sizeof(struct refund_group)}}

static struct counts counts = COUNTS_EMPTY;

static void counts_free(struct counts *set) {
    free(set->open.items);
    free(set->categories.items);
    free(set->refunds.items);
    for (int which = 0; which < FIGURES_TIMES; which++) rankset_clear(&set->times[which]);
}

static void *group_at(struct groups *groups, size_t i) { return (char *)groups->items + i * groups->size; }

/* A new zeroed group at the end, or NULL (out of memory). */
static void *group_add(struct groups *groups) {
    if (groups->used == groups->capacity) {
        size_t capacity = groups->capacity ? groups->capacity * 2 : FIGURES_FIRST_CAPACITY;
        void *grown = realloc(groups->items, capacity * groups->size);
        if (grown == NULL) return NULL;
        groups->items = grown;
        groups->capacity = capacity;
    }
    void *item = group_at(groups, groups->used++);
    memset(item, 0, groups->size);
    return item;
}

/* Not snprintf: this runs for every case intake writes. */
static void copy_name(char *to, const char *name) {
    size_t len = name ? strnlen(name, FIGURES_NAME_BYTES - 1) : 0;
    memcpy(to, name ? name : "", len);
    to[len] = '\0';
}

static struct open_group *open_group(struct counts *set, int state, const char *queue, const char *priority) {
    /* Intake fills the same few groups over and over: the last one first. */
    static size_t last;
    if (last < set->open.used) {
        struct open_group *group = group_at(&set->open, last);
        if (group->state == state && strcmp(group->queue, queue) == 0 && strcmp(group->priority, priority) == 0)
            return group;
    }
    for (size_t i = 0; i < set->open.used; i++) {
        struct open_group *group = group_at(&set->open, i);
        if (group->state == state && strcmp(group->queue, queue) == 0 && strcmp(group->priority, priority) == 0) {
            last = i;
            return group;
        }
    }
    last = set->open.used;
    struct open_group *group = group_add(&set->open);
    if (group) {
        group->state = state;
        copy_name(group->queue, queue);
        copy_name(group->priority, priority);
    }
    return group;
}

static struct category_group *category_group(struct counts *set, const char *category) {
    for (size_t i = 0; i < set->categories.used; i++) {
        struct category_group *group = group_at(&set->categories, i);
        if (strcmp(group->category, category) == 0) return group;
    }
    struct category_group *group = group_add(&set->categories);
    if (group) copy_name(group->category, category);
    return group;
}

static struct refund_group *refund_group(struct counts *set, int state, const char *currency) {
    for (size_t i = 0; i < set->refunds.used; i++) {
        struct refund_group *group = group_at(&set->refunds, i);
        if (group->state == state && strcmp(group->currency, currency) == 0) return group;
    }
    struct refund_group *group = group_add(&set->refunds);
    if (group) {
        group->state = state;
        snprintf(group->currency, sizeof group->currency, "%s", currency);
    }
    return group;
}

/* A group that cannot be made (out of memory) loses the move: logged, the
 * next start (or a reload, several nodes) counts right again. */
static void count_case(struct counts *set, int state, const char *queue, const char *priority, const char *category,
                       long long cases, long long breached, long long resolved) {
    if (state >= 0 && state < CASE_STATE_COUNT) set->states[state] += cases;
    struct open_group *open =
        lifecycle_is_active((enum case_state)state) ? open_group(set, state, queue, priority) : NULL;
    struct category_group *group = category_group(set, category);
    if ((lifecycle_is_active((enum case_state)state) && open == NULL) || group == NULL)
        log_error("out of memory counting cases for /metrics", NULL);
    if (open) {
        open->cases += cases;
        open->breached += breached;
    }
    if (group) {
        group->opened += cases;
        group->resolved += resolved;
    }
}

/* Adds `refunds` refunds and `amount` (as money_sum parts: one amount's, or
 * a group's sums read at start) to the group. */
static void count_refund(struct counts *set, int state, const char *currency, long long refunds,
                         struct money_sum amount) {
    struct refund_group *group = refund_group(set, state, currency);
    if (group == NULL) {
        log_error("out of memory counting refunds for /metrics", NULL);
        return;
    }
    group->refunds += refunds;
    money_sum_merge(&group->amount, &amount);
}

static const char *text(struct store_stmt *statement, int column) {
    const char *value = (const char *)store_column_text(statement, column);
    return value ? value : "";
}

/* A growing list of times (one kind's, while the cases are read). */
struct time_list {
    int64_t *values;
    size_t used, capacity;
};

/* Appends value; 0, or -1 out of memory. */
static int time_list_push(struct time_list *list, int64_t value) {
    if (list->used == list->capacity) {
        size_t grown_capacity = list->capacity ? list->capacity * 2 : FIGURES_FIRST_CAPACITY;
        int64_t *grown = realloc(list->values, grown_capacity * sizeof *grown);
        if (grown == NULL) return -1;
        list->values = grown;
        list->capacity = grown_capacity;
    }
    list->values[list->used++] = value;
    return 0;
}

/* Every case's first-response and resolution times, read in one pass over
 * the cases (there is no index on either column: a pass per kind read the
 * table twice); 0, or -1 (in the call). */
static int load_times(struct call *call, struct counts *set) {
    static const char sql[] =
        "SELECT first_reply_at - created_at, resolved_at - created_at FROM cases"
        " WHERE first_reply_at IS NOT NULL OR resolved_at IS NOT NULL";
    _Static_assert(FIGURES_FIRST_RESPONSE == 0 && FIGURES_RESOLUTION == 1 && FIGURES_TIMES == 2,
                   "column i of the SELECT is time kind i");
    struct time_list lists[FIGURES_TIMES] = {{0}};
    struct store_stmt *statement = store_statement(sql);
    int row;
    while ((row = call_row(call, statement)) == 1) {
        for (int which = 0; which < FIGURES_TIMES; which++) {
            if (store_column_type(statement, which) == STORE_NULL) continue;
            if (time_list_push(&lists[which], store_column_int64(statement, which)) != 0) {
                store_reset(statement);
                row = call_fail(call, CALL_ERR, "out of memory");
                break;
            }
        }
        if (row < 0) break;
    }
    for (int which = 0; which < FIGURES_TIMES; which++) {
        if (row == 0 && rankset_load(&set->times[which], lists[which].values, lists[which].used) != 0)
            row = call_fail(call, CALL_ERR, "out of memory");
        free(lists[which].values);
    }
    return row;
}

/* Groups the tables into set (empty on entry), and counts the events
 * when `events` is not NULL; 0, or -1 (in the call). */
static int read_counts(struct call *call, struct counts *set, long long *events) {
    static const char cases_sql[] =
        "SELECT state, queue, priority, category, count(*), count(*) FILTER (WHERE breached > 0), count(resolved_at)"
        " FROM cases"
        " GROUP BY state, queue, priority, category";
    static const char refunds_sql[] =
        "SELECT state, currency, count(*), sum(amount / 4294967296), sum(amount % 4294967296) FROM refunds"
        " GROUP BY state, currency";   /* money_sum's parts: sum(amount) overflows on amounts near INT64_MAX */
    static const char events_sql[] = "SELECT count(*) FROM events";
    struct store_stmt *statement = store_statement(cases_sql);
    int row;
    while ((row = call_row(call, statement)) == 1) {
        const char *state = text(statement, 0);
        int parsed = lifecycle_state_parse(state, strlen(state));
        count_case(set, parsed, text(statement, 1), text(statement, 2), text(statement, 3),
                   store_column_int64(statement, 4), store_column_int64(statement, 5),
                   store_column_int64(statement, 6));
    }
    if (row == 0) {
        statement = store_statement(refunds_sql);
        while ((row = call_row(call, statement)) == 1) {
            const char *state = text(statement, 0);
            struct money_sum amount = {store_column_int64(statement, 3), store_column_int64(statement, 4)};
            count_refund(set, refund_state_parse(state, strlen(state)), text(statement, 1),
                         store_column_int64(statement, 2), amount);
        }
    }
    if (row == 0 && events) {
        /* At start only, so INFO never counts the log (it grows without end). */
        statement = store_statement(events_sql);
        if ((row = call_row(call, statement)) == 1) {
            *events = store_column_int64(statement, 0);
            store_reset(statement);
            row = 0;
        } else if (row == 0) {
            row = call_fail(call, CALL_ERR, "store: no row for a count");
        }
    }
    if (row == 0) row = load_times(call, set);
    return row;
}

/* Several nodes: the last reload (clock_now), and whether another node
 * committed since (see figures_refresh). */
static int64_t loaded_at;
static int stale;

/* The counts are read into fresh ones and swapped in whole once read: a
 * scrape served while the store is waited for (PostgreSQL) sees the old
 * ones, and a read that fails keeps them.  events: the log counted too. */
static int load(int with_events) {
    struct call call = {.who = {.internal = 1}, .actor = "figures", .status = CALL_OK};
    struct counts fresh = COUNTS_EMPTY;
    long long events = 0;
    loaded_at = clock_now();
    if (read_counts(&call, &fresh, with_events ? &events : NULL) < 0) {
        counts_free(&fresh);
        log_error("cannot count cases, refunds and events for /metrics and INFO", "error=\"%s\"",
                  LOG_ESC(call.message));
        return -1;
    }
    counts_free(&counts);
    counts = fresh;
    if (with_events) events_set_committed_count(events);
    return 0;
}

int figures_load(void) { return load(1); }

static int peer_range(int64_t low, int64_t high) {
    (void)low; (void)high;
    stale = 1;
    return 0;
}

static void notes_missed(void) { stale = 1; }

int figures_follow_peers(void) {
    if (!store_shared()) return 0;
    /* What another node committed since figures_load, and before this
     * node's first LISTEN (its first tick), sent notes nobody heard. */
    stale = 1;
    return events_read_peer_ranges(peer_range) != 0 || store_on_missed_notes(notes_missed) != 0 ? -1 : 0;
}

int figures_refresh(void) {
    if (!stale || store_batch_is_open()) return 0;
    int64_t now = clock_now();
    if (now >= loaded_at && now - loaded_at < FIGURES_PEER_REFRESH) return 0;
    /* Cleared first: a note heard while the tables are read (at a later
     * turn of store work) asks for the next reload. */
    stale = 0;
    if (load(0) != 0) {
        stale = 1;   /* logged; the next tick after the interval tries again */
        return -1;
    }
    return 1;
}

/* --------------------------------------------------- moves at commit */

struct move {
    int refund;                 /* 0: a case's group, 1: a refund's, 2: a case's time (state: which) */
    int sign;
    int state, breached, resolved;
    long long amount;
    char queue[FIGURES_NAME_BYTES], priority[FIGURES_NAME_BYTES], category[FIGURES_NAME_BYTES];
};

static struct {
    struct move *items;
    size_t used, capacity;
} pending;

/* Applies a move (way 1) or undoes it (way -1, figures_view_end); 0, or -1
 * when a time cannot be kept (out of memory: the set unchanged). */
static int apply_move(const struct move *move, int way) {
    int sign = move->sign * way;
    if (move->refund == 2) {
        struct rankset *times = &counts.times[move->state];
        if (sign < 0) rankset_remove(times, move->amount);
        else if (rankset_add(times, move->amount) != 0) return -1;
    } else if (move->refund) {
        struct money_sum amount = {0};
        money_sum_add(&amount, move->amount, sign);
        count_refund(&counts, move->state, move->queue, sign, amount);
    } else {
        count_case(&counts, move->state, move->queue, move->priority, move->category, sign, sign * move->breached,
                   sign * move->resolved);
    }
    return 0;
}

/* One callback per move, its argument the move's index: at commit each
 * applies its own, in order, and the last empties the list; a rollback
 * (the command's or the batch's) drops its move and the later ones. */
static void after_commit(void *argument, int committed) {
    size_t index = (size_t)(uintptr_t)argument;
    if (!committed) {
        if (index < pending.used) pending.used = index;
        return;
    }
    if (index < pending.used && apply_move(&pending.items[index], 1) != 0)
        log_error("out of memory keeping a case's time for STATS", NULL); /* the next start counts right */
    if (index + 1 >= pending.used) pending.used = 0;
}

static struct move *move_add(struct call *call) {
    if (pending.used == pending.capacity) {
        size_t capacity = pending.capacity ? pending.capacity * 2 : FIGURES_FIRST_CAPACITY;
        struct move *grown = realloc(pending.items, capacity * sizeof *grown);
        if (grown == NULL) {
            call_fail(call, CALL_ERR, "out of memory");
            return NULL;
        }
        pending.items = grown;
        pending.capacity = capacity;
    }
    if (store_after_command(after_commit, (void *)(uintptr_t)pending.used) != 0) {
        call_fail(call, CALL_ERR, "out of memory");
        return NULL;
    }
    return &pending.items[pending.used++];
}

int figures_case_moved(struct call *call, const struct figures_case *figure, int sign) {
    struct move *move = move_add(call);
    if (move == NULL) return -1;
    move->refund = 0;
    move->sign = sign;
    move->state = figure->state;
    move->breached = figure->breached != 0;
    move->resolved = figure->resolved != 0;
    copy_name(move->queue, figure->queue);
    copy_name(move->priority, figure->priority);
    copy_name(move->category, figure->category);
    return 0;
}

int figures_refund_moved(struct call *call, int state, const char *currency, long long amount, int sign) {
    struct move *move = move_add(call);
    if (move == NULL) return -1;
    move->refund = 1;
    move->sign = sign;
    move->state = state;
    move->amount = amount;
    snprintf(move->queue, sizeof move->queue, "%.3s", currency ? currency : "");
    return 0;
}

/* The moves pending are those of the batch open now (a failed command's
 * were dropped with its savepoint): what its reads of the tables see. */
static size_t viewed;

int figures_view_begin(void) {
    for (viewed = 0; viewed < pending.used; viewed++)
        if (apply_move(&pending.items[viewed], 1) != 0) {
            figures_view_end();
            return -1;
        }
    return 0;
}

void figures_view_end(void) {
    while (viewed > 0) apply_move(&pending.items[--viewed], -1);
}

int figures_time_moved(struct call *call, enum figures_time which, int64_t seconds, int sign) {
    struct move *move = move_add(call);
    if (move == NULL) return -1;
    move->refund = 2;
    move->sign = sign;
    move->state = (int)which;
    move->amount = seconds;
    return 0;
}

/* ------------------------------------------------------------- reading */

long long figures_time_count(enum figures_time which) { return (long long)counts.times[which].count; }

int figures_time_percentile(enum figures_time which, int rank, int64_t *seconds) {
    long long count = (long long)counts.times[which].count;
    if (count <= 0) return 0;
    long long index = (count * rank + 99) / 100 - 1; /* nearest rank, 0-based, as STATS always read it */
    if (index < 0) index = 0;
    return rankset_at(&counts.times[which], (size_t)index, seconds);
}

/* Groups at zero are left out, as a grouped read of the tables would. */
int figures_states(struct call *call, void (*visit)(void *context, const char *state, long long cases),
                   void *context) {
    (void)call;
    for (int state = 0; state < CASE_STATE_COUNT; state++)
        if (counts.states[state]) visit(context, lifecycle_state_name((enum case_state)state), counts.states[state]);
    return 0;
}

void figures_totals(struct figures_totals *totals) {
    memset(totals, 0, sizeof *totals);
    for (int state = 0; state < CASE_STATE_COUNT; state++) {
        totals->cases += counts.states[state];
        if (lifecycle_is_active((enum case_state)state)) totals->open += counts.states[state];
    }
    totals->events = events_committed_count();
}

int figures_cases(struct call *call,
                  void (*visit)(void *context, const char *state, const char *queue, const char *priority,
                                long long cases, long long breached),
                  void *context) {
    (void)call;
    for (size_t i = 0; i < counts.open.used; i++) {
        const struct open_group *group = group_at(&counts.open, i);
        if (group->cases)
            visit(context, lifecycle_state_name((enum case_state)group->state), group->queue, group->priority,
                  group->cases, group->breached);
    }
    return 0;
}

int figures_categories(struct call *call,
                       void (*visit)(void *context, const char *category, long long opened, long long resolved),
                       void *context) {
    (void)call;
    for (size_t i = 0; i < counts.categories.used; i++) {
        const struct category_group *group = group_at(&counts.categories, i);
        if (group->opened) visit(context, group->category, group->opened, group->resolved);
    }
    return 0;
}

int figures_refunds(struct call *call,
                    void (*visit)(void *context, const char *state, const char *currency, long long refunds,
                                  long long amount_minor),
                    void *context) {
    (void)call;
    for (size_t i = 0; i < counts.refunds.used; i++) {
        const struct refund_group *group = group_at(&counts.refunds, i);
        if (group->refunds)
            visit(context, refund_state_name((enum refund_state)group->state), group->currency, group->refunds,
                  money_sum_value(&group->amount));
    }
    return 0;
}

/* Only the rare kinds operators alert on: a listener that wants an event
 * makes its append read the case's scope and queue a copy, which CASE.OPEN
 * must not pay (opened and resolved cases are counted from the table). */
static const char *const counted_kinds[] = {"deadline_warning", "deadline_breached", "deadline_met", "escalated",
                                            "reopened", "transferred", "notification", "refund_decided",
                                            "refund_paid", "refund_failed", "refund_unknown"};

static int wants_counted(void *context, const char *kind) {
    (void)context;
    for (size_t i = 0; i < sizeof counted_kinds / sizeof counted_kinds[0]; i++)
        if (strcmp(kind, counted_kinds[i]) == 0) return 1;
    return 0;
}

static void count_event(void *context, const struct event_record *event) {
    (void)context;
    for (int i = 0; i < events_seen.used; i++)
        if (strcmp(events_seen.kinds[i], event->kind) == 0) {
            events_seen.counts[i]++;
            return;
        }
    if (events_seen.used < FIGURES_EVENT_KINDS && strlen(event->kind) < EVENT_KIND_BYTES) {
        snprintf(events_seen.kinds[events_seen.used], EVENT_KIND_BYTES, "%s", event->kind);
        events_seen.counts[events_seen.used++] = 1;
    } else {
        events_seen.other++;
    }
}

const struct events_listener *figures_events_listener(void) {
    /* Not required: a count that cannot be kept never fails a command. */
    static const struct events_listener listener = {wants_counted, count_event, NULL, 0};
    return &listener;
}

void figures_each_event(void (*visit)(void *context, const char *kind, long long count), void *context) {
    for (int i = 0; i < events_seen.used; i++) visit(context, events_seen.kinds[i], events_seen.counts[i]);
    if (events_seen.other) visit(context, "other", events_seen.other);
}
