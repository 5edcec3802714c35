/* assignment.c -- presence and automatic assignment (see assignment.h).
 *
 * Invariants: an agent is handed a case only while it is online, enabled,
 * works the case's queue and holds fewer open cases than its capacity
 * (agents.load, which triggers keep as cases are assigned and change state,
 * is read in the command's own transaction, so the cases handed out earlier
 * in the same batch count); round robin's turn is
 * agents.assigned_seq, a row like any other (it survives restarts and
 * rolls back with its command); every assignment is a case event
 * ("assigned" auto=MODE, actor rules).  With every queue manual no entry
 * point reads the store.
 *
 * Several nodes (PostgreSQL): every writer of agents' rows takes one
 * transaction lock first (the agents' turn: a statement trigger on agents
 * takes it, and so the load trigger's update of cases does), and a
 * hand-out takes it before it reads the candidates.  So a node's batch
 * that hands out cases, or changes a load, holds the agents until it
 * commits, and another node's hand-out waits, then reads the loads and
 * turns that batch committed (READ COMMITTED reads anew at each
 * statement).  Two nodes never both hand out an agent's last slot, nor
 * the same turn; and since no batch holds an agent's row without the
 * turn, agents' rows never deadlock among themselves.  A cycle through
 * another lock held to COMMIT (an order's row, a spike's key) taken by an
 * earlier command of the same batch remains possible; PostgreSQL breaks it
 * by failing one command with 40P01 (its savepoint rolls back: nothing of
 * it is written, the client gets the store error).  QUEUE.LIST reads the
 * candidates without the turn.
 */
#include "domain/assignment.h"
#include "domain/agents.h"
#include "lib/lifecycle.h"
#include "lib/log.h"
#include "rules/rules.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CANDIDATES_MAX 256        /* online agents of one queue considered for a case */
#define CANDIDATES_TEXT 4096      /* the assign hook's `candidates` list */
#define ONLINE_QUEUES_MAX 256     /* distinct queues of online agents QUEUE.LIST lists */

static const char *const presence_names[] = {"offline", "online", "away"};

int assignment_presence_parse(const char *name, size_t len) {
    for (int i = 0; i < 3; i++)
        if (strlen(presence_names[i]) == len && strncasecmp(presence_names[i], name, len) == 0) return i;
    return -1;
}

const char *assignment_presence_name(enum presence presence) {
    return (unsigned)presence < 3 ? presence_names[presence] : "?";
}

/* 1 if queue[0..len) is one of the comma-separated names of list. */
static int listed(const char *list, const char *queue, size_t len) {
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t item = end ? (size_t)(end - p) : strlen(p);
        if (item == len && memcmp(p, queue, len) == 0) return 1;
        p += item + (end ? 1 : 0);
    }
    return 0;
}

/* ------------------------------------------------------------ candidates */

struct candidate {
    char name[NAMES_MAX + 1];
    long long capacity, load, seq;
};

/* The online, enabled agents of `queue` having every skill of `skills`
 * ("" none), by name, with their capacity and load.  The count, or -1 with
 * a store error in the call. */
static int load_candidates(struct call *call, const char *queue, size_t len, const char *skills,
                           struct candidate *out, int max, int to_hand_out) {
    static const char agents_sql[] =
        "SELECT name, queues, coalesce(capacity, ?1), assigned_seq, load, skills FROM agents"
        " WHERE presence = 'online' AND disabled = 0 ORDER BY name";
    /* The agents' turn (PostgreSQL; see the top), held to the batch's
     * COMMIT: the read after it sees what the batch before committed. */
    if (to_hand_out && agents_take_turn(call) != 0) return -1;
    struct store_stmt *statement = store_statement(agents_sql);
    if (statement) store_bind_int64(statement, 1, rules_assignment_capacity());
    int count = 0, row;
    while ((row = call_row(call, statement)) > 0) {
        const char *name = (const char *)store_column_text(statement, 0);
        const char *queues = (const char *)store_column_text(statement, 1);
        const char *has = (const char *)store_column_text(statement, 5);
        if (name == NULL || strlen(name) > NAMES_MAX || !listed(queues, queue, len) ||
            !agents_has_skills(has ? has : "", skills))
            continue;
        if (count == max) {
            store_reset(statement);
            break;
        }
        struct candidate *c = &out[count++];
        snprintf(c->name, sizeof c->name, "%s", name);
        c->capacity = store_column_int64(statement, 2);
        c->seq = store_column_int64(statement, 3);
        c->load = store_column_int64(statement, 4); /* kept by the schema's triggers (migration 19) */
    }
    return row < 0 ? -1 : count;
}

