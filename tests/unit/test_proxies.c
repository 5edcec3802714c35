/* Unit tests of trusted proxies and X-Forwarded-For (core/lib/proxies.c). */
#include "check.h"
#include "lib/proxies.h"

#include <string.h>

static const char *client_of(const struct proxies *proxies, const char *peer, const char *forwarded) {
    static char client[PROXIES_ADDRESS_MAX];
    proxies_client(proxies, peer, forwarded, client, sizeof client);
    return client;
}

TEST(proxies_parse_addresses_and_networks) {
    struct proxies proxies;
    char error[256];
    CHECK_INT(proxies_parse("", &proxies, error, sizeof error), 0);
    CHECK_INT(proxies.count, 0);
    CHECK_INT(proxies_parse(" 127.0.0.1 , ::1,10.0.0.0/8, fd00::/8 ", &proxies, error, sizeof error), 0);
    CHECK_INT(proxies.count, 4);
    CHECK(proxies_trusted(&proxies, "127.0.0.1"));
    CHECK(proxies_trusted(&proxies, "::ffff:127.0.0.1"));   /* a dual-stack listener's view */
    CHECK(proxies_trusted(&proxies, "10.255.0.3"));
    CHECK(proxies_trusted(&proxies, "fd12::3"));
    CHECK(!proxies_trusted(&proxies, "127.0.0.2"));
    CHECK(!proxies_trusted(&proxies, "11.0.0.1"));
    CHECK(!proxies_trusted(&proxies, "::2"));
    CHECK(!proxies_trusted(&proxies, "garbage"));
    const char *bad[] = {"localhost", "10.0.0.0/33", "10.0.0.0/", "::/129", "1.2.3.4:80", "10.0.0.0/8x", "1.2.3.4/-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(proxies_parse(bad[i], &proxies, error, sizeof error), -1);
        CHECK(strstr(error, bad[i]) != NULL);
    }
    CHECK_INT(proxies_parse("127.0.0.1, nginx", &proxies, error, sizeof error), -1);
    CHECK(strstr(error, "'nginx'") != NULL);
}

TEST(proxies_client_is_the_rightmost_untrusted_address) {
    struct proxies proxies;
    char error[256];
    CHECK_INT(proxies_parse("127.0.0.1, 10.0.0.0/8", &proxies, error, sizeof error), 0);
    CHECK_STR(client_of(&proxies, "127.0.0.1", "198.51.100.7"), "198.51.100.7");
    CHECK_STR(client_of(&proxies, "127.0.0.1", "1.1.1.1, 198.51.100.7"), "198.51.100.7");   /* left: forged */
    CHECK_STR(client_of(&proxies, "127.0.0.1", "198.51.100.7, 10.1.2.3 ,127.0.0.1"), "198.51.100.7");
    CHECK_STR(client_of(&proxies, "127.0.0.1", "198.51.100.7:4711"), "198.51.100.7");
    CHECK_STR(client_of(&proxies, "127.0.0.1", "[2001:db8::1]:443"), "2001:db8::1");
    CHECK_STR(client_of(&proxies, "127.0.0.1", "2001:db8::1"), "2001:db8::1");
    CHECK_STR(client_of(&proxies, "127.0.0.1", "::ffff:198.51.100.7"), "198.51.100.7");
    /* Malformed: the walk stops, the last good address stays. */
    CHECK_STR(client_of(&proxies, "127.0.0.1", "unknown, 10.0.0.9"), "10.0.0.9");
    CHECK_STR(client_of(&proxies, "127.0.0.1", "unknown"), "127.0.0.1");
    CHECK_STR(client_of(&proxies, "127.0.0.1", ""), "127.0.0.1");
    CHECK_STR(client_of(&proxies, "127.0.0.1", "198.51.100.7,"), "127.0.0.1");
    CHECK_STR(client_of(&proxies, "127.0.0.1", NULL), "127.0.0.1");
    /* All trusted: the left-most of them. */
    CHECK_STR(client_of(&proxies, "127.0.0.1", "10.0.0.1, 10.0.0.2"), "10.0.0.1");
    /* An untrusted peer's header names no one. */
    CHECK_STR(client_of(&proxies, "203.0.113.1", "198.51.100.7"), "203.0.113.1");
    CHECK_INT(proxies_client(&proxies, "203.0.113.1", "198.51.100.7", error, sizeof error), 0);
    CHECK_INT(proxies_client(&proxies, "127.0.0.1", "198.51.100.7", error, sizeof error), 1);
}
