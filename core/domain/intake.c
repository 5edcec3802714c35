/* intake.c -- CASE.OPEN's domain (see intake.h).
 *
 * Owns: the order of intake -- idempotency, the order fact, triage, the
 * case (through the case module), the decision log, the auto-reply, the
 * sla clocks, escalation at open, the spike counts after commit -- and the
 * warm start that goes with them (the cases table: every node's cases;
 * another node's later cases are counted as this node hears of them,
 * domain/peer_counts.c, under the same keys).  Until a rule set is loaded,
 * triage is the rules host's built-in default and the triage event says
 * that no rule decided.
 * Never: parses arguments, writes a reply, or decides policy itself: which
 * names exist and which event escalates a new case come from the rule set
 * (classify's `escalate`).
 */
#include "domain/intake.h"
#include "domain/access.h"
#include "domain/assignment.h"
#include "domain/case.h"
#include "domain/customers.h"
#include "domain/notices.h"
#include "domain/deadlines.h"
#include "domain/decisions.h"
#include "domain/incidents.h"
#include "domain/orders.h"
#include "domain/threading.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "lib/log.h"
#include "lib/money.h"
#include "lib/quote.h"
#include "lib/shared.h"
#include "rules/rules.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WARM_DAYS 31                 /* the spike counts' longest window, and then some */
#define SPIKE_KEY_MAX 300            /* "category:" / "customer:" / "tag:" + a name or customer */
#define SPIKE_TAG_CUT 200            /* a tag longer than this is counted under its first bytes */
#define DESCRIBED_MAX 200            /* orders_describe's text */

static const char *const field_names[INTAKE_FIELD_COUNT] = {
    "channel", "customer", "subject", "body", "order", "amount", "currency", "paid_at", "delivered_at",
    "tier", "lang", "external_id",
};

static char default_currency[4] = "CNY";

const char *intake_field_name(enum intake_field field) {
    return (unsigned)field < INTAKE_FIELD_COUNT ? field_names[field] : "?";
}

void cases_set_default_currency(const char *code) {
    snprintf(default_currency, sizeof default_currency, "%s", code);
}

const char *cases_default_currency(void) { return default_currency; }

/* --------------------------------------------------------- spike counts */

/* key = prefix + the first `len` bytes of name, cut to the key as snprintf
 * would (copied: every committed case makes three keys or more). */
static void spike_key(char *key, const char *prefix, size_t prefix_len, const char *name, size_t len) {
    if (len > SPIKE_KEY_MAX - 1 - prefix_len) len = SPIKE_KEY_MAX - 1 - prefix_len;
    memcpy(key, prefix, prefix_len);
    memcpy(key + prefix_len, name, len);
    key[prefix_len + len] = '\0';
}

/* Counts a case under the rule set's spike keys: its category, its
 * customer, each of its tags (what redress.recent asks for). */
static void count_case(const char *category, const char *tags, const char *customer, int64_t at) {
    char key[SPIKE_KEY_MAX];
    spike_key(key, "category:", 9, category, strlen(category));
    shared_add(SHARED_SPIKES, key, at);
    spike_key(key, "customer:", 9, customer, strlen(customer));
    shared_add(SHARED_SPIKES, key, at);
    while (tags && *tags) {
        const char *end = strchr(tags, ',');
        size_t len = end ? (size_t)(end - tags) : strlen(tags);
        spike_key(key, "tag:", 4, tags, len > SPIKE_TAG_CUT ? SPIKE_TAG_CUT : len);
        shared_add(SHARED_SPIKES, key, at);
        tags += len + (end ? 1 : 0);
    }
}

/* What the counts learn once the case is committed, dropped if this
 * command rolls back even when the rest of its batch commits: one
 * allocation, "category\0tags\0customer\0" after the header. */
struct counted_case {
    int64_t at;
    size_t tags_at, customer_at;
    char text[];
};

static void count_after_commit(void *argument, int committed) {
    struct counted_case *counted = argument;
    if (committed) count_case(counted->text, counted->text + counted->tags_at, counted->text + counted->customer_at,
                              counted->at);
    free(counted);
}

