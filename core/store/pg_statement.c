/* pg_statement.c -- statements on PostgreSQL (see pg_statement.h).
 *
 * Owns: the store's PostgreSQL connection (pg.c), the prepared statements
 * (translated text, bound values, the last answer), the tables that have
 * an id column, the last error, changes and inserted id, the open batch's
 * transaction id (asked with its BEGIN), and the question asked after a
 * COMMIT lost with its connection (pgs_commit_outcome).
 *
 * How a statement runs: its first step after a bind or reset sends the
 * query with its values (text format) as a group of its own -- by name,
 * prepared once per connection (pg_query_prepared: parsed and analysed
 * once, not at each run) -- and yields the piece of work until the
 * answer is in; the answer's rows are copied out
 * (they live until the next step, reset or finalize, as SQLite's do) and
 * stepped through.  Inside a batch the group runs in the batch's open
 * transaction (BEGIN ... COMMIT are the store's own statements).
 *
 * SQLite's meanings kept: an INSERT into a table with an id column gets
 * `RETURNING id` so that store_last_insert_id is the new row's id (the rows
 * are not shown to the caller); store_changes is what the last INSERT,
 * UPDATE or DELETE changed; booleans read as 1 and 0; a bytea is bound and
 * read as bytes.
 */
#include "store/pg_statement.h"
#include "store/pg.h"
#include "store/pg_outcome.h"
#include "store/pg_translate.h"
#include "store/pg_schema.h"
#include "store/codes.h"
#include "store/work.h"
#include "lib/log.h"

#include <ctype.h>
#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int store_on_postgresql;

/* PostgreSQL's type oids (catalog/pg_type_d.h is a server header). */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_OID 26
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700

#define ID_TABLES_MAX 64
#define CACHE_MAX 1024
#define OUTSIDE_WAIT_MS 30000   /* a call from outside the loop's events waits this long at most */

/* One answer, copied out of libpq's result: cells[row * cols + col]
 * (NULL for SQL NULL), lengths alike; types and names per column. */
struct answer {
    int rows, cols;
    char **cells;
    int *lengths;
    unsigned *types;
    char **names;
};

struct store_stmt {
    char *sql;            /* owned: translated */
    int *map;             /* owned: map[M-1] = SQLite's N of $M */
    int count;            /* $1..$count */
    int highest;          /* SQLite's highest ?N */
    int returning;        /* RETURNING id was added: rows are ids, not shown */
    char **values;        /* owned: [1..highest] text of each bound value, NULL = NULL */
    int *value_lengths;
    struct answer answer; /* owned: the last answer */
    int row;              /* the row a ROW step stands on; -1 before the first */
    int executed;         /* the answer is this binding's */
    int answered;         /* set by the callbacks */
    char sqlstate[6];
    char message[512];
    char status[32];      /* the command tag */
    long long changes;
    unsigned char *blob;  /* owned (PQfreemem): column_blob's bytes */
    int bind_failed;      /* a bind ran out of memory: the next step fails (callers check steps) */
    int control;          /* the store's own (BEGIN, SAVEPOINT, COMMIT): never guarded */
    int takes_xact_id;    /* the batch's BEGIN: its group also asks the transaction's id */
};

static struct {
    struct pg_client *client;  /* owned */
    char error[600];
    long long changes, last_id;
    char *id_tables[ID_TABLES_MAX];
    int id_table_count;
    int warned_outside;        /* said once: a call came from outside the daemon's events */
    int (*bare)(void);         /* store.c: 1 inside a batch with no command's savepoint open */
    int aborted;               /* a guarded statement's transaction could not be rolled back to */
    int lost;                  /* the connection dropped since pgs_mark_transaction */
    char sqlstate[6];          /* the last failure's SQLSTATE */
    char xact_id[24];          /* the open batch's transaction id, "" while unknown */
    char xact_life[96];        /* the server life that gave it (SERVER_LIFE_SQL) */
    char xact_began[24];       /* when it began, the server's epoch seconds ("" unknown) */
    int awaiting_state;        /* a piece waits for the connection's next state (pgs_commit_outcome) */
    int listening;             /* LISTEN ran on this session */
    char token[64];            /* this process's notes (pgs_note) */
    void (*on_note)(const char *text);
    const char *cache_keys[CACHE_MAX];
    struct store_stmt *cache[CACHE_MAX];
    int cached;
} pgs;

