/* config.c -- settings table, config-file reader, flag setter (see config.h).
 *
 * Why key = value and not Lua: the config must be readable before the rule
 * engine exists, by operators who are not rule authors, and a typo must be a
 * precise error (file:line and key), not a Lua stack trace.
 */
#include "lib/config.h"
#include "lib/money.h"
#include "lib/proxies.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SETTING_CHOICE: one word of a fixed list, kept as its index (an enum of
 * config.h); anything else is refused at once, naming the key and the list.
 * SETTING_LIMIT: an approval limit, a struct config_limit (parse_limit). */
enum setting_type { SETTING_STRING, SETTING_INTEGER, SETTING_BOOLEAN, SETTING_CHOICE, SETTING_LIMIT };

struct setting {
    const char *name;
    enum setting_type type;
    size_t offset;
    size_t size;           /* strings: buffer size */
    const char *initial;   /* default, as text */
    long long minimum, maximum;
    const char *help;
    /* SETTING_CHOICE: the words, in enum order, NULL-terminated; a string
     * with words (WORD_SETTING) is one of them, kept as text. */
    const char *const *choices;
    /* A string read by a later layer (a listener's address or port): what
     * that layer accepts, checked here so that a bad value is refused with
     * FILE:LINE before the store is opened.  NULL or why (into why). */
    const char *(*check)(const char *value, char *why, size_t why_size);
};

#define STRING_SETTING(field, initial, help) \
    {#field, SETTING_STRING, offsetof(struct config, field), \
     sizeof(((struct config *)0)->field), initial, 0, 0, help, NULL, NULL}
#define WORD_SETTING(field, initial, words, help) \
    {#field, SETTING_STRING, offsetof(struct config, field), \
     sizeof(((struct config *)0)->field), initial, 0, 0, help, words, NULL}
#define CHECKED_SETTING(field, initial, check, help) \
    {#field, SETTING_STRING, offsetof(struct config, field), \
     sizeof(((struct config *)0)->field), initial, 0, 0, help, NULL, check}
