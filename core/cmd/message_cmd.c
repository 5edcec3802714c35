/* message_cmd.c -- CASE.MESSAGE (what the customer wrote) and
 * CASE.MESSAGES (the conversation of a case).
 *
 * Owns: their arguments and INVALID messages (the text as a reply's: UTF-8,
 * at most 64 KiB, newlines and tabs but no other control byte; a channel
 * of the rule set's vocabulary), and the rows of CASE.MESSAGES.  Reads the
 * conversation directly (read-only); every write goes through
 * domain/conversation.c.  Who may name the case was checked before the
 * handler (the table marks its id).
 */
#include "cmd/args.h"
#include "cmd/message_cmd.h"
#include "cmd/reply.h"
#include "domain/conversation.h"
#include "store/store.h"

#include <event2/buffer.h>
#include <string.h>

#define MESSAGES_DEFAULT_LIMIT 100
#define MESSAGES_MAX_LIMIT 1000
#define QUOTED_OPTION_MAX 32

int message_attachment(struct request *request, int i, struct attachment *out) {
    const char *type = request->argv[i + 1];
    size_t type_len = request->argvlen[i + 1];
    if (args_text(request, "attachment name", request->argv[i], request->argvlen[i], ATTACHMENT_NAME_MAX, ARGS_LINE, 0))
        return -1;
    int slash = 0, good = type_len > 0 && type_len <= ATTACHMENT_TYPE_MAX;
    for (size_t k = 0; good && k < type_len; k++) {
        char c = type[k];
        slash += c == '/';
        good = c > ' ' && c < 0x7f && c != '"' && c != '\\';
    }
    if (!good || slash != 1) {
        request_error(request, "INVALID", "attachment type '%s' is not a media type (like image/jpeg)",
                      QUOTE(type, type_len, 64));
        return -1;
    }
    if ((long long)request->argvlen[i + 2] > attachments_max_bytes()) {
        request_error(request, "LIMIT", "attachment '%s' is %zu bytes, more than attachment_max_bytes (%lld)",
                      QUOTE(request->argv[i], request->argvlen[i], 64),
                      request->argvlen[i + 2], attachments_max_bytes());
        return -1;
    }
    *out = (struct attachment){request->argv[i], request->argvlen[i], type, type_len, request->argv[i + 2],
                               request->argvlen[i + 2]};
    return 0;
}

/* CASE.MESSAGE id text [CHANNEL c] [EXTERNAL_ID x] [ATTACH name type data]...:
 * the id of the case that holds the message (the case named, or the
 * follow-up case it opened). */
void case_message_command(struct request *request) {
    int64_t id;
    if (request_id(request, 1, "case", &id) != 0) return;
    struct attachment attachments[ATTACHMENTS_PER_MESSAGE];
    struct conversation_message message = {.text = request->argv[2], .len = request->argvlen[2],
                                           .attachments = attachments};
    if (args_text(request, "text", message.text, message.len, ARGS_LONG_TEXT_MAX, ARGS_BLOCK, 0)) return;
    for (int i = 3; i < request->argc; i += 2) {
        if (i + 1 >= request->argc) goto bad_option;
        if (request_argument_is(request, i, "ATTACH")) {
            if (i + 3 >= request->argc || message.attachment_count == ATTACHMENTS_PER_MESSAGE) goto bad_option;
            if (message_attachment(request, i + 1, &attachments[message.attachment_count]) != 0) return;
            message.attachment_count++;
            i += 2; /* and 2 more below: ATTACH name type data */
            continue;
        }
        const char *value = request->argv[i + 1];
        size_t len = request->argvlen[i + 1];
        if (request_argument_is(request, i, "CHANNEL") && !message.channel) {
            if (args_vocabulary(request, RULES_CHANNEL, value, len)) return;
            message.channel = value;
            message.channel_len = len;
        } else if (request_argument_is(request, i, "EXTERNAL_ID") && !message.external_id) {
            if (args_text(request, "EXTERNAL_ID", value, len, ARGS_SHORT_TEXT_MAX, ARGS_LINE, 0)) return;
            message.external_id = value;
            message.external_len = len;
        } else {
            goto bad_option;
        }
        continue;
    bad_option:
        request_error(request, "INVALID", "unknown, repeated or incomplete CASE.MESSAGE option '%s' (options: "
                      "CHANNEL c, EXTERNAL_ID x, ATTACH name type data: at most %d)",
                      QUOTE(request->argv[i], request->argvlen[i], QUOTED_OPTION_MAX), ATTACHMENTS_PER_MESSAGE);
        return;
    }
    int64_t landed;
    if (conversation_inbound(&request->call, id, &message, &landed) != 0) return;
    reply_integer(request->reply, landed);
}

