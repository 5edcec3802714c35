/* main.c -- redressd: command line, start-up order, shutdown.
 *
 * Start-up order matters: the data directory, the store (opened, migrated,
 * its header and schema checked), plugins, rules, the admin agent and its
 * token, overdue deadlines -- and only then are the listeners bound and
 * "listening port=N" logged, the last line of the start: scripts read the
 * port and the token right after it and may send a command at once.  The
 * full integrity check of the database runs after that, off the loop.
 *
 * Files: the umask is 077 for the whole process, so everything the daemon
 * and its plugins create (database, WAL, shared memory, token, cursors,
 * socket) is for its own user only, whatever the data directory's mode.
 */
#include "domain/agents.h"
#include "domain/intake.h"
#include "domain/orders.h"
#include "domain/refunds.h"
#include "domain/deadlines.h"
#include "domain/events.h"
#include "domain/facts.h"
#include "domain/tick.h"
#include "cmd/conn.h"
#include "cmd/table.h"
#include "lib/clock.h"
#include "lib/config.h"
#include "lib/shared.h"
#include "plugin/host.h"
#include "lib/log.h"
#include "rules/rules.h"
#include "net/connections.h"
#include "net/server.h"
#include "store/store.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>

static void usage(FILE *out) {
    fprintf(out,
            "usage: redressd [--config FILE] [--bind ADDR] [--port N] [--data DIR] [--rules DIR]\n"
            "                [--plugins DIR] [--test-clock] [--version] [--help] [--SETTING VALUE ...]\n"
            "       redressd --test-rules DIR   (run a rule set's tests, exit 1 on a failure)\n"
            "\n"
            "redress: an after-sales case engine speaking RESP2 (redis-cli, telnet, client libraries).\n"
            "Every setting of the config file (key = value) is also a flag; flags win.\n\n"
            "settings:\n");
    config_print_help(out);
}

/* Applies argv over config.  Returns 0, 1 when the program should exit 0
 * (--help, --version), or -1 on a bad flag (message printed). */
static int apply_flags(struct config *config, int argc, char **argv) {
    char error[512];
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (!strcmp(flag, "--help") || !strcmp(flag, "-h")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(flag, "--version") || !strcmp(flag, "-v")) {
            printf("redressd %s (sqlite %s, %s, libevent %s)\n", REDRESS_VERSION, sqlite3_libversion(),
                   "lua 5.4", event_get_version());
            return 1;
        }
        if (!strcmp(flag, "--test-rules")) {
            i++; /* handled in main */
            continue;
        }
        if (!strcmp(flag, "--test-clock")) {
            config->test_clock = 1;
            continue;
        }
        if (strncmp(flag, "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr, "redressd: %s: %s (see --help)\n", flag,
                    strncmp(flag, "--", 2) ? "unexpected argument" : "needs a value");
            return -1;
        }
        const char *value = argv[++i];
        if (!strcmp(flag, "--config")) continue; /* read before the other flags */
        if (config_set(config, flag + 2, value, error, sizeof error)) {
            fprintf(stderr, "redressd: %s (see --help)\n", error);
            return -1;
        }
    }
    return 0;
}

/* The data directory holds customer data: say so when others may look in. */
static void check_data_directory_mode(const char *path) {
    struct stat status;
    char quoted[1100];
    if (stat(path, &status) == 0 && (status.st_mode & 077) != 0)
        log_warn("data directory is open to other users: its files are 0600, but chmod 700 it",
                 "path=%s mode=%04o", log_quote(path, quoted, sizeof quoted), (unsigned)(status.st_mode & 07777));
}

/* Every registration between layers, in one place: a lower layer calls up
 * only through what is registered here. */
static int wire(void) {
    /* rules: customer facts and the plugins' namespace */
    rules_set_customer_provider(facts_customer);
    rules_set_lua_namespace(plugins_push_lua_namespace);
    /* orders: the plugin order source */
    static const struct order_source plugin_orders = {plugins_order_source, plugins_order_lookup};
    orders_set_source(&plugin_orders);
    /* events, agents, commands: the fronts above */
    if (events_listen(plugins_events_listener()) != 0) return -1;
    agents_on_disabled(connections_drop_agent);
    agents_on_changed(connections_update_agent);
    commands_set_info_sections(server_info, plugins_info);
    commands_set_hello_modules(plugins_hello);
    commands_set_plugin_list(plugin_list_command);
    return 0;
}

