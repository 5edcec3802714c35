/* session.c -- browser sessions (see session.h).
 *
 * Sessions live in memory only: a restart logs every browser out, which
 * is the safe direction.  The table is small and scanned whole with
 * CRYPTO_memcmp, so a lookup's time says nothing about how much of a
 * guessed id was right.
 */
#include "http/session.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

static struct {
    struct session slots[SESSIONS_MAX];
    int used[SESSIONS_MAX];
    long long count;
    unsigned long long serial;   /* orders the sessions by creation (the clock may stand still) */
} sessions;

static int random_hex(char out[SESSION_ID_HEX + 1]) {
    unsigned char bytes[SESSION_ID_HEX / 2];
    if (RAND_bytes(bytes, sizeof bytes) != 1) return -1;
    for (size_t i = 0; i < sizeof bytes; i++) snprintf(out + 2 * i, 3, "%02x", bytes[i]);
    return 0;
}

static void drop_slot(int i) {
    OPENSSL_cleanse(&sessions.slots[i], sizeof sessions.slots[i]);
    sessions.used[i] = 0;
    sessions.count--;
}

/* Room for one more of agent's sessions: an agent at SESSIONS_PER_AGENT
 * gives up its own oldest, so one agent's logins never push out another's;
 * only a table full of many agents' sessions gives up the oldest of all. */
const struct session *session_create(const char *token, const char *agent, int64_t now, int64_t lifetime) {
    int free_slot = -1, oldest = -1, own_oldest = -1, own = 0;
    for (int i = 0; i < SESSIONS_MAX; i++) {
        if (sessions.used[i] && sessions.slots[i].expires <= now) drop_slot(i);
        if (!sessions.used[i]) {
            if (free_slot < 0) free_slot = i;
            continue;
        }
        if (oldest < 0 || sessions.slots[i].serial < sessions.slots[oldest].serial) oldest = i;
        if (strcmp(sessions.slots[i].agent, agent) == 0) {
            own++;
            if (own_oldest < 0 || sessions.slots[i].serial < sessions.slots[own_oldest].serial) own_oldest = i;
        }
    }
    if (own >= SESSIONS_PER_AGENT) {
        drop_slot(own_oldest);
        free_slot = own_oldest;
    } else if (free_slot < 0) {
        drop_slot(oldest);
        free_slot = oldest;
    }
    struct session *session = &sessions.slots[free_slot];
    if (random_hex(session->id) != 0 || random_hex(session->csrf) != 0) return NULL;
    snprintf(session->token, sizeof session->token, "%s", token);
    snprintf(session->agent, sizeof session->agent, "%s", agent);
    session->created = now;
    session->serial = ++sessions.serial;
    session->expires = now + lifetime;
    sessions.used[free_slot] = 1;
    sessions.count++;
    return session;
}

static int find_slot(const char *id) {
    if (strlen(id) != SESSION_ID_HEX) return -1;
    int found = -1;
    for (int i = 0; i < SESSIONS_MAX; i++)
        if (sessions.used[i] && CRYPTO_memcmp(sessions.slots[i].id, id, SESSION_ID_HEX) == 0) found = i;
    return found;
}

const struct session *session_find(const char *id, int64_t now) {
    int i = find_slot(id);
    if (i < 0) return NULL;
    if (sessions.slots[i].expires <= now) {
        drop_slot(i);
        return NULL;
    }
    return &sessions.slots[i];
}

int session_csrf_ok(const struct session *session, const char *csrf) {
    return csrf && strlen(csrf) == SESSION_ID_HEX && CRYPTO_memcmp(session->csrf, csrf, SESSION_ID_HEX) == 0;
}

void session_drop(const char *id) {
    int i = find_slot(id);
    if (i >= 0) drop_slot(i);
}

void session_drop_agent(const char *agent) {
    for (int i = 0; i < SESSIONS_MAX; i++)
        if (sessions.used[i] && strcmp(sessions.slots[i].agent, agent) == 0) drop_slot(i);
}

long long session_count(void) { return sessions.count; }
