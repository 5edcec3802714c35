/* json.c -- RESP replies read back as JSON (see json.h).
 *
 * Why read the RESP reply back instead of calling the domain directly: the
 * HTTP API runs the very commands RESP clients run, through the command
 * table's checks (roles, queue isolation, arity), so what a caller may see
 * and do is decided once.  Reading a reply the adapters just wrote is a
 * linear pass over bytes in memory.
 */
#include "http/json.h"

#include <stdlib.h>
#include <string.h>

#define RESP_NUMBER_MAX 24   /* digits of a length or integer line */
#define LOGFMT_VALUE_MAX 1024

struct reader {
    const char *data;
    size_t len, at;
};

/* The line from the reader's position to CRLF; NULL when incomplete. */
static const char *read_line(struct reader *r, size_t *line_len) {
    const char *start = r->data + r->at;
    const char *end = memchr(start, '\r', r->len - r->at);
    if (end == NULL || (size_t)(end - r->data) + 1 >= r->len || end[1] != '\n') return NULL;
    *line_len = (size_t)(end - start);
    r->at = (size_t)(end - r->data) + 2;
    return start;
}

static int parse_number(const char *text, size_t len, long long *out) {
    char buffer[RESP_NUMBER_MAX];
    if (len == 0 || len >= sizeof buffer) return -1;
    memcpy(buffer, text, len);
    buffer[len] = '\0';
    char *end;
    *out = strtoll(buffer, &end, 10);
    return *end == '\0' ? 0 : -1;
}

json_t *json_text(const char *text, size_t len) {
    json_t *value = json_stringn(text, len);
    if (value) return value;
    /* Not UTF-8: keep what is ASCII, mark the rest (a case body sent in
     * another encoding must not make the whole answer fail). */
    char *copy = malloc(len * 3 + 1);
    if (copy == NULL) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x80) {
            copy[n++] = (char)c;
        } else {
            copy[n++] = (char)0xEF;
            copy[n++] = (char)0xBF;
            copy[n++] = (char)0xBD;
        }
    }
    value = json_stringn(copy, n);
    free(copy);
    return value;
}

static json_t *read_value(struct reader *r, int depth, int *is_error) {
    if (r->at >= r->len || depth > JSON_RESP_DEPTH) return NULL;
    char type = r->data[r->at++];
    size_t len;
    const char *line = read_line(r, &len);
    if (line == NULL) return NULL;
    long long number;
    switch (type) {
    case '+':
        return json_text(line, len);
    case '-': {
        const char *space = memchr(line, ' ', len);
        size_t code_len = space ? (size_t)(space - line) : len;
        if (is_error) *is_error = 1;
        return json_pack("{s:o,s:o}", "error", json_text(line, code_len), "message",
                         space ? json_text(space + 1, len - code_len - 1) : json_string(""));
    }
    case ':':
        return parse_number(line, len, &number) == 0 ? json_integer(number) : NULL;
    case '$':
        if (parse_number(line, len, &number) != 0) return NULL;
        if (number < 0) return json_null();
        if ((size_t)number > r->len - r->at || r->len - r->at - (size_t)number < 2) return NULL;
        {
            json_t *value = json_text(r->data + r->at, (size_t)number);
            r->at += (size_t)number + 2;
            return value;
        }
    case '*': {
        if (parse_number(line, len, &number) != 0) return NULL;
        if (number < 0) return json_null();
        json_t *array = json_array();
        for (long long i = 0; array && i < number; i++) {
            json_t *item = read_value(r, depth + 1, NULL);
            if (item == NULL || json_array_append_new(array, item) != 0) {
                json_decref(array);
                return NULL;
            }
        }
        return array;
    }
    default:
        return NULL;
    }
}

json_t *json_from_resp(const char *data, size_t len, int *is_error) {
    struct reader r = {data, len, 0};
    if (is_error) *is_error = 0;
    return read_value(&r, 0, is_error);
}

static int ends_with(const char *text, const char *tail) {
    size_t a = strlen(text), b = strlen(tail);
    return a >= b && strcmp(text + a - b, tail) == 0;
}

/* Fields whose texts are numbers: ids, instants, counts, seconds, scores
 * (an empty one is null).  Amounts, the CSAT average and share stay the
 * decimal strings RESP gives ("4.00", "" when none). */
