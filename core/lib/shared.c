/* shared.c -- the shared-state interface and its local backend (see shared.h).
 *
 * Owns: the wrappers and the key of each space in the local counters.
 * Never: keeps state of its own (counters.c and authlimit.c do).
 */
#include "lib/shared.h"
#include "lib/authlimit.h"
#include "lib/counters.h"

#include <string.h>

#define SHARED_KEY_MAX 512

/* The local key of a space: the rules' spike keys as they are (today's), the
 * other spaces behind their letter ("r|key"). */
static int local_key(enum shared_space space, const char *key, char *out, size_t size) {
    static const char letters[SHARED_SPACES] = {'s', 'r'};
    /* every intake counts and adds in both spaces: copied, not formatted */
    size_t len = strlen(key), prefix = space == SHARED_SPIKES ? 0 : 2;
    if (prefix + len >= size) return -1;
    if (prefix) {
        out[0] = letters[space];
        out[1] = '|';
    }
    memcpy(out + prefix, key, len + 1);
    return 0;
}

static int local_add(enum shared_space space, const char *key, int64_t at) {
    char full[SHARED_KEY_MAX];
    if (local_key(space, key, full, sizeof full) != 0) return -1;
    counters_add(full, at);
    return 0;
}

static long long local_count(enum shared_space space, const char *key, int64_t window, int64_t now) {
    char full[SHARED_KEY_MAX];
    if (local_key(space, key, full, sizeof full) != 0) return 0;
    return counters_count(full, window, now);
}

static void local_free(void) {
    counters_free();
    authlimit_reset();
}

static const struct shared_backend local = {
    local_add, local_count, authlimit_admit, authlimit_failed, authlimit_succeeded, authlimit_peer_failed,
    authlimit_tracked, authlimit_top, local_free,
};

static const struct shared_backend *backend = &local;

void shared_use(const struct shared_backend *replacement) { backend = replacement ? replacement : &local; }

int shared_add(enum shared_space space, const char *key, int64_t at) { return backend->add(space, key, at); }

long long shared_count(enum shared_space space, const char *key, int64_t window, int64_t now) {
    return backend->count(space, key, window, now);
}

int64_t shared_auth_admit(const char *source, int64_t now_ms) { return backend->auth_admit(source, now_ms); }

long long shared_auth_failed(const char *source, int64_t now_ms, int64_t *next_ms) {
    return backend->auth_failed(source, now_ms, next_ms);
}

void shared_auth_succeeded(const char *source, int64_t now_ms) { backend->auth_succeeded(source, now_ms); }

void shared_auth_peer_failed(const char *source, int64_t now_ms) { backend->auth_peer_failed(source, now_ms); }

int shared_auth_tracked(int64_t now_ms) { return backend->auth_tracked(now_ms); }

void shared_auth_top(int64_t now_ms, int most, char *out, size_t out_size) {
    backend->auth_top(now_ms, most, out, out_size);
}

void shared_free(void) { backend->free(); }
