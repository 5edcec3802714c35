/* schema.c -- the store's schema since PostgreSQL's baseline: the
 * migrations from STORE_POSTGRESQL_BASELINE on, in order, on both stores,
 * and the one way to any version's SQLite text (see store/schema.h,
 * STORE_SCHEMA_VERSION).
 *
 * Owns SQLite's and PostgreSQL's text of each migration from the baseline
 * on, with the build's checks that each list has one text per version;
 * the released history before the baseline (SQLite only) is in
 * store/schema_history.c.  Runs nothing: store/migrate.c runs SQLite's at
 * open, store/pg_schema.c PostgreSQL's at start, store/integrity.c builds
 * its reference schema from SQLite's.  Never edits a released migration
 * (append only).
 */
#include "store/internal.h"
#include "store/schema.h"

#include <stddef.h>

/* Migration N, from STORE_POSTGRESQL_BASELINE on, brings the schema from
 * version N-1 to N; its SQLite text is at [N - STORE_POSTGRESQL_BASELINE].
 * Append only: a released migration is never edited.  Each also gets its
 * PostgreSQL text, at the end of store_migrations_postgresql below (the
 * build fails without it). */
static const char *const migrations_since_baseline[] = {
    /* 29: no index of clocks by state.  deadlines_running (state) took an
     * entry for every clock, two per CASE.OPEN (~10k of the ~30k
     * instructions a new case's clocks cost), and served one reader: the
     * timer heap's load at start and after a failed batch (clocks.c), which
     * now reads the table through (every clock, ended ones too: with
     * 1,000,000 open cases, 2,000,000 running and 5,000,000 ended clocks,
     * the start takes 3.7 s instead of 3.0 s; with no ended clock, the same
     * 3.0 s).  Every other query on clocks is by case (deadlines_by_case_live)
     * or by id.  1,000,000 cases with 7,000,000 clocks: about 0.6 s. */
    "DROP INDEX IF EXISTS deadlines_running;",
    /* 30: the nodes serving this database, one row each (domain/nodes.c is
     * its one writer): the node's name (setting node_name), the version of
     * the rule set it runs and when it was last seen (Unix seconds of its
     * real clock).  Each node's INFO lists the live ones and whether their
     * rule sets differ.  On SQLite the one node's row.  Its rows are
     * rewritten by the nodes as they run: a database taken back to an older
     * schema by hand that still holds the table gets it afresh. */
    "DROP TABLE IF EXISTS nodes;"
    "CREATE TABLE nodes(name TEXT PRIMARY KEY, rules_version TEXT NOT NULL, seen_at INTEGER NOT NULL);",
    /* 31: how far the search indexes' forget queue was pruned.  With
     * several nodes (PostgreSQL) each node's index applies the one queue,
     * and a node deletes rows only an hour after its own index applied
     * them (domain/search.c); an index that finds the queue pruned past
     * what it applied starts over (domain/search_worker.c).  SQLite's one
     * index prunes only what it applied, and never reads it.  On
     * PostgreSQL also an index of the running clocks by firing time and
     * the agents' turn (see there): SQLite's one node needs neither.
     * Re-runnable, as migration 30 (a database taken back by hand). */
    "DROP TABLE IF EXISTS search_forget_pruned;"
    "CREATE TABLE search_forget_pruned(id INTEGER PRIMARY KEY CHECK (id = 1), through INTEGER NOT NULL);"
    "INSERT INTO search_forget_pruned(id, through) VALUES (1, 0);",
    /* 32: which node executes a refund, and since when (clock_now): a
     * refund a node's executor is paying is that node's
     * (domain/refund_exec.c).  With several nodes (PostgreSQL) no other
     * node settles it by hand nor sends it again while that node's row in
     * `nodes` says it lives; the refunds of a node seen dead are taken
     * over by a live one (a compare-and-set on executing_node).  NULL: no
     * node (the outbox's, and every refund executing before this
     * version, which the first node to start takes).  The index holds
     * the executing refunds only: what a node's tick reads each second. */
    "ALTER TABLE refunds ADD COLUMN executing_node TEXT;"
    "ALTER TABLE refunds ADD COLUMN executing_since INTEGER;"
    "CREATE INDEX refunds_executing ON refunds(executor, executing_node) WHERE state = 'executing';",
    /* 33: what each order has in review (refunds in state 'review'), kept
     * by triggers as order_refund_totals keeps what it has committed (10):
     * a refund request reads one row, exact however many refunds the order
     * has (a window of its newest refunds let rejected requests push a
     * review out of sight).  The triggers fire only for a row that is or
     * was in review. */
    "CREATE TABLE order_refund_reviews(order_id TEXT PRIMARY KEY, in_review INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO order_refund_reviews(order_id, in_review)"
    " SELECT order_id, sum(amount) FROM refunds WHERE state = 'review' GROUP BY order_id;"
    "CREATE TRIGGER refunds_review_insert AFTER INSERT ON refunds WHEN NEW.state = 'review' BEGIN"
    "  INSERT INTO order_refund_reviews(order_id, in_review) VALUES (NEW.order_id, NEW.amount)"
    "   ON CONFLICT(order_id) DO UPDATE SET in_review = in_review + excluded.in_review;"
    " END;"
    "CREATE TRIGGER refunds_review_update AFTER UPDATE OF state, amount, order_id ON refunds"
    " WHEN OLD.state = 'review' OR NEW.state = 'review' BEGIN"
    "  UPDATE order_refund_reviews SET in_review = in_review - OLD.amount"
    "   WHERE order_id = OLD.order_id AND OLD.state = 'review';"
    "  INSERT INTO order_refund_reviews(order_id, in_review) SELECT NEW.order_id, NEW.amount"
    "   WHERE NEW.state = 'review'"
    "   ON CONFLICT(order_id) DO UPDATE SET in_review = in_review + excluded.in_review;"
    " END;"
    "CREATE TRIGGER refunds_review_delete AFTER DELETE ON refunds WHEN OLD.state = 'review' BEGIN"
    "  UPDATE order_refund_reviews SET in_review = in_review - OLD.amount WHERE order_id = OLD.order_id;"
    " END;",
    /* 34: the key a refund is paid under, made with it and the same on
     * every attempt (domain/refunds.h, REFUND_PAYMENT_KEY_SQL):
     * "redress-refund-ID-" and 16 random hex digits.  The id alone was the
     * key, and a restore gives the ids of the refunds made after the
     * backup out again: a payer that deduplicates by key took the new
     * refund for the lost one it had paid.  NULL in the rows made before
     * this version: they keep "redress-refund-ID", the key a refund
     * executing across the upgrade was already sent under. */
    "ALTER TABLE refunds ADD COLUMN payment_key TEXT;",
#ifdef REDRESS_TEST_MIGRATION
    /* 35 (tests only, see store/schema.h): a table, an index, a column. */
    "CREATE TABLE test_migration(id INTEGER PRIMARY KEY, note TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX test_migration_by_note ON test_migration(note);"
    "ALTER TABLE agents ADD COLUMN test_note TEXT;",
#endif
};