static int count_when_committed(struct call *call, const struct case_row *row, const char *customer, size_t len) {
    size_t category_len = strlen(row->category), tags_len = strlen(row->tags);
    struct counted_case *counted = malloc(sizeof *counted + category_len + tags_len + len + 3);
    if (counted == NULL) return call_fail(call, CALL_ERR, "out of memory");
    counted->at = row->created_at;
    counted->tags_at = category_len + 1;
    counted->customer_at = counted->tags_at + tags_len + 1;
    memcpy(counted->text, row->category, category_len + 1);
    memcpy(counted->text + counted->tags_at, row->tags, tags_len + 1);
    memcpy(counted->text + counted->customer_at, customer, len);
    counted->text[counted->customer_at + len] = '\0';
    if (store_after_command(count_after_commit, counted) != 0) {
        free(counted);
        return call_fail(call, CALL_ERR, "out of memory");
    }
    return 0;
}

void cases_count_opened(const char *category, const char *tags, const char *customer, int64_t at) {
    count_case(category, tags, customer, at);
}

/* Reads every case of the window, whichever node opened it: the table is
 * the one all nodes share. */
void cases_warm_counters(void) {
    static const char sql[] =
        "SELECT category, tags, customer, created_at FROM cases WHERE created_at >= ?1 ORDER BY id";
    struct call call = {.who = {.internal = 1}, .actor = "intake", .status = CALL_OK};
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, clock_now() - WARM_DAYS * 86400);
    int rc;
    while ((rc = call_row(&call, statement)) > 0)
        count_case((const char *)store_column_text(statement, 0), (const char *)store_column_text(statement, 1),
                   (const char *)store_column_text(statement, 2), store_column_int64(statement, 3));
    if (rc < 0) log_error("spike counts not warmed", "error=\"%s\"", LOG_ESC(call.message));
}

/* ---------------------------------------------------------------- intake */

/* What intake learns before it writes: the currency that applies, the
 * amount paid (declared or the order's), the order's fact. */
struct intake_facts {
    char currency[4];
    int has_amount;           /* amount holds what the order was paid (declared or known) */
    int64_t amount;
    struct order_fact order;  /* the order's fact, to record if it is unrecorded */
};

/* What an order was paid is one fact per order (orders.c): a case naming a
 * known order takes its amount and currency from it, and one that declares
 * another amount or currency is refused, naming the fact; a case that
 * declares an amount for an order nobody knew records it.  Parses the
 * amount in the currency that applies. */
static int intake_order(struct call *call, const struct intake_values *values, struct intake_facts *facts) {
    const char *order = values->text[INTAKE_ORDER], *amount = values->text[INTAKE_AMOUNT];
    struct order_fact fact;
    memset(&fact, 0, sizeof fact);
    int known = 0;
    if (order) {
        known = orders_fact(call, order, values->len[INTAKE_ORDER], ORDER_LOOKUP_LENIENT, &fact);
        if (known < 0) return -1;
    }
    char described[DESCRIBED_MAX];
    if (known && values->text[INTAKE_CURRENCY] && strcmp(facts->currency, fact.currency) != 0)
        return call_fail(call, CALL_CONFLICT, "order %.128s was paid %s: this case says %s", order,
                         orders_describe(&fact, described, sizeof described), facts->currency);
    if (known) memcpy(facts->currency, fact.currency, 4); /* no currency given: the order's */
    if (amount) {
        size_t len = values->len[INTAKE_AMOUNT];
        const char *why = money_parse(amount, len, money_currency_digits(facts->currency, 3), &facts->amount);
        /* Quoted: "5\0" printed as a C string would name a decimal number. */
        if (why) return call_fail(call, CALL_INVALID, "amount '%s' %s", QUOTE(amount, len, 40), why);
        facts->has_amount = 1;
        if (known && facts->amount != fact.paid)
            return call_fail(call, CALL_CONFLICT,
                             "order %.128s was paid %s: this case says %.40s %s; leave amount out or give the same",
                             order, orders_describe(&fact, described, sizeof described), amount, facts->currency);
        if (order && !known) { /* the first amount declared for the order stands */
            facts->order.paid = facts->amount;
            memcpy(facts->order.currency, facts->currency, 4);
            snprintf(facts->order.source, sizeof facts->order.source, "%s", ORDER_SOURCE_CASE);
            facts->order.unrecorded = 1;
        }
    } else if (known) {
        facts->amount = fact.paid;
        facts->has_amount = 1;
    }
    if (known) facts->order = fact;
    return 0;
}

