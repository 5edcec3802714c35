/* test_config.c -- the store settings of lib/config.c: `store` and
 * `postgresql_url`, alone (config_set) and together (config_check); the
 * config file's reading (comments, quotes) and the shipped example; the
 * approval limits, a bare integer or one per currency. */
#include "check.h"
#include "lib/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int contains(const char *text, const char *part) {
    return text != NULL && strstr(text, part) != NULL;
}

static int same(const char *text, const char *expected) {
    return text != NULL && strcmp(text, expected) == 0;
}

TEST(config_store_defaults_to_sqlite_without_a_url) {
    struct config config;
    char error[256];
    config_defaults(&config);
    CHECK_INT(config.store_kind, CONFIG_STORE_SQLITE);
    CHECK_STR(config.postgresql_url, "");
    CHECK(config_check(&config, error, sizeof error) == NULL);
}

TEST(config_store_postgresql_with_its_url) {
    struct config config;
    char error[256];
    config_defaults(&config);
    CHECK(config_set(&config, "store", "postgresql", error, sizeof error) == NULL);
    CHECK_INT(config.store_kind, CONFIG_STORE_POSTGRESQL);
    /* Passed through untouched: a multi-host URL with its options, and key=value conninfo. */
    const char *url = "postgresql://redress@db1:5432,db2:5432/redress?target_session_attrs=read-write";
    CHECK(config_set(&config, "postgresql-url", url, error, sizeof error) == NULL);
    CHECK_STR(config.postgresql_url, url);
    CHECK(config_check(&config, error, sizeof error) == NULL);
    CHECK(config_set(&config, "postgresql_url", "host=/run/postgresql dbname=redress", error, sizeof error) == NULL);
    CHECK_STR(config.postgresql_url, "host=/run/postgresql dbname=redress");
    CHECK(config_check(&config, error, sizeof error) == NULL);
    /* And back: the last word wins, as with every key. */
    CHECK(config_set(&config, "store", "sqlite", error, sizeof error) == NULL);
    CHECK_INT(config.store_kind, CONFIG_STORE_SQLITE);
}

TEST(config_postgresql_answer_timeout_seconds_within_bounds) {
    struct config config;
    char error[256];
    config_defaults(&config);
    CHECK_INT(config.postgresql_answer_timeout, 60);
    CHECK(config_set(&config, "postgresql_answer_timeout", "5", error, sizeof error) == NULL);
    CHECK_INT(config.postgresql_answer_timeout, 5);
    /* 0 would mean no bound at all -- the silent wait this setting exists to end. */
    const char *why = config_set(&config, "postgresql_answer_timeout", "0", error, sizeof error);
    CHECK(why != NULL && strstr(why, "postgresql_answer_timeout") != NULL);
    CHECK(config_set(&config, "postgresql_answer_timeout", "86401", error, sizeof error) != NULL);
    CHECK_INT(config.postgresql_answer_timeout, 5);
}

TEST(config_store_unknown_kind_names_the_key_and_the_choices) {
    struct config config;
    char error[256];
    config_defaults(&config);
    const char *why = config_set(&config, "store", "mysql", error, sizeof error);
    CHECK_STR(why, "store: 'mysql' is not sqlite or postgresql");
    CHECK_INT(config.store_kind, CONFIG_STORE_SQLITE); /* unchanged */
    /* Exact words only: no case folding, no prefix. */
    CHECK(config_set(&config, "store", "PostgreSQL", error, sizeof error) != NULL);
    CHECK(config_set(&config, "store", "postgres", error, sizeof error) != NULL);
    CHECK(config_set(&config, "store", "", error, sizeof error) != NULL);
    CHECK_INT(config.store_kind, CONFIG_STORE_SQLITE);
}

TEST(config_store_postgresql_without_url_is_refused) {
    struct config config;
    char error[256];
    config_defaults(&config);
    CHECK(config_set(&config, "store", "postgresql", error, sizeof error) == NULL);
    const char *why = config_check(&config, error, sizeof error);
    CHECK(contains(why, "store = postgresql needs postgresql_url"));
}

