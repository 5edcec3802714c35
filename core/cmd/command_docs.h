/* command_docs.h -- one command as COMMAND gives it (see command_docs.c). */
#ifndef REDRESS_CMD_COMMAND_DOCS_H
#define REDRESS_CMD_COMMAND_DOCS_H

#include <event2/buffer.h>

#include "cmd/command_types.h"

/* Its name as COMMAND replies give it: lower case. */
void command_docs_name(struct evbuffer *out, const char *name);
/* COMMAND INFO's entry: name, arity, flags, keys, categories, subcommands. */
void command_docs_info(struct evbuffer *out, const struct command *command);
/* COMMAND DOCS's map: summary, since, group, complexity, arguments (a
 * built-in's from its documentation, a registered one's from its usage). */
void command_docs_doc(struct evbuffer *out, const struct command *command, int builtin);

#endif
