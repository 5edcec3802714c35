/* customers.h -- customers as records: one id, linked identities.
 *
 * Owns: the identity kinds (email, phone, wechat, app, account), reading a
 * customer's text as an identity, resolving an identity to its customer
 * (intake: one indexed lookup, an insert only for a customer never seen),
 * linking an identity to a customer, and what CUSTOMER.GET shows.
 * Never: parses protocol arguments or writes a reply; never writes a case
 * (the case module stores customer_id).
 */
#ifndef REDRESS_CUSTOMERS_H
#define REDRESS_CUSTOMERS_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"

#define CUSTOMER_VALUE_MAX 128        /* an identity's value, bytes (the customer field's limit) */
#define CUSTOMER_VALUE_MAX_TEXT "128"
#define PHONE_CHARACTERS "is not a phone number: a leading '+', digits and the separators blank - . ( ) only"
#define CUSTOMER_KINDS "email phone wechat app account"

/* An identity as stored: its kind (one of CUSTOMER_KINDS) and its value
 * (an email address lower-cased). */
struct customer_identity {
    const char *kind;
    char value[CUSTOMER_VALUE_MAX + 1];
    size_t len;
    char why[128];                    /* room for a reason that names a byte */
};

/* The kind named kind[0..len) (in any ASCII case) as its one static
 * spelling, or NULL. */
const char *customers_kind(const char *kind, size_t len);
/* Reads a customer text as an identity: "kind:value" with a known kind
 * (in any case: "EMAIL:"); else text with '@' is an email, '+' then digits
 * and phone separators a phone, anything else an account.  NULL, or why
 * the text is no identity (a phrase to follow "customer '<text>' "): the
 * value empty, too long, with white space at either end or no phone
 * number under phone:, or "id:..." (customers_named's way of naming a
 * customer by id, never an identity). */
const char *customers_parse_identity(const char *text, size_t len, struct customer_identity *out);
/* The identity of a known kind with value[0..len): an email lower-cased, a
 * phone without its separators (blanks, - . ( )) so one caller is one
 * identity.  NULL, or why not (as customers_parse_identity). */
const char *customers_make_identity(const char *kind, const char *value, size_t len, struct customer_identity *out);

/* The customer of an identity, created (with the identity) when nobody
 * has it yet: 0 with *id (a known customer), 1 with *id (a new one), or
 * -1 with the failure in the call. */
int customers_resolve(struct call *call, const struct customer_identity *identity, int64_t *id);
/* The customer of an identity: 1 with *id, 0 when nobody has it, -1 a store error. */
int customers_find(struct call *call, const struct customer_identity *identity, int64_t *id);
/* How every command and endpoint names an existing customer (CUSTOMER.GET,
 * .LINK, .EXPORT, .ERASE, CASE.LIST CUSTOMER, GET /api/cases?customer=):
 * "id:N" is customer id N; any other text is read as CASE.OPEN reads it
 * (customers_parse_identity) -- and bare digits, which are also an id, are
 * that identity's customer when only it exists, customer id N when only
 * that exists, and refused (INVALID naming both) when both exist and are
 * different customers.  With CUSTOMER_NAMED_WRITTEN_OUT bare digits are
 * refused whatever exists (an erasure acts on no guess).  1 with *id, 0
 * when nobody is named (NOTFOUND left in the call unless
 * CUSTOMER_NAMED_QUIET), -1 INVALID or a store error. */
#define CUSTOMER_NAMED_QUIET 1
#define CUSTOMER_NAMED_WRITTEN_OUT 2
int customers_named(struct call *call, const char *text, size_t len, int flags, int64_t *id);
/* 1 if customer id exists, 0 if not, -1 a store error. */
int customers_exists(struct call *call, int64_t id);
/* CUSTOMER.LINK: gives customer id the identity.  0 linked, 1 it had it
 * already (nothing written), -1 NOTFOUND (no such customer), CONFLICT (the
 * identity is another customer's), or a store error. */
int customers_link(struct call *call, int64_t id, const struct customer_identity *identity);

/* The customer's cases and the tasks opened from them (and from those
 * tasks), by parent_id, as the CTE `mine(id)` of a statement whose ?1 is
 * the customer: what CUSTOMER.ERASE erases and CUSTOMER.EXPORT shows, one
 * definition for both.  A task has no customer_id. */
#define CUSTOMER_CASES_CTE                                                                    \
    "WITH RECURSIVE mine(id) AS (SELECT id FROM cases WHERE customer_id = ?1"                 \
    " UNION SELECT c.id FROM cases c JOIN mine m ON c.parent_id = m.id) "

/* CUSTOMER.ERASE: every case of the customer and every task of those
 * cases erased (case_erase_personal, its texts out of the search index
 * first) and its identities removed; the customer id stays, with no
 * identity.  0 with *cases (how many of the customer's own cases, tasks
 * not counted), or -1 (NOTFOUND, a store error). */
int customers_erase(struct call *call, int64_t id, long long *cases);

/* Retention: erases the personal data of at most `most` cases closed
 * before `before` (case by case, as CUSTOMER.ERASE does, the customer's
 * identities kept for the cases still open).  How many, or -1 logged. */
int customers_erase_closed(int64_t before, int most);

/* What CUSTOMER.GET shows: the customer, its identities, its cases. */
struct customer_view {
    int64_t id, created_at;
    long long cases, open;
    int64_t last_case_at;             /* 0: no case */
};
/* Fills view and calls identity(context, kind, value) for each identity,
 * oldest first; 0, or -1 NOTFOUND / a store error. */
int customers_get(struct call *call, int64_t id, struct customer_view *view,
                  void (*identity)(void *context, const char *kind, const char *value), void *context);

#endif
