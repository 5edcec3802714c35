/* authlimit.c -- failed AUTH attempts per source address (see authlimit.h).
 *
 * A fixed array searched linearly: AUTHLIMIT_ADDRESSES entries of a short
 * key cost microseconds per AUTH, nothing is allocated, and a flood of new
 * addresses cannot make the table grow.  Decay is lazy: an entry is brought
 * up to date whenever it is looked at.
 */
#include "lib/authlimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

struct entry {
    char key[AUTHLIMIT_KEY_MAX];
    long long failures;   /* as of decayed_ms; 0 = the slot is free */
    int64_t decayed_ms;   /* failures were last brought up to date at this instant */
    int64_t next_ms;      /* an AUTH from this address may run from this instant */
    int64_t unreserved_ms; /* next_ms before the last admitted AUTH reserved its turn */
};

static struct entry table[AUTHLIMIT_ADDRESSES];

int64_t authlimit_delay_ms(long long failures) {
    if (failures <= AUTHLIMIT_FREE_FAILURES) return 0;
    long long doublings = failures - AUTHLIMIT_FREE_FAILURES - 1;
    int64_t delay = AUTHLIMIT_DELAY_MIN_MS;
    while (doublings-- > 0 && delay < AUTHLIMIT_DELAY_MAX_MS) delay *= 2;
    return delay > AUTHLIMIT_DELAY_MAX_MS ? AUTHLIMIT_DELAY_MAX_MS : delay;
}

/* Forgets one failure per AUTHLIMIT_FORGET_MS since decayed_ms (the rest of a
 * period carries over).  A clock set back (tests) restarts the period. */
static void decay(struct entry *entry, int64_t now_ms) {
    if (entry->failures == 0) return;
    if (now_ms < entry->decayed_ms) {
        entry->decayed_ms = now_ms;
    } else {
        int64_t periods = (now_ms - entry->decayed_ms) / AUTHLIMIT_FORGET_MS;
        if (periods >= entry->failures) {
            entry->failures = 0;
        } else {
            entry->failures -= periods;
            entry->decayed_ms += periods * AUTHLIMIT_FORGET_MS;
        }
    }
    /* A gate never lies further ahead than the longest delay (the clock may
     * have been set back under it). */
    if (entry->next_ms > now_ms + AUTHLIMIT_DELAY_MAX_MS) entry->next_ms = now_ms + AUTHLIMIT_DELAY_MAX_MS;
}

static struct entry *find(const char *key, int64_t now_ms) {
    for (int i = 0; i < AUTHLIMIT_ADDRESSES; i++) {
        struct entry *entry = &table[i];
        if (entry->failures == 0 || strcmp(entry->key, key) != 0) continue;
        decay(entry, now_ms);
        return entry->failures ? entry : NULL;
    }
    return NULL;
}

/* A slot for a new key: a free one, else the one with the fewest failures
 * (the oldest of those), so that the addresses failing most stay known. */
static struct entry *make_room(int64_t now_ms) {
    struct entry *victim = NULL;
    for (int i = 0; i < AUTHLIMIT_ADDRESSES; i++) {
        struct entry *entry = &table[i];
        decay(entry, now_ms);
        if (entry->failures == 0) return entry;
        if (victim == NULL || entry->failures < victim->failures ||
            (entry->failures == victim->failures && entry->decayed_ms < victim->decayed_ms))
            victim = entry;
    }
    return victim;
}

int64_t authlimit_admit(const char *address, int64_t now_ms) {
    struct entry *entry = find(address, now_ms);
    if (entry == NULL) return now_ms;
    if (entry->next_ms > now_ms) return entry->next_ms;
    int64_t delay = authlimit_delay_ms(entry->failures);
    entry->unreserved_ms = entry->next_ms;
    if (delay > 0) entry->next_ms = now_ms + delay;
    return now_ms;
}

void authlimit_succeeded(const char *address, int64_t now_ms) {
    struct entry *entry = find(address, now_ms);
    if (entry && entry->unreserved_ms < entry->next_ms) entry->next_ms = entry->unreserved_ms;
}

