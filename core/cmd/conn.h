/* conn.h -- the connection and test commands (see conn.c), and what
 * INFO, HELLO and PLUGIN.LIST show of the layers above (providers that
 * wire() registers: the server's INFO sections, the plugins' lines). */
#ifndef REDRESS_CONN_H
#define REDRESS_CONN_H

#include <event2/buffer.h>

#include "cmd/request.h"

/* INFO: `server` writes "# Server" through the batch lines of "# Store",
 * `plugins` the lines of "# Plugins".  Either may be NULL (nothing written). */
void commands_set_info_sections(void (*server)(struct evbuffer *out), void (*plugins)(struct evbuffer *out));
/* The server's INFO lines ("# Server" through "# Store") as plain text,
 * whatever the caller's protocol (METRICS reads its figures from them). */
void commands_server_info(struct evbuffer *out);
/* HELLO's "modules": writes the array (NULL: an empty array). */
void commands_set_hello_modules(void (*modules)(struct evbuffer *out));
/* PLUGIN.LIST: the handler of whoever keeps the plugins (NULL: an empty array). */
void commands_set_plugin_list(void (*list)(struct request *request));

void ping_command(struct request *request);
void quit_command(struct request *request);
void hello_command(struct request *request);
void info_command(struct request *request);
void debug_clock_command(struct request *request);
void debug_store_command(struct request *request);
void debug_memory_command(struct request *request);
void debug_search_command(struct request *request);
void debug_oom_command(struct request *request);
void events_subscribe_command(struct request *request);
void events_unsubscribe_command(struct request *request);
void unsubscribe_command(struct request *request);
void psubscribe_command(struct request *request);
void punsubscribe_command(struct request *request);
/* 1 if name (of `what`) is at most max bytes of printable ASCII without
 * spaces (CLIENT SETNAME, SETINFO, HELLO SETNAME), else 0 after -INVALID. */
int commands_client_name_ok(struct request *request, const char *what, const char *name, size_t len, size_t max);
void list_plugins_command(struct request *request);

#endif
