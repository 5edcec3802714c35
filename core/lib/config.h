/* config.h -- the daemon's settings: defaults, config file, command-line flags.
 *
 * One table (config.c) lists every setting with its default, bounds and help.
 * The config file is "key = value" lines ('#' starts a comment anywhere
 * outside a "double quoted" value); every key is also a flag: max_bulk is --max-bulk.  Flags
 * override the file, whichever order they come in.
 */
#ifndef REDRESS_CONFIG_H
#define REDRESS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_PLUGIN_SETTINGS_MAX 64
#define CONFIG_NODE_NAME_MAX 64   /* bytes of node_name */

/* An approval limit (approve_limit_supervisor, approve_limit_finance):
 * either a bare integer, minor units whatever the currency (`200000`, the
 * form before currencies were told apart: 2000.00 CNY, but also 200.000
 * KWD and 200000 JPY), or a list of currencies and amounts, each read with
 * its currency's decimals by money_parse (`EUR 2000.00, JPY 300000, KWD
 * 600.000`), where a currency not listed has no limit at all: nothing in
 * it is within.  There are no exchange rates here to turn one currency's
 * limit into another's. */
#define CONFIG_LIMIT_CURRENCIES_MAX 32
#define CONFIG_LIMIT_TEXT_MAX 512    /* bytes of the setting as given */
struct config_limit {
    long long any;           /* the bare integer, or -1: the list */
    int count;
    struct {
        char currency[4];
        long long minor_units;
    } each[CONFIG_LIMIT_CURRENCIES_MAX];
    char text[CONFIG_LIMIT_TEXT_MAX]; /* as given (config_each) */
};

/* The limit in `currency` (three letters), minor units; -1 when the list
 * does not name it. */
long long config_limit_in(const struct config_limit *limit, const char *currency);

/* Which database holds the store (`store = sqlite | postgresql`). */
enum config_store_kind { CONFIG_STORE_SQLITE, CONFIG_STORE_POSTGRESQL };

struct config {
    char bind[256];          /* TCP address; "" disables TCP */
    long long port;          /* 0 = pick a free port */
    char data[1024];         /* data directory (created) */
    char rules[1024];        /* rule set directory */
    char plugins[1024];      /* plugins to load: a directory, or names / paths */
    char plugin_directory[1024]; /* where names are looked up ("" = plugins/ beside redressd) */
    char plugin_failure[16];     /* refuse | skip */
    char refund_executor[64];    /* outbox, or a plugin executor's name */
    char unix_socket[1024];  /* "" = DATA/redress.sock; "off" disables */
    int test_clock;          /* accept DEBUG.CLOCK; time stands still */
    int auth;                /* every command but PING, HELLO, AUTH, QUIT needs AUTH */
    int protected_mode;      /* auth = no only on loopback addresses */
    long long max_clients;
    long long max_unauthenticated_clients; /* TCP connections before AUTH; 0 = max_clients / 4 */
    long long unix_reserved_clients;       /* unix socket slots beyond max_clients */
    long long auth_timeout;                /* seconds a connection has to AUTH */
    long long max_inline;    /* bytes */
    long long max_bulk;      /* bytes */
    long long max_args;
    long long max_command;   /* bytes of all arguments of one command */
    long long output_limit;  /* bytes of unsent replies per client */
    long long subscriber_output_limit; /* bytes of unsent events per subscriber */
    long long idle_timeout;  /* seconds; 0 = never */
    int store_kind;          /* enum config_store_kind: sqlite (default) or postgresql */
    char postgresql_url[1024]; /* libpq URL or key=value conninfo, passed to libpq untouched */
    long long postgresql_answer_timeout; /* seconds the server may stay silent while answers are awaited */
    char node_name[128];     /* among the nodes of one database; "" = hostname:port (domain/nodes.c) */
    char sync[16];           /* "full" (default) or "normal": SQLite synchronous */
    int sync_thread;         /* 1: the WAL's fsync on the store's sync thread */
    long long batch_max_writes; /* commit once a batch holds this many writes */
    long long batch_max_ms;     /* ... or is this old */
    long long rules_memory;         /* bytes for the rule set's Lua state */
    long long rules_call_memory;    /* bytes a hook call may add */
    long long rules_instructions;   /* per hook call */
    long long rules_time_ms;        /* per hook call, real time */
    int rules_require_tests;        /* a reload must pass the set's own tests */
    int rules_watch;                /* reload when the rule files change */
    long long decision_retention_days;
    long long customer_retention_days;
    long long attachment_max_bytes;    /* 0: personal data of closed cases is kept */
    long long sla_warning_percent;  /* a deadline warns at this share of its target */
    struct config_limit approve_limit_supervisor, approve_limit_finance;
    char log_level[16];
    char default_currency[4];
    /* The HTTP front (core/http/): off unless http_port is set. */
    char http_port[8];             /* "" = off; "0" = pick a free port and log it */
    char http_bind[256];
    long long http_max_connections;
    long long http_max_unauthenticated; /* connections without credentials yet; 0 = 3/4 of http_max_connections */
    long long http_max_header;     /* bytes of a request's headers */
    long long http_max_body;       /* bytes of a request's body */
    long long http_timeout;        /* seconds to read a request (and idle keep-alive) */
    long long http_session_seconds; /* a browser session's life */
    char http_tls_cert[1024];       /* PEM certificate chain: HTTPS when set (with the key) */
    char http_tls_key[1024];        /* PEM private key */
    char http_cors_origins[1024];   /* CORS allow-list, exact origins, comma-separated; "" = no CORS */
    char http_trusted_proxies[1024]; /* proxies whose X-Forwarded-For is read (lib/proxies.h); "" = none */
    /* RESP over TLS (net/tls.c): a second port on `bind`, off unless tls_port is set. */
    char tls_port[8];               /* "" = off; "0" = pick a free port and log it */
    char tls_cert[1024];            /* PEM certificate chain */
    char tls_key[1024];             /* PEM private key */
    /* "plugin.key = value" settings, for plugins (config_plugin_setting). */
    int plugin_setting_count;
    struct {
        char key[96];
        char value[1024];
    } plugin_settings[CONFIG_PLUGIN_SETTINGS_MAX];
};

