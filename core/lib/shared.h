/* shared.h -- in-memory state several nodes would have to share, behind
 * one interface: windowed counts (spikes for the rules, rates) and the
 * failed-AUTH table.
 *
 * Owns: the choice of backend.  The local one (the default) keeps the
 * counts in lib/counters.c and the AUTH failures in lib/authlimit.c; a
 * Redis or PostgreSQL one can stand behind the same struct later.
 * Never: decides policy (how many is a spike, how long a delay).
 */
#ifndef REDRESS_SHARED_H
#define REDRESS_SHARED_H

#include <stddef.h>
#include <stdint.h>

enum shared_space { SHARED_SPIKES, SHARED_RATE, SHARED_SPACES };   /* windowed counts */

struct shared_backend {
    int (*add)(enum shared_space space, const char *key, int64_t at);
    long long (*count)(enum shared_space space, const char *key, int64_t window, int64_t now);
    int64_t (*auth_admit)(const char *source, int64_t now_ms);
    long long (*auth_failed)(const char *source, int64_t now_ms, int64_t *next_ms);
    void (*auth_succeeded)(const char *source, int64_t now_ms);
    void (*auth_peer_failed)(const char *source, int64_t now_ms);
    int (*auth_tracked)(int64_t now_ms);
    void (*auth_top)(int64_t now_ms, int most, char *out, size_t out_size);
    void (*free)(void);
};

/* NULL: the in-process one (lib/counters.c, lib/authlimit.c). */
void shared_use(const struct shared_backend *backend);

/* Windowed counts.  Keys of SHARED_SPIKES are the rules' own
 * ("category:x", "tag:y", "customer:z": what redress.recent asks); other
 * spaces are kept apart by a prefix ("r|" ...).  0, or -1 (key too long). */
int shared_add(enum shared_space space, const char *key, int64_t at);
long long shared_count(enum shared_space space, const char *key, int64_t window, int64_t now);

/* Failed AUTHs per source address (lib/authlimit.h says what each does). */
int64_t shared_auth_admit(const char *source, int64_t now_ms);
long long shared_auth_failed(const char *source, int64_t now_ms, int64_t *next_ms);
void shared_auth_succeeded(const char *source, int64_t now_ms);
/* A failed AUTH another node counted (domain/nodes.c heard its note):
 * recorded as a failure of the source here, the failures only -- the turn
 * an admitted AUTH reserved stays this node's (authlimit_peer_failed). */
void shared_auth_peer_failed(const char *source, int64_t now_ms);
int shared_auth_tracked(int64_t now_ms);
void shared_auth_top(int64_t now_ms, int most, char *out, size_t out_size);

void shared_free(void);

#endif
