/* pg_check.c -- drives core/store/pg.c against a real server, for
 * tests/functional/test_postgres_client.py (built as BUILD/pg_check).
 *
 *     pg_check CONNINFO [--backoff-min-ms N] [--backoff-max-ms N]
 *                       [--connect-timeout-ms N] [--max-queued N] [--answer-timeout-ms N]
 *
 * Reads one JSON array per line on stdin and writes one JSON object per
 * line on stdout, as things happen in the loop:
 *
 *   ["query", TAG, SQL, [PARAM|null, ...]]  adds a query to the open group
 *       -> {"tag": TAG, "rows": [[text|null, ...]], "columns": [...]}
 *          or {"tag": TAG, "sqlstate": S, "message": M}
 *          or {"tag": TAG, "refused": M} (pg_query said no)
 *   ["named", TAG, SQL, [PARAM|null, ...]]  the same through pg_query_prepared
 *   ["sync", TAG]                           hands the open group over
 *       -> {"done": TAG} or {"done": TAG, "sqlstate": S, "message": M}
 *          or {"done": TAG, "refused": M} (pg_sync said no: no callbacks follow)
 *   ["bulk", TAG, N]   N groups of one query each (SELECT $1::int, 0..N-1),
 *       all handed over in this one loop turn
 *       -> {"bulk": TAG, "values": [answers in callback order], "errors": E,
 *           "refused": R, "refused_message": M, "answered": A}
 *          once every accepted group is done
 *   ["large", TAG, N]  one group: SELECT length($1::text), md5($1::text) with
 *       N bytes of 'x' (more than a command line holds)
 *       -> as "query" (the answer), then as "sync" with the same TAG
 *   ["stats"]          -> {"stats": {...}, "state": STATE}
 *   ["quit"]           ends the loop (so does the end of stdin)
 *
 * Unprompted: {"state": STATE, "message": M, "attempts": N} on every state
 * change, {"notify": CHANNEL, "payload": P, "pid": PID} for each NOTIFY.
 */
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/pg.h"

static struct event_base *base;
static struct pg_client *client;

static void emit(json_t *object)
{
    if (!object) {
        fprintf(stderr, "pg_check: out of memory\n");
        exit(2);
    }
    char *text = json_dumps(object, JSON_COMPACT);
    json_decref(object);
    if (!text) {
        fprintf(stderr, "pg_check: out of memory\n");
        exit(2);
    }
    printf("%s\n", text);
    fflush(stdout);
    free(text);
}

static json_t *rows_of(const struct pg_reply *reply)
{
    json_t *rows = json_array();
    for (int r = 0; rows && r < reply->rows; r++) {
        json_t *row = json_array();
        for (int col = 0; row && col < reply->cols; col++) {
            const char *value = pg_value(reply, r, col);
            json_array_append_new(row, value ? json_string(value) : json_null());
        }
        json_array_append_new(rows, row);
    }
    return rows;
}

static void on_result(void *arg, const struct pg_reply *reply)
{
    char *tag = arg;
    if (reply->sqlstate) {
        emit(json_pack("{s:s, s:s, s:s}", "tag", tag, "sqlstate", reply->sqlstate, "message", reply->message));
    } else {
        json_t *columns = json_array();
        for (int col = 0; columns && col < reply->cols; col++)
            json_array_append_new(columns, json_string(pg_column(reply, col)));
        emit(json_pack("{s:s, s:o, s:o}", "tag", tag, "rows", rows_of(reply), "columns", columns));
    }
    free(tag);
}

static void on_done(void *arg, const struct pg_reply *reply)
{
    char *tag = arg;
    if (reply->sqlstate)
        emit(json_pack("{s:s, s:s, s:s}", "done", tag, "sqlstate", reply->sqlstate, "message", reply->message));
    else
        emit(json_pack("{s:s}", "done", tag));
    free(tag);
}

struct bulk {
    char *tag;
    json_t *values;
    int expected, answered, errors, refused;
    char refused_message[256];
};

static void bulk_finish(struct bulk *bulk)
{
    emit(json_pack("{s:s, s:o, s:i, s:i, s:s, s:i}", "bulk", bulk->tag, "values", bulk->values, "errors",
                   bulk->errors, "refused", bulk->refused, "refused_message", bulk->refused_message, "answered",
                   bulk->answered));
    free(bulk->tag);
    free(bulk);
}

static void bulk_result(void *arg, const struct pg_reply *reply)
{
    struct bulk *bulk = arg;
    const char *value = reply->sqlstate ? NULL : pg_value(reply, 0, 0);
    if (value)
        json_array_append_new(bulk->values, json_integer(strtoll(value, NULL, 10)));
    else
        bulk->errors++;
}

static void bulk_done(void *arg, const struct pg_reply *reply)
{
    (void)reply;
    struct bulk *bulk = arg;
    if (++bulk->answered == bulk->expected)
        bulk_finish(bulk);
}