static struct case_text given(const struct intake_values *values, enum intake_field field) {
    return (struct case_text){values->text[field], values->text[field] ? values->len[field] : 0};
}

/* The decision log of intake: classify, priority and sla packed in one
 * row of the case (decisions.h: DECISIONS_HOOK_TRIAGE), one statement
 * whatever ran; CASE.EXPLAIN and RULES.REPLAY read it back as three. */
static int log_triage(struct call *call, int64_t case_id, const struct rules_triage *triage,
                      const struct rules_sla *sla, const struct rules_call_record *sla_call) {
    struct detail packed;
    detail_clear(&packed);
    long long microseconds = 0;
    const char *error = NULL;
    if (triage->classify_called) {
        detail_add_string(&packed, "classify.category", triage->category);
        detail_add_string(&packed, "classify.queue", triage->queue);
        if (triage->tags[0]) detail_add_string(&packed, "classify.tags", triage->tags);
        if (triage->faq[0]) detail_add_string(&packed, "classify.faq", triage->faq);
        if (triage->escalate[0]) detail_add_string(&packed, "classify.escalate", triage->escalate);
        if (triage->auto_reply[0])
            detail_add_string(&packed, "classify.auto_reply", triage->auto_resolve ? "resolve" : "yes");
        detail_add_string(&packed, "classify.reason", triage->classify_reason);
        detail_add_integer(&packed, "classify.us", triage->classify_microseconds);
        if (triage->classify_error[0]) detail_add_string(&packed, "classify.error", error = triage->classify_error);
        microseconds += triage->classify_microseconds;
    }
    if (triage->priority_called) {
        detail_add_string(&packed, "priority.priority", triage->priority);
        detail_add_string(&packed, "priority.reason", triage->priority_reason);
        detail_add_integer(&packed, "priority.us", triage->priority_microseconds);
        if (triage->priority_error[0]) {
            detail_add_string(&packed, "priority.error", triage->priority_error);
            if (error == NULL) error = triage->priority_error;
        }
        microseconds += triage->priority_microseconds;
    }
    if (sla_call && sla_call->called) {
        if (!sla_call->error[0]) {
            detail_add_integer(&packed, "sla.first_response", sla->first_response);
            detail_add_integer(&packed, "sla.next_response", sla->next_response);
            detail_add_integer(&packed, "sla.resolution", sla->resolution);
            detail_add_string(&packed, "sla.calendar", sla->calendar);
            detail_add_string(&packed, "sla.reason", sla->reason);
        }
        detail_add_integer(&packed, "sla.us", sla_call->microseconds);
        if (sla_call->error[0]) {
            detail_add_string(&packed, "sla.error", sla_call->error);
            if (error == NULL) error = sla_call->error;
        }
        microseconds += sla_call->microseconds;
    }
    if (packed.len == 0) return 0;
    struct decision row = {DECISIONS_HOOK_TRIAGE, triage->version[0] ? triage->version : sla_call->version,
                           DECISIONS_INPUTS_INTAKE, packed.text, packed.len, "", microseconds, error};
    return decisions_record(call, case_id, 0, &row);
}

/* The rules' part of a new case, written by the actor "rules": the triage
 * event, the decision log, the auto-reply (and the resolution it makes),
 * the sla clocks, escalation at open. */
