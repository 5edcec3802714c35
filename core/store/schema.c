/* schema.c -- the store's schema: the migrations, in order, and running them
 * at open (see store/store.h, STORE_SCHEMA_VERSION).
 *
 * Owns the list of migrations and what a migration reports once it ran.
 * Never edits a released migration (append only), never runs outside
 * store_open, never touches a batch.
 */
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/money.h"
#include "store/internal.h"
#include "store/schema.h"

#include <stdio.h>
#include <string.h>

/* Migration N brings the schema from version N-1 to N.  Append only: a
 * released migration is never edited. */
const char *const store_migrations[] = {
    /* 1: cases, their events, links between cases */
    "CREATE TABLE cases("
    "  id INTEGER PRIMARY KEY,"
    "  external_id TEXT UNIQUE,"
    "  state TEXT NOT NULL,"
    "  channel TEXT NOT NULL,"
    "  customer TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  body TEXT NOT NULL DEFAULT '',"
    "  order_id TEXT,"
    "  amount INTEGER,"               /* minor units of currency */
    "  currency TEXT,"
    "  paid_at INTEGER,"
    "  delivered_at INTEGER,"
    "  tier TEXT,"
    "  lang TEXT,"
    "  category TEXT NOT NULL,"
    "  tags TEXT NOT NULL DEFAULT '',"
    "  queue TEXT NOT NULL,"
    "  priority TEXT NOT NULL,"
    "  assignee TEXT,"
    "  escalation INTEGER NOT NULL DEFAULT 0,"
    "  breached INTEGER NOT NULL DEFAULT 0,"
    "  reopen_count INTEGER NOT NULL DEFAULT 0,"
    "  wait_reason TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  first_reply_at INTEGER,"
    "  resolved_at INTEGER,"
    "  closed_at INTEGER,"
    "  resolution_code TEXT,"
    "  resolution_text TEXT,"
    "  survey_score INTEGER,"
    "  survey_comment TEXT,"
    "  rules_version TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX cases_by_state ON cases(state);"
    "CREATE INDEX cases_by_queue ON cases(queue);"
    "CREATE INDEX cases_by_assignee ON cases(assignee) WHERE assignee IS NOT NULL;"
    "CREATE TABLE events("
    "  id INTEGER PRIMARY KEY,"
    "  case_id INTEGER NOT NULL REFERENCES cases(id),"
    "  at INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  detail TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX events_by_case ON events(case_id, id);"
    "CREATE TABLE case_links("
    "  case_id INTEGER NOT NULL REFERENCES cases(id),"
    "  other_id INTEGER NOT NULL REFERENCES cases(id),"
    "  at INTEGER NOT NULL,"
    "  PRIMARY KEY (case_id, other_id)"
    ") WITHOUT ROWID;",
    /* 2: rule decisions: suggested FAQ articles, the decision log, customer lookups */
    "ALTER TABLE cases ADD COLUMN faq TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX cases_by_customer ON cases(customer, created_at);"
    "CREATE TABLE decisions("
    "  id INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  case_id INTEGER REFERENCES cases(id),"
    "  hook TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  output TEXT NOT NULL,"
    "  microseconds INTEGER NOT NULL,"
    "  error TEXT"
    ");"
    "CREATE INDEX decisions_by_time ON decisions(at);",
    /* 3: service-level deadlines.  A clock is a row: its target in working
     * seconds of its calendar, the working seconds used in closed segments,
     * and the start of the running segment; pausing closes a segment. */
    "CREATE TABLE deadlines("
    "  id INTEGER PRIMARY KEY,"
    "  case_id INTEGER NOT NULL REFERENCES cases(id),"
    "  kind TEXT NOT NULL,"             /* first_response | next_response | resolution */
    "  calendar TEXT NOT NULL,"
    "  target INTEGER NOT NULL,"        /* working seconds */
    "  used INTEGER NOT NULL DEFAULT 0,"
    "  running_since INTEGER,"          /* NULL unless running */
    "  warn_at INTEGER,"
    "  due_at INTEGER,"
    "  warned INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL,"            /* running | paused | met | breached | cancelled */
    "  ended_at INTEGER,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX deadlines_by_case ON deadlines(case_id);"
    "CREATE INDEX deadlines_running ON deadlines(state);",
    /* 4: a deferred notification carries its text */
    "ALTER TABLE deadlines ADD COLUMN payload TEXT;",
    /* 5: agents.  Only a SHA-256 of each token is kept. */
    "CREATE TABLE agents("
    "  name TEXT PRIMARY KEY,"
    "  role TEXT NOT NULL,"              /* agent | supervisor | finance | admin */
    "  queues TEXT NOT NULL DEFAULT '',"
    "  token_hash BLOB NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL"
    ");",
    /* 6: refunds and the outbox the finance system reads */
    "CREATE TABLE refunds("
    "  id INTEGER PRIMARY KEY,"
    "  case_id INTEGER NOT NULL REFERENCES cases(id),"
    "  order_id TEXT NOT NULL,"
    "  amount INTEGER NOT NULL CHECK (amount > 0),"   /* minor units */
    "  currency TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  reason TEXT,"
    "  idempotency_key TEXT UNIQUE,"
    "  state TEXT NOT NULL,"           /* review | approved | rejected | executing | succeeded | failed */
    "  requested_by TEXT NOT NULL,"
    "  review_role TEXT,"
    "  decided_by TEXT,"
    "  decision_reason TEXT,"
    "  reference TEXT,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX refunds_by_order ON refunds(order_id);"
    "CREATE INDEX refunds_by_case ON refunds(case_id);"
    "CREATE TABLE refund_outbox("
    "  id INTEGER PRIMARY KEY,"
    "  refund_id INTEGER NOT NULL REFERENCES refunds(id),"
    "  order_id TEXT NOT NULL,"
    "  amount INTEGER NOT NULL,"
    "  currency TEXT NOT NULL,"
    "  idempotency_key TEXT NOT NULL,"  /* the same on every attempt: the payer pays once */
    "  attempt INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ");",
    /* 7: what CASE.CLAIM orders by, kept on the case: its earliest running
     * SLA deadline, and an index over the claimable cases only. */
    "ALTER TABLE cases ADD COLUMN next_due INTEGER;"
    "CREATE INDEX cases_claimable ON cases(priority, coalesce(next_due, 9223372036854775807), id)"
    " WHERE assignee IS NULL AND state IN ('new', 'open', 'pending_internal');",
    /* 8: what an order has committed to pay back is summed over these only */
    "CREATE INDEX refunds_committed ON refunds(order_id, amount)"
    " WHERE state IN ('approved', 'executing', 'succeeded');",
    /* 9: which executor runs an executing refund (outbox or a plugin's), so
     * that a restart starts again exactly those its executor owns. */
    "ALTER TABLE refunds ADD COLUMN executor TEXT;",
    /* 10: what each order has committed to pay back (approved, executing,
     * succeeded), kept by triggers on every insert, update and delete of a
     * refund, so the check reads one row instead of summing the order's
     * refunds.  The triggers live in the database: no code path can forget
     * them. */
    "CREATE TABLE order_refund_totals(order_id TEXT PRIMARY KEY, committed INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO order_refund_totals(order_id, committed)"
    " SELECT order_id, sum(amount) FROM refunds WHERE state IN ('approved', 'executing', 'succeeded')"
    " GROUP BY order_id;"
    "CREATE TRIGGER refunds_committed_insert AFTER INSERT ON refunds"
    " WHEN NEW.state IN ('approved', 'executing', 'succeeded') BEGIN"
    "  INSERT INTO order_refund_totals(order_id, committed) VALUES (NEW.order_id, NEW.amount)"
    "   ON CONFLICT(order_id) DO UPDATE SET committed = committed + excluded.committed;"
    " END;"
    "CREATE TRIGGER refunds_committed_update AFTER UPDATE OF state, amount, order_id ON refunds BEGIN"
    "  UPDATE order_refund_totals SET committed = committed - OLD.amount"
    "   WHERE order_id = OLD.order_id AND OLD.state IN ('approved', 'executing', 'succeeded');"
    "  INSERT INTO order_refund_totals(order_id, committed) SELECT NEW.order_id, NEW.amount"
    "   WHERE NEW.state IN ('approved', 'executing', 'succeeded')"
    "   ON CONFLICT(order_id) DO UPDATE SET committed = committed + excluded.committed;"
    " END;"
    "CREATE TRIGGER refunds_committed_delete AFTER DELETE ON refunds"
    " WHEN OLD.state IN ('approved', 'executing', 'succeeded') BEGIN"
    "  UPDATE order_refund_totals SET committed = committed - OLD.amount WHERE order_id = OLD.order_id;"
    " END;"
    "DROP INDEX refunds_committed;",
    /* 11: what each order was paid, one fact per order (not per case): the
     * ceiling of its refunds.  `source` is "case" (the first case that
     * declared an amount for the order, `case_id`) or the name of the order
     * source plugin whose word it is.  Existing cases give the first amount
     * each order was declared with (lowest case id); cases that declared
     * another are logged by report_order_disagreements(). */
    "CREATE TABLE orders("
    "  order_id TEXT PRIMARY KEY,"
    "  paid_amount INTEGER NOT NULL CHECK (paid_amount >= 0),"   /* minor units of currency */
    "  currency TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  case_id INTEGER REFERENCES cases(id),"
    "  recorded_at INTEGER NOT NULL"
    ");"
    "INSERT INTO orders(order_id, paid_amount, currency, source, case_id, recorded_at)"
    " SELECT c.order_id, c.amount, c.currency, 'case', c.id, c.created_at FROM cases c"
    " JOIN (SELECT min(id) AS id FROM cases WHERE order_id IS NOT NULL AND amount IS NOT NULL"
    "       AND currency IS NOT NULL GROUP BY order_id) f ON f.id = c.id;",
    /* 12: the claimable index's condition without an IN list.  SQLite
     * evaluates a partial index's `state IN (...)` of three constants
     * through a temporary B-tree built anew on every INSERT and UPDATE of a
     * case (OP_OpenEphemeral): a third of an intake's SQL work.  The same
     * condition spelled with OR is three comparisons.  CASE.CLAIM's query
     * spells it the same way, so the planner still sees that the index
     * covers it. */
    "DROP INDEX cases_claimable;"
    "CREATE INDEX cases_claimable ON cases(priority, coalesce(next_due, 9223372036854775807), id)"
    " WHERE assignee IS NULL AND (state = 'new' OR state = 'open' OR state = 'pending_internal');",
    /* 13: the complete decision log.  Every deciding hook call is a row:
     * the refund it decided (refund_id), the inputs that mattered in a
     * compact logfmt form ("intake" for the case's own intake fields, which
     * its row keeps), the output and the reason apart.  CASE.EXPLAIN and
     * RULES.REPLAY read a case's rows in order (decisions_by_case); pruning
     * walks the oldest rows by id in slices, so the index by time goes: one
     * index per row, as before, keeps intake's cost. */
    "ALTER TABLE decisions ADD COLUMN refund_id INTEGER;"
    "ALTER TABLE decisions ADD COLUMN inputs TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE decisions ADD COLUMN reason TEXT NOT NULL DEFAULT '';"
    "DROP INDEX decisions_by_time;"
    "CREATE INDEX decisions_by_case ON decisions(case_id, id);",
    /* 14: orders keyed by order_id alone (WITHOUT ROWID): every read and
     * write of an order names its order_id, and a rowid table kept a second
     * b-tree (the primary key's index) that each new order wrote too. */
    "CREATE TABLE orders_keyed("
    "  order_id TEXT PRIMARY KEY,"
    "  paid_amount INTEGER NOT NULL CHECK (paid_amount >= 0),"
    "  currency TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  case_id INTEGER REFERENCES cases(id),"
    "  recorded_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "INSERT INTO orders_keyed(order_id, paid_amount, currency, source, case_id, recorded_at)"
    " SELECT order_id, paid_amount, currency, source, case_id, recorded_at FROM orders;"
    "DROP TABLE orders;"
    "ALTER TABLE orders_keyed RENAME TO orders;",
    /* 15: agents' presence (AGENT.STATUS) and what automatic assignment
     * reads: an agent's capacity (NULL: the rule set's), the turn of round
     * robin (assigned_seq: the order of each agent's last automatic
     * assignment), and its load -- the open cases (new, open, pending) it
     * holds -- kept by triggers, so that choosing an agent reads one row
     * per candidate instead of counting its cases.  A case is always
     * created unassigned (case_create is the one INSERT into cases), so
     * only UPDATEs that set assignee or state move a load: intake runs no
     * trigger. */
    "ALTER TABLE agents ADD COLUMN presence TEXT NOT NULL DEFAULT 'offline';"
    "ALTER TABLE agents ADD COLUMN capacity INTEGER;"
    "ALTER TABLE agents ADD COLUMN assigned_seq INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE agents ADD COLUMN load INTEGER NOT NULL DEFAULT 0;"
    "UPDATE agents SET load = (SELECT count(*) FROM cases WHERE assignee = agents.name AND (state = 'new'"
    " OR state = 'open' OR state = 'pending_customer' OR state = 'pending_internal'));"
    "CREATE TRIGGER cases_load_update AFTER UPDATE OF assignee, state ON cases"
    " WHEN old.assignee IS NOT NULL OR new.assignee IS NOT NULL BEGIN"
    " UPDATE agents SET load = load - 1 WHERE name = old.assignee AND (old.state = 'new' OR old.state = 'open'"
    " OR old.state = 'pending_customer' OR old.state = 'pending_internal');"
    " UPDATE agents SET load = load + 1 WHERE name = new.assignee AND (new.state = 'new' OR new.state = 'open'"
    " OR new.state = 'pending_customer' OR new.state = 'pending_internal'); END;",
    /* 16: internal cases.  kind is 'case' (a customer's), 'task' (work a
     * case asks of another department: CASE.TASK) or 'incident' (a fault
     * many customers report); internal ones get no customer notice, survey
     * or threading.  parent_id is a task's case; the partial index lists a
     * case's tasks and costs intake (which writes no parent) one comparison. */
    "ALTER TABLE cases ADD COLUMN kind TEXT NOT NULL DEFAULT 'case';"
    "ALTER TABLE cases ADD COLUMN parent_id INTEGER;"
    "CREATE INDEX cases_by_parent ON cases(parent_id) WHERE parent_id IS NOT NULL;",
    /* 17: merged duplicates.  cases.merged_into is where a merged case went
     * (CASE.MERGE); events.merged_from marks the messages and notes a merge
     * copied into the survivor's history (the originals stay where they
     * were: events are never rewritten). */
    "ALTER TABLE cases ADD COLUMN merged_into INTEGER;"
    "ALTER TABLE events ADD COLUMN merged_from INTEGER;",
    /* 18: incidents.  An incident is a case of kind 'incident'; this row
     * says which spike key it gathers (as redress.recent counts keys).
     * incident_cases are the cases it gathered, one row each (CASE.GET
     * shows them as links both ways): no foreign keys, as both cases are
     * read in the command that writes the row and cases are never
     * deleted -- a spike's case costs one row, not two links with four
     * key checks. */
    "CREATE TABLE incidents("
    "  case_id INTEGER PRIMARY KEY REFERENCES cases(id),"
    "  key TEXT NOT NULL,"
    "  opened_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX incidents_by_key ON incidents(key);"
    "CREATE TABLE incident_cases("
    "  incident_id INTEGER NOT NULL,"
    "  case_id INTEGER NOT NULL,"
    "  PRIMARY KEY (incident_id, case_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX incident_cases_by_case ON incident_cases(case_id);",
    /* 19: returns and review deadlines.  A return_refund's physical return
     * (return_state awaiting_shipment -> shipped -> received, the carrier,
     * tracking and condition), what the refund hook set for it (receive and
     * review windows, the review's default outcome, what receipt leads to),
     * and the one pending deadline of a refund (due_at, due_kind ship |
     * receive | review), found by the tick through a partial index. */
    "ALTER TABLE refunds ADD COLUMN return_state TEXT;"
    "ALTER TABLE refunds ADD COLUMN carrier TEXT;"
    "ALTER TABLE refunds ADD COLUMN tracking TEXT;"
    "ALTER TABLE refunds ADD COLUMN return_condition TEXT;"
    "ALTER TABLE refunds ADD COLUMN receive_within INTEGER;"
    "ALTER TABLE refunds ADD COLUMN review_within INTEGER;"
    "ALTER TABLE refunds ADD COLUMN review_outcome TEXT;"
    "ALTER TABLE refunds ADD COLUMN after_return TEXT;"
    "ALTER TABLE refunds ADD COLUMN due_at INTEGER;"
    "ALTER TABLE refunds ADD COLUMN due_kind TEXT;"
    "CREATE INDEX refunds_due ON refunds(due_at) WHERE due_at IS NOT NULL;",
    /* 20: agents' skills (AGENT.SET name SKILLS a,b), comma-separated: a
     * queue that hands out its cases gives a case whose category or tags
     * the rule set says need skills only to an agent having them all. */
    "ALTER TABLE agents ADD COLUMN skills TEXT NOT NULL DEFAULT '';",
};
#define MIGRATION_COUNT ((int)(sizeof store_migrations / sizeof store_migrations[0]))