/* postgresql_answer_timeout: kept apart from pgs, which pgs_close clears. */
static unsigned answer_timeout_ms;

void pgs_set_answer_timeout(unsigned ms) { answer_timeout_ms = ms; }

/* The loop's session's application_name ("redressd NODE", at most 63
 * bytes as the server keeps it); "" until pgs_set_session_name. */
static char session_name[64];

void pgs_set_session_name(const char *name) {
    /* Cut at 63 bytes on a character's start, as the server would (a UTF-8
     * continuation byte is 10xxxxxx). */
    size_t len = strlen(name);
    if (len >= sizeof session_name) {
        len = sizeof session_name - 1;
        while (len > 0 && ((unsigned char)name[len] & 0xC0) == 0x80) len--;
    }
    memcpy(session_name, name, len);
    session_name[len] = '\0';
}

const char *pgs_session_name(void) { return session_name[0] ? session_name : "redressd"; }
unsigned pgs_answer_timeout(void) { return answer_timeout_ms; }

int pgs_connected(void) { return pgs.client != NULL && pg_client_state(pgs.client) == PG_READY; }

/* ----------------------------------------------------------- translation */

/* INSERT INTO name ... with name one of the tables with an id column. */
static int inserts_with_id(const char *sql) {
    const char *p = sql;
    while (isspace((unsigned char)*p)) p++;
    if (!pgs_word_at(p, "INSERT")) return 0;
    p += 6;
    while (isspace((unsigned char)*p)) p++;
    if (!pgs_word_at(p, "INTO")) return 0;
    p += 4;
    while (isspace((unsigned char)*p)) p++;
    size_t n = 0;
    while (isalnum((unsigned char)p[n]) || p[n] == '_') n++;
    for (int i = 0; i < pgs.id_table_count; i++)
        if (strlen(pgs.id_tables[i]) == n && strncasecmp(pgs.id_tables[i], p, n) == 0) return 1;
    return 0;
}

/* -------------------------------------------------------------- answers */

static void answer_clear(struct answer *a) {
    free(a->cells);  /* one block: cells, lengths, types, names and the texts */
    memset(a, 0, sizeof *a);
}

static int answer_copy(struct answer *a, const PGresult *result) {
    int rows = PQntuples(result), cols = PQnfields(result);
    size_t cells = (size_t)rows * (size_t)cols, bytes = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            if (!PQgetisnull(result, r, c)) bytes += (size_t)PQgetlength(result, r, c) + 1;
    for (int c = 0; c < cols; c++) bytes += strlen(PQfname(result, c)) + 1;
    size_t head = cells * sizeof(char *) + cells * sizeof(int) + (size_t)cols * sizeof(unsigned) +
                  (size_t)cols * sizeof(char *);
    head = (head + 15) & ~(size_t)15;
    char *block = malloc(head + bytes + 1);
    if (block == NULL) return -1;
    a->rows = rows;
    a->cols = cols;
    a->cells = (char **)(void *)block;
    a->names = a->cells + cells;
    a->lengths = (int *)(void *)(a->names + cols);
    a->types = (unsigned *)(void *)(a->lengths + cells);
    char *text = block + head;
    for (int c = 0; c < cols; c++) {
        a->types[c] = PQftype(result, c);
        size_t n = strlen(PQfname(result, c)) + 1;
        memcpy(text, PQfname(result, c), n);
        a->names[c] = text;
        text += n;
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            size_t i = (size_t)r * (size_t)cols + (size_t)c;
            if (PQgetisnull(result, r, c)) {
                a->cells[i] = NULL;
                a->lengths[i] = 0;
                continue;
            }
            int n = PQgetlength(result, r, c);
            const char *value = PQgetvalue(result, r, c);
            if (a->types[c] == OID_BOOL) {   /* SQLite's 1 and 0 */
                value = value[0] == 't' ? "1" : "0";
                n = 1;
            }
            memcpy(text, value, (size_t)n);
            text[n] = '\0';
            a->cells[i] = text;
            a->lengths[i] = n;
            text += n + 1;
        }
    return 0;
}