static void run_bulk(const char *tag, int n)
{
    struct bulk *bulk = calloc(1, sizeof *bulk);
    if (!bulk || !(bulk->tag = strdup(tag)) || !(bulk->values = json_array())) {
        fprintf(stderr, "pg_check: out of memory\n");
        exit(2);
    }
    for (int i = 0; i < n; i++) {
        char number[16], error[256];
        snprintf(number, sizeof number, "%d", i);
        const char *params[] = {number};
        if (pg_query(client, "SELECT $1::int", 1, params, bulk_result, bulk, error, sizeof error) != 0 ||
            pg_sync(client, bulk_done, bulk, error, sizeof error) != 0) {
            if (!bulk->refused++)
                snprintf(bulk->refused_message, sizeof bulk->refused_message, "%s", error);
            continue;
        }
        bulk->expected++;
    }
    if (bulk->expected == 0)
        bulk_finish(bulk);
}

/* The tags of the open group's queries: their callbacks free them, but a
 * group pg_sync refuses has no callbacks, so they are freed here then. */
static char **open_tags;
static size_t open_count, open_size;

static void remember_tag(char *tag)
{
    if (open_count == open_size) {
        size_t size = open_size ? open_size * 2 : 16;
        char **grown = realloc(open_tags, size * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "pg_check: out of memory\n");
            exit(2);
        }
        open_tags = grown;
        open_size = size;
    }
    open_tags[open_count++] = tag;
}

static void close_group(int refused)
{
    for (size_t i = 0; refused && i < open_count; i++)
        free(open_tags[i]);
    open_count = 0;
}

static void command(const char *line)
{
    json_error_t jerr;
    json_t *cmd = json_loads(line, 0, &jerr);
    const char *name = cmd ? json_string_value(json_array_get(cmd, 0)) : NULL;
    const char *tag = cmd ? json_string_value(json_array_get(cmd, 1)) : NULL;
    char error[512];
    if (!name) {
        emit(json_pack("{s:s}", "error", "bad command line"));
    } else if ((strcmp(name, "query") == 0 || strcmp(name, "named") == 0) && tag &&
               json_is_string(json_array_get(cmd, 2))) {
        json_t *list = json_array_get(cmd, 3);
        size_t n = json_array_size(list);
        const char **params = calloc(n ? n : 1, sizeof *params);
        char *copy = strdup(tag);
        if (!params || !copy) {
            fprintf(stderr, "pg_check: out of memory\n");
            exit(2);
        }
        for (size_t i = 0; i < n; i++)
            params[i] = json_string_value(json_array_get(list, i));  /* null -> NULL: SQL NULL */
        int (*add)(struct pg_client *, const char *, int, const char *const *, pg_result_fn, void *, char *,
                   size_t) = strcmp(name, "named") == 0 ? pg_query_prepared : pg_query;
        if (add(client, json_string_value(json_array_get(cmd, 2)), (int)n, params, on_result, copy, error,
                sizeof error) != 0) {
            free(copy);
            emit(json_pack("{s:s, s:s}", "tag", tag, "refused", error));
        } else {
            remember_tag(copy);
        }
        free(params);
    } else if (strcmp(name, "sync") == 0 && tag) {
        char *copy = strdup(tag);
        if (!copy) {
            fprintf(stderr, "pg_check: out of memory\n");
            exit(2);
        }
        if (pg_sync(client, on_done, copy, error, sizeof error) != 0) {
            free(copy);
            close_group(1);
            emit(json_pack("{s:s, s:s}", "done", tag, "refused", error));
        } else {
            close_group(0);
        }
    } else if (strcmp(name, "bulk") == 0 && tag && json_is_integer(json_array_get(cmd, 2))) {
        run_bulk(tag, (int)json_integer_value(json_array_get(cmd, 2)));
    } else if (strcmp(name, "large") == 0 && tag && json_is_integer(json_array_get(cmd, 2))) {
        json_int_t size = json_integer_value(json_array_get(cmd, 2));
        char *value = size >= 0 && size < (1 << 30) ? malloc((size_t)size + 1) : NULL;
        char *copy = strdup(tag), *done_copy = strdup(tag);
        if (!value || !copy || !done_copy) {
            fprintf(stderr, "pg_check: out of memory (or a bad size)\n");
            exit(2);
        }
        memset(value, 'x', (size_t)size);
        value[size] = '\0';
        const char *params[] = {value};
        if (pg_query(client, "SELECT length($1::text), md5($1::text)", 1, params, on_result, copy, error,
                     sizeof error) != 0) {
            free(copy);
            emit(json_pack("{s:s, s:s}", "tag", tag, "refused", error));
        } else {
            remember_tag(copy);
        }
        free(value);
        if (pg_sync(client, on_done, done_copy, error, sizeof error) != 0) {
            free(done_copy);
            close_group(1);
            emit(json_pack("{s:s, s:s}", "done", tag, "refused", error));
        } else {
            close_group(0);
        }
    } else if (strcmp(name, "stats") == 0) {
        struct pg_stats s;
        pg_client_stats(client, &s);
        emit(json_pack("{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:s}",
                       "stats",
                       "attempts", (json_int_t)s.attempts, "connects", (json_int_t)s.connects,
                       "connect_failures", (json_int_t)s.connect_failures, "losses", (json_int_t)s.losses,
                       "queries_ok", (json_int_t)s.queries_ok, "queries_failed", (json_int_t)s.queries_failed,
                       "groups_ok", (json_int_t)s.groups_ok, "groups_failed", (json_int_t)s.groups_failed,
                       "notifications", (json_int_t)s.notifications, "queued", (json_int_t)s.queued,
                       "max_in_flight", (json_int_t)s.max_in_flight, "flush_waits", (json_int_t)s.flush_waits,
                       "prepares", (json_int_t)s.prepares, "prepares_failed", (json_int_t)s.prepares_failed,
                       "prepared", (json_int_t)s.prepared,
                       "state", pg_state_name(pg_client_state(client))));
    } else if (strcmp(name, "quit") == 0) {
        event_base_loopbreak(base);
    } else {
        emit(json_pack("{s:s, s:s}", "error", "unknown command", "line", line));
    }
    json_decref(cmd);
}

