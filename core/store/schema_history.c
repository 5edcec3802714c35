/* schema_history.c -- the store's released history on SQLite: migrations 1
 * to STORE_POSTGRESQL_BASELINE - 1 (STORE_RELEASED_MIGRATIONS), from before
 * PostgreSQL's baseline.
 *
 * Owns the SQLite text of each of those migrations and the trigger-text
 * macros they share.  Released and never edited again: a database at any
 * of these versions is migrated by them, byte for byte as shipped (the
 * schema tests compare the result).  The migrations since the baseline, for
 * both stores, and the one accessor to every version (store_migration) are
 * in store/schema.c.
 */
#include "store/internal.h"

#include <stddef.h>

/* Migration 25's CSAT triggers, written once: a survey row leaves its
 * three groups (all, its queue, its agent) as `old` and enters them as
 * `new`; an update does both.  Joined by the compiler, the migration's text
 * is the same, byte for byte, as when each trigger spelled them out. */
#define CSAT_OLD_LEAVES \
    " UPDATE csat_figures SET responses = responses - 1, score_sum = score_sum - old.score," \
    "  satisfied = satisfied - (old.score >= 4)" \
    "  WHERE (dim = 'all' AND name = '') OR (dim = 'queue' AND name = old.queue)" \
    "  OR (dim = 'agent' AND name = old.agent);"
#define CSAT_NEW_ENTERS \
    " INSERT INTO csat_figures(dim, name, responses, score_sum, satisfied)" \
    "  SELECT 'all', '', 1, new.score, new.score >= 4" \
    "  UNION ALL SELECT 'queue', new.queue, 1, new.score, new.score >= 4" \
    "  UNION ALL SELECT 'agent', new.agent, 1, new.score, new.score >= 4 WHERE new.agent IS NOT NULL" \
    "  ON CONFLICT(dim, name) DO UPDATE SET responses = responses + 1, score_sum = score_sum + excluded.score_sum," \
    "  satisfied = satisfied + excluded.satisfied;"

/* The triggers on `cases` (migrations 19 and 25), written once: migration
 * 27 rebuilds the table, which drops them, and makes them again.  Joined by
 * the compiler, the earlier migrations' text is the same, byte for byte. */
#define CASES_LOAD_TRIGGER \
    "CREATE TRIGGER cases_load_update AFTER UPDATE OF assignee, state ON cases" \
    " WHEN old.assignee IS NOT NULL OR new.assignee IS NOT NULL BEGIN" \
    " UPDATE agents SET load = load - 1 WHERE name = old.assignee AND (old.state = 'new' OR old.state = 'open'" \
    " OR old.state = 'pending_customer' OR old.state = 'pending_internal');" \
    " UPDATE agents SET load = load + 1 WHERE name = new.assignee AND (new.state = 'new' OR new.state = 'open'" \
    " OR new.state = 'pending_customer' OR new.state = 'pending_internal'); END"
#define CASES_SLA_TRIGGER \
    "CREATE TRIGGER cases_sla_figures AFTER UPDATE OF priority, queue ON cases" \
    " WHEN old.priority IS NOT new.priority OR old.queue IS NOT new.queue BEGIN" \
    " INSERT INTO sla_figures(dim, name, met, breached)" \
    "  SELECT dim, name, sign * m, sign * b FROM" \
    "  (SELECT sum(state = 'met') AS m, sum(state = 'breached') AS b FROM deadlines WHERE case_id = new.id" \
    "   AND state IN ('met', 'breached') AND kind NOT LIKE 'automation:%' AND kind <> 'notify')," \
    "  (SELECT 'priority' AS dim, old.priority AS name, -1 AS sign WHERE old.priority IS NOT new.priority" \
    "   UNION ALL SELECT 'priority', new.priority, 1 WHERE old.priority IS NOT new.priority" \
    "   UNION ALL SELECT 'queue', old.queue, -1 WHERE old.queue IS NOT new.queue" \
    "   UNION ALL SELECT 'queue', new.queue, 1 WHERE old.queue IS NOT new.queue)" \
    "  WHERE m > 0 OR b > 0" \
    "  ON CONFLICT(dim, name) DO UPDATE SET met = met + excluded.met, breached = breached + excluded.breached;" \
    " END"

/* Every column of `cases` as of migration 27, in table order. */
#define CASES_COLUMNS \
    "id, external_id, state, channel, customer, subject, body, order_id, amount, currency, paid_at, delivered_at, tier, lang, category, tags, queue, priority, assignee, escalation, breached, reopen_count, wait_reason, created_at, updated_at, first_reply_at, resolved_at, closed_at, resolution_code, resolution_text, survey_score, survey_comment, rules_version, faq, next_due, customer_id, kind, parent_id, merged_into"