static void on_result(void *argument, const struct pg_reply *reply) {
    struct store_stmt *s = argument;
    if (reply->sqlstate) {
        if (!s->sqlstate[0]) {
            snprintf(s->sqlstate, sizeof s->sqlstate, "%s", reply->sqlstate);
            snprintf(s->message, sizeof s->message, "%s", reply->message ? reply->message : "");
        }
        return;
    }
    const PGresult *result = reply->result;
    answer_clear(&s->answer);
    if (result && answer_copy(&s->answer, result) != 0) {
        snprintf(s->sqlstate, sizeof s->sqlstate, "53200");
        snprintf(s->message, sizeof s->message, "out of memory copying an answer");
        return;
    }
    const char *tag = result ? PQcmdStatus((PGresult *)(uintptr_t)result) : "";
    snprintf(s->status, sizeof s->status, "%s", tag ? tag : "");
    const char *tuples = result ? PQcmdTuples((PGresult *)(uintptr_t)result) : "";
    s->changes = (strncmp(s->status, "INSERT", 6) == 0 || strncmp(s->status, "UPDATE", 6) == 0 ||
                  strncmp(s->status, "DELETE", 6) == 0) && tuples && *tuples
                     ? atoll(tuples)
                     : -1;
}

static void on_done(void *argument, const struct pg_reply *reply) {
    struct store_stmt *s = argument;
    if (reply->sqlstate && !s->sqlstate[0]) {
        snprintf(s->sqlstate, sizeof s->sqlstate, "%s", reply->sqlstate);
        snprintf(s->message, sizeof s->message, "%s", reply->message ? reply->message : "");
    }
    if (reply->sqlstate && strncmp(reply->sqlstate, "08", 2) == 0) pgs.lost = 1;
    s->answered = 1;
    store_work_wake();
}

static int fail(const char *sqlstate, const char *message) {
    snprintf(pgs.sqlstate, sizeof pgs.sqlstate, "%s", sqlstate);
    snprintf(pgs.error, sizeof pgs.error, "PostgreSQL: %s: %s", sqlstate, message);
    if (strncmp(sqlstate, "23", 2) == 0) return SQLITE_CONSTRAINT;
    if (strncmp(sqlstate, "08", 2) == 0) return SQLITE_IOERR;
    if (strncmp(sqlstate, "53", 2) == 0) return SQLITE_NOMEM;
    return SQLITE_ERROR;
}


/* The batch's transaction id, asked in the group of its BEGIN (no round
 * trip more): assigned at once, so that a COMMIT whose answer is lost can
 * be asked about later (pgs_commit_outcome).  PostgreSQL 13's function. */
static const char xact_id_sql[] =
    "SELECT pg_current_xact_id()::text, " SERVER_LIFE_SQL ", floor(extract(epoch FROM now()))::bigint::text";

static void on_xact_id(void *argument, const struct pg_reply *reply) {
    (void)argument;
    const char *id = reply->sqlstate ? NULL : pg_value(reply, 0, 0);
    const char *life = reply->sqlstate ? NULL : pg_value(reply, 0, 1);
    const char *began = reply->sqlstate ? NULL : pg_value(reply, 0, 2);
    snprintf(pgs.xact_id, sizeof pgs.xact_id, "%s", id && life ? id : "");
    snprintf(pgs.xact_life, sizeof pgs.xact_life, "%s", id && life ? life : "");
    snprintf(pgs.xact_began, sizeof pgs.xact_began, "%s", id && life && began ? began : "");
}