#define INTEGER_SETTING(field, initial, minimum, maximum, help) \
    {#field, SETTING_INTEGER, offsetof(struct config, field), 0, initial, minimum, maximum, help, NULL, NULL}
#define BOOLEAN_SETTING(field, initial, help) \
    {#field, SETTING_BOOLEAN, offsetof(struct config, field), 0, initial, 0, 1, help, NULL, NULL}
#define CHOICE_SETTING(name, field, initial, choices, help) \
    {name, SETTING_CHOICE, offsetof(struct config, field), 0, initial, 0, 0, help, choices, NULL}
/* minimum, maximum: of the bare integer form. */
#define LIMIT_SETTING(field, initial, help) \
    {#field, SETTING_LIMIT, offsetof(struct config, field), 0, initial, 0, 1LL << 62, help, NULL, NULL}

/* The words of `store`, in enum config_store_kind's order. */
static const char *const store_kinds[] = {"sqlite", "postgresql", NULL};
/* Words of string settings, read as text by the layers that use them. */
static const char *const sync_words[] = {"full", "normal", NULL};
static const char *const log_level_words[] = {"debug", "info", "warn", "error", NULL};

/* bind: "" (no TCP) or an IPv4 or IPv6 address, as net/server.c listens. */
static const char *check_address(const char *value, char *why, size_t why_size) {
    unsigned char address[sizeof(struct in6_addr)];
    if (value[0] == '\0' || inet_pton(AF_INET, value, address) == 1 || inet_pton(AF_INET6, value, address) == 1)
        return NULL;
    snprintf(why, why_size, "'%.200s' is not an IPv4 or IPv6 address (\"\" = no TCP)", value);
    return why;
}

/* default_currency: a code the money code reads (money_currency_digits),
 * so that an amount sent without a currency can be read at all: "cny" or
 * "12" made every such CASE.OPEN fail. */
static const char *check_currency(const char *value, char *why, size_t why_size) {
    if (money_currency_digits(value, strlen(value)) >= 0) return NULL;
    snprintf(why, why_size, "'%.200s' is not an ISO 4217 currency code (three capital letters, like CNY or EUR)",
             value);
    return why;
}

/* http_port, tls_port: "" (off) or a port number, 0 picking a free one. */
static const char *check_port_or_off(const char *value, char *why, size_t why_size) {
    size_t digits = strspn(value, "0123456789");
    if (value[0] == '\0' || (digits == strlen(value) && digits <= 5 && atol(value) <= 65535)) return NULL;
    snprintf(why, why_size, "'%.200s' is not a port number in 0..65535 (\"\" = off)", value);
    return why;
}

static const struct setting settings[] = {
    CHECKED_SETTING(bind, "127.0.0.1", check_address, "TCP address to listen on (\"\" = no TCP)"),
    INTEGER_SETTING(port, "7878", 0, 65535, "TCP port; 0 picks a free one and logs it"),
    STRING_SETTING(data, "./data", "data directory (created if missing)"),
    STRING_SETTING(rules, "./rules", "rule set directory (\"\" = none: built-in defaults decide)"),
    STRING_SETTING(plugins, "", "plugins to load: a directory (each .so in it) or names and paths, comma-separated"),
    STRING_SETTING(plugin_directory, "", "where plugin names are looked up (\"\" = plugins/ beside redressd)"),
    STRING_SETTING(plugin_failure, "refuse", "a plugin that cannot load: refuse (do not start) or skip it"),
    STRING_SETTING(refund_executor, "outbox", "who executes approved refunds: outbox, or a plugin's executor"),
    STRING_SETTING(unix_socket, "", "unix socket path (\"\" = DATA/redress.sock, off = none)"),
    BOOLEAN_SETTING(test_clock, "no",
                    "freeze time; DEBUG.CLOCK moves it (tests only)"),
    BOOLEAN_SETTING(auth, "yes",
                    "require AUTH agent token on every listener (the first admin's token is in DATA/admin.token)"),
    BOOLEAN_SETTING(protected_mode, "yes",
                    "with auth = no, refuse to start unless bind and http_bind are loopback addresses"),
    INTEGER_SETTING(max_clients, "4096", 1, 1000000, "most connected clients"),
    INTEGER_SETTING(max_unauthenticated_clients, "0", 0, 1000000,
                    "most TCP connections not yet authenticated (0 = a quarter of max_clients)"),
    INTEGER_SETTING(unix_reserved_clients, "16", 0, 100000,
                    "unix socket connections allowed beyond max_clients (local admins always get in)"),
    INTEGER_SETTING(auth_timeout, "10", 1, 86400, "seconds a connection has to AUTH before it is closed"),
    INTEGER_SETTING(max_inline, "65536", 16, 1LL << 30, "longest inline command line, bytes"),
    INTEGER_SETTING(max_bulk, "1048576", 1, 1LL << 30, "longest bulk argument, bytes"),
    INTEGER_SETTING(max_args, "1024", 1, 1000000, "most arguments in one command"),
    INTEGER_SETTING(max_command, "4194304", 16, 1LL << 31, "most argument bytes in one command"),
    INTEGER_SETTING(output_limit, "16777216", 1024, 1LL << 40,
                    "unsent reply bytes after which a client is disconnected"),
    INTEGER_SETTING(subscriber_output_limit, "8388608", 1024, 1LL << 40,
                    "unsent event bytes after which a subscriber is cut off"),
    INTEGER_SETTING(idle_timeout, "300", 0, 1LL << 31, "seconds before an idle client is closed (0 = never)"),
    CHOICE_SETTING("store", store_kind, "sqlite", store_kinds,
                   "the store's database: sqlite (DATA/redress.db) or postgresql (at postgresql_url)"),
    STRING_SETTING(postgresql_url, "",
                   "with store = postgresql: the libpq URL (postgresql://...) or key=value conninfo, as libpq reads it"),
    INTEGER_SETTING(postgresql_answer_timeout, "60", 1, 86400,
                    "with store = postgresql: seconds the server may say nothing while an answer is awaited; "
                    "then the connection is dropped as lost (the commands in flight fail) and made again"),
    STRING_SETTING(node_name, "",
                   "this node's name among the nodes of one database, in INFO and the logs (\"\" = hostname:port)"),
    WORD_SETTING(sync, "full", sync_words, "SQLite synchronous: full (durable at reply) or normal"),
    BOOLEAN_SETTING(sync_thread, "yes",
                    "with sync full, fsync each batch's WAL on a thread of its own while the loop runs the next batch "
                    "(replies still wait for it)"),
    INTEGER_SETTING(batch_max_writes, "1000", 1, 1000000, "commit a batch at this many writes"),
    INTEGER_SETTING(batch_max_ms, "20", 0, 10000, "commit a batch at this age, milliseconds"),
    INTEGER_SETTING(rules_memory, "33554432", 1LL << 20, 1LL << 34, "memory cap of the rule set's Lua state, bytes"),
    INTEGER_SETTING(rules_call_memory, "8388608", 65536, 1LL << 34, "memory one hook call may add, bytes"),
    INTEGER_SETTING(rules_instructions, "10000000", 1000, 1LL << 40, "instruction budget of one hook call"),
    INTEGER_SETTING(rules_time_ms, "200", 1, 600000, "time budget of one hook call, milliseconds"),
    BOOLEAN_SETTING(rules_require_tests, "yes",
                    "a rule set loads only if its own tests (RULES/tests) pass"),
    INTEGER_SETTING(sla_warning_percent, "75", 1, 99, "a deadline warns at this percent of its target"),
    BOOLEAN_SETTING(rules_watch, "no",
                    "reload the rule set when its files change (checked every second)"),
    LIMIT_SETTING(approve_limit_supervisor, "200000",
                  "most a supervisor approves on one order (its refunds in all): minor units in any currency, "
                  "or per currency: EUR 2000.00, JPY 300000 (a currency not listed: none)"),
    LIMIT_SETTING(approve_limit_finance, "1000000000000",
                  "most finance approves on one order (its refunds in all): minor units in any currency, "
                  "or per currency: EUR 10000.00, JPY 1500000 (a currency not listed: none)"),
    INTEGER_SETTING(decision_retention_days, "90", 1, 36500, "days the decision log keeps its rows"),
    INTEGER_SETTING(attachment_max_bytes, "1048576", 1, 1073741824,
                    "largest attachment of a message or reply, bytes (a bulk argument is at most max_bulk)"),
    INTEGER_SETTING(customer_retention_days, "0", 0, 36500,
                    "days after a case closed that its customer's personal data is erased (0: kept)"),
    WORD_SETTING(log_level, "info", log_level_words, "debug, info, warn or error"),
    CHECKED_SETTING(default_currency, "CNY", check_currency, "currency of amounts sent without one (ISO 4217)"),
    CHECKED_SETTING(http_port, "", check_port_or_off, "HTTP port of the JSON API, metrics and dashboard (\"\" = off; 0 picks a free one and logs it)"),
    STRING_SETTING(http_bind, "127.0.0.1", "address the HTTP port listens on"),
    INTEGER_SETTING(http_max_connections, "1024", 1, 1000000, "most open HTTP connections"),
    INTEGER_SETTING(http_max_unauthenticated, "0", 0, 1000000,
                    "most HTTP connections that have not shown credentials yet (0 = three quarters of http_max_connections)"),
    INTEGER_SETTING(http_max_header, "8192", 256, 1LL << 20, "largest HTTP request headers, bytes"),
    INTEGER_SETTING(http_max_body, "65536", 256, 1LL << 30, "largest HTTP request body, bytes"),
    INTEGER_SETTING(http_timeout, "30", 1, 86400, "seconds to read a whole HTTP request, and of an idle keep-alive connection"),
    INTEGER_SETTING(http_session_seconds, "28800", 60, 2592000, "life of a dashboard login (browser session), seconds"),
    STRING_SETTING(http_tls_cert, "", "PEM certificate (chain) of the HTTP port: HTTPS, TLS 1.2 at least (with http_tls_key)"),
    STRING_SETTING(http_tls_key, "", "PEM private key of http_tls_cert"),
    STRING_SETTING(http_cors_origins, "", "origins (https://host[:port]) whose pages may call the API with a bearer token, comma-separated (\"\" = none)"),
    STRING_SETTING(http_trusted_proxies, "", "reverse proxies (addresses or ADDRESS/BITS, comma-separated) whose X-Forwarded-For names the HTTP client (\"\" = none trusted)"),
    CHECKED_SETTING(tls_port, "", check_port_or_off, "RESP over TLS port on bind (\"\" = off; 0 picks a free one and logs it), with tls_cert and tls_key"),
    STRING_SETTING(tls_cert, "", "PEM certificate (chain) of tls_port, TLS 1.2 at least"),
    STRING_SETTING(tls_key, "", "PEM private key of tls_cert"),
};

#define SETTING_COUNT (sizeof settings / sizeof settings[0])

static const struct setting *find_setting(const char *key) {
    char name[64];
    size_t i;
    for (i = 0; key[i] && i < sizeof name - 1; i++) name[i] = key[i] == '-' ? '_' : key[i];
    name[i] = '\0';
    if (key[i]) return NULL;
    for (size_t s = 0; s < SETTING_COUNT; s++)
        if (strcmp(settings[s].name, name) == 0) return &settings[s];
    return NULL;
}

/* The index of value among setting's words, or -1 with "key: 'value' is
 * not a or b" in error. */
static int find_word(const struct setting *setting, const char *value, char *error, size_t error_size) {
    char words[128] = "";
    for (int i = 0; setting->choices[i]; i++) {
        if (strcmp(value, setting->choices[i]) == 0) return i;
        snprintf(words + strlen(words), sizeof words - strlen(words), "%s%s",
                 i == 0 ? "" : setting->choices[i + 1] ? ", " : " or ", setting->choices[i]);
    }
    snprintf(error, error_size, "%s: '%.200s' is not %s", setting->name, value, words);
    return -1;
}

/* Strips spaces at both ends, in place. */
static char *trim(char *text) {
    while (isspace((unsigned char)*text)) text++;
    size_t len = strlen(text);
    while (len && isspace((unsigned char)text[len - 1])) text[--len] = '\0';
    return text;
}

/* One entry of a limit's list, in place: "CUR AMOUNT", the amount read by
 * money_parse with the currency's decimals, into limit's next slot.  NULL,
 * or why (naming the entry) in error. */
static const char *parse_limit_entry(const struct setting *setting, char *entry, struct config_limit *limit,
                                     char *error, size_t error_size) {
    char *text = trim(entry);
    if (*text == '\0') {
        snprintf(error, error_size, "%s: an empty entry (the list is CUR AMOUNT, CUR AMOUNT, ...)", setting->name);
        return error;
    }
    size_t code_len = strcspn(text, " \t");
    char *amount = text + code_len;
    amount += strspn(amount, " \t");
    int digits = money_currency_digits(text, code_len);
    if (digits < 0 || *amount == '\0' || amount[strcspn(amount, " \t")] != '\0') {
        snprintf(error, error_size, "%s: '%.100s' is not a currency and an amount (like EUR 2000.00)", setting->name,
                 text);
        return error;
    }
    int64_t minor_units;
    const char *why = money_parse(amount, strlen(amount), digits, &minor_units);
    if (why) {
        snprintf(error, error_size, "%s: '%.100s': the amount %s", setting->name, text, why);
        return error;
    }
    for (int i = 0; i < limit->count; i++)
        if (memcmp(limit->each[i].currency, text, 3) == 0) {
            snprintf(error, error_size, "%s: '%.100s': %.3s is listed twice", setting->name, text, text);
            return error;
        }
    if (limit->count == CONFIG_LIMIT_CURRENCIES_MAX) {
        snprintf(error, error_size, "%s: more than %d currencies", setting->name, CONFIG_LIMIT_CURRENCIES_MAX);
        return error;
    }
    memcpy(limit->each[limit->count].currency, text, 3);
    limit->each[limit->count].currency[3] = '\0';
    limit->each[limit->count++].minor_units = minor_units;
    return NULL;
}

/* An approval limit (config.h: struct config_limit): one word is the bare
 * integer, minor units in any currency, as the setting always read; words
 * or commas make a list.  The limit changes only when all of it reads. */
static const char *parse_limit(const struct setting *setting, const char *value, struct config_limit *limit,
                               char *error, size_t error_size) {
    struct config_limit read;
    memset(&read, 0, sizeof read);
    size_t len = strlen(value);
    if (len >= sizeof read.text) {
        snprintf(error, error_size, "%s: value too long (at most %zu bytes)", setting->name, sizeof read.text - 1);
        return error;
    }
    memcpy(read.text, value, len + 1);
    if (strpbrk(value, ", \t") == NULL) {
        char *end;
        errno = 0;
        long long number = strtoll(value, &end, 10);
        if (errno || end == value || *end || !isdigit((unsigned char)value[0]) || number < setting->minimum ||
            number > setting->maximum) {
            snprintf(error, error_size, "%s: '%.100s' is not minor units in %lld..%lld nor a list like EUR 2000.00, "
                     "JPY 300000", setting->name, value, setting->minimum, setting->maximum);
            return error;
        }
        read.any = number;
    } else {
        char copy[sizeof read.text];
        memcpy(copy, value, len + 1);
        read.any = -1;
        for (char *entry = copy, *comma;; entry = comma + 1) {
            comma = strchr(entry, ',');
            if (comma) *comma = '\0';
            if (parse_limit_entry(setting, entry, &read, error, error_size)) return error;
            if (comma == NULL) break;
        }
    }
    *limit = read;
    return NULL;
}

long long config_limit_in(const struct config_limit *limit, const char *currency) {
    if (limit->any >= 0) return limit->any;
    for (int i = 0; i < limit->count; i++)
        if (strcmp(limit->each[i].currency, currency) == 0) return limit->each[i].minor_units;
    return -1;
}

static const char *apply(struct config *config, const struct setting *setting, const char *value,
                         char *error, size_t error_size) {
    char *field = (char *)config + setting->offset;
    switch (setting->type) {
    case SETTING_STRING: {
        if (strlen(value) >= setting->size) {
            snprintf(error, error_size, "%s: value too long (at most %zu bytes)", setting->name,
                     setting->size - 1);
            return error;
        }
        if (setting->choices && find_word(setting, value, error, error_size) < 0) return error;
        char why[256];
        if (setting->check && setting->check(value, why, sizeof why)) {
            snprintf(error, error_size, "%s: %s", setting->name, why);
            return error;
        }
        memcpy(field, value, strlen(value) + 1);
        return NULL;
    }
    case SETTING_INTEGER: {
        char *end;
        errno = 0;
        long long number = strtoll(value, &end, 10);
        if (errno || end == value || *end || !isdigit((unsigned char)value[0]) ||
            number < setting->minimum || number > setting->maximum) {
            snprintf(error, error_size, "%s: '%s' is not an integer in %lld..%lld", setting->name,
                     value, setting->minimum, setting->maximum);
            return error;
        }
        *(long long *)(void *)field = number;
        return NULL;
    }
    case SETTING_BOOLEAN:
        if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "1"))
            *(int *)(void *)field = 1;
        else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "0"))
            *(int *)(void *)field = 0;
        else {
            snprintf(error, error_size, "%s: '%s' is not yes or no", setting->name, value);
            return error;
        }
        return NULL;
    case SETTING_CHOICE: {
        int word = find_word(setting, value, error, error_size);
        if (word < 0) return error;
        *(int *)(void *)field = word;
        return NULL;
    }
    case SETTING_LIMIT:
        return parse_limit(setting, value, (struct config_limit *)(void *)field, error, error_size);
    }
    return NULL;
}