/* The value of "plugin.key", or NULL; owned by config.  *index (may be
 * NULL) gets its position in plugin_settings. */
const char *config_plugin_setting(const struct config *config, const char *plugin, const char *key, int *index);

/* Fills every field with its default. */
void config_defaults(struct config *config);

/* Reads a config file; returns NULL, or an error message (file:line: why)
 * written into error (size error_size).  A key set twice in the file is
 * refused ("key: set again (first at line N)"); a later file or a flag
 * (config_set) sets it again freely. */
const char *config_load_file(struct config *config, const char *path, char *error,
                             size_t error_size);

/* Sets one key (underscore or dash spelling) from text; returns NULL or a
 * message naming the key and why the value is wrong. */
const char *config_set(struct config *config, const char *key, const char *value,
                       char *error, size_t error_size);

/* 1 if key names a setting (or is a plugin's "name.key"): a flag given
 * without its value is then "needs a value", else "unknown setting". */
int config_known(const char *key);

/* Checks what one key alone cannot: settings that go together (store =
 * postgresql needs postgresql_url; postgresql_url without it is refused,
 * not ignored; node_name of letters, digits, '.', '-', '_' and ':', at
 * most CONFIG_NODE_NAME_MAX bytes; tls_port needs tls_cert and tls_key,
 * http_tls_cert and http_tls_key go together; some listener; a
 * refund_executor other than outbox needs plugins; auth = no only on
 * loopback unless protected_mode = no), before the store is opened.  Call once the file and the flags are applied; returns NULL
 * or a message naming the keys. */
const char *config_check(const struct config *config, char *error, size_t error_size);
/* What an offline mode (--test-rules, --replay, --restore,
 * --reset-admin-token) needs checked: the store's settings and the node's
 * name, not the listeners', which it never opens. */
const char *config_check_offline(const struct config *config, char *error, size_t error_size);

/* Writes the list of settings, their flags, defaults and help to out. */
void config_print_help(void *file);

/* Calls fn(name, value-as-text) for every setting, in table order (INFO). */
void config_each(const struct config *config,
                 void (*fn)(void *context, const char *name, const char *value),
                 void *context);

#endif
