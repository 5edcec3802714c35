/* command_docs.c -- one command-table entry as COMMAND INFO and COMMAND
 * DOCS give it, the way Redis answers them: its arity, flags and
 * documentation (summary, since, group, complexity, arguments); a plugin
 * command's arguments from its usage.  cmd/table.c walks the table and
 * calls these.
 * Never: walks or keeps the table, or documents a command anywhere but in
 * its table entry.
 */
#include "cmd/command_docs.h"
#include "cmd/reply.h"
#include "cmd/command_types.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* The longest name spelled (plugin names are at most 40 bytes), and the
 * most words of a registered command's usage documented. */
#define COMMAND_NAME_SHOWN 48
#define USAGE_WORDS_MAX 16

/* Redis's arity: the exact count, or minus the least count when more may follow. */
static long long redis_arity(int minimum, int maximum) { return minimum == maximum ? minimum : -minimum; }

/* Names as Redis gives them in COMMAND replies: lower case. */
static void reply_lower(struct evbuffer *out, const char *name, const char *subcommand) {
    char lower[COMMAND_NAME_SHOWN * 2 + 2];
    size_t n = 0;
    for (const char *c = name; *c && n < COMMAND_NAME_SHOWN; c++) lower[n++] = (char)tolower((unsigned char)*c);
    if (subcommand) {
        lower[n++] = '|';
        for (const char *c = subcommand; *c && n < 2 * COMMAND_NAME_SHOWN + 1; c++)
            lower[n++] = (char)tolower((unsigned char)*c);
    }
    reply_bulk(out, lower, n);
}

/* The least and most arguments a list of argument docs takes (-1: no most). */
static void arguments_bounds(const struct command_argument *arguments, int *least, int *most);
static void argument_bounds(const struct command_argument *argument, int *least, int *most) {
    if (argument->type == ARGUMENT_ONEOF || argument->type == ARGUMENT_BLOCK) {
        int oneof = argument->type == ARGUMENT_ONEOF;
        *least = oneof ? -1 : 0;
        *most = 0;
        for (const struct command_argument *part = argument->arguments; part && part->name; part++) {
            int l, m;
            argument_bounds(part, &l, &m);
            if (oneof) {
                if (*least < 0 || l < *least) *least = l;
                if (*most >= 0 && (m < 0 || m > *most)) *most = m;
            } else {
                *least += l;
                *most = (*most < 0 || m < 0) ? -1 : *most + m;
            }
        }
        if (*least < 0) *least = 0;
        if (argument->token) {   /* "AUTH username password": the token is one more */
            *least += 1;
            if (*most >= 0) *most += 1;
        }
    } else {
        *least = *most = (argument->type == ARGUMENT_PURE_TOKEN || argument->token == NULL) ? 1 : 2;
    }
    if (argument->flags & ARGUMENT_OPTIONAL) *least = 0;
    if (argument->flags & ARGUMENT_MULTIPLE) *most = -1;
}
static void arguments_bounds(const struct command_argument *arguments, int *least, int *most) {
    struct command_argument block = {"", ARGUMENT_BLOCK, 0, NULL, arguments};
    argument_bounds(&block, least, most);
}

static const char *const argument_type_names[] = {
    [ARGUMENT_STRING] = "string", [ARGUMENT_INTEGER] = "integer", [ARGUMENT_DOUBLE] = "double",
    [ARGUMENT_UNIX_TIME] = "unix-time", [ARGUMENT_PATTERN] = "pattern", [ARGUMENT_PURE_TOKEN] = "pure-token",
    [ARGUMENT_ONEOF] = "oneof", [ARGUMENT_BLOCK] = "block",
};

/* One argument as COMMAND DOCS gives it: name, type, then token, flags and
 * parts when it has them (redis-cli builds its hints from these). */
static void reply_argument(struct evbuffer *out, const struct command_argument *argument) {
    size_t parts = 0;
    for (const struct command_argument *part = argument->arguments; part && part->name; part++) parts++;
    int flags = (argument->flags & ARGUMENT_OPTIONAL ? 1 : 0) + (argument->flags & ARGUMENT_MULTIPLE ? 1 : 0);
    reply_map(out, 2 + (argument->token != NULL) + (flags > 0) + (parts > 0));
    reply_bulk_string(out, "name");
    reply_bulk_string(out, argument->name);
    reply_bulk_string(out, "type");
    reply_bulk_string(out, argument_type_names[argument->type]);
    if (argument->token) {
        reply_bulk_string(out, "token");
        reply_bulk_string(out, argument->token);
    }
    if (flags > 0) {
        reply_bulk_string(out, "flags");
        reply_set(out, flags);
        if (argument->flags & ARGUMENT_OPTIONAL) reply_status(out, "optional");
        if (argument->flags & ARGUMENT_MULTIPLE) reply_status(out, "multiple");
    }
    if (parts > 0) {
        reply_bulk_string(out, "arguments");
        reply_array(out, (long long)parts);
        for (size_t i = 0; i < parts; i++) reply_argument(out, &argument->arguments[i]);
    }
}

static void reply_arguments(struct evbuffer *out, const struct command_argument *arguments) {
    size_t count = 0;
    for (const struct command_argument *a = arguments; a && a->name; a++) count++;
    reply_array(out, (long long)count);
    for (size_t i = 0; i < count; i++) reply_argument(out, &arguments[i]);
}

/* A registered command (a plugin's) documents only its usage text: each word
 * is a string argument, "[word]" an optional one, "word ..." a repeated one. */