void config_defaults(struct config *config) {
    char scratch[128];
    memset(config, 0, sizeof *config);
    for (size_t s = 0; s < SETTING_COUNT; s++)
        apply(config, &settings[s], settings[s].initial, scratch, sizeof scratch);
}

/* "name.key": a plugin's setting, kept as text for the plugin to read. */
static const char *set_plugin_setting(struct config *config, const char *key, const char *value, char *error,
                                      size_t error_size) {
    const char *dot = strchr(key, '.');
    size_t len = strlen(key);
    if (dot == key || dot[1] == '\0' || len >= sizeof config->plugin_settings[0].key) {
        snprintf(error, error_size, "bad plugin setting '%.64s': expected plugin.key", key);
        return error;
    }
    if (strlen(value) >= sizeof config->plugin_settings[0].value) {
        snprintf(error, error_size, "%s: value longer than %zu bytes", key, sizeof config->plugin_settings[0].value - 1);
        return error;
    }
    char normal[sizeof config->plugin_settings[0].key];
    for (size_t i = 0; i <= len; i++) normal[i] = key[i] == '-' ? '_' : key[i];
    int slot;
    for (slot = 0; slot < config->plugin_setting_count; slot++)
        if (strcmp(config->plugin_settings[slot].key, normal) == 0) break;
    if (slot == config->plugin_setting_count) {
        if (slot == CONFIG_PLUGIN_SETTINGS_MAX) {
            snprintf(error, error_size, "%s: more than %d plugin settings", key, CONFIG_PLUGIN_SETTINGS_MAX);
            return error;
        }
        config->plugin_setting_count++;
    }
    memcpy(config->plugin_settings[slot].key, normal, len + 1);
    snprintf(config->plugin_settings[slot].value, sizeof config->plugin_settings[slot].value, "%s", value);
    return NULL;
}