/* 1 if a is to be preferred to b under mode. */
static int better(enum rules_assign_mode mode, const struct candidate *a, const struct candidate *b) {
    if (mode == RULES_ASSIGN_LEAST_LOADED && a->load != b->load) return a->load < b->load;
    return a->seq < b->seq; /* whose turn it is; the earlier name on a tie (the list is by name) */
}

/* The candidate the mode chooses among those below capacity, or -1. */
static int choose(enum rules_assign_mode mode, const struct candidate *c, int count) {
    int best = -1;
    for (int i = 0; i < count; i++)
        if (c[i].load < c[i].capacity && (best < 0 || better(mode, &c[i], &c[best]))) best = i;
    return best;
}

/* The assign hook, when the set has one: may name another candidate or
 * leave the case.  Returns the index to use, -2 to leave it unassigned. */
static int ask_hook(const struct case_row *row, enum rules_assign_mode mode, const char *skills,
                    const struct candidate *c, int count, int chosen) {
    char candidates[CANDIDATES_TEXT];
    size_t used = 0;
    candidates[0] = '\0';
    /* The mode's choice first, then the others below capacity by name. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < count; i++) {
            if ((pass == 0) != (i == chosen) || c[i].load >= c[i].capacity) continue;
            int n = snprintf(candidates + used, sizeof candidates - used, "%s%s", used ? "," : "", c[i].name);
            if (n < 0 || (size_t)n >= sizeof candidates - used) break;
            used += (size_t)n;
        }
    const char *mode_name = rules_assign_mode_name(mode);
    struct rules_field fields[] = {
        {.name = "id", .integer = row->id, .is_integer = 1},
        {.name = "queue", .text = row->queue, .len = strlen(row->queue)},
        {.name = "category", .text = row->category, .len = strlen(row->category)},
        {.name = "priority", .text = row->priority, .len = strlen(row->priority)},
        {.name = "tags", .text = row->tags, .len = strlen(row->tags)},
        {.name = "customer", .text = row->customer, .len = strlen(row->customer)},
        {.name = "subject", .text = row->subject, .len = strlen(row->subject)},
        {.name = "channel", .text = row->channel, .len = strlen(row->channel)},
        {.name = "mode", .text = mode_name, .len = strlen(mode_name)},
        {.name = "candidates", .text = candidates, .len = used},
        {.name = "skills", .text = skills, .len = strlen(skills)},
    };
    /* skills only when the case needs some */
    int field_count = (int)(sizeof fields / sizeof fields[0]) - (skills[0] ? 0 : 1);
    struct rules_assignment decision;
    if (rules_assign(fields, field_count, &decision) != 0) return chosen;
    if (decision.none) return -2;
    if (!decision.agent[0]) return chosen;
    for (int i = 0; i < count; i++)
        if (strcmp(c[i].name, decision.agent) == 0 && c[i].load < c[i].capacity) return i;
    char quoted[NAMES_MAX + 8];
    log_warn("assign hook named no candidate, the mode's choice stands", "case=%lld agent=%s", (long long)row->id,
             log_quote(decision.agent, quoted, sizeof quoted));
    return chosen;
}

/* Hands row out under mode to an agent having `skills` (what the case
 * needs): 1 assigned, 0 nobody may take it, 2 the hook left it unassigned,
 * -1 a failure in the call. */