int main(int argc, char **argv) {
    struct config config;
    char error[1600];
    umask(077);
    config_defaults(&config);
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--config")) {
            if (config_load_file(&config, argv[i + 1], error, sizeof error)) {
                fprintf(stderr, "redressd: config: %s\n", error);
                return 2;
            }
        }
    }
    int flags = apply_flags(&config, argc, argv);
    if (flags != 0) return flags > 0 ? 0 : 2;
    struct rules_settings rules_settings = {
        .limits = {.memory_bytes = (size_t)config.rules_memory,
                   .call_memory_bytes = (size_t)config.rules_call_memory, .instructions = config.rules_instructions,
                   .milliseconds = config.rules_time_ms},
        .require_tests = config.rules_require_tests,
    };
    rules_configure(&rules_settings);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--test-rules") != 0) continue;
        if (i + 1 >= argc) {
            fprintf(stderr, "redressd: --test-rules needs a rule set directory\n");
            return 2;
        }
        log_set_level(LOG_WARN); /* rule tests keep their own clock (set_clock) */
        int failed = rules_run_tests(argv[i + 1], 1);
        rules_unload();
        return failed == 0 ? 0 : 1;
    }
    int level = log_level_parse(config.log_level);
    if (level < 0) {
        fprintf(stderr, "redressd: log_level must be debug, info, warn or error\n");
        return 2;
    }
    log_set_level((enum log_level)level);
    clock_init(config.test_clock, 0);
    if (config.test_clock) {
        /* Frozen at the real time of start; tests then SET it. */
        clock_init(0, 0);
        int64_t now = clock_now_ms();
        clock_init(1, now);
    }
    cases_set_default_currency(config.default_currency);
    refunds_configure(config.approve_limit_supervisor, config.approve_limit_finance);

    struct event_config *event_config = event_config_new();
    struct event_base *base = event_config ? event_base_new_with_config(event_config) : NULL;
    if (event_config) event_config_free(event_config);
    if (base == NULL || event_base_priority_init(base, NET_PRIORITY_LEVELS) != 0) {
        fprintf(stderr, "redressd: cannot set up the event loop\n");
        return 1;
    }
    int status = 1;
    /* The unix socket lives in the data directory: create it first. */
    if (mkdir(config.data, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "redressd: cannot create data directory %s: %s\n", config.data, strerror(errno));
        goto done;
    }
    check_data_directory_mode(config.data);
    if (server_start(base, &config) != 0) goto done;
    if (wire() != 0) goto done;
    if (store_open(config.data, config.sync, error, sizeof error) != 0) {
        fprintf(stderr, "redressd: %s\n", error);
        log_error("cannot open store", "error=\"%s\"", error);
        goto done;
    }
    /* Plugins before the rule set: rules see their functions at load. */
    if (plugins_load(&config, base, error, sizeof error) != 0) {
        fprintf(stderr, "redressd: plugins: %s\n", error);
        log_error("cannot load plugins", "error=\"%s\"", error);
        goto done;
    }
    if (config.rules[0] == '\0') {
        log_info("no rule set configured: built-in defaults decide", NULL);
    } else if (rules_load(config.rules, error, sizeof error) != 0) {
        log_error("RULE SET NOT LOADED: built-in defaults decide until a reload succeeds",
                  "dir=%s", config.rules);
    }
    if (agents_bootstrap(config.data) != 0) goto done;
    tick_configure(&config);
    cases_warm_counters();
    cases_prune_decisions(config.decision_retention_days);
    /* Re-arm every running clock; those that passed while we were down fire
     * now, once, in deadline order, before any client is served. */
    deadlines_configure((int)config.sla_warning_percent);
    if (deadlines_load() != 0) {
        log_error("cannot load deadlines", "error=\"%s\"", store_error());
        goto done;
    }
    if (deadlines_fire_due() > 0 && store_batch_commit(error, sizeof error) != 0) {
        log_error("cannot commit overdue deadlines", "error=\"%s\"", error);
        goto done;
    }
    /* Whatever the start wrote besides (pruned decisions). */
    if (store_batch_commit(error, sizeof error) != 0) {
        log_error("cannot commit the start's writes", "error=\"%s\"", error);
        goto done;
    }
    plugins_resume_refunds();
    log_info("ready", "version=%s data=%s sync=%s test_clock=%s", REDRESS_VERSION, config.data,
             config.sync, config.test_clock ? "yes" : "no");
    if (tick_start(base) != 0) {
        log_error("cannot start the tick", NULL);
        goto done;
    }
    if (server_listen() != 0) goto done;
    store_integrity_start(base);
    server_run();
    status = 0;
    log_info("stopped", NULL);
done:
    server_free();
    tick_free();
    plugins_shutdown();
    deadlines_free();
    rules_unload();
    shared_free();
    store_close();
    event_base_free(base);
    return status;
}
