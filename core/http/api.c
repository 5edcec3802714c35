/* api.c -- the JSON API's routes (see api.h).
 *
 * Each route is the commands a RESP client would send, run for the caller
 * through http_command (so the command table checks roles and queue
 * isolation, once, for both fronts), their replies read back as JSON:
 *
 *   GET  /api/cases?state=&queue=&priority=&assignee=&customer=&breached=&limit=&after=   CASE.LIST
 *   GET  /api/cases/{id}               CASE.GET + CASE.HISTORY + REFUND.LIST
 *   POST /api/cases                    CASE.OPEN (external_id: the same case again)
 *   POST /api/cases/{id}/assign        CASE.ASSIGN   {"agent": ...}
 *   POST /api/cases/{id}/transfer      CASE.TRANSFER {"queue": ..., "reason": ...}
 *   POST /api/cases/{id}/escalate      CASE.ESCALATE {"reason": ...}
 *   POST /api/cases/{id}/messages      CASE.MESSAGE  {"text": ..., "channel": ..., "external_id": ...,
 *                                      "attachments": [{"name", "type", "data_base64"}]}
 *   GET  /api/queues                   QUEUE.LIST
 *   GET  /api/stats                    STATS
 *   GET  /api/history?hours=           STATS.HISTORY (opened, resolved, breached per hour)
 *   GET  /api/cases/{id}/explain       CASE.EXPLAIN (the case's decisions)
 *   GET  /api/refunds?state=&limit=&after=   REFUND.FIND
 *   GET  /api/incidents?limit=         INCIDENT.LIST (those of the caller's queues)
 *   GET  /healthz, /readyz             no caller needed
 *
 * A request body is a JSON object (Content-Type: application/json: a
 * browser form on another site cannot send one without the site's leave).
 */
#include "http/api.h"
#include "http/assets.h"
#include "http/json.h"
#include "http/sse.h"
#include "rules/rules.h"
#include "store/store.h"

#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ID_DIGITS_MAX 18
#define OPEN_FIELDS_MAX 32   /* fields of a POST /api/cases */
#define TEXT_NUMBER_BYTES 32
#define MESSAGE_ATTACHMENTS_MAX 4   /* CASE.MESSAGE's (ATTACHMENTS_PER_MESSAGE): more is refused by it */

/* The arguments of one command: pointers to NUL-terminated texts that
 * live during the call. */
struct args {
    int argc;
    char *argv[HTTP_ARGS_MAX];
    size_t argvlen[HTTP_ARGS_MAX];
};

static int add(struct args *args, const char *text) {
    if (args->argc >= HTTP_ARGS_MAX) return -1;
    args->argv[args->argc] = (char *)text;
    args->argvlen[args->argc++] = strlen(text);
    return 0;
}

/* Runs the command; *out its reply as JSON (a new reference).  0, or -1
 * after answering the command's error (or 500 for a reply that cannot be
 * read, which would be a bug). */
/* As run, but an error reply is handed back (*out, is_error set) instead of
 * being answered: for a read that follows a write, whose refusal must not
 * be the request's answer. */
static int run_keeping_errors(struct http_exchange *exchange, struct args *args, json_t **out, int *is_error) {
    struct evbuffer *reply = evbuffer_new();
    if (reply == NULL) {
        http_answer_error(exchange, "ERR", "out of memory");
        return -1;
    }
    http_command(exchange, reply, args->argc, args->argv, args->argvlen);
    size_t len = evbuffer_get_length(reply);
    *is_error = 0;
    *out = json_from_resp((const char *)evbuffer_pullup(reply, -1), len, is_error);
    evbuffer_free(reply);
    if (*out == NULL) {
        http_answer_error(exchange, "ERR", "%s: unreadable reply", args->argv[0]);
        return -1;
    }
    return 0;
}