static char input[1 << 20];
static size_t input_len;

static void on_stdin(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    (void)arg;
    ssize_t n = read(fd, input + input_len, sizeof input - 1 - input_len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        event_base_loopbreak(base);
        return;
    }
    input_len += (size_t)n;
    input[input_len] = '\0';
    char *start = input, *end;
    while ((end = strchr(start, '\n'))) {
        *end = '\0';
        if (end > start)
            command(start);
        start = end + 1;
    }
    input_len -= (size_t)(start - input);
    memmove(input, start, input_len);
    if (input_len == sizeof input - 1) {
        fprintf(stderr, "pg_check: command line too long\n");
        exit(2);
    }
}

static void on_state(void *arg, enum pg_state state, const char *message)
{
    (void)arg;
    struct pg_stats s;
    /* The first CONNECTING comes from inside pg_client_new, before client is set. */
    unsigned long long attempts = 0;
    if (client) {
        pg_client_stats(client, &s);
        attempts = s.attempts;
    }
    emit(json_pack("{s:s, s:s?, s:I}", "state", pg_state_name(state), "message", message, "attempts",
                   (json_int_t)attempts));
}

static void on_notify(void *arg, const char *channel, const char *payload, int pid)
{
    (void)arg;
    emit(json_pack("{s:s, s:s, s:i}", "notify", channel, "payload", payload, "pid", pid));
}

static unsigned number(const char *text)
{
    char *end;
    unsigned long value = strtoul(text, &end, 10);
    if (!*text || *end || value > 1000000000ul) {
        fprintf(stderr, "pg_check: bad number %s\n", text);
        exit(2);
    }
    return (unsigned)value;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc % 2 != 0) {
        fprintf(stderr, "usage: pg_check CONNINFO [--backoff-min-ms N] [--backoff-max-ms N] "
                        "[--connect-timeout-ms N] [--max-queued N] [--answer-timeout-ms N]\n");
        return 2;
    }
    struct pg_settings settings = {.conninfo = argv[1], .on_notify = on_notify, .on_state = on_state};
    for (int i = 2; i < argc; i += 2) {
        if (strcmp(argv[i], "--backoff-min-ms") == 0)
            settings.backoff_min_ms = number(argv[i + 1]);
        else if (strcmp(argv[i], "--backoff-max-ms") == 0)
            settings.backoff_max_ms = number(argv[i + 1]);
        else if (strcmp(argv[i], "--connect-timeout-ms") == 0)
            settings.connect_timeout_ms = number(argv[i + 1]);
        else if (strcmp(argv[i], "--max-queued") == 0)
            settings.max_queued = number(argv[i + 1]);
        else if (strcmp(argv[i], "--answer-timeout-ms") == 0)
            settings.answer_timeout_ms = number(argv[i + 1]);
        else {
            fprintf(stderr, "pg_check: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    base = event_base_new();
    struct event *in = base ? event_new(base, 0, EV_READ | EV_PERSIST, on_stdin, NULL) : NULL;
    if (!in || event_add(in, NULL) != 0) {
        fprintf(stderr, "pg_check: libevent failed\n");
        return 2;
    }
    char error[256];
    client = pg_client_new(base, &settings, error, sizeof error);
    if (!client) {
        fprintf(stderr, "pg_check: %s\n", error);
        return 2;
    }
    if (event_base_dispatch(base) < 0) {
        fprintf(stderr, "pg_check: the loop failed\n");
        return 2;
    }
    pg_client_free(client);
    close_group(1);  /* an open group never synced: pg_client_free dropped it */
    free(open_tags);
    event_free(in);
    event_base_free(base);
    return 0;
}