static int hand_out(struct call *call, struct case_row *row, enum rules_assign_mode mode, const char *skills) {
    struct candidate *c = malloc(CANDIDATES_MAX * sizeof *c);
    if (c == NULL) return call_fail(call, CALL_ERR, "out of memory");
    int count = load_candidates(call, row->queue, strlen(row->queue), skills, c, CANDIDATES_MAX, 1);
    int pick = count < 0 ? -1 : choose(mode, c, count);
    if (pick >= 0 && rules_has_hook(HOOK_ASSIGN)) pick = ask_hook(row, mode, skills, c, count, pick);
    int status = count < 0 ? -1 : pick == -2 ? 2 : pick < 0 ? 0 : 1;
    if (status == 1) {
        static const char turn_sql[] =
            "UPDATE agents SET assigned_seq = (SELECT max(assigned_seq) FROM agents) + 1 WHERE name = ?1";
        const char *actor = call->actor;
        call->actor = "rules";
        int failed = case_assign_auto(call, row, c[pick].name, strlen(c[pick].name), rules_assign_mode_name(mode)) < 0;
        call->actor = actor;
        struct store_stmt *statement = failed ? NULL : store_statement(turn_sql);
        if (statement) store_bind_text(statement, 1, c[pick].name, -1, STORE_STATIC);
        if (failed || call_step(call, statement) != 0) status = -1;
    }
    free(c);
    return status;
}

int assignment_place(struct call *call, struct case_row *row) {
    if (!rules_assignment_configured() || row->assignee[0] || !lifecycle_is_active(row->state)) return 0;
    enum rules_assign_mode mode = rules_assignment_mode(row->queue, strlen(row->queue));
    if (mode == RULES_ASSIGN_MANUAL) return 0;
    char skills[RULES_SKILLS_TEXT_MAX + 1];
    rules_assignment_skills(row->category, row->tags, skills);
    /* Nobody online could take it: no read of the store (intake's cost). */
    if (!agents_roster_serves(row->queue, strlen(row->queue), skills)) return 0;
    return hand_out(call, row, mode, skills) < 0 ? -1 : 0;
}

/* Hands out up to `max` waiting cases of queue, most urgent first (the
 * claim order), until nobody may take one.  0, or -1. */
static int fill_queue(struct call *call, const char *queue, size_t len, long long max) {
    enum rules_assign_mode mode = rules_assignment_mode(queue, len);
    if (mode == RULES_ASSIGN_MANUAL || !agents_roster_serves(queue, len, "")) return 0;
    static const char sql[] =
        "SELECT id FROM cases INDEXED BY cases_claimable"
        " WHERE assignee IS NULL AND (state = 'new' OR state = 'open' OR state = 'pending_internal') AND queue = ?1"
        " ORDER BY priority, coalesce(next_due, 9223372036854775807), id LIMIT 1 OFFSET ?2";
    long long skipped = 0; /* cases the assign hook left unassigned in this pass */
    for (long long handed = 0; handed < max;) {
        struct store_stmt *statement = store_statement(sql);
        if (statement) {
            store_bind_text(statement, 1, queue, (int)len, STORE_STATIC);
            store_bind_int64(statement, 2, skipped);
        }
        int found = call_row(call, statement);
        if (found <= 0) return found;
        int64_t id = store_column_int64(statement, 0);
        store_reset(statement);
        struct case_row row;
        if (case_load(call, id, 0, &row) != 0) return -1;
        char skills[RULES_SKILLS_TEXT_MAX + 1];
        rules_assignment_skills(row.category, row.tags, skills);
        int status = agents_roster_serves(queue, len, skills) ? hand_out(call, &row, mode, skills) : 0;
        if (status < 0 || (status == 0 && !skills[0])) return status;
        /* Left by the hook, or nobody with its skills may take it: the next
         * waiting case may still find an agent. */
        if (status == 2 || status == 0) skipped++;
        else handed++;
    }
    return 0;
}

/* Fills each queue of the comma-separated list (the agent's). */
static int fill_queues(struct call *call, const char *queues, long long max) {
    for (const char *p = queues; *p;) {
        const char *end = strchr(p, ',');
        size_t item = end ? (size_t)(end - p) : strlen(p);
        if (item && fill_queue(call, p, item, max) != 0) return -1;
        p += item + (end ? 1 : 0);
    }
    return 0;
}

