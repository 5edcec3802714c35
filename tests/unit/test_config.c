/* test_config.c -- the store settings of lib/config.c: `store` and
 * `postgresql_url`, alone (config_set) and together (config_check). */
#include "check.h"
#include "lib/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int contains(const char *text, const char *part) {
    return text != NULL && strstr(text, part) != NULL;
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