/* Migration N brings the schema from version N-1 to N; this is its text at
 * [N - 1], STORE_RELEASED_MIGRATIONS of them (store/internal.h).  Released:
 * never edited, nothing appended (a new migration goes to store/schema.c). */
const char *const store_migrations_released[] = {
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
    /* 15: customers as records, and the conversation.  A customer is an id
     * with identities (kind, value): an email address, a phone number, a
     * WeChat or app user id, an order account.  A case names its customer
     * (customer_id) beside the text it was opened with.  Existing cases
     * give one customer per identity their text reads as (customers.c
     * customers_parse_identity: "kind:value", else an address with '@' is
     * an email (lower-cased), "+digits" a phone, anything else an account).
     * A message is an event (its text is the event's detail) with its
     * direction (in: the customer wrote; out: an agent replied), channel
     * and the channel's id of it; existing replies become outbound
     * messages. */
    "CREATE TABLE customers(id INTEGER PRIMARY KEY, created_at INTEGER NOT NULL);"
    "CREATE TABLE customer_identities("
    "  kind TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (kind, value)"
    ") WITHOUT ROWID;"
    "CREATE INDEX customer_identities_by_customer ON customer_identities(customer_id);"
    "ALTER TABLE cases ADD COLUMN customer_id INTEGER REFERENCES customers(id);"
    "CREATE TEMP TABLE migrate15(customer TEXT PRIMARY KEY, created_at INTEGER, kind TEXT, value TEXT);"
    "INSERT INTO migrate15(customer, created_at) SELECT customer, min(created_at) FROM cases GROUP BY customer;"
    "UPDATE migrate15 SET kind = CASE"
    "  WHEN customer GLOB 'email:?*' THEN 'email' WHEN customer GLOB 'phone:?*' THEN 'phone'"
    "  WHEN customer GLOB 'wechat:?*' THEN 'wechat' WHEN customer GLOB 'app:?*' THEN 'app'"
    "  WHEN customer GLOB 'account:?*' THEN 'account'"
    "  WHEN instr(customer, '@') > 0 THEN 'email'"
    "  WHEN customer GLOB '+[0-9]*' AND NOT substr(customer, 2) GLOB '*[^0-9]*' THEN 'phone'"
    "  ELSE 'account' END;"
    "UPDATE migrate15 SET value = CASE WHEN substr(customer, 1, length(kind) + 1) = kind || ':'"
    "  THEN substr(customer, length(kind) + 2) ELSE customer END;"
    "UPDATE migrate15 SET value = lower(value) WHERE kind = 'email';"
    "CREATE TEMP TABLE migrate15_customers(id INTEGER PRIMARY KEY, kind TEXT, value TEXT, created_at INTEGER);"
    "INSERT INTO migrate15_customers(kind, value, created_at)"
    " SELECT kind, value, min(created_at) FROM migrate15 GROUP BY kind, value ORDER BY min(created_at), kind, value;"
    "INSERT INTO customers(id, created_at) SELECT id, created_at FROM migrate15_customers;"
    "INSERT INTO customer_identities(kind, value, customer_id, created_at)"
    " SELECT kind, value, id, created_at FROM migrate15_customers;"
    "UPDATE cases SET customer_id = (SELECT i.customer_id FROM migrate15 m"
    " JOIN customer_identities i ON i.kind = m.kind AND i.value = m.value WHERE m.customer = cases.customer);"
    "DROP TABLE migrate15;"
    "DROP TABLE migrate15_customers;"
    "CREATE INDEX cases_by_customer_id ON cases(customer_id, id);"
    /* The customer's cases are found by customer_id from now on (CASE.LIST
     * CUSTOMER, redress.customer, threading): the index on the text goes,
     * so that a new case still writes as many index entries as before. */
    "DROP INDEX IF EXISTS cases_by_customer;"
    "CREATE TABLE messages("
    "  event_id INTEGER PRIMARY KEY REFERENCES events(id),"
    "  case_id INTEGER NOT NULL REFERENCES cases(id),"
    "  direction TEXT NOT NULL,"        /* in | out */
    "  channel TEXT NOT NULL,"
    "  external_id TEXT UNIQUE"
    ");"
    "CREATE INDEX messages_by_case ON messages(case_id, event_id);"
    "INSERT INTO messages(event_id, case_id, direction, channel)"
    " SELECT e.id, e.case_id, 'out', c.channel FROM events e JOIN cases c ON c.id = e.case_id WHERE e.kind = 'reply';",
    /* 16: the search index (CASE.SEARCH): FTS5 with the tokenizer
     * "redress" (store/search.c: CJK bigrams, lower-cased words), one row
     * per text event -- a case's opening (subject and body), messages,
     * replies, notes -- whose rowid is the event's id.  Contentless: the
     * texts stay in cases and events only.  The rules' auto-replies are not
     * indexed (the same canned text on many cases).  search_progress holds
     * the last event looked at: later events are indexed by
     * domain/search.c (the tick, and each CASE.SEARCH before it reads), so
     * intake never pays for the index.  Built from what is there, and
     * re-runnable (created if missing, emptied, filled). */
    "CREATE VIRTUAL TABLE IF NOT EXISTS case_text USING fts5(text, tokenize = 'redress', content = '');"
    /* and CASE.LIST ORDER o: the cases of an order, in id order */
    "CREATE INDEX IF NOT EXISTS cases_by_order ON cases(order_id, id) WHERE order_id IS NOT NULL;"
    "INSERT INTO case_text(case_text) VALUES ('delete-all');"
    "INSERT INTO case_text(rowid, text)"
    " SELECT e.id, CASE WHEN c.body <> '' THEN c.subject || char(10) || c.body ELSE c.subject END"
    " FROM events e JOIN cases c ON c.id = e.case_id WHERE e.kind = 'opened';"
    "INSERT INTO case_text(rowid, text)"
    " SELECT id, detail FROM events WHERE kind = 'message' OR kind = 'note'"
    " OR (kind = 'reply' AND actor <> 'rules');"
    "CREATE TABLE IF NOT EXISTS search_progress(id INTEGER PRIMARY KEY CHECK (id = 1),"
    " indexed_through INTEGER NOT NULL);"
    "INSERT OR REPLACE INTO search_progress(id, indexed_through) SELECT 1, coalesce(max(id), 0) FROM events;",
    /* 17: satisfaction.  One survey per resolution of a case: `round` is
     * the case's reopen_count when it was answered (a reopened case may be
     * surveyed again), with the agent and queue it was answered for (CSAT
     * per agent and queue), and who gave it (an agent's name, or
     * "customer" through a survey token).  The key that signs survey
     * tokens (HMAC-SHA256), from SQLite's randomness (ChaCha20 seeded by
     * the OS); the nonces of tokens used, so each is used once.  Existing
     * survey scores become surveys of their case's current round.  Re-runnable
     * (what exists is kept). */
    "CREATE TABLE IF NOT EXISTS surveys("
    "  id INTEGER PRIMARY KEY,"
    "  case_id INTEGER NOT NULL REFERENCES cases(id),"
    "  round INTEGER NOT NULL,"
    "  score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),"
    "  comment TEXT,"
    "  agent TEXT,"
    "  queue TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  UNIQUE (case_id, round)"
    ");"
    "CREATE INDEX IF NOT EXISTS surveys_by_time ON surveys(at);"
    "INSERT OR IGNORE INTO surveys(case_id, round, score, comment, agent, queue, source, at)"
    " SELECT id, reopen_count, survey_score, survey_comment, assignee, queue, 'migrated', updated_at FROM cases"
    " WHERE survey_score BETWEEN 1 AND 5;"
    "CREATE TABLE IF NOT EXISTS secrets(name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO secrets(name, value) VALUES ('survey_token', randomblob(32));"
    /* and a case's clocks that have not ended, which every message, reply,
     * wait and resume reads: a case that talks long (a customer's hundredth
     * message) reads its few live clocks, not every clock it ever had.
     * Running and paused clocks never have ended_at; the queries on them
     * say so (ended_at IS NULL, the index's second column).  It replaces
     * deadlines_by_case (case_id alone): one index per clock row, as
     * before, so that a new case's clocks cost intake what they did. */
    "CREATE INDEX IF NOT EXISTS deadlines_by_case_live ON deadlines(case_id, ended_at);"
    "DROP INDEX IF EXISTS deadlines_by_case;"
    "CREATE TABLE IF NOT EXISTS survey_tokens_used("
    "  nonce TEXT PRIMARY KEY,"
    "  case_id INTEGER NOT NULL REFERENCES cases(id),"
    "  used_at INTEGER NOT NULL"
    ") WITHOUT ROWID;",
    /* 18: attachments of messages and replies: the file is
     * DATA/attachments/CASE/EVENT-NUMBER; the row says what it is. */
    "CREATE TABLE IF NOT EXISTS attachments("
    "  event_id INTEGER NOT NULL REFERENCES events(id),"
    "  number INTEGER NOT NULL,"
    "  case_id INTEGER NOT NULL REFERENCES cases(id),"
    "  name TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  PRIMARY KEY (event_id, number)"
    ") WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS attachments_by_case ON attachments(case_id);",
    /* 19: agents' presence (AGENT.STATUS) and what automatic assignment
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
    CASES_LOAD_TRIGGER ";",
    /* 20: internal cases.  kind is 'case' (a customer's), 'task' (work a
     * case asks of another department: CASE.TASK) or 'incident' (a fault
     * many customers report); internal ones get no customer notice, survey
     * or threading.  parent_id is a task's case; the partial index lists a
     * case's tasks and costs intake (which writes no parent) one comparison. */
    "ALTER TABLE cases ADD COLUMN kind TEXT NOT NULL DEFAULT 'case';"
    "ALTER TABLE cases ADD COLUMN parent_id INTEGER;"
    "CREATE INDEX cases_by_parent ON cases(parent_id) WHERE parent_id IS NOT NULL;",
    /* 21: merged duplicates.  cases.merged_into is where a merged case went
     * (CASE.MERGE); events.merged_from marks the messages and notes a merge
     * copied into the survivor's history (the originals stay where they
     * were: events are never rewritten). */
    "ALTER TABLE cases ADD COLUMN merged_into INTEGER;"
    "ALTER TABLE events ADD COLUMN merged_from INTEGER;",
    /* 22: incidents.  An incident is a case of kind 'incident'; this row
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
    /* 23: returns and review deadlines.  A return_refund's physical return
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
    /* 24: agents' skills (AGENT.SET name SKILLS a,b), comma-separated: a
     * queue that hands out its cases gives a case whose category or tags
     * the rule set says need skills only to an agent having them all. */
    "ALTER TABLE agents ADD COLUMN skills TEXT NOT NULL DEFAULT '';",
    /* 25: STATS' SLA and CSAT figures, kept by triggers in the write's own
     * transaction, so that STATS reads a few rows instead of every clock
     * and survey.  sla_figures: SLA clocks (automation and notify clocks
     * left out) met and breached, per the case's priority (dim 'priority')
     * and per its queue ('queue') as they are now -- a clock that ends or
     * breaches counts in its case's groups, and a case that changes
     * priority or queue takes its ended clocks along (one indexed read of
     * its clocks, on that change only: intake inserts clocks as running
     * and sets no priority after the insert, so it runs no trigger body).
     * csat_figures: surveys' responses, score sum and 4s-and-5s, overall
     * (dim 'all', name ''), per queue and per agent (surveys with one).
     * Built afresh from the rows (a database taken back to an older schema
     * by hand may still hold them). */
    "DROP TRIGGER IF EXISTS deadlines_sla_figures; DROP TRIGGER IF EXISTS deadlines_sla_figures_delete;"
    "DROP TRIGGER IF EXISTS cases_sla_figures; DROP TRIGGER IF EXISTS surveys_csat_insert;"
    "DROP TRIGGER IF EXISTS surveys_csat_delete; DROP TRIGGER IF EXISTS surveys_csat_update;"
    "DROP TABLE IF EXISTS sla_figures; DROP TABLE IF EXISTS csat_figures;"
    "CREATE TABLE sla_figures("
    "  dim TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  met INTEGER NOT NULL DEFAULT 0,"
    "  breached INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (dim, name)"
    ") WITHOUT ROWID;"
    "INSERT INTO sla_figures(dim, name, met, breached)"
    " SELECT 'priority', c.priority, sum(d.state = 'met'), sum(d.state = 'breached')"
    " FROM deadlines d JOIN cases c ON c.id = d.case_id WHERE d.kind NOT LIKE 'automation:%' AND d.kind <> 'notify'"
    " AND d.state IN ('met', 'breached') GROUP BY c.priority;"
    "INSERT INTO sla_figures(dim, name, met, breached)"
    " SELECT 'queue', c.queue, sum(d.state = 'met'), sum(d.state = 'breached')"
    " FROM deadlines d JOIN cases c ON c.id = d.case_id WHERE d.kind NOT LIKE 'automation:%' AND d.kind <> 'notify'"
    " AND d.state IN ('met', 'breached') GROUP BY c.queue;"
    "CREATE TRIGGER deadlines_sla_figures AFTER UPDATE OF state ON deadlines"
    " WHEN old.state IS NOT new.state AND (old.state IN ('met', 'breached') OR new.state IN ('met', 'breached'))"
    " AND new.kind NOT LIKE 'automation:%' AND new.kind <> 'notify' BEGIN"
    " INSERT INTO sla_figures(dim, name, met, breached)"
    "  SELECT 'priority', priority, (new.state = 'met') - (old.state = 'met'),"
    "  (new.state = 'breached') - (old.state = 'breached') FROM cases WHERE id = new.case_id"
    "  ON CONFLICT(dim, name) DO UPDATE SET met = met + excluded.met, breached = breached + excluded.breached;"
    " INSERT INTO sla_figures(dim, name, met, breached)"
    "  SELECT 'queue', queue, (new.state = 'met') - (old.state = 'met'),"
    "  (new.state = 'breached') - (old.state = 'breached') FROM cases WHERE id = new.case_id"
    "  ON CONFLICT(dim, name) DO UPDATE SET met = met + excluded.met, breached = breached + excluded.breached;"
    " END;"
    "CREATE TRIGGER deadlines_sla_figures_delete AFTER DELETE ON deadlines"
    " WHEN old.state IN ('met', 'breached') AND old.kind NOT LIKE 'automation:%' AND old.kind <> 'notify' BEGIN"
    " UPDATE sla_figures SET met = met - (old.state = 'met'), breached = breached - (old.state = 'breached')"
    "  WHERE (dim = 'priority' AND name = (SELECT priority FROM cases WHERE id = old.case_id))"
    "  OR (dim = 'queue' AND name = (SELECT queue FROM cases WHERE id = old.case_id));"
    " END;"
    CASES_SLA_TRIGGER ";"
    "CREATE TABLE csat_figures("
    "  dim TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  responses INTEGER NOT NULL DEFAULT 0,"
    "  score_sum INTEGER NOT NULL DEFAULT 0,"
    "  satisfied INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (dim, name)"
    ") WITHOUT ROWID;"
    "INSERT INTO csat_figures(dim, name, responses, score_sum, satisfied)"
    " SELECT 'all', '', count(*), coalesce(sum(score), 0), coalesce(sum(score >= 4), 0) FROM surveys;"
    "INSERT INTO csat_figures(dim, name, responses, score_sum, satisfied)"
    " SELECT 'queue', queue, count(*), sum(score), sum(score >= 4) FROM surveys GROUP BY queue;"
    "INSERT INTO csat_figures(dim, name, responses, score_sum, satisfied)"
    " SELECT 'agent', agent, count(*), sum(score), sum(score >= 4) FROM surveys WHERE agent IS NOT NULL"
    " GROUP BY agent;"
    "CREATE TRIGGER surveys_csat_insert AFTER INSERT ON surveys BEGIN" CSAT_NEW_ENTERS " END;"
    "CREATE TRIGGER surveys_csat_delete AFTER DELETE ON surveys BEGIN" CSAT_OLD_LEAVES " END;"
    "CREATE TRIGGER surveys_csat_update AFTER UPDATE OF score, queue, agent ON surveys BEGIN"
    CSAT_OLD_LEAVES CSAT_NEW_ENTERS " END;",
    /* 26: the search index leaves redress.db for DATA/search.db, kept by a
     * worker thread off the loop (domain/search_worker.c; derived data,
     * rebuilt from the event log when missing): case_text and
     * search_progress go.  search_forget is what an erase asks the worker
     * to take out of the contentless index -- the texts as they were
     * indexed, written in the erase's own transaction before redaction;
     * the worker applies them (only to events it had indexed) and the
     * tick deletes the rows it applied.  Re-runnable (IF EXISTS, IF NOT
     * EXISTS). */
    "DROP TABLE IF EXISTS case_text;"
    "DROP TABLE IF EXISTS search_progress;"
    "CREATE TABLE IF NOT EXISTS search_forget("
    "  id INTEGER PRIMARY KEY,"
    "  event_id INTEGER NOT NULL,"
    "  text TEXT NOT NULL"
    ");",
    /* 27: the external id unique where a case has one.  `external_id TEXT
     * UNIQUE` indexed every case, NULL included (SQLite allows many NULLs
     * in a unique index but still writes an entry for each): one index
     * entry, and its page in the savepoint journal, per CASE.OPEN for the
     * few cases opened with an external id.  A constraint cannot be dropped,
     * so the table is made again: its rows go to a temporary copy (not the
     * WAL), the table is dropped (its indexes and its two triggers with
     * it) and created with the same columns in the same order, the rows
     * come back with their ids, and the indexes and triggers are made as
     * before; the unique index is partial.  `external_id = ?` (idempotent
     * intake) implies NOT NULL, so the planner still uses it.  One
     * transaction, as every migration: a failure or a crash leaves
     * version 26 as it was.  Not a new table renamed into place: ALTER
     * TABLE RENAME checks the triggers of other tables that read `cases`
     * (sla_figures') and fails while the table is missing, and the file
     * would grow by the table (the copy written before the old pages are
     * freed); the temporary copy lets the new table reuse them.  1,000,000
     * cases: 14 s, and temporary space for one copy of the table. */
    "CREATE TEMP TABLE migrate27 AS SELECT * FROM cases;"
    "DROP TABLE cases;"
    "CREATE TABLE cases("
    "  id INTEGER PRIMARY KEY,"
    "  external_id TEXT,"
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
    "  rules_version TEXT NOT NULL DEFAULT '',"
    "  faq TEXT NOT NULL DEFAULT '',"
    "  next_due INTEGER,"
    "  customer_id INTEGER REFERENCES customers(id),"
    "  kind TEXT NOT NULL DEFAULT 'case',"
    "  parent_id INTEGER,"
    "  merged_into INTEGER"
    ");"
    "INSERT INTO cases(" CASES_COLUMNS ") SELECT " CASES_COLUMNS " FROM temp.migrate27;"
    "DROP TABLE temp.migrate27;"
    "CREATE UNIQUE INDEX cases_by_external_id ON cases(external_id) WHERE external_id IS NOT NULL;"
    "CREATE INDEX cases_by_state ON cases(state);"
    "CREATE INDEX cases_by_queue ON cases(queue);"
    "CREATE INDEX cases_by_assignee ON cases(assignee) WHERE assignee IS NOT NULL;"
    "CREATE INDEX cases_claimable ON cases(priority, coalesce(next_due, 9223372036854775807), id)"
    " WHERE assignee IS NULL AND (state = 'new' OR state = 'open' OR state = 'pending_internal');"
    "CREATE INDEX cases_by_customer_id ON cases(customer_id, id);"
    "CREATE INDEX cases_by_order ON cases(order_id, id) WHERE order_id IS NOT NULL;"
    "CREATE INDEX cases_by_parent ON cases(parent_id) WHERE parent_id IS NOT NULL;"
    CASES_LOAD_TRIGGER ";"
    CASES_SLA_TRIGGER ";",
    /* 28: an order's cases without an index entry for the case that
     * recorded the order.  cases_by_order (order_id, id) took an entry per
     * case with an order: a random key, so at intake its own leaf page --
     * journaled, checksummed and written to the WAL -- for nearly every
     * case.  The case whose intake recorded a new order is already named by
     * that order's row (orders.case_id, source 'case'): order_first marks
     * it, and the index lists only the others.  The cases of an order are
     * the index's entries plus the order row's case (domain readers spell
     * both).  When an order source's word replaces the row (case_id NULL),
     * the trigger hands its case back to the index.  Existing cases: the
     * ones their order's row names.  The triggers are made afresh (a
     * database taken back to an older schema by hand may still hold them). */
    "ALTER TABLE cases ADD COLUMN order_first INTEGER;"
    "UPDATE cases SET order_first = 1 FROM orders o WHERE o.case_id = cases.id AND o.order_id = cases.order_id;"
    "DROP INDEX IF EXISTS cases_by_order;"
    "CREATE INDEX cases_by_order ON cases(order_id, id) WHERE order_id IS NOT NULL AND order_first IS NULL;"
    "DROP TRIGGER IF EXISTS orders_case_released; DROP TRIGGER IF EXISTS orders_case_deleted;"
    "CREATE TRIGGER orders_case_released AFTER UPDATE OF case_id ON orders"
    " WHEN old.case_id IS NOT NULL AND new.case_id IS NOT old.case_id BEGIN"
    " UPDATE cases SET order_first = NULL WHERE id = old.case_id AND order_first IS NOT NULL; END;"
    "CREATE TRIGGER orders_case_deleted AFTER DELETE ON orders WHEN old.case_id IS NOT NULL BEGIN"
    " UPDATE cases SET order_first = NULL WHERE id = old.case_id AND order_first IS NOT NULL; END;",
};
