/* case_api.h -- API 1.2's case functions (plugin/case_api.c), as plugin/host.c
 * sets them up: the identity a plugin acts as, the table's entries.
 * Only core/plugin/ includes this.
 */
#ifndef REDRESS_PLUGIN_CASE_API_H
#define REDRESS_PLUGIN_CASE_API_H

#include <stddef.h>

#include "plugin/api.h"

/* Reads the identity the plugin acts on cases as (NAME.role, NAME.queues)
 * into it, before its init; 0, or -1 with error (an unknown role). */
int plugin_case_api_identity(struct redress_plugin *plugin, char *error, size_t error_size);
/* 0 if every queue of the identity's NAME.queues is one the running rule
 * set knows (with no rule set: of a queue name's form); else -1 with why
 * ("plugin mail: mail.queues: unknown queue 'suport' (queues: ...)"). */
int plugin_case_api_check_queues(const struct redress_plugin *plugin, char *error, size_t error_size);
/* Fills the case entries of the table (API 1.2); frees their reply buffer. */
void plugin_case_api_fill(struct redress_host_api *table);
void plugin_case_api_free(void);

#endif