static int apply_triage(struct call *call, const struct rules_triage *triage, const struct deadlines_plan *plan,
                        const struct rules_sla *sla, const struct rules_call_record *sla_call, struct case_row *row) {
    struct detail triaged;
    detail_clear(&triaged);
    detail_add_string(&triaged, "state", "new->open");
    detail_add_string(&triaged, "category", triage->category);
    detail_add_string(&triaged, "priority", triage->priority);
    detail_add_string(&triaged, "queue", triage->queue);
    if (triage->tags[0]) detail_add_string(&triaged, "tags", triage->tags);
    if (triage->faq[0]) detail_add_string(&triaged, "faq", triage->faq);
    detail_add_string(&triaged, "decided_by", triage->decided_by);
    if (triage->version[0]) detail_add_string(&triaged, "version", triage->version);
    /* The sla clocks, instead of a deadline_set event each; before the
     * reasons, which are long and may not all fit. */
    deadlines_plan_describe(plan, &triaged);
    if (triage->classify_reason[0]) detail_add_string(&triaged, "reason", triage->classify_reason);
    if (triage->priority_reason[0]) detail_add_string(&triaged, "priority_reason", triage->priority_reason);
    if (triage->error[0]) detail_add_string(&triaged, "refused", triage->error);
    /* The customer is told the case was received, and when to expect an
     * answer: the first-response clock's due.  From the rule set's receipt
     * macro it rides at the end of this event (no hook call, no row of its
     * own); else the customer_notice hook decides it below.  Not for a
     * case its auto-reply resolves (that reply is what the customer gets). */
    int64_t eta = 0;
    for (int i = 0; i < plan->count; i++)
        if (plan->clock[i].kind == DEADLINE_FIRST_RESPONSE) eta = plan->clock[i].due;
    int receipt = 0;
    if (row->state != CASE_RESOLVED && rules_loaded() && (receipt = notices_receipt(call, row, eta, &triaged)) < 0)
        return -1;
    if (case_event(call, row, "triaged", &triaged) != 0) return -1;
    if (log_triage(call, row->id, triage, sla, sla_call) != 0) return -1;
    if (triage->auto_reply[0]) { /* an outbound message on the case's channel */
        int64_t reply_event = 0;
        if (case_event_text(call, row, "reply", triage->auto_reply, strlen(triage->auto_reply), &reply_event) != 0 ||
            case_message_row(call, row, reply_event, "out", row->channel, strlen(row->channel), NULL, 0) != 0)
            return -1;
    }
    if (row->state == CASE_RESOLVED) {
        struct detail resolved = DETAIL_INIT;
        detail_add_change(&resolved, "state", "open", "resolved");
        detail_add_string(&resolved, "code", "auto_reply");
        if (case_event(call, row, "resolved", &resolved) != 0) return -1; /* no clocks, no escalation */
        /* Resolved like any case: the same follow-up, survey and auto-close timers. */
        return rules_loaded() ? deadlines_resolved(call, row->id) : 0;
    }
    if (!rules_loaded()) return 0;
    if (plan->count && deadlines_open_case(call, row->id, plan) != 0) return -1;
    if (!receipt && notices_tell(call, row, "received", eta) != 0) return -1;
    /* The event classify named (a legal threat, a complaint, ...) escalates at once. */
    if (triage->escalate[0] && deadlines_escalate(call, row->id, triage->escalate, "") != 0) return -1;
    /* A spike the priority hook saw: the case joins its incident.  Then it
     * is handed out at once when its queue does it (nothing is read when
     * every queue is manual).  An escalation at open may have moved it. */
    int assigning = rules_assignment_configured();
    if (!triage->incident[0] && !assigning) return 0;
    if (triage->escalate[0] && case_load(call, row->id, 0, row) != 0) return -1;
    if (triage->incident[0] && incidents_join(call, row, triage->incident, triage->incident_window) != 0) return -1;
    return assigning ? assignment_place(call, row) : 0;
}

/* Service-level clocks from the sla hook: 0 with the plan, -1 when the
 * hook gave none (the case has no deadlines). */