TEST(config_postgresql_url_with_sqlite_is_refused) {
    struct config config;
    char error[256];
    config_defaults(&config);
    CHECK(config_set(&config, "postgresql_url", "postgresql://redress@db/redress", error, sizeof error) == NULL);
    const char *why = config_check(&config, error, sizeof error);
    CHECK(contains(why, "postgresql_url is set but store = sqlite"));
}

TEST(config_postgresql_url_too_long_names_the_key) {
    struct config config;
    char error[256];
    config_defaults(&config);
    char url[1100];
    memset(url, 'x', sizeof url - 1);
    url[sizeof url - 1] = '\0';
    CHECK(contains(config_set(&config, "postgresql_url", url, error, sizeof error), "postgresql_url: value too long"));
    CHECK_STR(config.postgresql_url, "");
}

/* The file and the flags meet in config_check: a file's store = postgresql
 * and a flag's url (or the other way round) make one valid setting. */
TEST(config_store_settings_from_a_file) {
    char path[] = "/tmp/redress-config-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    FILE *file = fdopen(fd, "w");
    CHECK(file != NULL);
    if (file == NULL) {
        close(fd);
        unlink(path);
        return;
    }
    fputs("store = postgresql\n", file);
    fclose(file);
    struct config config;
    char error[512];
    config_defaults(&config);
    CHECK(config_load_file(&config, path, error, sizeof error) == NULL);
    CHECK_INT(config.store_kind, CONFIG_STORE_POSTGRESQL);
    CHECK(config_check(&config, error, sizeof error) != NULL);
    CHECK(config_set(&config, "postgresql-url", "postgresql:///redress", error, sizeof error) == NULL);
    CHECK(config_check(&config, error, sizeof error) == NULL);

    file = fopen(path, "w");
    CHECK(file != NULL);
    if (file) {
        fputs("# the store\nstore = \"sqlite3\"\n", file);
        fclose(file);
        config_defaults(&config);
        const char *why = config_load_file(&config, path, error, sizeof error);
        CHECK(contains(why, ":2: store: 'sqlite3' is not sqlite or postgresql"));
    }
    unlink(path);
}

static void collect(void *context, const char *name, const char *value) {
    if (strcmp(name, "store") == 0) snprintf(context, 32, "%s", value);
}

TEST(config_each_names_the_store_kind) {
    struct config config;
    char error[256], seen[32] = "";
    config_defaults(&config);
    config_each(&config, collect, seen);
    CHECK_STR(seen, "sqlite");
    CHECK(config_set(&config, "store", "postgresql", error, sizeof error) == NULL);
    config_each(&config, collect, seen);
    CHECK_STR(seen, "postgresql");
}

/* Writes text to a new temporary file; its path in path (a mkstemp
 * template).  0, or -1 with a failed check. */
static int write_file(char *path, const char *text) {
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return -1;
    FILE *file = fdopen(fd, "w");
    CHECK(file != NULL);
    if (file == NULL) {
        close(fd);
        unlink(path);
        return -1;
    }
    fputs(text, file);
    fclose(file);
    return 0;
}

/* Loads text as a config file into config (from its defaults); the error
 * or NULL, copied into error. */
static const char *load_text(struct config *config, const char *text, char *error, size_t error_size) {
    char path[] = "/tmp/redress-config-XXXXXX";
    config_defaults(config);
    if (write_file(path, text) != 0) {
        snprintf(error, error_size, "cannot write a temporary file");
        return error;
    }
    const char *why = config_load_file(config, path, error, error_size);
    unlink(path);
    return why;
}

/* A file saved with a UTF-8 byte-order mark (Windows editors) stopped at
 * "unknown setting 'port'": the mark is invisible.  It is skipped at the
 * start of the file, and only there. */
