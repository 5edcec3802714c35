/* order_book.c -- an order source (API 1.1) whose answers a test sets:
 *   ORDER_BOOK.SET id amount currency   the order was paid `amount` minor
 *                                       units of `currency` (any text: the
 *                                       host must check it)
 *   ORDER_BOOK.FAIL id [message]        lookups of id fail (-1), with the
 *                                       message if one is given
 *   ORDER_BOOK.ANSWER id n              lookups of id return n as they are
 *   ORDER_BOOK.FORGET id                id is unknown again (0)
 *   ORDER_BOOK.LOOKUPS                  how many lookups the host made
 * Orders never set are unknown.  Setting order_book.fail = id,id,... makes
 * those ids' lookups fail from the start ("book offline"): a source still
 * down when the daemon restarts. */
#include <redress/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BOOK_MAX 512   /* room for a test of hundreds of failing orders */

struct entry {
    char id[129];
    int64_t amount;
    char currency[4];
    int answer;               /* what the lookup returns */
    char message[128];        /* for a failure; "" sends none */
};

static const struct redress_host_api *host;
static struct entry book[BOOK_MAX];
static int64_t lookups;

static struct entry *entry_for(const char *id, int create) {
    for (int i = 0; i < BOOK_MAX; i++)
        if (book[i].id[0] && strcmp(book[i].id, id) == 0) return &book[i];
    if (!create) return NULL;
    for (int i = 0; i < BOOK_MAX; i++)
        if (book[i].id[0] == '\0') {
            snprintf(book[i].id, sizeof book[i].id, "%s", id);
            return &book[i];
        }
    return NULL;
}

static int lookup(void *state, const char *id, size_t length, struct redress_order *order) {
    (void)state;
    lookups++;
    if (strlen(id) != length) return 0;
    const struct entry *entry = entry_for(id, 0);
    if (entry == NULL) return 0;
    if (entry->answer == -1 && entry->message[0])
        snprintf(order->error, sizeof order->error, "%s", entry->message);
    order->paid_amount = entry->amount;
    memcpy(order->currency, entry->currency, sizeof order->currency); /* not NUL-terminated if it has 4 letters */
    return entry->answer;
}

static void set_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                        const size_t *argvlen) {
    (void)state, (void)argvlen;
    struct entry *entry = entry_for(argv[1], 1);
    if (entry == NULL) {
        host->reply_error(call, "LIMIT", "the book is full");
        return;
    }
    const char *name = argv[0];
    if (strcasecmp(name, "ORDER_BOOK.SET") == 0 && argc == 4) {
        entry->amount = strtoll(argv[2], NULL, 10);
        memset(entry->currency, 0, sizeof entry->currency);
        memcpy(entry->currency, argv[3], strlen(argv[3]) < 4 ? strlen(argv[3]) : 4);
        entry->answer = 1;
    } else if (strcasecmp(name, "ORDER_BOOK.FAIL") == 0) {
        entry->answer = -1;
        snprintf(entry->message, sizeof entry->message, "%s", argc == 3 ? argv[2] : "");
    } else if (strcasecmp(name, "ORDER_BOOK.ANSWER") == 0 && argc == 3) {
        entry->answer = atoi(argv[2]);
    } else if (strcasecmp(name, "ORDER_BOOK.FORGET") == 0) {
        memset(entry, 0, sizeof *entry);
    } else {
        host->reply_error(call, "INVALID", "bad arguments");
        return;
    }
    host->reply_simple(call, "OK");
}

static void lookups_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                            const size_t *argvlen) {
    (void)state, (void)argc, (void)argv, (void)argvlen;
    host->reply_integer(call, lookups);
}

static int order_book_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    (void)state;
    host = api;
    if (!REDRESS_API_HAS(api, register_order_source)) {
        api->log(self, REDRESS_LOG_ERROR, "this host has no order sources", NULL);
        return -1;
    }
    if (api->register_command(self, "ORDER_BOOK.SET", 4, 4, REDRESS_ROLE_ADMIN, "id amount currency", set_command) ||
        api->register_command(self, "ORDER_BOOK.FAIL", 2, 3, REDRESS_ROLE_ADMIN, "id [message]", set_command) ||
        api->register_command(self, "ORDER_BOOK.ANSWER", 3, 3, REDRESS_ROLE_ADMIN, "id n", set_command) ||
        api->register_command(self, "ORDER_BOOK.FORGET", 2, 2, REDRESS_ROLE_ADMIN, "id", set_command) ||
        api->register_command(self, "ORDER_BOOK.LOOKUPS", 1, 1, REDRESS_ROLE_ADMIN, "", lookups_command) ||
        api->register_order_source(self, lookup))
        return -1;
    const char *failing = api->config_get(self, "fail");
    for (const char *p = failing; p && *p;) {
        size_t length = strcspn(p, ",");
        char id[129];
        snprintf(id, sizeof id, "%.*s", (int)(length < sizeof id ? length : sizeof id - 1), p);
        struct entry *entry = entry_for(id, 1);
        if (entry == NULL) return -1;
        entry->answer = -1;
        snprintf(entry->message, sizeof entry->message, "book offline");
        p += length + (p[length] == ',');
    }
    return 0;
}

REDRESS_PLUGIN("order_book", "1.0", order_book_init, NULL);