/* Sends s with its values and waits for the answer. */
static int execute(struct store_stmt *s) {
    const char *params[PARAMETERS_MAX];
    for (int m = 0; m < s->count; m++) params[m] = s->values[s->map[m]];
    char error[256];
    s->sqlstate[0] = '\0';
    s->message[0] = '\0';
    s->status[0] = '\0';
    s->answered = 0;
    s->changes = -1;
    answer_clear(&s->answer);
    if (pgs.client == NULL) return fail("08003", "no connection");
    /* Outside every piece of work (a plugin's own event calling the store):
     * nothing can yield, so the call waits for the server with the loop
     * held -- unless a piece is waiting mid-command: its savepoint is open
     * on the one connection, and this statement must not land inside it. */
    int outside = !store_work_in_piece();
    if (outside && store_work_busy())
        return fail("55006", "the store is busy with another command: try again (a call from outside "
                             "the daemon's events cannot wait for its turn)");
    if (outside && !pgs.warned_outside) {
        pgs.warned_outside = 1;
        log_warn("a call reached the PostgreSQL store from outside the daemon's events (a plugin's own event): "
                 "the loop waits for the server's answers during such calls", "sql=\"%.60s\"", s->sql);
    }
    /* A read between commands inside the batch's transaction (a read-only
     * command, the timer's lock): a failure would abort the transaction and
     * with it every command of the batch, so it runs in a savepoint of its
     * own, sent in the same group (no round trip more unless it fails). */
    int guard = !s->control && pgs.bare && pgs.bare();
    if (guard && pg_query_prepared(pgs.client, "SAVEPOINT statement", 0, NULL, NULL, NULL, error, sizeof error) != 0) {
        char dropped[64];
        pg_sync(pgs.client, on_done, s, dropped, sizeof dropped);
        return fail("53200", error);
    }
    if (pg_query_prepared(pgs.client, s->sql, s->count, params, on_result, s, error, sizeof error) != 0 ||
        (s->takes_xact_id &&
         pg_query_prepared(pgs.client, xact_id_sql, 0, NULL, on_xact_id, NULL, error, sizeof error) != 0) ||
        (guard && pg_query_prepared(pgs.client, "RELEASE statement", 0, NULL, NULL, NULL, error, sizeof error) != 0)) {
        /* The open group is spoiled: its sync drops it (no callbacks), so
         * that the next statement starts a group of its own. */
        char dropped[64];
        pg_sync(pgs.client, on_done, s, dropped, sizeof dropped);
        return fail("53200", error);
    }
    if (pg_sync(pgs.client, on_done, s, error, sizeof error) != 0)
        return fail(pg_client_state(pgs.client) == PG_READY ? "53000" : "08006", error);
    if (outside) {
        if (pg_client_wait(pgs.client, &s->answered, OUTSIDE_WAIT_MS) != 0 && !s->answered)
            return fail("08006", "connection to PostgreSQL lost");
    } else {
        while (!s->answered)
            store_work_wait();
    }
    if (s->sqlstate[0]) {
        int rc = fail(s->sqlstate, s->message);
        if (guard && strncmp(s->sqlstate, "08", 2) != 0 && pgs_exec("ROLLBACK TO statement", NULL, 0) != STORE_OK)
            pgs.aborted = 1;   /* the batch fails (pgs_transaction_lost) */
        snprintf(pgs.error, sizeof pgs.error, "PostgreSQL: %s: %s", s->sqlstate, s->message);
        return rc;
    }
    if (s->changes >= 0) pgs.changes = s->changes;
    if (s->returning) {
        if (s->answer.rows > 0 && s->answer.cells[(size_t)(s->answer.rows - 1) * (size_t)s->answer.cols])
            pgs.last_id = atoll(s->answer.cells[(size_t)(s->answer.rows - 1) * (size_t)s->answer.cols]);
        answer_clear(&s->answer);
    }
    s->executed = 1;
    s->row = -1;
    return STORE_OK;
}