/* The queues of an online, enabled agent into out; 1, 0 (not online), -1. */
static int online_queues_of(struct call *call, const char *agent, size_t len, char *out, size_t size) {
    static const char sql[] = "SELECT queues FROM agents WHERE name = ?1 AND presence = 'online' AND disabled = 0";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_text(statement, 1, agent, (int)len, STORE_STATIC);
    int found = call_row(call, statement);
    if (found > 0) {
        const char *queues = (const char *)store_column_text(statement, 0);
        snprintf(out, size, "%s", queues ? queues : "");
        store_reset(statement);
    }
    return found;
}

int assignment_slot_freed(struct call *call, const char *agent) {
    if (!rules_assignment_configured() || agent == NULL || agent[0] == '\0') return 0;
    char queues[AGENTS_QUEUES_BYTES];
    int online = online_queues_of(call, agent, strlen(agent), queues, sizeof queues);
    if (online <= 0) return online;
    return fill_queues(call, queues, ASSIGNMENT_CAPACITY_MAX);
}

int assignment_agent_changed(struct call *call, const char *agent, size_t len) {
    if (!rules_assignment_configured()) return 0;
    char queues[AGENTS_QUEUES_BYTES];
    int online = online_queues_of(call, agent, len, queues, sizeof queues);
    if (online <= 0) return online;
    return fill_queues(call, queues, ASSIGNMENT_CAPACITY_MAX);
}

int assignment_assign(struct call *call, struct case_row *row, const char *agent, size_t len) {
    char before[CASE_TEXT_MAX + 1];
    snprintf(before, sizeof before, "%s", row->assignee);
    /* CASE.ASSIGN and CASE.TRANSFER are refused on a full case: the two
     * could hand a case round without end, an event each.  Not a claim,
     * nor the automatic assignment: they take only an unassigned case (one
     * event each time a case becomes one again), and a claim refused would
     * stop its queue at the full case. */
    int same = strlen(row->assignee) == len && memcmp(row->assignee, agent, len) == 0;
    if (!same && case_refuse_full(call, row, "assign it")) return -1;
    int status = case_assign(call, row, agent, len, 0);
    if (status != 0) return status;
    return lifecycle_is_active(row->state) && assignment_slot_freed(call, before) != 0 ? -1 : 0;
}

int assignment_transfer(struct call *call, struct case_row *row, const char *queue, size_t len, const char *reason,
                        size_t reason_len) {
    char before[CASE_TEXT_MAX + 1];
    snprintf(before, sizeof before, "%s", row->assignee);
    if (case_refuse_full(call, row, "transfer it")) return -1;
    if (case_transfer(call, row, queue, len, reason, reason_len) != 0) return -1;
    if (lifecycle_is_active(row->state) && assignment_slot_freed(call, before) != 0) return -1;
    return assignment_place(call, row);
}

/* ------------------------------------------------------------ AGENT.STATUS */

int assignment_set_status(struct call *call, const char *agent, size_t len, enum presence presence,
                          long long capacity) {
    const struct caller *who = &call->who;
    int self = who->agent && strlen(who->agent) == len && memcmp(who->agent, agent, len) == 0;
    if (!who->internal && who->role != 0 && !(who->role & (ROLE_SUPERVISOR | ROLE_ADMIN)) && !self)
        return call_fail(call, CALL_NOPERM, "an agent may set only its own status");
    if (capacity >= 0 && (capacity < ASSIGNMENT_CAPACITY_MIN || capacity > ASSIGNMENT_CAPACITY_MAX))
        return call_fail(call, CALL_INVALID, "CAPACITY must be an integer from %d to %d", ASSIGNMENT_CAPACITY_MIN,
                         ASSIGNMENT_CAPACITY_MAX);
    static const char read_sql[] = "SELECT disabled FROM agents WHERE name = ?1";
    struct store_stmt *statement = store_statement(read_sql);
    if (statement) store_bind_text(statement, 1, agent, (int)len, STORE_STATIC);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    if (found == 0) return call_fail(call, CALL_NOTFOUND, "no agent '%.*s'", (int)(len > 64 ? 64 : len), agent);
    int disabled = store_column_int(statement, 0) != 0;
    store_reset(statement);
    if (disabled && presence == PRESENCE_ONLINE)
        return call_fail(call, CALL_BADSTATE, "agent '%.*s' is disabled: it cannot come online", (int)len, agent);
    static const char sql[] =
        "UPDATE agents SET presence = ?2, capacity = CASE WHEN ?3 >= 0 THEN ?3 ELSE capacity END WHERE name = ?1";
    statement = store_statement(sql);
    if (statement) {
        store_bind_text(statement, 1, agent, (int)len, STORE_STATIC);
        store_bind_text(statement, 2, assignment_presence_name(presence), -1, STORE_STATIC);
        store_bind_int64(statement, 3, capacity);
    }
    if (call_step(call, statement) != 0 || agents_roster_changed(call) != 0) return -1;
    char detail[96];
    if (capacity >= 0) snprintf(detail, sizeof detail, "presence=%s capacity=%lld", assignment_presence_name(presence), capacity);
    else snprintf(detail, sizeof detail, "presence=%s", assignment_presence_name(presence));
    if (agents_audit(call, "AGENT.STATUS", agent, len, detail) != 0) return -1;
    /* Online (again, or with more room): the waiting cases of its queues. */
    if (presence != PRESENCE_ONLINE || !rules_assignment_configured()) return 0;
    char queues[AGENTS_QUEUES_BYTES];
    int online = online_queues_of(call, agent, len, queues, sizeof queues);
    if (online <= 0) return online;
    return fill_queues(call, queues, ASSIGNMENT_CAPACITY_MAX);
}