TEST(config_file_starting_with_a_byte_order_mark) {
    struct config config;
    char error[512];
    const char *why = load_text(&config, "\xEF\xBB\xBFmax_clients = 7\n", error, sizeof error);
    CHECK(why == NULL);
    if (why) printf("  %s\n", why);
    CHECK_INT(config.max_clients, 7);
    why = load_text(&config, "max_clients = 7\n\xEF\xBB\xBFport = 1\n", error, sizeof error);
    CHECK(why != NULL && contains(why, ":2: unknown setting"));
}

/* As in PostgreSQL's config file, '#' starts a comment anywhere outside a
 * double-quoted value (a trailing comment once became part of the value:
 * `data = DIR   # note` opened a new, empty data directory named so). */
TEST(config_comment_after_a_value) {
    struct config config;
    char error[512];
    const char *why = load_text(&config,
                                "data = /srv/redress   # where the cases live\n"
                                "unix_socket = \"\"            # \"\" = DATA/redress.sock, off = none\n"
                                "http_cors_origins = https://desk.example.com   # pages of other origins\n"
                                "max_clients = 7# no space before it\n"
                                "rules =   # none: built-in defaults\n"
                                "node_name = \"a-b\"\n"
                                "webhook.url = \"http://127.0.0.1:8080/hook#part\"   # quoted: keeps its '#'\n",
                                error, sizeof error);
    CHECK(why == NULL);
    if (why) printf("  %s\n", why);
    CHECK_STR(config.data, "/srv/redress");
    CHECK_STR(config.unix_socket, "");
    CHECK_STR(config.http_cors_origins, "https://desk.example.com");
    CHECK_INT(config.max_clients, 7);
    CHECK_STR(config.rules, "");
    CHECK_STR(config.node_name, "a-b");
    CHECK(same(config_plugin_setting(&config, "webhook", "url", NULL), "http://127.0.0.1:8080/hook#part"));
}

TEST(config_quotes_and_comments_refused_with_their_line) {
    struct config config;
    char error[512];
    CHECK(contains(load_text(&config, "port = 0\nbind = \"127.0.0.1\n", error, sizeof error),
                   ":2: bind: no closing '\"'"));
    CHECK(contains(load_text(&config, "bind = \"127.0.0.1\" 8080\n", error, sizeof error),
                   ":1: bind: '8080' after the closing '\"'"));
    CHECK(contains(load_text(&config, "port # = 5\n", error, sizeof error), ":1: expected key = value"));
    CHECK(load_text(&config, "bind = \"127.0.0.1\"   # loopback\n", error, sizeof error) == NULL);
    CHECK_STR(config.bind, "127.0.0.1");
}

/* The shipped example reads as its comments say: with every commented-out
 * setting ("# key = value  # note") taken in, each value is the text before
 * its note. */
TEST(config_shipped_example_reads_as_its_comments_say) {
    FILE *example = fopen("examples/config/redress.conf", "r");
    CHECK(example != NULL);
    if (example == NULL) return;
    char path[] = "/tmp/redress-config-XXXXXX", line[4096];
    int fd = mkstemp(path);
    FILE *copy = fd >= 0 ? fdopen(fd, "w") : NULL;
    CHECK(copy != NULL);
    int taken = 0;
    while (copy && fgets(line, sizeof line, example)) {
        size_t name = strspn(line + 2, "abcdefghijklmnopqrstuvwxyz_.");
        int setting = strncmp(line, "# ", 2) == 0 && name > 0 && strncmp(line + 2 + name, " =", 2) == 0;
        taken += setting;
        fputs(setting ? line + 2 : line, copy);
    }
    fclose(example);
    if (copy == NULL) return;
    fclose(copy);
    CHECK(taken >= 15);
    struct config config;
    char error[512];
    config_defaults(&config);
    const char *why = config_load_file(&config, path, error, sizeof error);
    unlink(path);
    CHECK(why == NULL);
    if (why) printf("  %s\n", why);
    CHECK_STR(config.unix_socket, "");
    CHECK_STR(config.postgresql_url, "postgresql://redress@db.example.com/redress");
    CHECK_STR(config.node_name, "");
    CHECK_STR(config.http_cors_origins, "https://desk.example.com");
    CHECK_STR(config.plugin_failure, "refuse");
    CHECK_STR(config.refund_executor, "http_refund");
    CHECK_STR(config.plugins, "webhook, orders, http_refund");
    CHECK_STR(config.tls_key, "/etc/redress/tls/key.pem");
    CHECK_STR(config.data, "./data");
    CHECK(same(config_plugin_setting(&config, "http_refund", "key", NULL), "change-me"));
}