static int plan_clocks(const struct intake_values *values, const struct intake_facts *facts,
                       const struct rules_triage *triage, struct rules_sla *sla, struct deadlines_plan *plan) {
    struct rules_field fields[INTAKE_FIELD_COUNT + 4];
    int count = 0;
    for (int f = 0; f < INTAKE_FIELD_COUNT; f++) {
        if (values->text[f] == NULL || f == INTAKE_AMOUNT || f == INTAKE_PAID_AT || f == INTAKE_DELIVERED_AT)
            continue;
        fields[count++] = (struct rules_field){.name = field_names[f], .text = values->text[f], .len = values->len[f]};
    }
    if (facts->has_amount)
        fields[count++] = (struct rules_field){.name = "amount", .integer = facts->amount, .is_integer = 1};
    fields[count++] = (struct rules_field){.name = "category", .text = triage->category, .len = strlen(triage->category)};
    fields[count++] = (struct rules_field){.name = "priority", .text = triage->priority, .len = strlen(triage->priority)};
    fields[count++] = (struct rules_field){.name = "queue", .text = triage->queue, .len = strlen(triage->queue)};
    if (rules_sla(fields, count, sla) != 0) return -1;
    deadlines_plan_case(sla, plan);
    return 0;
}

/* Creates the case and everything triage decided for it. */
static int open_case(struct call *call, const struct intake_values *values, struct intake_facts *facts,
                     const struct rules_triage *triage, int64_t customer_id, int64_t *id) {
    const char *channel = values->text[INTAKE_CHANNEL] ? values->text[INTAKE_CHANNEL] : rules_default_channel();
    struct case_new created = {
        .external_id = given(values, INTAKE_EXTERNAL_ID),
        .channel = {channel, values->text[INTAKE_CHANNEL] ? values->len[INTAKE_CHANNEL] : strlen(channel)},
        .customer = given(values, INTAKE_CUSTOMER),
        .subject = given(values, INTAKE_SUBJECT),
        .body = given(values, INTAKE_BODY),
        .order_id = given(values, INTAKE_ORDER),
        .tier = given(values, INTAKE_TIER),
        .lang = given(values, INTAKE_LANG),
        /* stored with an amount, or when the case named it */
        .currency = facts->has_amount || values->text[INTAKE_CURRENCY] ? facts->currency : NULL,
        .has_amount = facts->has_amount,
        .amount = facts->amount,
        .has_paid_at = values->text[INTAKE_PAID_AT] != NULL,
        .paid_at = values->paid_at,
        .has_delivered_at = values->text[INTAKE_DELIVERED_AT] != NULL,
        .delivered_at = values->delivered_at,
        .category = triage->category,
        .queue = triage->queue,
        .priority = triage->priority,
        .tags = triage->tags,
        .faq = triage->faq,
        .rules_version = triage->version,
        .resolved = triage->auto_reply[0] && triage->auto_resolve,
        .auto_replied = triage->auto_reply[0] != 0,
        .customer_id = customer_id,
        /* The order row this intake records names the case (orders.case_id):
         * the order's cases are found through it, not cases_by_order. */
        .order_first = facts->order.unrecorded && strcmp(facts->order.source, ORDER_SOURCE_CASE) == 0,
    };
    /* The sla hook's clocks are timed before the row, which carries their
     * earliest due as its next_due. */
    struct rules_sla sla;
    struct deadlines_plan plan = {.count = 0};
    struct rules_call_record sla_call = {.called = 0};
    if (!created.resolved && rules_loaded()) {
        int planned = plan_clocks(values, facts, triage, &sla, &plan) == 0;
        sla_call = *rules_last_call(); /* for the decision log: the escalate hook may run before it is written */
        if (planned) {
            created.has_next_due = plan.has_next_due;
            created.next_due = plan.next_due;
        }
    }
    struct case_row row;
    if (case_create(call, &created, &row) != 0) return -1;
    if (facts->order.unrecorded) {
        if (strcmp(facts->order.source, ORDER_SOURCE_CASE) == 0) facts->order.case_id = row.id;
        if (orders_record(call, values->text[INTAKE_ORDER], values->len[INTAKE_ORDER], &facts->order) != 0) return -1;
    }
    /* Rule decisions are written by the actor "rules". */
    const char *agent = call->actor;
    call->actor = "rules";
    int failed = apply_triage(call, triage, &plan, &sla, &sla_call, &row) != 0;
    call->actor = agent;
    if (failed) return -1;
    if (count_when_committed(call, &row, values->text[INTAKE_CUSTOMER], values->len[INTAKE_CUSTOMER]) != 0)
        return -1;
    *id = row.id;
    return 0;
}