/* The address's entry, made (with no failure and an open gate) when it
 * has none: what a failure, this node's or a peer's, counts on. */
static struct entry *find_or_make(const char *address, int64_t now_ms) {
    struct entry *entry = find(address, now_ms);
    if (entry) return entry;
    entry = make_room(now_ms);
    snprintf(entry->key, sizeof entry->key, "%s", address);
    entry->failures = 0;
    entry->decayed_ms = now_ms;
    entry->next_ms = entry->unreserved_ms = now_ms;
    return entry;
}

long long authlimit_failed(const char *address, int64_t now_ms, int64_t *next_ms) {
    struct entry *entry = find_or_make(address, now_ms);
    entry->failures++;
    int64_t next = now_ms + authlimit_delay_ms(entry->failures);
    if (next > entry->next_ms) entry->next_ms = next;
    entry->unreserved_ms = entry->next_ms; /* no turn is reserved now: nothing to give back */
    if (next_ms) *next_ms = entry->next_ms;
    return entry->failures;
}

void authlimit_peer_failed(const char *address, int64_t now_ms) {
    struct entry *entry = find_or_make(address, now_ms);
    entry->failures++;
    int64_t next = now_ms + authlimit_delay_ms(entry->failures);
    if (next > entry->next_ms) entry->next_ms = next;
    /* A turn this node reserved stays reserved; given back, the gate
     * still holds the peer's delay. */
    if (next > entry->unreserved_ms) entry->unreserved_ms = next;
}

int authlimit_key_valid(const char *key) {
    size_t len = strnlen(key, AUTHLIMIT_KEY_MAX);
    if (len == 0 || len >= AUTHLIMIT_KEY_MAX) return 0;
    unsigned char address[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, key, address) == 1) return 1;
    /* An IPv6 /64: the prefix, its last 64 bits zero (as net/server.c and
     * http/http.c make it). */
    char prefix[AUTHLIMIT_KEY_MAX];
    if (len < 4 || strcmp(key + len - 3, "/64") != 0) return 0;
    memcpy(prefix, key, len - 3);
    prefix[len - 3] = '\0';
    if (inet_pton(AF_INET6, prefix, address) != 1) return 0;
    for (int i = 8; i < 16; i++)
        if (address[i]) return 0;
    return 1;
}

long long authlimit_failures(const char *address, int64_t now_ms) {
    const struct entry *entry = find(address, now_ms);
    return entry ? entry->failures : 0;
}

int authlimit_tracked(int64_t now_ms) {
    int count = 0;
    for (int i = 0; i < AUTHLIMIT_ADDRESSES; i++) {
        decay(&table[i], now_ms);
        if (table[i].failures) count++;
    }
    return count;
}

void authlimit_top(int64_t now_ms, int most, char *out, size_t out_size) {
    if (out_size == 0) return;
    out[0] = '\0';
    size_t used = 0;
    long long below = -1; /* -1: no bound yet; else pick entries under (failures, index) of the last */
    int below_index = -1;
    for (int n = 0; n < most; n++) {
        int best = -1;
        for (int i = 0; i < AUTHLIMIT_ADDRESSES; i++) {
            decay(&table[i], now_ms);
            long long failures = table[i].failures;
            if (failures == 0) continue;
            /* Strictly after the previous pick in (failures descending, index ascending). */
            if (below >= 0 && (failures > below || (failures == below && i <= below_index))) continue;
            if (best < 0 || failures > table[best].failures) best = i;
        }
        if (best < 0) break;
        int written = snprintf(out + used, out_size - used, "%s%s=%lld", used ? "," : "", table[best].key,
                               table[best].failures);
        if (written < 0 || (size_t)written >= out_size - used) {
            out[used] = '\0'; /* what did not fit is left out whole */
            break;
        }
        used += (size_t)written;
        below = table[best].failures;
        below_index = best;
    }
}

void authlimit_reset(void) { memset(table, 0, sizeof table); }