_Static_assert(MIGRATION_COUNT == STORE_SCHEMA_VERSION, "one migration per schema version");

/* Migration 11 kept the first amount each order was declared with; the
 * cases that said otherwise are named in the log, for a person to look at
 * (their refunds are held to the order's amount from now on). */
#define DISAGREEMENTS_LOGGED_MAX 100

/* An amount of the store as a decimal of its currency ("" if there is none). */
static const char *amount_text(sqlite3_stmt *statement, int amount_column, int currency_column, char *out,
                               size_t size) {
    const char *currency = (const char *)sqlite3_column_text(statement, currency_column);
    int digits = currency ? money_currency_digits(currency, strlen(currency)) : 2;
    out[0] = '\0';
    if (sqlite3_column_type(statement, amount_column) != SQLITE_NULL &&
        money_format(sqlite3_column_int64(statement, amount_column), digits < 0 ? 2 : digits, out, size) < 0)
        out[0] = '\0';
    return out;
}

static void report_order_disagreements(void) {
    static const char sql[] =
        "SELECT c.id, c.order_id, c.amount, coalesce(c.currency, ''), o.paid_amount, o.currency, o.case_id"
        " FROM cases c JOIN orders o ON o.order_id = c.order_id"
        " WHERE (c.amount IS NOT NULL AND c.amount != o.paid_amount)"
        " OR (c.currency IS NOT NULL AND c.currency != o.currency) ORDER BY c.id";
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(store_db, sql, -1, &statement, NULL) != SQLITE_OK) {
        log_error("cannot list the cases that disagree on an order's amount", "error=\"%s\"",
                  sqlite3_errmsg(store_db));
        sqlite3_finalize(statement);
        return;
    }
    long long count = 0;
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        if (++count > DISAGREEMENTS_LOGGED_MAX) continue;
        char order[300], declared[40], kept[40];
        log_warn("case disagrees with its order's first amount, which stands",
                 "case=%lld order=%s declared=%s declared_currency=%s paid=%s currency=%s first_case=%lld",
                 (long long)sqlite3_column_int64(statement, 0),
                 log_quote((const char *)sqlite3_column_text(statement, 1), order, sizeof order),
                 amount_text(statement, 2, 3, declared, sizeof declared),
                 (const char *)sqlite3_column_text(statement, 3), amount_text(statement, 4, 5, kept, sizeof kept),
                 (const char *)sqlite3_column_text(statement, 5), (long long)sqlite3_column_int64(statement, 6));
    }
    if (rc != SQLITE_DONE)
        log_error("cannot list the cases that disagree on an order's amount", "error=\"%s\"",
                  sqlite3_errmsg(store_db));
    sqlite3_finalize(statement);
    if (count > DISAGREEMENTS_LOGGED_MAX)
        log_warn("more cases disagree with their order's first amount", "cases=%lld logged=%d", count,
                 DISAGREEMENTS_LOGGED_MAX);
}