/* ----------------------------------------------------------- statements */

static struct store_stmt *statement_new(const char *sql) {
    struct store_stmt *s = calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    s->sql = pgs_translate(sql, &s->map, &s->count, &s->highest);
    if (s->sql == NULL) {
        free(s);
        return NULL;
    }
    if (inserts_with_id(s->sql) && strstr(s->sql, "RETURNING") == NULL) {
        size_t n = strlen(s->sql);
        char *longer = realloc(s->sql, n + sizeof " RETURNING id");
        if (longer == NULL) {
            pgs_finalize(s);
            return NULL;
        }
        memcpy(longer + n, " RETURNING id", sizeof " RETURNING id");
        s->sql = longer;
        s->returning = 1;
    }
    s->values = calloc((size_t)s->highest + 1, sizeof *s->values);
    s->value_lengths = calloc((size_t)s->highest + 1, sizeof *s->value_lengths);
    if (s->values == NULL || s->value_lengths == NULL) {
        pgs_finalize(s);
        return NULL;
    }
    s->row = -1;
    return s;
}

static void clear_bindings(struct store_stmt *s) {
    for (int i = 1; i <= s->highest; i++) {
        free(s->values[i]);
        s->values[i] = NULL;
    }
    s->bind_failed = 0;
}

struct store_stmt *pgs_statement(const char *sql) {
    for (int i = 0; i < pgs.cached; i++)
        if (pgs.cache_keys[i] == sql) {
            pgs_reset(pgs.cache[i]);
            clear_bindings(pgs.cache[i]);
            return pgs.cache[i];
        }
    if (pgs.cached == CACHE_MAX) {
        log_error("statement cache full", "size=%d", CACHE_MAX);
        return NULL;
    }
    struct store_stmt *s = statement_new(sql);
    if (s == NULL) {
        snprintf(pgs.error, sizeof pgs.error, "PostgreSQL: cannot prepare (out of memory or malformed text)");
        log_error("sql prepare failed", "error=\"%s\" sql=\"%.80s\"", LOG_ESC(pgs.error), sql);
        return NULL;
    }
    pgs.cache_keys[pgs.cached] = sql;
    pgs.cache[pgs.cached++] = s;
    return s;
}

int pgs_prepare(const char *sql, struct store_stmt **out) {
    *out = statement_new(sql);
    if (*out == NULL) {
        snprintf(pgs.error, sizeof pgs.error, "PostgreSQL: cannot prepare (out of memory or malformed text)");
        return SQLITE_ERROR;
    }
    return STORE_OK;
}

void pgs_statement_texts(void (*fn)(void *context, const char *sql), void *context) {
    for (int i = 0; i < pgs.cached; i++) fn(context, pgs.cache_keys[i]);
}

int pgs_finalize(struct store_stmt *s) {
    if (s == NULL) return STORE_OK;
    if (s->values) clear_bindings(s);
    free(s->values);
    free(s->value_lengths);
    answer_clear(&s->answer);
    if (s->blob) PQfreemem(s->blob);
    free(s->map);
    free(s->sql);
    free(s);
    return STORE_OK;
}

int pgs_reset(struct store_stmt *s) {
    s->executed = 0;
    s->row = -1;
    answer_clear(&s->answer);
    return STORE_OK;
}

int pgs_step(struct store_stmt *s) {
    if (s->bind_failed) return fail("53200", "out of memory binding a value");
    if (!s->executed || s->row >= s->answer.rows) {
        /* A step after DONE runs the statement again, as SQLite's does. */
        int rc = execute(s);
        if (rc != STORE_OK) return rc;
    }
    s->row++;
    return s->row < s->answer.rows ? STORE_ROW : STORE_DONE;
}