/* Keys compare with '-' and '_' alike: a setting is stored with '_'. */
static int same_key(const char *stored, const char *asked) {
    for (; *stored && *asked; stored++, asked++)
        if (*stored != (*asked == '-' ? '_' : *asked)) return 0;
    return *stored == *asked;
}

const char *config_plugin_setting(const struct config *config, const char *plugin, const char *key, int *index) {
    size_t plugin_len = strlen(plugin);
    for (int i = 0; i < config->plugin_setting_count; i++) {
        const char *name = config->plugin_settings[i].key;
        if (strncmp(name, plugin, plugin_len) == 0 && name[plugin_len] == '.' && same_key(name + plugin_len + 1, key)) {
            if (index) *index = i;
            return config->plugin_settings[i].value;
        }
    }
    return NULL;
}

const char *config_set(struct config *config, const char *key, const char *value, char *error,
                       size_t error_size) {
    if (strchr(key, '.')) return set_plugin_setting(config, key, value, error, error_size);
    const struct setting *setting = find_setting(key);
    if (setting == NULL) {
        snprintf(error, error_size, "unknown setting '%s'", key);
        return error;
    }
    return apply(config, setting, value, error, error_size);
}

int config_known(const char *key) {
    return strchr(key, '.') != NULL || find_setting(key) != NULL;
}