/* What a migration found that a person should know, logged once it ran. */
static const struct {
    int version;
    void (*report)(void);
} migration_reports[] = {{11, report_order_disagreements}};

static int read_schema_version(int *version) {
    sqlite3_stmt *statement = NULL;
    *version = 0;
    if (sqlite3_prepare_v2(store_db, "SELECT max(version) FROM schema_version", -1, &statement,
                           NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(statement);
    if (rc == SQLITE_ROW) *version = sqlite3_column_int(statement, 0);
    sqlite3_finalize(statement);
    return rc == SQLITE_ROW ? 0 : -1;
}

int store_migrate(char *error, size_t error_size) {
    int version;
    if (store_execute("CREATE TABLE IF NOT EXISTS schema_version("
                "version INTEGER NOT NULL, applied_at INTEGER NOT NULL)") ||
        read_schema_version(&version)) {
        snprintf(error, error_size, "cannot read schema version: %s", sqlite3_errmsg(store_db));
        return -1;
    }
    if (version > STORE_SCHEMA_VERSION) {
        snprintf(error, error_size,
                 "database schema version %d is newer than this redressd knows (%d): "
                 "run a newer redressd, or restore a backup made by this version",
                 version, STORE_SCHEMA_VERSION);
        return -1;
    }
    if (version == STORE_SCHEMA_VERSION) return 0;
    if (store_execute("BEGIN IMMEDIATE")) goto failed;
    for (int next = version + 1; next <= STORE_SCHEMA_VERSION; next++) {
        char record[128];
        snprintf(record, sizeof record,
                 "INSERT INTO schema_version(version, applied_at) VALUES (%d, %lld)", next,
                 (long long)clock_now());
        if (store_execute(store_migrations[next - 1]) || store_execute(record)) {
            store_execute("ROLLBACK");
            goto failed;
        }
        log_info("schema migrated", "version=%d", next);
        for (size_t r = 0; r < sizeof migration_reports / sizeof migration_reports[0]; r++)
            if (migration_reports[r].version == next) migration_reports[r].report();
    }
    if (store_execute("COMMIT") == 0) return 0;
    store_execute("ROLLBACK");
failed:
    snprintf(error, error_size, "schema migration failed: %s", sqlite3_errmsg(store_db));
    return -1;
}