int pgs_bind_parameter_count(struct store_stmt *s) { return s->highest; }

static int bind_value(struct store_stmt *s, int i, char *value, int length) {
    if (i < 1 || i > s->highest) {
        free(value);
        return SQLITE_RANGE;
    }
    free(s->values[i]);
    s->values[i] = value;
    s->value_lengths[i] = length;
    s->executed = 0;
    return STORE_OK;
}

/* Binds copy the value, so they may run out of memory where SQLite's
 * (STATIC) do not, and callers do not check binds: the failure is kept
 * for the step, which they do check. */
static int bind_nomem(struct store_stmt *s) {
    s->bind_failed = 1;
    return SQLITE_NOMEM;
}

int pgs_bind_int64(struct store_stmt *s, int i, int64_t v) {
    char *text = malloc(24);
    if (text == NULL) return bind_nomem(s);
    int n = snprintf(text, 24, "%lld", (long long)v);
    return bind_value(s, i, text, n);
}

int pgs_bind_double(struct store_stmt *s, int i, double v) {
    char *text = malloc(32);
    if (text == NULL) return bind_nomem(s);
    int n = snprintf(text, 32, "%.17g", v);
    return bind_value(s, i, text, n);
}

int pgs_bind_null(struct store_stmt *s, int i) { return bind_value(s, i, NULL, 0); }

int pgs_bind_text(struct store_stmt *s, int i, const char *text, int bytes) {
    if (text == NULL) return bind_value(s, i, NULL, 0);
    size_t n = bytes < 0 ? strlen(text) : (size_t)bytes;
    /* PostgreSQL's text holds no NUL: SQLite's text stops at one for every
     * reader that takes it as a C string, so the value is cut there too. */
    const char *nul = memchr(text, '\0', n);
    if (nul) n = (size_t)(nul - text);
    char *copy = malloc(n + 1);
    if (copy == NULL) return bind_nomem(s);
    memcpy(copy, text, n);
    copy[n] = '\0';
    return bind_value(s, i, copy, (int)n);
}

int pgs_bind_blob(struct store_stmt *s, int i, const void *blob, int bytes) {
    if (blob == NULL) return bind_value(s, i, NULL, 0);   /* SQLite binds NULL for a NULL pointer */
    size_t n = bytes > 0 ? (size_t)bytes : 0;
    char *hex = malloc(2 * n + 3);
    if (hex == NULL) return bind_nomem(s);
    static const char digits[] = "0123456789abcdef";
    hex[0] = '\\';
    hex[1] = 'x';
    for (size_t k = 0; k < n; k++) {
        hex[2 + 2 * k] = digits[((const unsigned char *)blob)[k] >> 4];
        hex[3 + 2 * k] = digits[((const unsigned char *)blob)[k] & 15];
    }
    hex[2 + 2 * n] = '\0';
    return bind_value(s, i, hex, (int)(2 * n + 2));
}

static const char *cell(struct store_stmt *s, int c, int *length) {
    if (s->row < 0 || s->row >= s->answer.rows || c < 0 || c >= s->answer.cols) {
        if (length) *length = 0;
        return NULL;
    }
    size_t i = (size_t)s->row * (size_t)s->answer.cols + (size_t)c;
    if (length) *length = s->answer.lengths[i];
    return s->answer.cells[i];
}

long long pgs_column_int64(struct store_stmt *s, int c) {
    const char *v = cell(s, c, NULL);
    if (v == NULL) return 0;
    if (strchr(v, '.') || strchr(v, 'e')) return (long long)strtod(v, NULL);
    return strtoll(v, NULL, 10);
}

double pgs_column_double(struct store_stmt *s, int c) {
    const char *v = cell(s, c, NULL);
    return v ? strtod(v, NULL) : 0.0;
}

const unsigned char *pgs_column_text(struct store_stmt *s, int c) {
    return (const unsigned char *)cell(s, c, NULL);
}

