/* facts.h -- what the store knows of a customer, for the rules' redress.customer.
 *
 * Owns reading a customer's cases as facts a rule may weigh (how many, how
 * many open, the last one, amounts per currency).  Registered by main.c
 * with rules_set_customer_provider(); never called by the rules host by
 * name (the host sits below the domain).
 */
#ifndef REDRESS_DOMAIN_FACTS_H
#define REDRESS_DOMAIN_FACTS_H

#include <stddef.h>

#include "rules/rules.h"

/* The facts of customer id (len bytes): 0 with out filled (a customer with
 * no cases has cases = 0), or -1 with why ("store: ...") when the store
 * cannot answer -- never "a new customer" then.  amount_total is given
 * only when every amount of the customer is in one currency (or there is
 * none: 0); amount_totals lists each currency's sum. */
int facts_customer(const char *id, size_t len, struct rules_customer *out, char *why, size_t why_size);

#endif
