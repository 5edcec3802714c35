/* case_fixture.c -- the shared fixture of the case module's unit tests
 * (see case_fixture.h). */
#include "case_fixture.h"
#include "check.h"
#include "temp_store.h"
#include "domain/events.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ fixture */

static char directory[64];
struct call case_call;

/* What the events listener heard after the last commit. */
struct heard heard[HEARD_MAX];
int heard_count;
static int listening;

static int wants_all(void *ctx, const char *kind) {
    (void)ctx;
    (void)kind;
    return 1;
}

static void hear(void *ctx, const struct event_record *event) {
    (void)ctx;
    if (heard_count == HEARD_MAX) return;
    struct heard *h = &heard[heard_count++];
    snprintf(h->kind, sizeof h->kind, "%s", event->kind);
    snprintf(h->queue, sizeof h->queue, "%s", event->queue ? event->queue : "");
    snprintf(h->assignee, sizeof h->assignee, "%s", event->assignee ? event->assignee : "");
    snprintf(h->detail, sizeof h->detail, "%.*s", (int)event->detail_length, event->detail);
    h->case_id = event->case_id;
}

void fx_reset_call(void) {
    case_call.who.agent = NULL;
    case_call.who.role = ROLE_ADMIN;
    case_call.who.queues = "";
    case_call.who.internal = 0;
    case_call.actor = "tester";
    case_call.status = CALL_OK;
    case_call.message[0] = '\0';
}

/* Opens a fresh store; 0, or -1 (the test then checks nothing more). */
int fx_open_store(void) {
    static const struct events_listener listener = {.wants = wants_all, .deliver = hear, .context = NULL,
                                                    .required = 0};
    log_set_level(LOG_ERROR);
    clock_init(1, T0_MS);
    if (temp_store_open(directory, sizeof directory, "/tmp/redress-unit-case-XXXXXX") != 0) {
        CHECK(!"temporary store");
        return -1;
    }
    if (!listening) {
        CHECK_INT(events_listen(&listener), 0);
        listening = 1;
    }
    fx_reset_call();
    heard_count = 0;
    return 0;
}

void fx_close_store(void) { temp_store_remove(directory); }

/* One command: a savepoint in a batch, committed when ok. */
void fx_begin(void) {
    fx_reset_call();
    heard_count = 0;
    CHECK_INT(store_command_begin(), 0);
    events_command_begin();
}

void fx_end(int ok) {
    char error[256];
    events_command_end(ok);
    CHECK_INT(store_command_end(ok), 0);
    CHECK_INT(store_batch_commit(error, sizeof error), 0);
}

void fx_exec(const char *sql) {
    char *error = NULL;
    if (sqlite3_exec(store_database(), sql, NULL, NULL, &error) != SQLITE_OK) {
        check_fail(__FILE__, __LINE__, "%s: %s", sql, error ? error : "?");
        sqlite3_free(error);
    }
}

/* The first column of a one-row query as text ("NULL" for NULL, "" for no row). */
const char *fx_query(const char *fmt, long long id) {
    static char out[1024];
    char sql[512];
    snprintf(sql, sizeof sql, fmt, id);
    sqlite3_stmt *statement = NULL;
    out[0] = '\0';
    if (sqlite3_prepare_v2(store_database(), sql, -1, &statement, NULL) != SQLITE_OK) {
        check_fail(__FILE__, __LINE__, "prepare %s", sql);
        return out;
    }
    if (sqlite3_step(statement) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(statement, 0);
        snprintf(out, sizeof out, "%s", text ? text : "NULL");
    }
    sqlite3_finalize(statement);
    return out;
}

long long fx_query_int(const char *fmt, long long id) { return atoll(fx_query(fmt, id)); }

const char *fx_text(const char *fmt, long long id) {
    static char text[256];
    snprintf(text, sizeof text, fmt, id);
    return text;
}

long long fx_event_count(int64_t id) { return fx_query_int("SELECT count(*) FROM events WHERE case_id = %lld", id); }

/* kind and detail of a case's newest event: "kind detail". */
const char *fx_last_event(int64_t id) {
    return fx_query("SELECT kind || ' ' || detail FROM events WHERE case_id = %lld ORDER BY id DESC LIMIT 1", id);
}

/* A case as intake would create it; its id, or 0. */
int64_t fx_create(const char *queue, const char *external_id) {
    struct case_new values;
    memset(&values, 0, sizeof values);
    values.channel = (struct case_text){"email", 5};
    values.customer = (struct case_text){"c-1", 3};
    values.subject = (struct case_text){"broken kettle", 13};
    values.body = (struct case_text){"it leaks\n", 9};
    values.order_id = (struct case_text){"o-9", 3};
    values.tier = (struct case_text){"gold", 4};
    if (external_id) values.external_id = (struct case_text){external_id, strlen(external_id)};
    values.has_amount = 1;
    values.amount = 19900;
    values.currency = "CNY";
    values.has_paid_at = 1;
    values.paid_at = T0 - 86400;
    values.category = "product_quality";
    values.queue = queue;
    values.priority = "P2";
    values.tags = "defect,kettle";
    values.faq = "faq-1";
    values.rules_version = "abc";
    struct case_row row;
    fx_begin();
    int rc = case_create(&case_call, &values, &row);
    CHECK_INT(rc, 0);
    fx_end(rc == 0);
    return rc == 0 ? row.id : 0;
}

int fx_load(int64_t id, struct case_row *row) {
    fx_reset_call();
    int rc = case_load(&case_call, id, 0, row);
    CHECK_INT(rc, 0);
    return rc;
}