_Static_assert(STORE_POSTGRESQL_BASELINE - 1 + sizeof migrations_since_baseline / sizeof migrations_since_baseline[0] ==
                   STORE_SCHEMA_VERSION,
               "one migration per schema version");

_Static_assert(STORE_RELEASED_MIGRATIONS == STORE_POSTGRESQL_BASELINE - 1,
               "the released history (schema_history.c) ends where PostgreSQL's baseline begins");

const char *store_migration(int version)
{
    if (version < 1 || version > STORE_SCHEMA_VERSION)
        return NULL;
    if (version < STORE_POSTGRESQL_BASELINE)
        return store_migrations_released[version - 1];
    return migrations_since_baseline[version - STORE_POSTGRESQL_BASELINE];
}

/* The same list of versions on PostgreSQL: the text of migration N at
 * [N - STORE_POSTGRESQL_BASELINE], in PostgreSQL's dialect (bigint for
 * INTEGER, bytea for BLOB, identity columns for rowid keys, triggers as
 * plpgsql functions: see store/schema_postgresql.sql), with the same effect
 * as SQLite's.  Run by store/pg_schema.c, one transaction for all.  Append
 * only, in step with SQLite's (store_migration). */
const char *const store_migrations_postgresql[] = {
    /* 29: the baseline, created whole from store/schema_postgresql.sql */
    NULL,
    /* 30: the nodes */
    "DROP TABLE IF EXISTS nodes;"
    "CREATE TABLE nodes(name text PRIMARY KEY, rules_version text NOT NULL, seen_at bigint NOT NULL);",
    /* 31: the forget queue's pruning mark */
    "DROP TABLE IF EXISTS search_forget_pruned;"
    "CREATE TABLE search_forget_pruned(id bigint PRIMARY KEY CHECK (id = 1), through bigint NOT NULL);"
    "INSERT INTO search_forget_pruned(id, through) VALUES (1, 0);"
    /* and the running clocks by when they fire: the timer's node reads the
     * due ones each slice (domain/clocks.c clocks_heap_add_due: the other
     * nodes' clocks are not in its heap), which without this index read
     * every clock row.  SQLite has one node: its heap holds every clock. */
    "CREATE INDEX IF NOT EXISTS deadlines_firing ON deadlines ((CASE WHEN warned <> 0 THEN due_at ELSE warn_at END))"
    " WHERE state = 'running';"
    /* and the agents' turn: every statement that writes agents' rows takes
     * one transaction lock first (the load trigger's updates included), as
     * a hand-out does before it reads them (domain/assignment.c): no two
     * batches hold agents' rows at once, so they cannot deadlock on them. */
    "CREATE OR REPLACE FUNCTION agents_take_turn() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN PERFORM pg_advisory_xact_lock(20, 0); RETURN NULL; END $$;"
    "DROP TRIGGER IF EXISTS agents_writers_take_turns ON agents;"
    "CREATE TRIGGER agents_writers_take_turns BEFORE INSERT OR UPDATE OR DELETE ON agents"
    " FOR EACH STATEMENT EXECUTE FUNCTION agents_take_turn();",
    /* 32: which node executes a refund */
    "ALTER TABLE refunds ADD COLUMN executing_node text;"
    "ALTER TABLE refunds ADD COLUMN executing_since bigint;"
    "CREATE INDEX refunds_executing ON refunds(executor, executing_node) WHERE state = 'executing';",
    /* 33: what each order has in review, kept by triggers */
    "CREATE TABLE order_refund_reviews(order_id text PRIMARY KEY, in_review bigint NOT NULL);"
    "INSERT INTO order_refund_reviews(order_id, in_review)"
    " SELECT order_id, sum(amount) FROM refunds WHERE state = 'review' GROUP BY order_id;"
    "CREATE FUNCTION refunds_in_review() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.state = 'review' THEN"
    "   UPDATE order_refund_reviews SET in_review = in_review - OLD.amount WHERE order_id = OLD.order_id;"
    "  END IF;"
    "  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.state = 'review' THEN"
    "   INSERT INTO order_refund_reviews AS t(order_id, in_review) VALUES (NEW.order_id, NEW.amount)"
    "    ON CONFLICT (order_id) DO UPDATE SET in_review = t.in_review + EXCLUDED.in_review;"
    "  END IF;"
    "  RETURN NULL;"
    " END $$;"
    "CREATE TRIGGER refunds_review_insert AFTER INSERT ON refunds FOR EACH ROW"
    " WHEN (NEW.state = 'review') EXECUTE FUNCTION refunds_in_review();"
    "CREATE TRIGGER refunds_review_update AFTER UPDATE OF state, amount, order_id ON refunds FOR EACH ROW"
    " WHEN (OLD.state = 'review' OR NEW.state = 'review') EXECUTE FUNCTION refunds_in_review();"
    "CREATE TRIGGER refunds_review_delete AFTER DELETE ON refunds FOR EACH ROW"
    " WHEN (OLD.state = 'review') EXECUTE FUNCTION refunds_in_review();",
    /* 34: the key a refund is paid under */
    "ALTER TABLE refunds ADD COLUMN payment_key text;",
#ifdef REDRESS_TEST_MIGRATION
    /* 35 (tests only) */
    "CREATE TABLE test_migration(id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note text NOT NULL DEFAULT '');"
    "CREATE INDEX test_migration_by_note ON test_migration(note);"
    "ALTER TABLE agents ADD COLUMN test_note text;",
#endif
};

_Static_assert(sizeof store_migrations_postgresql / sizeof store_migrations_postgresql[0] ==
                   STORE_SCHEMA_VERSION - STORE_POSTGRESQL_BASELINE + 1,
               "every migration after PostgreSQL's baseline has its PostgreSQL text (store_migrations_postgresql)");