static void reply_usage_arguments(struct evbuffer *out, const char *usage) {
    char words[USAGE_WORDS_MAX][COMMAND_NAME_SHOWN + 1];
    int optional[USAGE_WORDS_MAX], multiple[USAGE_WORDS_MAX], count = 0;
    for (const char *p = usage; *p && count < USAGE_WORDS_MAX;) {
        while (*p == ' ') p++;
        size_t len = strcspn(p, " ");
        if (len == 0) break;
        int opens = p[0] == '[', closes = len > (size_t)opens && p[len - 1] == ']';   /* "[" alone: no word */
        const char *word = p + opens;
        size_t word_len = len - (size_t)opens - (size_t)closes;
        if (word_len == 3 && strncmp(word, "...", 3) == 0 && count > 0) {
            multiple[count - 1] = 1;
        } else if (word_len > 0) {
            snprintf(words[count], sizeof words[count], "%.*s", (int)word_len, word);
            optional[count] = opens;
            multiple[count] = 0;
            count++;
        }
        p += len;
    }
    reply_array(out, count);
    for (int i = 0; i < count; i++) {
        struct command_argument argument = {words[i], ARGUMENT_STRING,
                                            (unsigned char)((optional[i] ? ARGUMENT_OPTIONAL : 0) |
                                                            (multiple[i] ? ARGUMENT_MULTIPLE : 0)), NULL, NULL};
        reply_argument(out, &argument);
    }
}

/* COMMAND DOCS's value for one command or subcommand: summary, since,
 * group, complexity, arguments (and subcommands). */
static void reply_doc(struct evbuffer *out, const struct command *command, int builtin,
                      const struct command_subcommand *sub) {
    const struct command_doc *doc = &command->doc;
    int subcommands = 0;
    for (const struct command_subcommand *s = sub ? NULL : doc->subcommands; s && s->name; s++) subcommands++;
    reply_map(out, 5 + (subcommands > 0));
    reply_bulk_string(out, "summary");
    reply_bulk_string(out, sub ? sub->summary : doc->summary ? doc->summary : "a command of a plugin (see PLUGIN.LIST)");
    reply_bulk_string(out, "since");
    reply_bulk_string(out, doc->since ? doc->since : REDRESS_VERSION);
    reply_bulk_string(out, "group");
    reply_bulk_string(out, doc->group ? doc->group : "plugin");
    reply_bulk_string(out, "complexity");
    reply_bulk_string(out, sub ? sub->complexity : doc->complexity ? doc->complexity : "");
    reply_bulk_string(out, "arguments");
    if (sub) reply_arguments(out, sub->arguments);
    else if (builtin) reply_arguments(out, doc->arguments);
    else reply_usage_arguments(out, command->usage);
    if (subcommands > 0) {
        reply_bulk_string(out, "subcommands");
        reply_map(out, subcommands);
        for (int i = 0; i < subcommands; i++) {
            reply_lower(out, command->name, doc->subcommands[i].name);
            reply_doc(out, command, builtin, &doc->subcommands[i]);
        }
    }
}

/* COMMAND INFO's entry for one command or subcommand: name, arity, flags,
 * first key, last key, key step (no keys: 0 0 0), ACL categories, tips,
 * key specs, subcommands. */
static void reply_info(struct evbuffer *out, const struct command *command, const struct command_subcommand *sub) {
    long long arity;
    if (sub) {
        int least, most;
        arguments_bounds(sub->arguments, &least, &most);
        arity = redis_arity(2 + least, most < 0 ? -1 : 2 + most);
    } else {
        arity = redis_arity(command->minimum_arguments, command->maximum_arguments);
    }
    const char *flags[6], *categories[4];
    int nflags = 0, ncategories = 0;
    unsigned may = command->roles & ~COMMAND_PUBLIC;
    /* A command that may write through calls of its own (a plugin's) is a
     * write to a client routing commands (Redis modules declare "write"). */
    unsigned writes = command->flags & (COMMAND_WRITE | COMMAND_INNER_WRITES);
    unsigned store = writes | (command->flags & COMMAND_READS_STORE);
    flags[nflags++] = writes ? "write" : "readonly";
    if (!store) flags[nflags++] = "fast";
    if (command->roles & COMMAND_PUBLIC) flags[nflags++] = "no_auth";
    if (!(command->roles & COMMAND_PUBLIC) && may == ROLE_ADMIN) flags[nflags++] = "admin";
    if (command->flags & COMMAND_WHILE_SUBSCRIBED) flags[nflags++] = "pubsub";
    categories[ncategories++] = writes ? "@write" : "@read";
    if (!store) categories[ncategories++] = "@fast";
    if (!(command->roles & COMMAND_PUBLIC) && may == ROLE_ADMIN) categories[ncategories++] = "@admin";
    if (command->flags & COMMAND_WHILE_SUBSCRIBED) categories[ncategories++] = "@pubsub";

    int subcommands = 0;
    for (const struct command_subcommand *s = sub ? NULL : command->doc.subcommands; s && s->name; s++)
        subcommands++;
    reply_array(out, 10);
    reply_lower(out, command->name, sub ? sub->name : NULL);
    reply_integer(out, arity);
    reply_set(out, nflags);
    for (int i = 0; i < nflags; i++) reply_status(out, flags[i]);
    reply_integer(out, 0);
    reply_integer(out, 0);
    reply_integer(out, 0);
    reply_set(out, ncategories);
    for (int i = 0; i < ncategories; i++) reply_status(out, categories[i]);
    reply_array(out, 0);
    reply_array(out, 0);
    reply_array(out, subcommands);
    for (int i = 0; i < subcommands; i++) reply_info(out, command, &command->doc.subcommands[i]);
}

void command_docs_name(struct evbuffer *out, const char *name) { reply_lower(out, name, NULL); }

void command_docs_info(struct evbuffer *out, const struct command *command) { reply_info(out, command, NULL); }

void command_docs_doc(struct evbuffer *out, const struct command *command, int builtin) {
    reply_doc(out, command, builtin, NULL);
}