const void *pgs_column_blob(struct store_stmt *s, int c) {
    const char *v = cell(s, c, NULL);
    if (v == NULL) return NULL;
    if (s->answer.types[c] != OID_BYTEA) return v;
    if (s->blob) PQfreemem(s->blob);
    size_t n = 0;
    s->blob = PQunescapeBytea((const unsigned char *)v, &n);
    return s->blob;
}

int pgs_column_bytes(struct store_stmt *s, int c) {
    int length = 0;
    const char *v = cell(s, c, &length);
    if (v == NULL) return 0;
    if (s->answer.types[c] == OID_BYTEA && length >= 2 && v[0] == '\\' && v[1] == 'x') return (length - 2) / 2;
    return length;
}

int pgs_column_type(struct store_stmt *s, int c) {
    const char *v = cell(s, c, NULL);
    if (v == NULL) return STORE_NULL;
    switch (s->answer.types[c]) {
    case OID_BOOL: case OID_INT2: case OID_INT4: case OID_INT8: case OID_OID:
        return SQLITE_INTEGER;
    case OID_FLOAT4: case OID_FLOAT8:
        return SQLITE_FLOAT;
    case OID_NUMERIC:   /* sum() of integers: SQLite's is an integer */
        return strpbrk(v, ".eN") ? SQLITE_FLOAT : SQLITE_INTEGER;
    case OID_BYTEA:
        return SQLITE_BLOB;
    default:
        return SQLITE_TEXT;
    }
}

int pgs_column_count(struct store_stmt *s) { return s->answer.cols; }

const char *pgs_column_name(struct store_stmt *s, int c) {
    return c >= 0 && c < s->answer.cols ? s->answer.names[c] : NULL;
}

int pgs_changes(void) { return (int)pgs.changes; }
long long pgs_last_insert_id(void) { return pgs.last_id; }
const char *pgs_error(void) { return pgs.error; }
const char *pgs_sqlstate(void) { return pgs.sqlstate; }
const char *pgs_transaction_id(void) { return pgs.xact_id; }
int pgs_transaction_lost(void) { return pgs.lost || pgs.aborted; }
void pgs_mark_transaction(void) { pgs.lost = pgs.aborted = 0; }
void pgs_set_bare_test(int (*bare)(void)) { pgs.bare = bare; }

int pgs_exec(const char *sql, char *status, size_t status_size) {
    pgs.sqlstate[0] = '\0';   /* a failure below says its own (a NULL statement: none) */
    struct store_stmt *s = pgs_statement(sql);
    if (s == NULL) return SQLITE_ERROR;
    s->control = 1;
    if (strcmp(sql, "BEGIN") == 0) {
        s->takes_xact_id = 1;
        pgs.xact_id[0] = '\0';
    }
    int rc = pgs_step(s);
    if (status) snprintf(status, status_size, "%s", s->status);
    pgs_reset(s);
    return rc == STORE_DONE || rc == STORE_ROW ? STORE_OK : rc;
}

/* ------------------------------------------- the outcome of a lost COMMIT */

enum pgs_outcome pgs_commit_outcome(const char *xact_id, long long event_id, long long case_id, long long at,
                                    char *why, size_t why_size) {
    const struct pg_commit_proof proof = {.event_id = event_id, .case_id = case_id, .at = at, .began = pgs.xact_began};
    return pg_commit_outcome(pgs.client, xact_id, pgs.xact_life, &proof, &pgs.awaiting_state, why, why_size);
}

/* ------------------------------------------------------------ connection */

static void on_state(void *argument, enum pg_state state, const char *message) {
    (void)argument;
    if (state == PG_DOWN) {
        pgs.lost = 1;
        pgs.listening = 0;   /* a new session listens to nothing */
    }
    if (pgs.awaiting_state) store_work_wake();
    log_info("postgresql connection", "state=%s why=\"%s\"", pg_state_name(state), LOG_ESC(message ? message : ""));
}

