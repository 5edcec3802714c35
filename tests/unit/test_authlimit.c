/* Unit tests of the per-address AUTH failure table (core/lib/authlimit.c). */
#include "check.h"
#include "lib/authlimit.h"

#include <string.h>

TEST(authlimit_delay_schedule) {
    CHECK_INT(authlimit_delay_ms(0), 0);
    CHECK_INT(authlimit_delay_ms(AUTHLIMIT_FREE_FAILURES), 0);
    CHECK_INT(authlimit_delay_ms(AUTHLIMIT_FREE_FAILURES + 1), AUTHLIMIT_DELAY_MIN_MS);
    CHECK_INT(authlimit_delay_ms(AUTHLIMIT_FREE_FAILURES + 2), 2 * AUTHLIMIT_DELAY_MIN_MS);
    CHECK_INT(authlimit_delay_ms(1000000), AUTHLIMIT_DELAY_MAX_MS);
}

TEST(authlimit_counts_per_address_and_gates) {
    authlimit_reset();
    int64_t now = 1000000, next = 0;
    CHECK_INT(authlimit_admit("10.0.0.1", now), now);
    CHECK_INT(authlimit_failed("10.0.0.1", now, &next), 1);
    CHECK_INT(next, now);                                   /* a typo costs nothing */
    CHECK_INT(authlimit_failed("10.0.0.1", now, &next), 2);
    CHECK_INT(authlimit_failed("10.0.0.1", now, &next), 3);
    CHECK_INT(next, now + AUTHLIMIT_DELAY_MIN_MS);
    CHECK_INT(authlimit_admit("10.0.0.1", now), now + AUTHLIMIT_DELAY_MIN_MS);   /* must wait */
    CHECK_INT(authlimit_admit("10.0.0.2", now), now);       /* another address is not held */
    CHECK_INT(authlimit_failures("10.0.0.2", now), 0);
    /* At the gate one AUTH is let through and reserves the next slot. */
    now += AUTHLIMIT_DELAY_MIN_MS;
    CHECK_INT(authlimit_admit("10.0.0.1", now), now);
    CHECK_INT(authlimit_admit("10.0.0.1", now), now + AUTHLIMIT_DELAY_MIN_MS);
    CHECK_INT(authlimit_failures("10.0.0.1", now), 3);
    CHECK_INT(authlimit_tracked(now), 1);
    /* A success gives its turn back; the failures stay. */
    now += AUTHLIMIT_DELAY_MIN_MS;
    CHECK_INT(authlimit_admit("10.0.0.1", now), now);
    authlimit_succeeded("10.0.0.1", now);
    CHECK_INT(authlimit_admit("10.0.0.1", now), now);
    CHECK_INT(authlimit_admit("10.0.0.1", now), now + AUTHLIMIT_DELAY_MIN_MS);
    authlimit_succeeded("10.0.0.1", now);   /* only the turn just taken is given back */
    CHECK_INT(authlimit_failures("10.0.0.1", now), 3);
    authlimit_failed("10.0.0.1", now, NULL);
    authlimit_succeeded("10.0.0.1", now);   /* a failure's delay is never given back */
    CHECK_INT(authlimit_admit("10.0.0.1", now), now + 2 * AUTHLIMIT_DELAY_MIN_MS);
    authlimit_reset();
}

TEST(authlimit_failures_decay_on_the_clock) {
    authlimit_reset();
    int64_t now = 5000000;
    for (int i = 0; i < 4; i++) authlimit_failed("h", now, NULL);
    CHECK_INT(authlimit_failures("h", now + AUTHLIMIT_FORGET_MS - 1), 4);
    CHECK_INT(authlimit_failures("h", now + AUTHLIMIT_FORGET_MS), 3);
    CHECK_INT(authlimit_failures("h", now + 3 * AUTHLIMIT_FORGET_MS + 10), 1);
    CHECK_INT(authlimit_failures("h", now + 4 * AUTHLIMIT_FORGET_MS), 0);
    CHECK_INT(authlimit_admit("h", now + 4 * AUTHLIMIT_FORGET_MS), now + 4 * AUTHLIMIT_FORGET_MS);
    CHECK_INT(authlimit_tracked(now + 4 * AUTHLIMIT_FORGET_MS), 0);
    /* A clock set back never leaves a gate longer than the longest delay. */
    for (int i = 0; i < 10; i++) authlimit_failed("h", now, NULL);
    CHECK(authlimit_admit("h", now - 3600000) <= now - 3600000 + AUTHLIMIT_DELAY_MAX_MS);
    authlimit_reset();
}

