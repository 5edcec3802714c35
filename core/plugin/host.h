/* host.h -- the plugin host: loading, registries, and what the daemon asks of plugins.
 *
 * Plugins are shared objects built against include/redress/plugin.h.  The
 * host loads them (plugin/loader.c opens and checks them), runs their init
 * with the API table (plugin/api.c: facilities, replies, Lua results,
 * refund reports), and keeps what they registered: commands (registered with
 * the command table, found after the built-ins), Lua functions (the `plugins` table
 * of the rule environment), event subscribers (an events listener, fed
 * after commit), refund executors (one of them made the refund provider of
 * domain/refund_exec.c by refund_executor = NAME) and at most one order
 * source (asked by orders.c what an order was paid).  Registration is
 * accepted only during a plugin's init; a failed init unregisters all it did.
 */
#ifndef REDRESS_PLUGINS_H
#define REDRESS_PLUGINS_H

#include <stddef.h>
#include <stdint.h>

#include "cmd/request.h"
#include "lib/config.h"

struct event_base;
struct evbuffer;
struct lua_State;

/* Loads the plugins config->plugins names.  A plugin that cannot load is
 * refused (returns -1, error says which and why) or, with plugin_failure =
 * skip, logged and left out.  Then selects config->refund_executor.  Keeps
 * config and base (both must outlive plugins_shutdown). */
int plugins_load(const struct config *config, struct event_base *base, char *error, size_t error_size);

/* Checks, before the store opens, what can refuse the plugins without
 * running any of them: each shared object config->plugins names is found,
 * loads, and was built for this API (plugin/loader.c's checks); no name
 * twice; no NAME.key setting for a plugin not listed.  0, or -1 with error
 * as plugins_load would say it.  With plugin_failure = skip nothing is
 * checked (a plugin that fails is left out).  An upgrade whose plugins do
 * not fit stops here, before the schema migrates (README "Upgrading"). */
int plugins_check(const struct config *config, char *error, size_t error_size);

/* How many plugins plugin_failure = skip left out at the load (INFO's
 * plugins_skipped; /readyz is 503 while it is not 0). */
int plugins_skipped(void);

/* Checks the plugins' identities against the rule set, once it is loaded
 * (plugins load before it): a queue of NAME.queues it does not know.
 * 0, or -1 with error naming the setting and the queue; with
 * plugin_failure = skip such a plugin is shut down, left out and counted
 * (plugins_skipped) instead, and the start goes on. */
int plugins_check_identities(char *error, size_t error_size);

/* Starts again, with the same idempotency key, every refund left executing
 * by the selected plugin executor (after a restart).  Call once the store
 * is open and the loop is about to run. */
void plugins_resume_refunds(void);

/* Calls each plugin's shutdown in reverse load order, unloads them, frees
 * every registry.  Refund jobs not reported are abandoned. */
void plugins_shutdown(void);

/* Pushes the `plugins` table for a rule state: plugins.NAME.function,
 * read-only (empty when no plugin registered a function). */
void plugins_push_lua_namespace(struct lua_State *state);

/* 1 if a plugin subscribed to events of this kind. */
/* The plugins as a listener of committed events (domain/events.h), for
 * main.c to register. */
struct events_listener;
const struct events_listener *plugins_events_listener(void);
int plugins_want_event(const char *kind);
/* Delivers one committed event to the subscribed plugins. */
struct redress_event;
void plugins_deliver_event(const struct redress_event *event);

/* The order source: what order_id (length bytes) was paid, in minor units of
 * currency (filled with three letters and a NUL).  1 when the source knows
 * the order, 0 when it does not or no plugin is the order source, -1 with
 * error when it cannot answer or answers nonsense. */
int plugins_order_lookup(const char *order_id, size_t length, int64_t *paid, char currency[4], char *error,
                         size_t error_size);
/* The name of the plugin that is the order source, or NULL. */
const char *plugins_order_source(void);

/* PLUGIN.LIST */
void plugin_list_command(struct request *request);
/* HELLO's "modules": one [name, N, ver, V, api, A] entry per plugin, as
 * Redis lists its modules. */
void plugins_hello(struct evbuffer *out);
/* INFO plugins section lines. */
void plugins_info(struct evbuffer *out);

#endif
