/* api_write.c -- the JSON API's write endpoints (POST; routed by api.c).
 *
 * Owns the fields each write accepts (an unknown one refused), the command each
 * runs for the caller, and its answer: POST /api/cases (CASE.OPEN),
 * /api/cases/{id}/assign|transfer|escalate (then the case as it now is),
 * /api/cases/{id}/messages (CASE.MESSAGE, attachments in base64, and where
 * the message landed).  Never: checks a role or a queue itself (the command
 * table does), or touches the store.
 */
#include "http/api_internal.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OPEN_FIELDS_MAX 32   /* fields of a POST /api/cases */
#define TEXT_NUMBER_BYTES 32
#define MESSAGE_ATTACHMENTS_MAX 4   /* CASE.MESSAGE's (ATTACHMENTS_PER_MESSAGE): more is refused by it */

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

void api_open_case(struct http_exchange *exchange) {
    json_t *body = http_read_json_body(exchange);
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
    api_add(&args, "CASE.OPEN");
    json_object_foreach(body, key, value) {
        const char *text = field_text(exchange, key, value, numbers[n], sizeof numbers[n]);
        n++;
        if (text == NULL) {
            json_decref(body);
            return;
        }
        api_add(&args, key);
        api_add(&args, text);
    }
    json_t *id;
    /* 201 for a case created (or a contact joined to one); 200 for the
     * same external_id and contact sent again: nothing was created. */
    if (api_run(exchange, &args, &id) == 0)
        http_answer(exchange, exchange->replayed ? 200 : 201, json_pack("{s:o}", "id", id));
    json_decref(body);
}

/* POST /api/cases/{id}/assign|transfer|escalate */
void api_act_on_case(struct http_exchange *exchange, const char *id, const char *action) {
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
    json_t *body = http_read_json_body(exchange);
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
    api_add(&args, actions[a].command);
    api_add(&args, id);
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
        api_add(&args, text);
    }
    json_t *reply;
    if (api_run(exchange, &args, &reply) == 0) {
        json_decref(reply);
        struct args get = {0};
        json_t *fields;
        api_add(&get, "CASE.GET");
        api_add(&get, id);
        /* The case as it now is (read in the same batch: the answer waits
         * for its commit).  The action may have taken the case out of the
         * caller's sight (a transfer, an escalation to another queue): it
         * is done all the same, and the answer says so rather than a 403
         * that the disk contradicts. */
        int is_error = 0;
        if (api_run_keeping_errors(exchange, &get, &fields, &is_error) == 0) {
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
void api_post_message(struct http_exchange *exchange, const char *id) {
    json_t *body = http_read_json_body(exchange);
    if (body == NULL) return;
    struct args args = {0};
    unsigned char *data[MESSAGE_ATTACHMENTS_MAX] = {0};
    int decoded = 0;
    const char *key;
    json_t *value, *reply = NULL;
    api_add(&args, "CASE.MESSAGE");
    api_add(&args, id);
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
        if (options[i]) api_add(&args, options[i]);
        api_add(&args, json_string_value(field));
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
        api_add(&args, "ATTACH");
        api_add(&args, json_string_value(name));
        api_add(&args, json_string_value(type));
        args.argv[args.argc] = (char *)data[decoded];   /* bytes: their length, not strlen */
        args.argvlen[args.argc++] = len;
        decoded++;
    }
    if (api_run(exchange, &args, &reply) != 0) goto done;
    long long landed = json_integer_value(reply), named = strtoll(id, NULL, 10);
    const char *routed = "same";
    if (landed != named) {
        /* Where it went and why: the case named was merged (its survivor
         * took it), else closed or followed up (a new case). */
        struct args get = {0};
        json_t *fields_now;
        int is_error = 0;
        routed = "follow_up";
        api_add(&get, "CASE.GET");
        api_add(&get, id);
        if (api_run_keeping_errors(exchange, &get, &fields_now, &is_error) != 0) goto done;
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

