/* api.h -- the JSON API's routes (core/http/api.c; its read endpoints in
 * api_read.c, its write endpoints in api_write.c).
 *
 * Owns: which paths and methods exist (/api/cases, /api/cases/{id},
 * /api/queues, /api/stats, /api/refunds, the supervisors' actions,
 * /healthz, /readyz), the commands each one runs, and the JSON shapes of
 * their answers.  Never: checks a role or a queue itself (the commands
 * are checked by the command table), or touches the store.
 */
#ifndef REDRESS_HTTP_API_H
#define REDRESS_HTTP_API_H

#include "http/exchange.h"

/* /readyz's question about the rules: is a rule set configured (rules =
 * DIR, not "")?  Without one the built-in defaults decide, by design. */
void api_configure(int rules_configured);
/* Paths answered without a caller (liveness and readiness). */
int api_is_public(const char *path);
/* Answers the request (the caller is known, or auth is off). */
void api_route(struct http_exchange *exchange, const char *path);

#endif