/* An address only this machine reaches: 127.0.0.0/8, ::1, or "" (none). */
static int loopback_only(const char *address) {
    struct in_addr v4;
    struct in6_addr v6;
    if (address[0] == '\0') return 1;
    if (inet_pton(AF_INET, address, &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, address, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

/* The checks of settings that depend on one another, which would
 * otherwise fail only once the store is open (and, on a first start, the
 * admin token written): a listener's TLS files, a daemon nobody can reach,
 * an executor no plugin can provide, auth = no open to the network. */
static const char *check_together(const struct config *config, char *error, size_t error_size) {
    if (config->tls_port[0] && (config->tls_cert[0] == '\0' || config->tls_key[0] == '\0')) {
        snprintf(error, error_size, "tls_port needs both tls_cert and tls_key");
        return error;
    }
    if (config->tls_port[0] && config->bind[0] == '\0') {
        snprintf(error, error_size, "tls_port listens on bind, which is \"\" (no TCP)");
        return error;
    }
    if ((config->http_tls_cert[0] == '\0') != (config->http_tls_key[0] == '\0')) {
        snprintf(error, error_size, "HTTPS needs both http_tls_cert and http_tls_key");
        return error;
    }
    if (config->bind[0] == '\0' && strcmp(config->unix_socket, "off") == 0 && config->http_port[0] == '\0') {
        snprintf(error, error_size, "no listener: bind is \"\", unix_socket is off and http_port is not set");
        return error;
    }
    if (strcmp(config->plugin_failure, "refuse") != 0 && strcmp(config->plugin_failure, "skip") != 0) {
        snprintf(error, error_size, "plugin_failure must be refuse or skip, not '%s'", config->plugin_failure);
        return error;
    }
    if (strcmp(config->refund_executor, "outbox") != 0 && config->plugins[0] == '\0') {
        snprintf(error, error_size, "refund_executor %.64s: no such executor (there are: outbox): plugins is \"\"",
                 config->refund_executor);
        return error;
    }
    /* An unauthenticated share at or above its connection limit leaves no
     * room for callers with credentials: idle sockets from anyone would
     * fill every connection and lock the admin out (over HTTP there is no
     * unix reserve).  Refused rather than cut down in silence: the
     * operator who raised it meant something, and should choose. */
    if (config->http_max_unauthenticated >= config->http_max_connections) {
        snprintf(error, error_size, "http_max_unauthenticated (%lld) must be below http_max_connections (%lld): "
                 "the rest is kept for callers with credentials (0 = three quarters)",
                 (long long)config->http_max_unauthenticated, (long long)config->http_max_connections);
        return error;
    }
    if (config->max_unauthenticated_clients >= config->max_clients) {
        snprintf(error, error_size, "max_unauthenticated_clients (%lld) must be below max_clients (%lld): "
                 "the rest is kept for clients that authenticated (0 = a quarter)",
                 (long long)config->max_unauthenticated_clients, (long long)config->max_clients);
        return error;
    }
    /* As Redis's protected mode: without AUTH, whoever reaches a listener
     * is trusted with everything (ADMIN.BACKUP, CUSTOMER.ERASE, DEBUG.*). */
    if (!config->auth && config->protected_mode) {
        const char *open = !loopback_only(config->bind) ? config->bind
                         : config->http_port[0] && !loopback_only(config->http_bind) ? config->http_bind : NULL;
        if (open) {
            snprintf(error, error_size, "auth = no on %.64s, an address other machines may reach: every client "
                     "there could do anything; bind loopback (127.0.0.1), turn auth on, or set protected_mode = no",
                     open);
            return error;
        }
    }
    return NULL;
}

/* http_cors_origins: each entry an origin as a browser sends it
 * (scheme://host[:port], nothing after): "*" would let every page call the
 * API with a token it holds, and "https://a/" never equals an Origin
 * header, so the page the operator meant would be refused in silence. */
static const char *check_cors_origins(const char *list, char *error, size_t error_size) {
    for (const char *at = list; *at;) {
        size_t len = strcspn(at, ",");
        const char *entry = at;
        while (len > 0 && *entry == ' ') entry++, len--;
        while (len > 0 && entry[len - 1] == ' ') len--;
        const char *rest = len >= 8 && !strncmp(entry, "https://", 8) ? entry + 8
                         : len >= 7 && !strncmp(entry, "http://", 7) ? entry + 7 : NULL;
        size_t host = rest ? (size_t)(entry + len - rest) : 0;
        int bad = rest == NULL || host == 0 || memchr(rest, '/', host) || memchr(rest, '*', host) ||
                  memchr(rest, '?', host) || memchr(rest, '#', host);
        if (bad) {
            snprintf(error, error_size, "http_cors_origins: '%.*s' is not an origin (scheme://host[:port], as a "
                     "browser's Origin header: no '*', no path or trailing '/')", (int)(len > 128 ? 128 : len), entry);
            return error;
        }
        at += strcspn(at, ",");
        if (*at == ',') at++;
    }
    return NULL;
}

const char *config_check(const struct config *config, char *error, size_t error_size) {
    if (check_together(config, error, error_size)) return error;
    if (check_cors_origins(config->http_cors_origins, error, error_size)) return error;
    struct proxies proxies;
    if (proxies_parse(config->http_trusted_proxies, &proxies, error, error_size) != 0) return error;
    return config_check_offline(config, error, error_size);
}

/* A url given with store = sqlite is refused rather than ignored: it says
 * the operator meant PostgreSQL, and a daemon that started on a fresh local
 * SQLite file instead would look like lost data. */
const char *config_check_offline(const struct config *config, char *error, size_t error_size) {
    if (config->store_kind == CONFIG_STORE_POSTGRESQL && config->postgresql_url[0] == '\0') {
        snprintf(error, error_size, "store = postgresql needs postgresql_url (postgresql://USER@HOST/DATABASE)");
        return error;
    }
    if (config->store_kind == CONFIG_STORE_SQLITE && config->postgresql_url[0] != '\0') {
        snprintf(error, error_size,
                 "postgresql_url is set but store = sqlite: add store = postgresql, or remove postgresql_url");
        return error;
    }
    /* A name travels in notes to the other nodes and in INFO's
     * "name=...,rules_version=..." lines: no separator of either. */
    for (const char *c = config->node_name; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr(".-_:", *c)) {
            snprintf(error, error_size, "node_name: '%c' is not a letter, digit, '.', '-', '_' or ':'", *c);
            return error;
        }
    if (strlen(config->node_name) > CONFIG_NODE_NAME_MAX) {
        snprintf(error, error_size, "node_name: longer than %d bytes", CONFIG_NODE_NAME_MAX);
        return error;
    }
    return NULL;
}

/* One line of a config file, in place: NULL and *key = NULL for a blank or
 * comment line; NULL with *key and *value; or why the line is wrong.  As in
 * PostgreSQL's config file, '#' starts a comment anywhere outside a double-
 * quoted value: `data = /srv/redress   # the cases` is /srv/redress, and a
 * value that must hold '#' is quoted.  A value's quotes end at the next '"'
 * (there is no escape); after them only spaces and a comment may follow.
 * An unbalanced quote is refused rather than read as part of the value (a
 * bind address "127.0.0.1 with its quote would only fail much later). */
static const char *parse_line(char *line, char **key, char **value, char *why, size_t why_size) {
    char *text = trim(line);
    *key = *value = NULL;
    if (*text == '#' || *text == '\0') return NULL;
    char *equals = strchr(text, '='), *hash = strchr(text, '#');
    if (equals == NULL || (hash != NULL && hash < equals)) {
        snprintf(why, why_size, "expected key = value");
        return why;
    }
    *equals = '\0';
    *key = trim(text);
    char *rest = trim(equals + 1);
    if (*rest == '"') {
        char *close = strchr(rest + 1, '"');
        if (close == NULL) {
            snprintf(why, why_size, "%.64s: no closing '\"' (a quoted value ends on its line)", *key);
            return why;
        }
        *close = '\0';
        char *after = close + 1;
        while (isspace((unsigned char)*after)) after++;
        if (*after != '\0' && *after != '#') {
            snprintf(why, why_size, "%.64s: '%.32s' after the closing '\"' (a comment starts with '#')", *key,
                     after);
            return why;
        }
        *value = rest + 1;
        return NULL;
    }
    if (hash != NULL) *hash = '\0';
    *value = trim(rest);
    return NULL;
}

/* Where each key was set in one file: a key set twice is refused (which
 * one did the operator mean?), not silently the last. */
struct set_lines {
    int setting[SETTING_COUNT];
    struct {
        char key[sizeof ((struct config *)0)->plugin_settings[0].key];
        int line;
    } plugin[CONFIG_PLUGIN_SETTINGS_MAX];
    int plugin_count;
};

/* key's slot in lines (its line, 0 = not set yet), or NULL for a key
 * config_set will refuse anyway.  '-' and '_' are one key. */
static int *first_line(struct set_lines *lines, const char *key) {
    if (strchr(key, '.') == NULL) {
        const struct setting *setting = find_setting(key);
        return setting ? &lines->setting[setting - settings] : NULL;
    }
    char normal[sizeof lines->plugin[0].key];
    size_t len = strlen(key);
    if (len >= sizeof normal) return NULL;
    for (size_t i = 0; i <= len; i++) normal[i] = key[i] == '-' ? '_' : key[i];
    for (int i = 0; i < lines->plugin_count; i++)
        if (strcmp(lines->plugin[i].key, normal) == 0) return &lines->plugin[i].line;
    if (lines->plugin_count == CONFIG_PLUGIN_SETTINGS_MAX) return NULL;
    memcpy(lines->plugin[lines->plugin_count].key, normal, len + 1);
    lines->plugin[lines->plugin_count].line = 0;
    return &lines->plugin[lines->plugin_count++].line;
}

const char *config_load_file(struct config *config, const char *path, char *error,
                             size_t error_size) {
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        snprintf(error, error_size, "%s: %s", path, strerror(errno));
        return error;
    }
    char line[4096], why[256];
    int number = 0;
    const char *result = NULL;
    struct set_lines lines;
    memset(&lines, 0, sizeof lines);
    while (result == NULL && fgets(line, sizeof line, file)) {
        number++;
        if (strchr(line, '\n') == NULL && !feof(file)) {
            snprintf(error, error_size, "%s:%d: line too long", path, number);
            result = error;
            break;
        }
        char *key, *value;
        /* A UTF-8 byte-order mark (what Windows editors write first) is
         * skipped: it is invisible, and "unknown setting 'port'" about a
         * line that reads port = ... made no sense. */
        char *start = number == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0 ? line + 3 : line;
        if (parse_line(start, &key, &value, why, sizeof why) == NULL) {
            if (key == NULL) continue;
            int *first = first_line(&lines, key);
            if (first && *first) {
                snprintf(why, sizeof why, "%.64s: set again (first at line %d)", key, *first);
            } else if (config_set(config, key, value, why, sizeof why) == NULL) {
                if (first) *first = number;
                continue;
            }
        }
        snprintf(error, error_size, "%s:%d: %s", path, number, why);
        result = error;
    }
    /* fgets ends at a read error as at the end: a directory (EISDIR) or
     * an I/O error must not leave the rest of the file unread, silently. */
    if (result == NULL && ferror(file)) {
        snprintf(error, error_size, "%s: %s", path, strerror(errno ? errno : EIO));
        result = error;
    }
    fclose(file);
    return result;
}

void config_print_help(void *output) {
    FILE *file = output;
    for (size_t s = 0; s < SETTING_COUNT; s++) {
        char flag[64];
        size_t i;
        for (i = 0; settings[s].name[i] && i < sizeof flag - 1; i++)
            flag[i] = settings[s].name[i] == '_' ? '-' : settings[s].name[i];
        flag[i] = '\0';
        fprintf(file, "  --%-18s %s (default: %s)\n", flag, settings[s].help,
                settings[s].initial[0] ? settings[s].initial : "\"\"");
    }
}

void config_each(const struct config *config,
                 void (*fn)(void *context, const char *name, const char *value), void *context) {
    for (size_t s = 0; s < SETTING_COUNT; s++) {
        const char *field = (const char *)config + settings[s].offset;
        char text[64];
        switch (settings[s].type) {
        case SETTING_STRING: fn(context, settings[s].name, field); break;
        case SETTING_INTEGER:
            snprintf(text, sizeof text, "%lld", *(const long long *)(const void *)field);
            fn(context, settings[s].name, text);
            break;
        case SETTING_BOOLEAN:
            fn(context, settings[s].name, *(const int *)(const void *)field ? "yes" : "no");
            break;
        case SETTING_CHOICE:
            fn(context, settings[s].name, settings[s].choices[*(const int *)(const void *)field]);
            break;
        case SETTING_LIMIT:
            fn(context, settings[s].name, ((const struct config_limit *)(const void *)field)->text);
            break;
        }
    }
}