/* Idempotent intake: the same external_id is the same contact -- the case
 * it opened, or the open case threading joined it to (that case's
 * message).  Sent again with the same customer (any identity of the same
 * customer record), subject and body, it is that case: 1 with *id, nothing
 * written.  With another of them it is CONFLICT naming what differs: a
 * gateway that reuses an id, or two that collide, must not hand one
 * customer's contact to another's case.  The other fields (order, amount,
 * channel, ...) are what intake read, not what the customer said: a resend
 * that differs only there is the same contact.  0: the id is new. */
static int same_contact(struct call *call, const struct intake_values *values, int64_t *id) {
    const char *external = values->text[INTAKE_EXTERNAL_ID];
    size_t external_len = values->len[INTAKE_EXTERNAL_ID];
    struct case_resent resent = {
        .customer = values->text[INTAKE_CUSTOMER], .customer_len = values->len[INTAKE_CUSTOMER],
        .subject = values->text[INTAKE_SUBJECT], .subject_len = values->len[INTAKE_SUBJECT],
        .text = values->text[INTAKE_BODY], .len = values->len[INTAKE_BODY],
    };
    unsigned differs = 0;
    int found = case_find_contact(call, external, external_len, &resent, id, &differs);
    /* The case the id names is judged as a case named by its id is: one
     * out of the caller's reach is NOPERM, not its id. */
    if (found < 0 || (found && access_case(call, *id) != 0)) return -1;
    if (!found) return 0;
    if (differs & CASE_DIFFERS_CUSTOMER) {
        /* Another text may be another identity of the same customer: read
         * only here, never on the path of a new contact. */
        struct customer_identity identity;
        if (customers_parse_identity(resent.customer, resent.customer_len, &identity) == 0) {
            int known = customers_find(call, &identity, &resent.customer_id);
            if (known < 0) return -1;
            if (known && case_find_contact(call, external, external_len, &resent, id, &differs) < 0) return -1;
        }
    }
    if (differs == 0) return 1;
    char what[64] = "";
    static const struct {
        unsigned bit;
        const char *name;
    } parts[] = {{CASE_DIFFERS_CUSTOMER, "customer"}, {CASE_DIFFERS_SUBJECT, "subject"},
                 {CASE_DIFFERS_BODY, "body"}, {CASE_DIFFERS_TEXT, "subject or body"}};
    /* "customer", "customer and body", "customer, subject and body" */
    int left = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) left += (differs & parts[i].bit) != 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (!(differs & parts[i].bit)) continue;
        size_t used = strlen(what);
        left--;
        snprintf(what + used, sizeof what - used, "%s%s", parts[i].name, left > 1 ? ", " : left ? " and " : "");
    }
    return call_fail(call, CALL_CONFLICT, "external_id '%s' was received before with another %s: it is case %lld's "
                     "(send the same contact again, or another external_id)",
                     QUOTE(external, external_len, QUOTE_SHOWN_MAX), what, (long long)*id);
}