/* A key set twice in one file is refused at its second line, naming the
 * first ('-' and '_' spell one key), plugin keys too; not the last silently. */
TEST(config_key_set_twice_in_a_file) {
    struct config config;
    char error[512];
    CHECK(contains(load_text(&config, "port = 7878\nmax_clients = 5\nport = 7000\n", error, sizeof error),
                   ":3: port: set again (first at line 1)"));
    CHECK(contains(load_text(&config, "# x\nmax_clients = 5\n\nmax-clients = 6\n", error, sizeof error),
                   ":4: max-clients: set again (first at line 2)"));
    CHECK(contains(load_text(&config, "webhook.url = a\nwebhook.events = x\nwebhook.url = b\n", error, sizeof error),
                   ":3: webhook.url: set again (first at line 1)"));
    CHECK(load_text(&config, "port = 7000\nwebhook.url = a\norders.url = b\n", error, sizeof error) == NULL);
    CHECK_INT(config.port, 7000);
    /* A file read after another sets its keys again: flags and later files win. */
    CHECK(config_set(&config, "port", "7001", error, sizeof error) == NULL);
    CHECK_INT(config.port, 7001);
}

/* Settings that later layers read as text are checked when read, with the
 * file's line, before the daemon opens its store or writes a token. */
TEST(config_words_addresses_and_ports_checked_when_read) {
    struct config config;
    char error[512];
    CHECK(contains(load_text(&config, "port = 0\nsync = fulll\n", error, sizeof error),
                   ":2: sync: 'fulll' is not full or normal"));
    CHECK(contains(load_text(&config, "log_level = verbose\n", error, sizeof error),
                   ":1: log_level: 'verbose' is not debug, info, warn or error"));
    CHECK(contains(load_text(&config, "bind = localhost\n", error, sizeof error),
                   ":1: bind: 'localhost' is not an IPv4 or IPv6 address"));
    CHECK(contains(load_text(&config, "http_port = 80a\n", error, sizeof error),
                   ":1: http_port: '80a' is not a port number in 0..65535"));
    CHECK(contains(load_text(&config, "tls_port = 70000\n", error, sizeof error),
                   ":1: tls_port: '70000' is not a port number in 0..65535"));
    CHECK(load_text(&config, "sync = normal\nlog_level = warn\nbind = \"::1\"\n"
                             "http_port = 0\ntls_port = 7879\n", error, sizeof error) == NULL);
    CHECK_STR(config.sync, "normal");
    CHECK_STR(config.log_level, "warn");
    CHECK_STR(config.bind, "::1");
    CHECK_STR(config.tls_port, "7879");
    CHECK(load_text(&config, "bind = \"\"\nhttp_port = \"\"\n", error, sizeof error) == NULL);
    CHECK_STR(config.bind, "");
    /* The defaults pass their own checks. */
    config_defaults(&config);
    CHECK_STR(config.bind, "127.0.0.1");
    CHECK_STR(config.sync, "full");
    CHECK_STR(config.log_level, "info");
}

static void collect_limit(void *context, const char *name, const char *value) {
    if (strcmp(name, "approve_limit_supervisor") == 0) snprintf(context, 128, "%s", value);
}

/* approve_limit_*: a bare integer keeps meaning minor units in any
 * currency (configs written before currencies were told apart); a list
 * gives each currency its own limit, its amount read with the currency's
 * decimals, and a currency it does not name has none (-1). */