/* ------------------------------------------------------------ QUEUE.LIST */

int assignment_queue_agents(struct call *call, const char *queue, size_t len, struct assignment_queue_agents *out) {
    out->mode = rules_assign_mode_name(rules_assignment_mode(queue, len));
    out->online = 0;
    out->agents[0] = '\0';
    struct candidate *c = malloc(CANDIDATES_MAX * sizeof *c);
    if (c == NULL) return call_fail(call, CALL_ERR, "out of memory");
    int count = load_candidates(call, queue, len, "", c, CANDIDATES_MAX, 0);
    size_t used = 0;
    for (int i = 0; i < count; i++) {
        char capacity[32] = "";
        if (c[i].capacity > 0) snprintf(capacity, sizeof capacity, "/%lld", c[i].capacity);
        int n = snprintf(out->agents + used, sizeof out->agents - used, "%s%s:%lld%s", used ? "," : "", c[i].name,
                         c[i].load, capacity);
        if (n < 0 || (size_t)n >= sizeof out->agents - used) {
            out->agents[used] = '\0';   /* cut at the last whole entry */
            break;
        }
        used += (size_t)n;
    }
    free(c);
    if (count < 0) return -1;
    out->online = count;
    return 0;
}

static int compare_names(const void *a, const void *b) { return strcmp(a, b); }

int assignment_online_queues(struct call *call, void (*visit)(void *context, const char *queue, size_t len),
                             void *context) {
    static const char sql[] = "SELECT queues FROM agents WHERE presence = 'online' AND disabled = 0";
    char (*names)[NAMES_MAX + 1] = malloc(ONLINE_QUEUES_MAX * sizeof *names);
    if (names == NULL) return call_fail(call, CALL_ERR, "out of memory");
    int count = 0, row;
    struct store_stmt *statement = store_statement(sql);
    while ((row = call_row(call, statement)) > 0) {
        const char *queues = (const char *)store_column_text(statement, 0);
        for (const char *p = queues ? queues : ""; *p;) {
            const char *end = strchr(p, ',');
            size_t item = end ? (size_t)(end - p) : strlen(p);
            int seen = item == 0 || item > NAMES_MAX;
            for (int i = 0; !seen && i < count; i++) seen = strlen(names[i]) == item && memcmp(names[i], p, item) == 0;
            if (!seen && count < ONLINE_QUEUES_MAX) snprintf(names[count++], NAMES_MAX + 1, "%.*s", (int)item, p);
            p += item + (end ? 1 : 0);
        }
    }
    if (row >= 0) {
        qsort(names, (size_t)count, sizeof *names, compare_names);
        for (int i = 0; i < count; i++) visit(context, names[i], strlen(names[i]));
    }
    free(names);
    return row < 0 ? -1 : count;
}