/* ------------------------------------------------------- the other nodes */

/* A note is "<this process's token> <text>": the session hears its own
 * NOTIFYs too, and drops them by the token. */
static void on_notify(void *argument, const char *channel, const char *payload, int sender_pid) {
    (void)argument;
    (void)sender_pid;
    if (strcmp(channel, PGS_NOTES_CHANNEL) != 0 || pgs.on_note == NULL) return;
    size_t token = strlen(pgs.token);
    if (strncmp(payload, pgs.token, token) == 0 && payload[token] == ' ') return;
    const char *text = strchr(payload, ' ');
    if (text) pgs.on_note(text + 1);
}

void pgs_set_note_listener(void (*fn)(const char *text)) { pgs.on_note = fn; }

int pgs_listening(void) { return pgs.listening; }

int pgs_listen(void) {
    if (pgs.listening) return STORE_OK;
    int rc = pgs_exec("LISTEN " PGS_NOTES_CHANNEL, NULL, 0);
    if (rc == STORE_OK) pgs.listening = 1;
    return rc;
}

int pgs_note(const char *text) {
    static const char sql[] = "SELECT pg_notify('" PGS_NOTES_CHANNEL "', ?1::text || ' ' || ?2::text)";
    struct store_stmt *s = pgs_statement(sql);
    if (s == NULL) return SQLITE_ERROR;
    pgs_bind_text(s, 1, pgs.token, -1);
    pgs_bind_text(s, 2, text, -1);
    int rc = pgs_step(s);
    pgs_reset(s);
    return rc == STORE_ROW || rc == STORE_DONE ? STORE_OK : rc;
}

static const char id_tables_sql[] =
    "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
    "AND column_name = 'id' AND is_identity = 'YES'";

int pgs_open(struct event_base *base, const char *conninfo, char *error, size_t error_size) {
    /* synchronous_commit: a reply after COMMIT promises the WAL flushed
     * (pg_schema.h says why it is set per session, not refused). */
    struct pg_settings settings = {.conninfo = conninfo, .on_state = on_state, .on_notify = on_notify,
                                   .session_sql = PG_SCHEMA_SESSION_SQL, .application_name = pgs_session_name(),
                                   .answer_timeout_ms = answer_timeout_ms};
    struct timespec started;
    clock_gettime(CLOCK_REALTIME, &started);
    snprintf(pgs.token, sizeof pgs.token, "%ld.%ld.%ld", (long)getpid(), (long)started.tv_sec, started.tv_nsec);
    pgs.client = pg_client_new(base, &settings, error, error_size);
    if (pgs.client == NULL) return -1;
    store_on_postgresql = 1;
    struct store_stmt *s = pgs_statement(id_tables_sql);
    int rc;
    while (s && (rc = pgs_step(s)) == STORE_ROW && pgs.id_table_count < ID_TABLES_MAX) {
        char *name = strdup((const char *)pgs_column_text(s, 0));
        if (name == NULL) break;
        pgs.id_tables[pgs.id_table_count++] = name;
    }
    if (s == NULL || pgs.id_table_count == 0) {
        snprintf(error, error_size, "postgresql: cannot read the schema: %s",
                 pgs.error[0] ? pgs.error : "no table with an id column (no schema?)");
        return -1;
    }
    pgs_reset(s);
    if (pgs_listen() != STORE_OK) {
        snprintf(error, error_size, "postgresql: cannot LISTEN for the other nodes' notes: %s", pgs.error);
        return -1;
    }
    return 0;
}

void pgs_close(void) {
    /* The connection first: what it fails calls back into the statements. */
    pg_client_free(pgs.client);
    for (int i = 0; i < pgs.cached; i++) pgs_finalize(pgs.cache[i]);
    for (int i = 0; i < pgs.id_table_count; i++) free(pgs.id_tables[i]);
    memset(&pgs, 0, sizeof pgs);
    store_on_postgresql = 0;
}