TEST(config_approval_limits_bare_or_per_currency) {
    struct config config;
    char error[512], seen[128] = "";
    config_defaults(&config);
    CHECK_INT(config_limit_in(&config.approve_limit_supervisor, "CNY"), 200000);
    CHECK_INT(config_limit_in(&config.approve_limit_supervisor, "KWD"), 200000);
    CHECK_INT(config_limit_in(&config.approve_limit_finance, "JPY"), 1000000000000LL);
    CHECK(config_set(&config, "approve-limit-supervisor", "150000", error, sizeof error) == NULL);
    CHECK_INT(config_limit_in(&config.approve_limit_supervisor, "EUR"), 150000);
    CHECK(load_text(&config, "approve_limit_supervisor = EUR 2000.00, JPY 300000,KWD 600.000   # per currency\n"
                             "approve_limit_finance = \"USD 0.5\"\n", error, sizeof error) == NULL);
    CHECK_INT(config_limit_in(&config.approve_limit_supervisor, "EUR"), 200000);
    CHECK_INT(config_limit_in(&config.approve_limit_supervisor, "JPY"), 300000);
    CHECK_INT(config_limit_in(&config.approve_limit_supervisor, "KWD"), 600000);
    CHECK_INT(config_limit_in(&config.approve_limit_supervisor, "CNY"), -1);
    CHECK_INT(config_limit_in(&config.approve_limit_finance, "USD"), 50);
    CHECK_INT(config_limit_in(&config.approve_limit_finance, "EUR"), -1);
    config_each(&config, collect_limit, seen);
    CHECK_STR(seen, "EUR 2000.00, JPY 300000,KWD 600.000");
    /* A bad value names the entry and leaves the limit as it was. */
    static const struct {
        const char *value, *why;
    } bad[] = {
        {"EUR 2000.00, JPY 3000.5", "approve_limit_supervisor: 'JPY 3000.5': the amount has decimals"},
        {"KWD 1.0001", "approve_limit_supervisor: 'KWD 1.0001': the amount has too many decimals (at most 3)"},
        {"EUR 2000.00, EUR 1.00", "approve_limit_supervisor: 'EUR 1.00': EUR is listed twice"},
        {"EUR", "approve_limit_supervisor: 'EUR' is not minor units in 0..4611686018427387904"},
        {"EUR 1, Euro 2", "approve_limit_supervisor: 'Euro 2' is not a currency and an amount (like EUR 2000.00)"},
        {"EUR 1 2", "approve_limit_supervisor: 'EUR 1 2' is not a currency and an amount"},
        {"EUR 1,", "approve_limit_supervisor: an empty entry"},
        {"EUR 1e5", "approve_limit_supervisor: 'EUR 1e5': the amount is not a decimal number"},
        {"EUR 10000000000000.01", "approve_limit_supervisor: 'EUR 10000000000000.01': the amount is too large"},
        {"-1", "approve_limit_supervisor: '-1' is not minor units in 0..4611686018427387904 nor a list"},
        {"4611686018427387905", "is not minor units in 0..4611686018427387904"},
        {"", "approve_limit_supervisor: '' is not minor units"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = config_set(&config, "approve_limit_supervisor", bad[i].value, error, sizeof error);
        CHECK(contains(why, bad[i].why));
        if (!contains(why, bad[i].why)) printf("  %s: %s\n", bad[i].value, why ? why : "(accepted)");
        CHECK_INT(config_limit_in(&config.approve_limit_supervisor, "EUR"), 200000);
    }
    char many[600] = "";
    for (int i = 0; i < CONFIG_LIMIT_CURRENCIES_MAX + 1; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sA%c%c 1", i ? "," : "", 'A' + i / 26, 'A' + i % 26);
    CHECK(contains(config_set(&config, "approve_limit_supervisor", many, error, sizeof error), "more than 32 currencies"));
    CHECK(contains(load_text(&config, "approve_limit_finance = JPY 1.5\n", error, sizeof error),
                   ":1: approve_limit_finance: 'JPY 1.5': the amount has decimals (this currency has none)"));
}
