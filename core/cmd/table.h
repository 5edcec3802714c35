/* table.h -- the command table: which commands exist, their arity, flags,
 * roles and named arguments; the checks run before a handler; the commands
 * plugins register.
 *
 * What a handler sees of a request is in cmd/request.h; handlers include
 * that, not this file (only the connection and the table's own users do).
 */
#ifndef REDRESS_COMMANDS_H
#define REDRESS_COMMANDS_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd/request.h"

#include "cmd/command_types.h"   /* struct command and what it holds */

/* Finds a command by name, any case: a built-in, else a registered one;
 * NULL if unknown. */
const struct command *commands_lookup(const char *name, size_t len);
/* 1 if argc is within the command's bounds. */
int commands_arity_ok(const struct command *command, int argc);
/* Everything checked before a handler runs, in this order: NOAUTH (auth on,
 * not authenticated, not a public command), NOPERM (the caller's role may
 * not run it), subscriber mode (only PING, QUIT and (UN)SUBSCRIBE), unknown
 * command (command NULL), arity, test-only without --test-clock, then
 * commands_check_access.  request->command is command; the caller is
 * request->call.who.  0: run the handler; -1 after the error reply (the
 * request is failed). */
int commands_check(struct request *request, const struct command *command, int auth_on);
/* The first two of commands_check: NOAUTH, NOPERM, for the caller as it is
 * now.  EXEC asks it again of every queued command before any runs (a role
 * changed since it was queued holds from EXEC, the agent's next command). */
int commands_check_role(struct request *request, const struct command *command, int auth_on);
/* commands_check without commands_check_access: what a command queued in
 * MULTI is checked for (its named arguments are checked at EXEC). */
int commands_check_queued(struct request *request, const struct command *command, int auth_on);
/* The access check of the command's named arguments (see enum
 * command_name_kind), the last of commands_check.  0, or -1 after the
 * error reply (-INVALID, -NOTFOUND, -NOPERM, or a store error). */
int commands_check_access(struct request *request);

/* visit(context, name, calls) for every built-in command (calls checked
 * since start, by either front), then "(plugin)" for the registered ones. */
void commands_each_count(void (*visit)(void *context, const char *name, long long calls), void *context);

/* Commands added at start by plugins (or anything above the table):
 * `command` is borrowed until commands_unregister(owner); its name must be
 * upper case.  0, or -1 when the name is taken (built-in or registered) or
 * out of memory. */
int commands_register(const struct command *command, const void *owner);
/* Forgets every command registered with that owner. */
void commands_unregister(const void *owner);

#endif