static int numeric_field(const char *key) {
    static const char *const names[] = {"id", "case", "attempts", "escalation", "escalation_level", "reopen_count",
                                        "open", "unassigned", "breached", "breached_open", "cases", "score",
                                        "target", "left", "used", "met", "at", "csat_responses", "responses",
                                        "agents_online", "handled", "survey_score", "microseconds"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(key, names[i]) == 0) return 1;
    return ends_with(key, "_id") || ends_with(key, "_at") || ends_with(key, "_seconds") || ends_with(key, "_count") ||
           ends_with(key, "_median") || ends_with(key, "_p90");
}

/* A text that is a whole decimal number, as an integer; else the text. */
static json_t *typed(const char *key, json_t *value) {
    if (!json_is_string(value) || !numeric_field(key)) return json_incref(value);
    const char *text = json_string_value(value);
    size_t len = json_string_length(value);
    if (len == 0) return json_null();
    long long number;
    if ((text[0] == '-' || (text[0] >= '0' && text[0] <= '9')) && parse_number(text, len, &number) == 0)
        return json_integer(number);
    return json_incref(value);
}

/* "state=running calendar=business_hours target=14400": an object of its
 * fields (double-quoted values unquoted); NULL when it is not logfmt. */
static json_t *logfmt_object(const char *text) {
    if (strchr(text, '=') == NULL) return NULL;
    json_t *object = json_object();
    const char *p = text;
    while (object && *p) {
        while (*p == ' ') p++;
        const char *key = p;
        while (*p && *p != '=' && *p != ' ') p++;
        if (*p != '=') {
            json_decref(object);
            return NULL;
        }
        size_t key_len = (size_t)(p - key);
        p++;
        char value[LOGFMT_VALUE_MAX];
        size_t n = 0;
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1]) p++;
                if (n < sizeof value - 1) value[n++] = *p;
            }
            if (*p == '"') p++;
        } else {
            for (; *p && *p != ' '; p++)
                if (n < sizeof value - 1) value[n++] = *p;
        }
        value[n] = '\0';
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(key_len < sizeof name - 1 ? key_len : sizeof name - 1), key);
        json_t *text_value = json_text(value, n);
        json_t *field = text_value ? typed(name, text_value) : NULL;
        /* A field named like a count in logfmt is a number even without
         * being listed: target, left, due_at, met, breached. */
        json_decref(text_value);
        if (field == NULL || json_object_set_new(object, name, field) != 0) {
            json_decref(object);
            return NULL;
        }
    }
    return object;
}

json_t *json_pairs_object(json_t *pairs) {
    if (!json_is_array(pairs) || json_array_size(pairs) % 2 != 0) return json_incref(pairs);
    json_t *object = json_object();
    for (size_t i = 0; object && i + 1 < json_array_size(pairs); i += 2) {
        json_t *key = json_array_get(pairs, i), *value = json_array_get(pairs, i + 1);
        if (!json_is_string(key)) continue;
        const char *name = json_string_value(key);
        const char *colon = strchr(name, ':');
        if (colon && json_is_string(value)) {
            /* "deadline:resolution" -> deadlines.resolution; "sla:P1" -> sla.P1 */
            char group[64];
            snprintf(group, sizeof group, "%.*s%s", (int)((size_t)(colon - name) < 40 ? colon - name : 40), name,
                     strncmp(name, "deadline:", 9) == 0 ? "s" : "");
            json_t *bucket = json_object_get(object, group);
            if (bucket == NULL) {
                bucket = json_object();
                if (bucket == NULL || json_object_set_new(object, group, bucket) != 0) {
                    json_decref(object);
                    return NULL;
                }
            }
            json_t *parsed = logfmt_object(json_string_value(value));
            json_object_set_new(bucket, colon + 1, parsed ? parsed : json_incref(value));
            continue;
        }
        json_object_set_new(object, name, typed(name, value));
    }
    return object;
}

json_t *json_rows(json_t *rows) {
    json_t *out = json_array();
    size_t i;
    json_t *row;
    if (out == NULL || !json_is_array(rows)) return out;
    json_array_foreach(rows, i, row) json_array_append_new(out, json_pairs_object(row));
    return out;
}