static int run(struct http_exchange *exchange, struct args *args, json_t **out) {
    int is_error = 0;
    if (run_keeping_errors(exchange, args, out, &is_error) != 0) return -1;
    if (is_error) {
        const char *code = json_string_value(json_object_get(*out, "error"));
        http_answer(exchange, http_status_of(code ? code : "ERR"), *out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* "/api/cases/17..." -> 17 and the rest of the path; 0, or -1. */
static int path_id(const char *text, long long *id, const char **rest) {
    size_t digits = strspn(text, "0123456789");
    if (digits == 0 || digits > ID_DIGITS_MAX || text[0] == '0') return -1;
    *id = strtoll(text, NULL, 10);
    *rest = text + digits;
    return 0;
}

static int method_is(struct http_exchange *exchange, enum evhttp_cmd_type method) {
    return evhttp_request_get_command(exchange->request) == method;
}

static void wrong_method(struct http_exchange *exchange, const char *allowed) {
    evhttp_add_header(evhttp_request_get_output_headers(exchange->request), "Allow", allowed);
    json_t *body = json_pack("{s:s,s:s+}", "error", "INVALID", "message", "method not allowed here; allowed: ",
                             allowed);
    http_answer(exchange, 405, body);
}

/* The query's pairs; 0, or -1 after answering. */
static int parse_query(struct http_exchange *exchange, struct evkeyvalq *pairs) {
    TAILQ_INIT(pairs);
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(exchange->request));
    if (query && evhttp_parse_query_str(query, pairs) != 0) {
        http_answer_error(exchange, "INVALID", "the query string is malformed");
        return -1;
    }
    return 0;
}

/* Query parameter -> command option, for the list endpoints; 0, or -1
 * after answering INVALID (an unknown parameter is refused, not ignored:
 * a misspelt filter would otherwise widen the list). */
static int query_options(struct http_exchange *exchange, struct evkeyvalq *pairs, struct args *args,
                         const char *const *names, const char *const *options) {
    struct evkeyval *pair;
    TAILQ_FOREACH(pair, pairs, next) {
        int known = 0;
        for (int i = 0; names[i]; i++) {
            if (strcmp(pair->key, names[i]) != 0) continue;
            known = 1;
            if (strcmp(options[i], "BREACHED") == 0) {
                if (strcmp(pair->value, "1") == 0 || strcmp(pair->value, "true") == 0 ||
                    strcmp(pair->value, "yes") == 0) {
                    if (add(args, "BREACHED") != 0) goto many;
                } else if (strcmp(pair->value, "0") != 0 && strcmp(pair->value, "false") != 0 &&
                           strcmp(pair->value, "no") != 0 && pair->value[0] != '\0') {
                    http_answer_error(exchange, "INVALID", "breached must be true or false");
                    return -1;
                }
            } else if (pair->value[0] != '\0') {
                if (add(args, options[i]) != 0 || add(args, pair->value) != 0) goto many;
            }
        }
        if (!known) {
            http_answer_error(exchange, "INVALID", "unknown query parameter '%.40s'", pair->key);
            return -1;
        }
    }
    return 0;
many:
    http_answer_error(exchange, "LIMIT", "too many query parameters");
    return -1;
}

/* ------------------------------------------------------------- reads */

static void list_cases(struct http_exchange *exchange) {
    static const char *const names[] = {"state",    "queue",    "priority", "assignee", "customer",
                                        "breached", "limit",    "after",    NULL};
    static const char *const options[] = {"STATE",    "QUEUE", "PRIORITY", "ASSIGNEE", "CUSTOMER",
                                          "BREACHED", "LIMIT", "AFTER"};
    struct evkeyvalq pairs;
    struct args args = {0};
    json_t *rows;
    if (parse_query(exchange, &pairs) != 0) return;
    add(&args, "CASE.LIST");
    if (query_options(exchange, &pairs, &args, names, options) == 0 && run(exchange, &args, &rows) == 0) {
        json_t *cases = json_rows(rows);
        json_decref(rows);
        json_t *last = json_array_get(cases, json_array_size(cases) - 1);
        json_t *body = json_pack("{s:o}", "cases", cases);
        /* The next page starts after the last id shown. */
        if (body && last) json_object_set(body, "next_after", json_object_get(last, "id"));
        http_answer(exchange, 200, body);
    }
    evhttp_clear_headers(&pairs);
}

static void get_case(struct http_exchange *exchange, const char *id) {
    json_t *fields, *history, *refunds;
    struct args get = {0}, events = {0}, money = {0};
    add(&get, "CASE.GET");
    add(&get, id);
    if (run(exchange, &get, &fields) != 0) return;
    add(&events, "CASE.HISTORY");
    add(&events, id);
    if (run(exchange, &events, &history) != 0) {
        json_decref(fields);
        return;
    }
    add(&money, "REFUND.LIST");
    add(&money, id);
    if (run(exchange, &money, &refunds) != 0) {
        json_decref(fields);
        json_decref(history);
        return;
    }
    json_t *body = json_pack("{s:o,s:o,s:o}", "case", json_pairs_object(fields), "history", json_rows(history),
                             "refunds", json_rows(refunds));
    json_decref(fields);
    json_decref(history);
    json_decref(refunds);
    http_answer(exchange, 200, body);
}

static void get_list(struct http_exchange *exchange, const char *command, const char *key) {
    struct evkeyvalq pairs;
    if (parse_query(exchange, &pairs) != 0) return;
    int any = TAILQ_FIRST(&pairs) != NULL;
    evhttp_clear_headers(&pairs);
    if (any) {
        http_answer_error(exchange, "INVALID", "this endpoint takes no query parameters");
        return;
    }
    struct args args = {0};
    json_t *reply;
    add(&args, command);
    if (run(exchange, &args, &reply) != 0) return;
    json_t *body = key ? json_pack("{s:o}", key, json_rows(reply)) : json_pairs_object(reply);
    json_decref(reply);
    http_answer(exchange, 200, body);
}

static void get_history(struct http_exchange *exchange) {
    static const char *const names[] = {"hours", NULL};
    static const char *const options[] = {"HOURS"};
    struct evkeyvalq pairs;
    struct args args = {0};
    json_t *reply;
    if (parse_query(exchange, &pairs) != 0) return;
    add(&args, "STATS.HISTORY");
    if (query_options(exchange, &pairs, &args, names, options) == 0 && run(exchange, &args, &reply) == 0) {
        json_t *fields = json_pairs_object(reply);
        json_t *body = json_pack("{s:O,s:o}", "complete", json_object_get(fields, "complete"), "hours",
                                 json_rows(json_object_get(fields, "hours")));
        json_decref(fields);
        json_decref(reply);
        http_answer(exchange, 200, body);
    }
    evhttp_clear_headers(&pairs);
}

static void explain_case(struct http_exchange *exchange, const char *id) {
    struct args args = {0};
    json_t *reply;
    add(&args, "CASE.EXPLAIN");
    add(&args, id);
    if (run(exchange, &args, &reply) != 0) return;
    json_t *body = json_pack("{s:o}", "decisions", json_rows(reply));
    json_decref(reply);
    http_answer(exchange, 200, body);
}

static void list_refunds(struct http_exchange *exchange) {
    static const char *const names[] = {"state", "limit", "after", NULL};
    static const char *const options[] = {"STATE", "LIMIT", "AFTER"};
    struct evkeyvalq pairs;
    struct args args = {0};
    json_t *rows;
    if (parse_query(exchange, &pairs) != 0) return;
    add(&args, "REFUND.FIND");
    if (query_options(exchange, &pairs, &args, names, options) == 0 && run(exchange, &args, &rows) == 0) {
        json_t *body = json_pack("{s:o}", "refunds", json_rows(rows));
        json_decref(rows);
        http_answer(exchange, 200, body);
    }
    evhttp_clear_headers(&pairs);
}

static void list_incidents(struct http_exchange *exchange) {
    static const char *const names[] = {"limit", NULL};
    static const char *const options[] = {"LIMIT"};
    struct evkeyvalq pairs;
    struct args args = {0};
    json_t *rows;
    if (parse_query(exchange, &pairs) != 0) return;
    add(&args, "INCIDENT.LIST");
    if (query_options(exchange, &pairs, &args, names, options) == 0 && run(exchange, &args, &rows) == 0) {
        json_t *body = json_pack("{s:o}", "incidents", json_rows(rows));
        json_decref(rows);
        http_answer(exchange, 200, body);
    }
    evhttp_clear_headers(&pairs);
}

/* ------------------------------------------------------------ writes */

/* The request's body as a JSON object (a new reference); NULL after
 * answering. */
static json_t *read_body(struct http_exchange *exchange) {
    const char *type = evhttp_find_header(evhttp_request_get_input_headers(exchange->request), "Content-Type");
    if (type == NULL || strncasecmp(type, "application/json", 16) != 0) {
        http_answer(exchange, 415, json_pack("{s:s,s:s}", "error", "INVALID", "message",
                                             "the body must be JSON (Content-Type: application/json)"));
        return NULL;
    }
    struct evbuffer *input = evhttp_request_get_input_buffer(exchange->request);
    size_t len = evbuffer_get_length(input);
    json_error_t error;
    json_t *body = json_loadb((const char *)evbuffer_pullup(input, -1), len, JSON_REJECT_DUPLICATES, &error);
    if (body == NULL) {
        http_answer_error(exchange, "INVALID", "malformed JSON at line %d column %d: %s", error.line, error.column,
                          error.text);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        http_answer_error(exchange, "INVALID", "the body must be a JSON object");
        return NULL;
    }
    return body;
}

/* A field's value as command text (strings as they are, integers in
 * decimal); NULL after answering INVALID. */
static const char *field_text(struct http_exchange *exchange, const char *key, json_t *value, char *number,
                              size_t number_size) {
    if (json_is_string(value)) {
        if (strlen(json_string_value(value)) != json_string_length(value)) {
            http_answer_error(exchange, "INVALID", "%.40s holds a NUL character", key);
            return NULL;
        }
        return json_string_value(value);
    }
    if (json_is_integer(value)) {
        snprintf(number, number_size, "%lld", (long long)json_integer_value(value));
        return number;
    }
    http_answer_error(exchange, "INVALID", "%.40s must be a string or an integer", key);
    return NULL;
}

static void open_case(struct http_exchange *exchange) {
    json_t *body = read_body(exchange);
    if (body == NULL) return;
    if (json_object_size(body) == 0 || json_object_size(body) > OPEN_FIELDS_MAX) {
        json_decref(body);
        http_answer_error(exchange, "INVALID", "a case is 1 to %d fields", OPEN_FIELDS_MAX);
        return;
    }
    struct args args = {0};
    char numbers[OPEN_FIELDS_MAX][TEXT_NUMBER_BYTES];
    int n = 0;
    const char *key;
    json_t *value;
    add(&args, "CASE.OPEN");
    json_object_foreach(body, key, value) {
        const char *text = field_text(exchange, key, value, numbers[n], sizeof numbers[n]);
        n++;
        if (text == NULL) {
            json_decref(body);
            return;
        }
        add(&args, key);
        add(&args, text);
    }
    json_t *id;
    if (run(exchange, &args, &id) == 0) http_answer(exchange, 201, json_pack("{s:o}", "id", id));
    json_decref(body);
}

/* POST /api/cases/{id}/assign|transfer|escalate */
static void act_on_case(struct http_exchange *exchange, const char *id, const char *action) {
    static const struct {
        const char *action, *command, *required, *optional;
    } actions[] = {
        {"assign", "CASE.ASSIGN", "agent", NULL},
        {"transfer", "CASE.TRANSFER", "queue", "reason"},
        {"escalate", "CASE.ESCALATE", NULL, "reason"},
    };
    size_t a;
    for (a = 0; a < sizeof actions / sizeof actions[0]; a++)
        if (strcmp(action, actions[a].action) == 0) break;
    if (a == sizeof actions / sizeof actions[0]) {
        http_answer_error(exchange, "NOTFOUND", "no such action '%.40s' (assign, transfer, escalate)", action);
        return;
    }
    json_t *body = read_body(exchange);
    if (body == NULL) return;
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value) {
        if ((actions[a].required && strcmp(key, actions[a].required) == 0) ||
            (actions[a].optional && strcmp(key, actions[a].optional) == 0))
            continue;
        http_answer_error(exchange, "INVALID", "unknown field '%.40s' for %s", key, action);
        json_decref(body);
        return;
    }
    struct args args = {0};
    char number[2][TEXT_NUMBER_BYTES];
    add(&args, actions[a].command);
    add(&args, id);
    const char *names[2] = {actions[a].required, actions[a].optional};
    for (int i = 0; i < 2; i++) {
        if (names[i] == NULL) continue;
        json_t *field = json_object_get(body, names[i]);
        if (field == NULL) {
            if (i == 0) {
                http_answer_error(exchange, "INVALID", "%s needs the field '%s'", action, names[i]);
                json_decref(body);
                return;
            }
            continue;
        }
        const char *text = field_text(exchange, names[i], field, number[i], sizeof number[i]);
        if (text == NULL) {
            json_decref(body);
            return;
        }
        add(&args, text);
    }
    json_t *reply;
    if (run(exchange, &args, &reply) == 0) {
        json_decref(reply);
        struct args get = {0};
        json_t *fields;
        add(&get, "CASE.GET");
        add(&get, id);
        /* The case as it now is (read in the same batch: the answer waits
         * for its commit).  The action may have taken the case out of the
         * caller's sight (a transfer, an escalation to another queue): it
         * is done all the same, and the answer says so rather than a 403
         * that the disk contradicts. */
        int is_error = 0;
        if (run_keeping_errors(exchange, &get, &fields, &is_error) == 0) {
            const char *code = is_error ? json_string_value(json_object_get(fields, "error")) : NULL;
            if (!is_error)
                http_answer(exchange, 200, json_pack("{s:o}", "case", json_pairs_object(fields)));
            else if (code && strcmp(code, "NOPERM") == 0)
                http_answer(exchange, 200, json_pack("{s:{s:I},s:b,s:s}", "case", "id", (json_int_t)strtoll(id, NULL, 10),
                                                     "visible", 0, "message",
                                                     "done; the case is no longer in your queues"));
            else
                http_answer(exchange, http_status_of(code ? code : "ERR"), json_incref(fields));
            json_decref(fields);
        }
    }
    json_decref(body);
}

/* Base64 text -> its bytes in a new NUL-terminated buffer (*len bytes);
 * NULL when the text is not base64 (or out of memory: *len is then 1). */
static unsigned char *base64_bytes(const char *text, size_t text_len, size_t *len) {
    *len = 0;
    if (text_len % 4 != 0 || text_len > (size_t)INT32_MAX) return NULL;
    unsigned char *bytes = malloc(text_len / 4 * 3 + 1);
    if (bytes == NULL) {
        *len = 1;
        return NULL;
    }
    int decoded = text_len ? EVP_DecodeBlock(bytes, (const unsigned char *)text, (int)text_len) : 0;
    if (decoded < 0) {
        free(bytes);
        return NULL;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes: take them off. */
    size_t padding = text_len && text[text_len - 1] == '=' ? (text_len > 1 && text[text_len - 2] == '=' ? 2 : 1) : 0;
    *len = (size_t)decoded - padding;
    bytes[*len] = '\0';
    return bytes;
}

/* POST /api/cases/{id}/messages: CASE.MESSAGE.  201 {"case_id": where it
 * landed, "same_case": ..., "routed": "same" | "merged" (the case was
 * merged: the survivor took it) | "follow_up" (the case was closed, or the
 * rules opened a follow-up case for it)}. */
static void post_message(struct http_exchange *exchange, const char *id) {
    json_t *body = read_body(exchange);
    if (body == NULL) return;
    struct args args = {0};
    unsigned char *data[MESSAGE_ATTACHMENTS_MAX] = {0};
    int decoded = 0;
    const char *key;
    json_t *value, *reply = NULL;
    add(&args, "CASE.MESSAGE");
    add(&args, id);
    json_object_foreach(body, key, value) {
        if (strcmp(key, "text") != 0 && strcmp(key, "channel") != 0 && strcmp(key, "external_id") != 0 &&
            strcmp(key, "attachments") != 0) {
            http_answer_error(exchange, "INVALID", "unknown field '%.40s' for a message (text, channel, external_id, "
                              "attachments)", key);
            goto done;
        }
    }
    static const char *const fields[] = {"text", "channel", "external_id"};
    static const char *const options[] = {NULL, "CHANNEL", "EXTERNAL_ID"};
    for (int i = 0; i < 3; i++) {
        json_t *field = json_object_get(body, fields[i]);
        if (field == NULL) {
            if (i == 0) {
                http_answer_error(exchange, "INVALID", "a message needs the field 'text'");
                goto done;
            }
            continue;
        }
        if (!json_is_string(field) || strlen(json_string_value(field)) != json_string_length(field)) {
            http_answer_error(exchange, "INVALID", "%s must be a string without NUL characters", fields[i]);
            goto done;
        }
        if (options[i]) add(&args, options[i]);
        add(&args, json_string_value(field));
    }
    json_t *attachments = json_object_get(body, "attachments");
    if (attachments && (!json_is_array(attachments) || json_array_size(attachments) > MESSAGE_ATTACHMENTS_MAX)) {
        http_answer_error(exchange, "INVALID", "attachments must be an array of at most %d objects "
                          "{\"name\", \"type\", \"data_base64\"}", MESSAGE_ATTACHMENTS_MAX);
        goto done;
    }
    size_t index;
    json_t *attachment;
    json_array_foreach(attachments, index, attachment) {
        json_t *name = json_object_get(attachment, "name"), *type = json_object_get(attachment, "type"),
               *encoded = json_object_get(attachment, "data_base64");
        if (!json_is_object(attachment) || json_object_size(attachment) != 3 || !json_is_string(name) ||
            !json_is_string(type) || !json_is_string(encoded) ||
            strlen(json_string_value(name)) != json_string_length(name) ||
            strlen(json_string_value(type)) != json_string_length(type)) {
            http_answer_error(exchange, "INVALID", "attachment %zu must be {\"name\": text, \"type\": text, "
                              "\"data_base64\": text}", index + 1);
            goto done;
        }
        size_t len;
        data[decoded] = base64_bytes(json_string_value(encoded), json_string_length(encoded), &len);
        if (data[decoded] == NULL) {
            if (len) http_answer_error(exchange, "ERR", "out of memory");
            else http_answer_error(exchange, "INVALID", "attachment %zu: data_base64 is not base64", index + 1);
            goto done;
        }
        add(&args, "ATTACH");
        add(&args, json_string_value(name));
        add(&args, json_string_value(type));
        args.argv[args.argc] = (char *)data[decoded];   /* bytes: their length, not strlen */
        args.argvlen[args.argc++] = len;
        decoded++;
    }
    if (run(exchange, &args, &reply) != 0) goto done;
    long long landed = json_integer_value(reply), named = strtoll(id, NULL, 10);
    const char *routed = "same";
    if (landed != named) {
        /* Where it went and why: the case named was merged (its survivor
         * took it), else closed or followed up (a new case). */
        struct args get = {0};
        json_t *fields_now;
        int is_error = 0;
        routed = "follow_up";
        add(&get, "CASE.GET");
        add(&get, id);
        if (run_keeping_errors(exchange, &get, &fields_now, &is_error) != 0) goto done;
        json_t *object = is_error ? NULL : json_pairs_object(fields_now);
        json_t *merged = object ? json_object_get(object, "merged_into") : NULL;
        if (merged && !json_is_null(merged) && !(json_is_string(merged) && json_string_length(merged) == 0))
            routed = "merged";
        json_decref(object);
        json_decref(fields_now);
    }
    http_answer(exchange, 201, json_pack("{s:I,s:b,s:s}", "case_id", (json_int_t)landed, "same_case",
                                         landed == named, "routed", routed));
done:
    json_decref(reply);
    for (int i = 0; i < decoded; i++) free(data[i]);
    json_decref(body);
}

/* ------------------------------------------------------------ routes */

/* GET /metrics: METRICS (supervisors, finance, admins) and the HTTP
 * front's own counters, as Prometheus text. */
static void metrics(struct http_exchange *exchange) {
    struct evbuffer *reply = evbuffer_new();
    char *argv[] = {(char *)"METRICS"};
    size_t argvlen[] = {7};
    if (reply == NULL) {
        http_answer_error(exchange, "ERR", "out of memory");
        return;
    }
    http_command(exchange, reply, 1, argv, argvlen);
    size_t len = evbuffer_get_length(reply);
    const char *text = (const char *)evbuffer_pullup(reply, -1);
    const char *body = text && len > 0 && text[0] == '$' ? memchr(text, '\n', len) : NULL;
    if (body == NULL) {
        int is_error = 0;
        json_t *error = json_from_resp(text ? text : "", len, &is_error);
        evbuffer_free(reply);
        const char *code = is_error ? json_string_value(json_object_get(error, "error")) : NULL;
        if (code) http_answer(exchange, http_status_of(code), error);
        else {
            json_decref(error);
            http_answer_error(exchange, "ERR", "METRICS: unreadable reply");
        }
        return;
    }
    body++;
    size_t body_len = len - (size_t)(body - text) - 2;   /* the bulk's CRLF */
    struct evbuffer *page = evbuffer_new();
    if (page == NULL || evbuffer_add(page, body, body_len) != 0) {
        evbuffer_free(reply);
        if (page) evbuffer_free(page);
        http_answer_error(exchange, "ERR", "out of memory");
        return;
    }
    evbuffer_free(reply);
    const struct http_counters *c = &http_counters;
    evbuffer_add_printf(page,
                        "# HELP redress_http_requests_total HTTP requests received.\n"
                        "# TYPE redress_http_requests_total counter\nredress_http_requests_total %lld\n"
                        "# HELP redress_http_connections HTTP connections open now.\n"
                        "# TYPE redress_http_connections gauge\nredress_http_connections %lld\n"
                        "# HELP redress_http_connections_refused_total HTTP connections refused at http_max_connections.\n"
                        "# TYPE redress_http_connections_refused_total counter\n"
                        "redress_http_connections_refused_total %lld\n"
                        "# HELP redress_http_auth_failures_total Wrong bearer tokens.\n"
                        "# TYPE redress_http_auth_failures_total counter\nredress_http_auth_failures_total %lld\n"
                        "# HELP redress_http_throttled_total Requests refused while their address owed a delay.\n"
                        "# TYPE redress_http_throttled_total counter\nredress_http_throttled_total %lld\n",
                        c->requests, c->connections, c->refused_connections, c->auth_failures, c->throttled);
    http_send_text(exchange, 200, "text/plain; version=0.0.4; charset=utf-8", page);
    evbuffer_free(page);
}

/* The dashboard's page and files: anyone may load them (they hold no data;
 * the page logs in), under a policy that lets them load nothing from
 * another site and be framed by none. */
static void serve_asset(struct http_exchange *exchange, const struct asset *asset) {
    struct evkeyvalq *headers = evhttp_request_get_output_headers(exchange->request);
    evhttp_add_header(headers, "Content-Type", asset->content_type);
    evhttp_add_header(headers, "Cache-Control", "no-cache");
    evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(headers, "X-Frame-Options", "DENY");
    evhttp_add_header(headers, "Referrer-Policy", "no-referrer");
    evhttp_add_header(headers, "Content-Security-Policy",
                      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
                      "form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
    struct evbuffer *body = evbuffer_new();
    if (body == NULL || evbuffer_add_reference(body, asset->data, asset->size, NULL, NULL) != 0) {
        if (body) evbuffer_free(body);
        evhttp_send_error(exchange->request, 500, NULL);
        return;
    }
    evhttp_send_reply(exchange->request, 200, "OK", body);
    evbuffer_free(body);
}

int api_is_public(const char *path) {
    return strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 || strcmp(path, "/favicon.ico") == 0 ||
           assets_find(path) != NULL;
}

static void ready(struct http_exchange *exchange) {
    int store = store_database() != NULL;
    int rules = rules_loaded();
    json_t *body = json_pack("{s:s,s:s}", "store", store ? "open" : "unavailable", "rules",
                             rules ? "loaded" : "not loaded");
    http_answer(exchange, store && rules ? 200 : 503, body);
}

void api_route(struct http_exchange *exchange, const char *path) {
    int get = method_is(exchange, EVHTTP_REQ_GET), post = method_is(exchange, EVHTTP_REQ_POST);
    long long id;
    const char *rest;
    const struct asset *asset = assets_find(path);
    if (asset) {
        if (get || method_is(exchange, EVHTTP_REQ_HEAD)) serve_asset(exchange, asset);
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/favicon.ico") == 0) {
        evhttp_send_reply(exchange->request, 204, "No Content", NULL);   /* browsers ask; there is none */
    } else if (strcmp(path, "/healthz") == 0) {
        if (get) http_answer(exchange, 200, json_pack("{s:s}", "status", "alive"));
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/readyz") == 0) {
        if (get) ready(exchange);
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/api/cases") == 0) {
        if (get) list_cases(exchange);
        else if (post) open_case(exchange);
        else wrong_method(exchange, "GET, POST");
    } else if (strncmp(path, "/api/cases/", 11) == 0) {
        char text[ID_DIGITS_MAX + 1];
        if (path_id(path + 11, &id, &rest) != 0) {
            http_answer_error(exchange, "INVALID", "the case id in the path must be a positive integer");
            return;
        }
        snprintf(text, sizeof text, "%lld", id);
        if (rest[0] == '\0') {
            if (get) get_case(exchange, text);
            else wrong_method(exchange, "GET");
        } else if (strcmp(rest, "/explain") == 0) {
            if (get) explain_case(exchange, text);
            else wrong_method(exchange, "GET");
        } else if (strcmp(rest, "/messages") == 0) {
            if (post) post_message(exchange, text);
            else wrong_method(exchange, "POST");
        } else if (rest[0] == '/' && strchr(rest + 1, '/') == NULL) {
            if (post) act_on_case(exchange, text, rest + 1);
            else wrong_method(exchange, "POST");
        } else {
            http_answer_error(exchange, "NOTFOUND", "no such path");
        }
    } else if (strcmp(path, "/api/queues") == 0) {
        if (get) get_list(exchange, "QUEUE.LIST", "queues");
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/api/stats") == 0) {
        if (get) get_list(exchange, "STATS", NULL);
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/api/history") == 0) {
        if (get) get_history(exchange);
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/api/events") == 0) {
        if (get) sse_open(exchange);
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/metrics") == 0) {
        if (get) metrics(exchange);
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/api/refunds") == 0) {
        if (get) list_refunds(exchange);
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/api/incidents") == 0) {
        if (get) list_incidents(exchange);
        else wrong_method(exchange, "GET");
    } else {
        http_answer_error(exchange, "NOTFOUND", "no such path");
    }
}