TEST(authlimit_table_is_bounded_and_keeps_the_worst) {
    authlimit_reset();
    int64_t now = 100;
    for (int i = 0; i < 50; i++) authlimit_failed("worst", now, NULL);
    char key[32];
    for (int i = 0; i < 3 * AUTHLIMIT_ADDRESSES; i++) {
        snprintf(key, sizeof key, "10.1.%d.%d", i / 256, i % 256);
        authlimit_failed(key, now, NULL);
    }
    CHECK_INT(authlimit_tracked(now), AUTHLIMIT_ADDRESSES);
    CHECK_INT(authlimit_failures("worst", now), 50);
    char top[256];
    authlimit_failed("second", now, NULL);
    authlimit_failed("second", now, NULL);
    authlimit_top(now, 2, top, sizeof top);
    CHECK_STR(top, "worst=50,second=2");
    authlimit_top(now, 3, top, 12);   /* what does not fit is left out whole */
    CHECK_STR(top, "worst=50");
    authlimit_reset();
    authlimit_top(now, 3, top, sizeof top);
    CHECK_STR(top, "");
}

TEST(authlimit_a_peers_failures_gate_here_but_leave_this_nodes_reservation) {
    authlimit_reset();
    int64_t now = 5000000;
    /* Three failures heard from other nodes: the same count and gate as if here. */
    for (int i = 0; i < 3; i++) authlimit_peer_failed("10.0.0.9", now);
    CHECK_INT(authlimit_failures("10.0.0.9", now), 3);
    CHECK_INT(authlimit_admit("10.0.0.9", now), now + AUTHLIMIT_DELAY_MIN_MS);
    /* At the gate this node admits one AUTH and reserves the next turn. */
    now += AUTHLIMIT_DELAY_MIN_MS;
    CHECK_INT(authlimit_admit("10.0.0.9", now), now);
    /* A peer's failure meanwhile raises the gate; the success here gives back
     * its own turn only, never the delay the peer's failure brought. */
    authlimit_peer_failed("10.0.0.9", now);
    CHECK_INT(authlimit_failures("10.0.0.9", now), 4);
    authlimit_succeeded("10.0.0.9", now);
    CHECK_INT(authlimit_admit("10.0.0.9", now), now + 2 * AUTHLIMIT_DELAY_MIN_MS);
    /* And a later local failure counts on from there. */
    int64_t next = 0;
    CHECK_INT(authlimit_failed("10.0.0.9", now, &next), 5);
    CHECK_INT(next, now + 4 * AUTHLIMIT_DELAY_MIN_MS);
}

TEST(authlimit_address_keys_are_ipv4_or_an_ipv6_64) {
    CHECK_INT(authlimit_key_valid("192.0.2.7"), 1);
    CHECK_INT(authlimit_key_valid("2001:db8:1:2::/64"), 1);
    CHECK_INT(authlimit_key_valid("::/64"), 1);
    CHECK_INT(authlimit_key_valid("2001:db8:1:2::5/64"), 0);   /* host bits set: not a /64 key */
    CHECK_INT(authlimit_key_valid("2001:db8::"), 0);           /* an IPv6 key is always a /64 */
    CHECK_INT(authlimit_key_valid("unix"), 0);                 /* this node's own socket */
    CHECK_INT(authlimit_key_valid("?"), 0);
    CHECK_INT(authlimit_key_valid(""), 0);
    CHECK_INT(authlimit_key_valid("192.0.2.7 x"), 0);
    CHECK_INT(authlimit_key_valid("999.0.2.7"), 0);
    char long_key[AUTHLIMIT_KEY_MAX + 8];
    memset(long_key, '1', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    CHECK_INT(authlimit_key_valid(long_key), 0);
}