static int open_within_budget(struct call *call, const struct intake_values *values, int64_t *id) {
    if (values->text[INTAKE_EXTERNAL_ID]) {
        int found = same_contact(call, values, id);
        if (found != 0) return found;
    }
    struct intake_facts facts;
    memset(&facts, 0, sizeof facts);
    memcpy(facts.currency, values->text[INTAKE_CURRENCY] ? values->text[INTAKE_CURRENCY] : default_currency, 3);
    facts.currency[3] = '\0';
    if (intake_order(call, values, &facts) != 0) return -1;
    /* The customer: one read of the identity (two writes for a customer
     * never seen before). */
    struct customer_identity identity;
    int64_t customer_id = 0;
    const char *why = customers_parse_identity(values->text[INTAKE_CUSTOMER], values->len[INTAKE_CUSTOMER], &identity);
    if (why)
        return call_fail(call, CALL_INVALID, "customer '%s' %s",
                         QUOTE(values->text[INTAKE_CUSTOMER], values->len[INTAKE_CUSTOMER], 64), why);
    int new_customer = customers_resolve(call, &identity, &customer_id);
    if (new_customer < 0) return -1;

    /* Triage: the rule set's classify and priority hooks, checked in C, or
     * the built-in defaults. */
    struct rules_field fields[INTAKE_FIELD_COUNT + 3];
    int count = 0;
    for (int f = 0; f < INTAKE_FIELD_COUNT; f++) {
        if (values->text[f] == NULL) continue;
        struct rules_field *field = &fields[count++];
        memset(field, 0, sizeof *field);
        field->name = field_names[f];
        if (f == INTAKE_AMOUNT || f == INTAKE_PAID_AT || f == INTAKE_DELIVERED_AT) {
            field->is_integer = 1;
            field->integer = f == INTAKE_AMOUNT ? facts.amount : f == INTAKE_PAID_AT ? values->paid_at : values->delivered_at;
        } else {
            field->text = values->text[f];
            field->len = values->len[f];
        }
    }
    if (values->text[INTAKE_AMOUNT] == NULL && facts.has_amount)
        fields[count++] = (struct rules_field){.name = "amount", .integer = facts.amount, .is_integer = 1};
    if (values->text[INTAKE_CHANNEL] == NULL)
        fields[count++] = (struct rules_field){.name = "channel", .text = rules_default_channel(),
                                               .len = strlen(rules_default_channel())};
    if (values->text[INTAKE_CURRENCY] == NULL)
        fields[count++] = (struct rules_field){.name = "currency", .text = facts.currency, .len = 3};
    /* Threading: the rule set's thread hook may join the contact to an open
     * case of the customer instead (only when it defines the hook). */
    const char *channel = values->text[INTAKE_CHANNEL] ? values->text[INTAKE_CHANNEL] : rules_default_channel();
    const struct thread_contact contact = {
        channel, values->text[INTAKE_CHANNEL] ? values->len[INTAKE_CHANNEL] : strlen(channel),
        values->text[INTAKE_SUBJECT], values->len[INTAKE_SUBJECT],
        values->text[INTAKE_BODY], values->len[INTAKE_BODY],
        values->text[INTAKE_ORDER], values->len[INTAKE_ORDER],
        values->text[INTAKE_EXTERNAL_ID], values->len[INTAKE_EXTERNAL_ID],
    };
    /* A customer seen for the first time has no case to join. */
    struct thread_outcome *thread = malloc(sizeof *thread);
    if (thread == NULL) return call_fail(call, CALL_ERR, "out of memory");
    thread->called = 0;
    int joined = new_customer ? 0 : threading_join(call, &contact, fields, count, customer_id, id, thread);
    if (joined != 0) {
        free(thread);
        return joined < 0 ? -1 : 0;
    }
    struct rules_triage *triage = malloc(sizeof *triage);
    if (triage == NULL) {
        free(thread);
        return call_fail(call, CALL_ERR, "out of memory");
    }
    rules_triage(fields, count, triage);
    int rc = open_case(call, values, &facts, triage, customer_id, id);
    free(triage);
    /* The thread hook's row, on the case the contact opened. */
    if (rc == 0) rc = threading_record(call, *id, thread);
    free(thread);
    return rc;
}

/* The hooks of one intake (thread, classify, priority, sla, customer
 * notice, ...) share one rule time budget: one CASE.OPEN holds the loop
 * for one rules_time_ms of rule code at most, not one per hook (five
 * looping hooks held it 0.92 s at 200 ms each). */
int intake_open(struct call *call, const struct intake_values *values, int64_t *id) {
    rules_budget_begin();
    int status = open_within_budget(call, values, id);
    rules_budget_end();
    return status;
}