static int parse_limit(struct request *request, int i, long long *limit) {
    long long value;
    if (request_integer(request, i, 0, &value) != 0 || value < 1 || value > MESSAGES_MAX_LIMIT) {
        request_error(request, "INVALID", "LIMIT must be an integer from 1 to %d", MESSAGES_MAX_LIMIT);
        return -1;
    }
    *limit = value;
    return 0;
}

/* CASE.MESSAGES id [AFTER n] [LIMIT n]: the conversation in order -- the
 * opening contact (the case's subject and body), then every message and
 * reply -- each id (its event), at, direction (in, out), channel, actor,
 * text, external_id.  AFTER pages by id.  An internal case (a task, an
 * incident) was opened by the company, not by a customer's contact: its
 * opening is no row here (it showed as "in", the customer's words), its
 * instruction is its subject (CASE.GET, CASE.HISTORY's "opened"). */
void case_messages_command(struct request *request) {
    int64_t id, after = 0;
    long long limit = MESSAGES_DEFAULT_LIMIT;
    if (request_id(request, 1, "case", &id) != 0) return;
    for (int i = 2; i < request->argc; i++) {
        int has_value = i + 1 < request->argc;
        if (request_argument_is(request, i, "AFTER") && has_value) {
            if (request_id(request, ++i, "message", &after)) return;
        } else if (request_argument_is(request, i, "LIMIT") && has_value) {
            if (parse_limit(request, ++i, &limit)) return;
        } else {
            request_error(request, "INVALID", "unknown or incomplete CASE.MESSAGES option '%s' (options: "
                          "AFTER id, LIMIT n)",
                          QUOTE(request->argv[i], request->argvlen[i], QUOTED_OPTION_MAX));
            return;
        }
    }
    static const char sql[] =
        "SELECT e.id, e.at, 'in', c.channel, e.actor,"
        " CASE WHEN c.body <> '' THEN c.subject || '\n' || c.body ELSE c.subject END, coalesce(c.external_id, ''),"
        " coalesce((SELECT group_concat(a.name || ' (' || a.type || ', ' || a.size || ' bytes)', '; ')"
        "  FROM attachments a WHERE a.event_id = e.id), '')"
        " FROM events e JOIN cases c ON c.id = e.case_id WHERE e.case_id = ?1 AND e.kind = 'opened' AND e.id > ?2"
        "  AND c.kind = 'case'"
        " UNION ALL"
        " SELECT e.id, e.at, m.direction, m.channel, e.actor, e.detail, coalesce(m.external_id, ''),"
        " coalesce((SELECT group_concat(a.name || ' (' || a.type || ', ' || a.size || ' bytes)', '; ')"
        "  FROM attachments a WHERE a.event_id = e.id), '')"
        " FROM messages m JOIN events e ON e.id = m.event_id WHERE m.case_id = ?1 AND m.event_id > ?2"
        " ORDER BY 1 LIMIT ?3";
    static const char *const names[] = {"id", "at", "direction", "channel", "actor", "text", "external_id",
                                        "attachments"};
    enum { COLUMNS = 8 };
    struct store_stmt *statement = store_statement(sql);
    struct evbuffer *rows = evbuffer_new();
    if (statement == NULL || rows == NULL) {
        if (rows) evbuffer_free(rows);
        if (statement) request_error(request, "ERR", "out of memory");
        else request_store_error(request);
        return;
    }
    store_bind_int64(statement, 1, id);
    store_bind_int64(statement, 2, after);
    store_bind_int64(statement, 3, limit);
    long long count = 0;
    int rc;
    while ((rc = store_step(statement)) == STORE_ROW) {
        reply_map(rows, COLUMNS);
        for (int c = 0; c < COLUMNS; c++) {
            reply_bulk_string(rows, names[c]);
            const char *value = (const char *)store_column_text(statement, c);
            reply_bulk(rows, value ? value : "", value ? (size_t)store_column_bytes(statement, c) : 0);
        }
        count++;
    }
    store_reset(statement);
    if (rc != STORE_DONE) {
        evbuffer_free(rows);
        request_store_error(request);
        return;
    }
    reply_array(request->reply, count);
    evbuffer_add_buffer(request->reply, rows);
    evbuffer_free(rows);
}
