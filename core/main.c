/* main.c -- redressd: command line, start-up order, shutdown.
 *
 * Start-up order matters: the settings first (every check that can fail,
 * the descriptor limit fitted to max_clients), before anything is created;
 * then the data directory (locked: one daemon per
 * directory, before anything is written), the store (opened, migrated,
 * its header and schema checked), plugins, rules (the folder RULES.PROMOTE
 * made live, recorded in the data directory, else the configured one), the admin agent and its
 * token, overdue deadlines -- and only then are the listeners bound and
 * "listening port=N" logged, the last line of the start: scripts read the
 * port and the token right after it and may send a command at once.  The
 * full integrity check of the database runs after that, off the loop.
 *
 * Files: the umask is 077 for the whole process, so everything the daemon
 * and its plugins create (database, WAL, shared memory, token, cursors,
 * socket) is for its own user only, whatever the data directory's mode.
 */
#include "domain/attachments.h"
#include "domain/agents.h"
#include "domain/backups.h"
#include "domain/intake.h"
#include "domain/orders.h"
#include "domain/refunds.h"
#include "domain/deadlines.h"
#include "domain/events.h"
#include "domain/facts.h"
#include "domain/figures.h"
#include "domain/peer_counts.h"
#include "domain/nodes.h"
#include "domain/search.h"
#include "domain/tick.h"
#include "cmd/client_cmd.h"
#include "domain/replay.h"
#include "lib/timeparse.h"
#include "net/client.h"
#include "cmd/request.h"
#include "cmd/conn.h"
#include "cmd/metrics_cmd.h"
#include "cmd/table.h"
#include "lib/clock.h"
#include "lib/decimal.h"
#include "lib/config.h"
#include "lib/shared.h"
#include "plugin/host.h"
#include "lib/log.h"
#include "rules/rules.h"
#include "net/connections.h"
#include "net/server.h"
#include "net/start_checks.h"
#include "net/tls.h"
#include "http/exchange.h"
#include "http/http.h"
#include "http/sse.h"
#include "store/pg_schema.h"
#include "store/store.h"

#include <event2/event.h>
#include <limits.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

static void usage(FILE *out) {
    fprintf(out,
            "usage: redressd [--config FILE] [--bind ADDR] [--port N] [--data DIR] [--rules DIR]\n"
            "                [--plugins DIR] [--test-clock] [--version] [--help] [--SETTING VALUE ...]\n"
            "       redressd --test-rules DIR [--coverage]   (run a rule set's tests and luacheck, exit 1 on a failure)\n"
            "       redressd --replay DIR --data DATA [--since t] [--until t] [--limit n]   (a staged set's replay report)\n"
            "       redressd --data DATA [--config FILE] --reset-admin-token   (the daemon stopped: a new admin token\n"
            "                in DATA/admin.token, agent admin an enabled admin again)\n"
            "       redressd --data DATA --restore FILE   (a backup in place of the database, the daemon stopped)\n"
            "\n"
            "redress: an after-sales case engine speaking RESP2 (redis-cli, telnet, client libraries).\n"
            "Every setting of the config file (key = value) is also a flag; flags win.\n\n"
            "settings:\n");
    config_print_help(out);
}

/* 1 if argv holds flag. */
static int has_flag(int argc, char **argv, const char *flag) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], flag)) return 1;
    return 0;
}

/* 1 if argv[before..] (before < at) sets the setting argv[at] sets ('-'
 * and '_' alike): a setting given twice on the command line is refused, as
 * in one config file (which one was meant?).  Only setting flags count:
 * each is followed by its value, so a value is never read as a flag. */
static int set_earlier(int at, char **argv) {
    for (int i = 1; i < at; i++) {
        const char *a = argv[i] + 2, *b = argv[at] + 2;
        if (strncmp(argv[i], "--", 2) != 0) continue;
        for (; *a && *b && (*a == *b || (strchr("-_", *a) && strchr("-_", *b))); a++, b++) {}
        if (*a == '\0' && *b == '\0') return 1;
    }
    return 0;
}

/* Applies argv over config.  Returns 0, 1 when the program should exit 0
 * (--help, --version), or -1 on a bad flag (message printed).  A flag of
 * an offline mode without that mode is refused: forgotten, it used to
 * start a live daemon over the data directory instead. */
static int apply_flags(struct config *config, int argc, char **argv) {
    char error[512];
    int replay = has_flag(argc, argv, "--replay"), test_rules = has_flag(argc, argv, "--test-rules");
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
        if (!strcmp(flag, "--test-rules") || !strcmp(flag, "--replay")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "redressd: %s needs a rule set directory\n", flag);
                return -1;
            }
            i++; /* handled in main */
            continue;
        }
        if (!strcmp(flag, "--restore")) { /* handled in main */
            if (i + 1 >= argc) {
                fprintf(stderr, "redressd: --restore needs a backup file (see --help)\n");
                return -1;
            }
            i++;
            continue;
        }
        if (!strcmp(flag, "--coverage")) { /* with --test-rules, handled in main */
            if (test_rules) continue;
            fprintf(stderr, "redressd: --coverage only with --test-rules (see --help)\n");
            return -1;
        }
        if (!strcmp(flag, "--since") || !strcmp(flag, "--until") || !strcmp(flag, "--limit")) {
            if (!replay || i + 1 >= argc) {
                fprintf(stderr, "redressd: %s %s (see --help)\n", flag,
                        replay ? "needs a value" : "only with --replay");
                return -1;
            }
            i++; /* redressd --replay, handled in main */
            continue;
        }
        if (!strcmp(flag, "--reset-admin-token")) continue; /* handled in main */
        /* --test-clock alone, or with a value like every boolean setting. */
        if (!strcmp(flag, "--test-clock") && (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2))) {
            config->test_clock = 1;
            continue;
        }
        if (strncmp(flag, "--", 2) != 0) {
            fprintf(stderr, "redressd: %s: unexpected argument (see --help)\n", flag);
            return -1;
        }
        if (strcmp(flag, "--config") != 0 && !config_known(flag + 2)) {
            fprintf(stderr, "redressd: unknown setting '%s' (see --help)\n", flag + 2);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "redressd: %s: needs a value (see --help)\n", flag);
            return -1;
        }
        if (strcmp(flag, "--config") != 0 && set_earlier(i, argv)) {
            fprintf(stderr, "redressd: %s: given twice (see --help)\n", flag);
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

/* ------------------------------------------------- systemd, install paths */

/* Under systemd (Type=notify, WatchdogSec=): the watchdog is fed from the
 * event loop, so a loop that stops turning stops feeding it and systemd
 * restarts the daemon.  Without NOTIFY_SOCKET these are no-ops. */
static struct event *watchdog_event;

static void on_watchdog(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    sd_notify(0, "WATCHDOG=1");
}

static int start_watchdog(struct event_base *base) {
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return 0;
    watchdog_event = event_new(base, -1, EV_PERSIST, on_watchdog, NULL);
    /* Twice per period, as systemd advises. */
    struct timeval half = {(time_t)(usec / 2 / 1000000), (suseconds_t)(usec / 2 % 1000000)};
    if (watchdog_event == NULL || event_add(watchdog_event, &half) != 0) return -1;
    log_info("systemd watchdog", "period_ms=%llu", (unsigned long long)(usec / 1000));
    return 0;
}

/* Rounds of the loop run at shutdown to drain deferred callbacks (each round
 * runs one priority's queue; a callback may queue one more behind it). */
#define SHUTDOWN_DRAIN_ROUNDS 16

/* Runs the callbacks still queued on the loop once everything that owns an
 * event is freed.  A bufferevent freed while one of its deferred callbacks
 * is queued (a TLS connection of a plugin whose answer arrived in the last
 * turn of the loop) holds a reference for that callback; event_base_free
 * cancels queued callbacks without running them, so the reference is never
 * dropped and the connection (SSL, certificates, buffers) leaks.  Run here,
 * those callbacks find their owners' callbacks cleared and only drop their
 * references; the finalizers they queue run in event_base_free.  Nothing
 * else can run: the listeners, clients, tick, watchdog, backups, replay,
 * plugins (timers, DNS, connections) and deadlines are freed, and the
 * store's integrity event goes with store_close, which comes first. */
static void drain_deferred_callbacks(struct event_base *base) {
    for (int round = 0; round < SHUTDOWN_DRAIN_ROUNDS && event_base_get_num_events(base, EVENT_BASE_COUNT_ACTIVE) > 0;
         round++)
        if (event_base_loop(base, EVLOOP_NONBLOCK) < 0) break;
}

/* Where make install put the shipped rules and config: beside the binary's
 * prefix (PREFIX/bin/redressd -> PREFIX/share/redress/rules,
 * PREFIX/etc/redress/redress.conf), except that PREFIX=/usr keeps its
 * config in /etc (the Makefile's SYSCONFDIR, the GNU/Debian convention).
 * 0, or -1 when the binary's path is unknown. */
static int installed_path(const char *tail, char *out, size_t size) {
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return -1;
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL) return -1;
    *slash = '\0';
    if (strcmp(self, "/usr/bin") == 0 && strncmp(tail, "etc/", 4) == 0)
        return snprintf(out, size, "/%s", tail) < (int)size ? 0 : -1;
    return snprintf(out, size, "%s/../%s", self, tail) < (int)size ? 0 : -1;
}

static int is_directory(const char *path) {
    struct stat status;
    return stat(path, &status) == 0 && S_ISDIR(status.st_mode);
}

/* A committed AGENT.DISABLE: the agent's RESP connections lose their
 * rights, its browser sessions and event streams end. */
static void agent_disabled(const char *name) {
    connections_drop_agent(name);
    http_drop_agent(name);
}

/* A committed AGENT.SET: the agent's RESP connections and event streams
 * act with its new role and queues. */
static void agent_changed(const char *name, unsigned role, const char *queues) {
    connections_update_agent(name, role, queues);
    sse_update_agent(name, role, queues);
}

/* Every registration between layers, in one place: a lower layer calls up
 * only through what is registered here. */
static int wire(const struct config *config) {
    /* rules: customer facts and the plugins' namespace */
    rules_set_customer_provider(facts_customer);
    rules_set_lua_namespace(plugins_push_lua_namespace);
    /* orders: the plugin order source */
    static const struct order_source plugin_orders = {plugins_order_source, plugins_order_lookup};
    orders_set_source(&plugin_orders);
    /* events, agents, commands: the fronts above */
    if (events_listen(plugins_events_listener()) != 0) return -1;
    if (events_listen(figures_events_listener()) != 0) return -1;
    metrics_set_command_counts(commands_each_count);
    agents_on_disabled(agent_disabled);
    agents_on_changed(agent_changed);
    commands_set_info_sections(server_info, plugins_info);
    commands_set_hello_modules(plugins_hello);
    commands_set_plugin_list(plugin_list_command);
    commands_set_config(config);
    /* MONITOR: the commands behind HTTP requests too */
    http_set_monitor(connections_feed_monitors_from_peer);
    /* /readyz: plugins left out by plugin_failure = skip */
    http_set_plugins_skipped(plugins_skipped);
    /* RULES.REPLAY: its parked reply, the helpers of its staged set */
    request_set_parked_answerer(client_answer_parked);
    replay_init();
    return 0;
}

static void print_report(void *context, const char *const *lines, int count, const char *error) {
    int *status = context;
    if (error) {
        fprintf(stderr, "redressd: replay: %s\n", error);
        *status = 1;
        return;
    }
    for (int i = 0; i < count; i++) printf("%s\n", lines[i]);
    *status = 0;
}

/* redressd --replay DIR --data DATA [--since t] [--until t] [--limit n]:
 * RULES.STAGE DIR and RULES.REPLAY's report, over the data directory's
 * database opened read-only, without a daemon. */
static int offline_replay(const struct config *config, const char *directory, int argc, char **argv) {
    struct replay_options options = {0, 0, 0};
    for (int i = 1; i + 1 < argc; i++) {
        int64_t *instant = !strcmp(argv[i], "--since") ? &options.since : !strcmp(argv[i], "--until") ? &options.until
                                                                                                       : NULL;
        /* As RULES.REPLAY reads SINCE, UNTIL and LIMIT (unix seconds as
         * every integer argument: digits only): strtoll took "" as 0 and
         * "abc" as 0 (every case), "-1" as no case at all. */
        long long number;
        if (instant) {
            const char *why = argv[i + 1][0] == '\0' ? "is empty" : NULL;
            if (why == NULL && decimal_parse(argv[i + 1], strlen(argv[i + 1]), 0, &number) == 0) *instant = number;
            else if (why || (why = timeparse_instant(argv[i + 1], strlen(argv[i + 1]), instant)) != NULL) {
                fprintf(stderr, "redressd: %s '%s': %s\n", argv[i], argv[i + 1], why);
                return 2;
            }
        } else if (!strcmp(argv[i], "--limit")) {
            if (decimal_parse(argv[i + 1], strlen(argv[i + 1]), 0, &number) != 0 || number < 1) {
                fprintf(stderr, "redressd: --limit '%s' is not a positive integer\n", argv[i + 1]);
                return 2;
            }
            options.limit = number;
        }
    }
    if (options.until && options.since >= options.until) {
        fprintf(stderr, "redressd: --since must be before --until\n");
        return 2;
    }
    char error[4096];
    log_set_level(LOG_WARN);
    if (store_open_read_only(config->data, error, sizeof error) != 0) {
        fprintf(stderr, "redressd: %s\n", error);
        return 2;
    }
    replay_init();
    int status = 1;
    if (rules_stage(directory, error, sizeof error) != 0) {
        fprintf(stderr, "redressd: not staged: %s\n", error);
    } else {
        struct call call = {.who = {.internal = 1}, .actor = "replay", .status = CALL_OK};
        if (replay_run(&call, &options, print_report, &status) != 0)
            fprintf(stderr, "redressd: replay: %s\n", call.message);
    }
    rules_unload();
    store_close();
    return status;
}

/* Everything of the start that reads or writes the store, from its open
 * to the commit of what the start wrote: one piece of store work (on
 * PostgreSQL it waits for the server's answers). */
struct start_context {
    struct config *config;
    struct event_base *base;
    int status;   /* 0 when everything started */
};

static int start_with_store(struct config *config, struct event_base *base) {
    char error[512];
    if ((config->store_kind == CONFIG_STORE_POSTGRESQL
             ? store_open_postgresql(base, config->postgresql_url, error, sizeof error)
             : store_open(config->data, config->sync, error, sizeof error)) != 0) {
        fprintf(stderr, "redressd: %s\n", error);
        log_error("cannot open store", "error=\"%s\"", LOG_ESC(error));
        return -1;
    }
    /* Before anything is resumed or fired under this node's name. */
    if (nodes_claim() != 0) return -1;
    /* /metrics' counts, from the disk, before anything (a plugin's start,
     * the deadlines due) can write: every later change moves them. */
    if (figures_load() != 0) return -1;
    /* Plugins before the rule set: rules see their functions at load. */
    if (plugins_load(config, base, error, sizeof error) != 0) {
        fprintf(stderr, "redressd: plugins: %s\n", error);
        log_error("cannot load plugins", "error=\"%s\"", LOG_ESC(error));
        return -1;
    }
    /* The folder RULES.PROMOTE made live (recorded in the data directory),
     * else the configured one: a restart keeps the live set. */
    tick_configure(config);
    tick_load_rules_at_start();
    if (plugins_check_identities(error, sizeof error) != 0) {
        fprintf(stderr, "redressd: plugins: %s\n", error);
        log_error("cannot start plugins", "error=\"%s\"", LOG_ESC(error));
        return -1;
    }
    if (agents_bootstrap(config->data) != 0) return -1;
    attachments_configure(config->data, config->attachment_max_bytes);
    agents_roster_load();   /* a failure is logged; assignment then asks the store */
    agents_warn_reserved();
    if (agents_know_rights() != 0) return -1;
    backups_configure(base, config->data);
    cases_warm_counters();
    /* Re-arm every running clock; those that passed while we were down fire
     * now, once, in deadline order, before any client is served -- by the
     * node whose turn it is, when several share the database. */
    deadlines_configure((int)config->sla_warning_percent);
    if (deadlines_load() != 0) {
        log_error("cannot load deadlines", "error=\"%s\"", LOG_ESC(store_error()));
        return -1;
    }
    if (store_timer_turn() && deadlines_fire_due() > 0 && store_batch_commit(error, sizeof error) != 0) {
        log_error("cannot commit overdue deadlines", "error=\"%s\"", LOG_ESC(error));
        return -1;
    }
    /* This node's row (its name, its rule set's version): INFO and the
     * other nodes read it.  A store that refuses writes (a corrupt file)
     * still starts, for its reads: the failure is logged, not fatal. */
    nodes_start(config);
    /* Whatever the start wrote besides (pruned decisions, this node's row). */
    if (store_batch_commit(error, sizeof error) != 0) {
        log_error("cannot commit the start's writes", "error=\"%s\"", LOG_ESC(error));
        return -1;
    }
    plugins_resume_refunds();
    return 0;
}

/* redressd --reset-admin-token: the store opened as a start opens it,
 * the admin's token replaced, nothing served. */
static void reset_piece(void *argument) {
    struct start_context *context = argument;
    char error[512];
    struct config *config = context->config;
    if ((config->store_kind == CONFIG_STORE_POSTGRESQL
             ? store_open_postgresql(context->base, config->postgresql_url, error, sizeof error)
             : store_open(config->data, config->sync, error, sizeof error)) != 0) {
        fprintf(stderr, "redressd: %s\n", error);
        context->status = -1;
        return;
    }
    context->status = agents_reset_admin(config->data);
}

/* redressd --data DATA --restore FILE: the backup FILE in place of the
 * database, under the data directory's lock (a running daemon refuses it:
 * a restore under it would be lost, README "Backups"). */
static int offline_restore(const struct config *config, const char *file) {
    if (config->store_kind == CONFIG_STORE_POSTGRESQL) {
        fprintf(stderr, "redressd: --restore puts an ADMIN.BACKUP copy in place of a SQLite store; with store = "
                        "postgresql restore with PostgreSQL's own tools\n");
        return 2;
    }
    if (start_lock_data_directory(config->data) != 0) return 1;
    char report[PATH_MAX * 3], error[PATH_MAX * 3];
    if (store_restore(config->data, file, report, sizeof report, error, sizeof error) != 0) {
        fprintf(stderr, "redressd: restore refused: %s\n", error);
        return 1;
    }
    printf("%s\n", report);
    return 0;
}

static void start_piece(void *argument) {
    struct start_context *context = argument;
    context->status = start_with_store(context->config, context->base);
}

int main(int argc, char **argv) {
    struct config config;
    char error[1600];
    umask(077);
    config_defaults(&config);
    int config_given = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--config") || !strcmp(argv[i], "--test-rules")) config_given = 1;
    char installed[PATH_MAX];
    /* An installed redressd reads its installed config when given none. */
    if (!config_given && installed_path("etc/redress/redress.conf", installed, sizeof installed) == 0 &&
        access(installed, R_OK) == 0 && config_load_file(&config, installed, error, sizeof error)) {
        fprintf(stderr, "redressd: config: %s\n", error);
        return 2;
    }
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
    {
        char why[512];
        /* An offline mode listens on nothing: the listeners' checks (TLS
         * files, protected mode...) would refuse it for no reason. */
        int offline = has_flag(argc, argv, "--test-rules") || has_flag(argc, argv, "--replay") ||
                      has_flag(argc, argv, "--restore") || has_flag(argc, argv, "--reset-admin-token");
        if ((offline ? config_check_offline(&config, why, sizeof why) : config_check(&config, why, sizeof why))) {
            fprintf(stderr, "redressd: config: %s\n", why);
            return 2;
        }
    }
    /* The default ./rules, absent here: the rule set make install put beside
     * the binary, if there is one. */
    if (!strcmp(config.rules, "./rules") && !is_directory(config.rules) &&
        installed_path("share/redress/rules", installed, sizeof installed) == 0 && is_directory(installed) &&
        strlen(installed) < sizeof config.rules)
        memcpy(config.rules, installed, strlen(installed) + 1);
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
        int coverage = 0;
        for (int k = 1; k < argc; k++) coverage |= strcmp(argv[k], "--coverage") == 0;
        int failed = rules_run_tests(argv[i + 1], 1, coverage);
        rules_unload();
        return failed == 0 ? 0 : 1;
    }
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--replay") == 0) return offline_replay(&config, argv[i + 1], argc, argv);
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--restore") == 0) return offline_restore(&config, argv[i + 1]);
    int level = log_level_parse(config.log_level);
    if (level < 0) {
        fprintf(stderr, "redressd: log_level must be debug, info, warn or error\n");
        return 2;
    }
    log_set_level((enum log_level)level);
    int reset_admin = has_flag(argc, argv, "--reset-admin-token");
    if (!reset_admin && start_fit_descriptor_limit(&config) != 0) return 2;
    if (start_check_readable("TLS", "tls_cert", config.tls_cert) != 0 ||
        start_check_readable("TLS", "tls_key", config.tls_key) != 0 ||
        start_check_readable("HTTPS", "http_tls_cert", config.http_tls_cert) != 0 ||
        start_check_readable("HTTPS", "http_tls_key", config.http_tls_key) != 0)
        return 2;
    clock_init(config.test_clock, 0);
    if (config.test_clock) {
        /* Frozen at the real time of start; tests then SET it. */
        clock_init(0, 0);
        int64_t now = clock_now_ms();
        clock_init(1, now);
        /* For tests only: in production nothing would ever fall due. */
        log_warn("test clock on: time stands still until DEBUG.CLOCK moves it (no deadline, follow-up or idle "
                 "timeout falls due on its own); for tests only", NULL);
    }
    cases_set_default_currency(config.default_currency);
    refunds_configure(&config.approve_limit_supervisor, &config.approve_limit_finance);

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
    if (start_lock_data_directory(config.data) != 0) goto done;
    start_check_data_directory_mode(config.data);
    /* The plugins' files before the store opens, which migrates and commits
     * an older schema: a plugin not rebuilt for this binary stops an
     * upgrade while the old binary can still open the database. */
    if (!reset_admin && plugins_check(&config, error, sizeof error) != 0) {
        fprintf(stderr, "redressd: plugins: %s\n", error);
        log_error("cannot load plugins", "error=\"%s\"", LOG_ESC(error));
        goto done;
    }
    if (!reset_admin && start_check_ports(&config) != 0) goto done;
    /* The certificates too: a listener failing on one comes after the store. */
    if (!reset_admin && tls_check_files(&config) != 0) goto done;
    if (server_start(base, &config) != 0) goto done;
    if (wire(&config) != 0) goto done;
    struct start_context start = {&config, base, -1};
    /* The admin's token reset on a stopped daemon's data directory: the
     * lock above refuses it while the daemon runs; the directory must
     * already hold a database (no new one is made here). */
    if (reset_admin && config.store_kind == CONFIG_STORE_SQLITE) {
        char database[PATH_MAX];
        snprintf(database, sizeof database, "%s/redress.db", config.data);
        if (access(database, F_OK) != 0) {
            fprintf(stderr, "redressd: --reset-admin-token: no database in %s (%s)\n", config.data, strerror(errno));
            goto done;
        }
    }
    /* PostgreSQL: the schema made or migrated first, on a connection of its
     * own that blocks (nothing is served yet), then the store's work on
     * fibers (store/work.h). */
    store_set_postgresql_answer_timeout((unsigned)config.postgresql_answer_timeout);
    nodes_configure(&config);
    if (config.store_kind == CONFIG_STORE_POSTGRESQL &&
        (pg_schema_prepare(config.postgresql_url, error, sizeof error) != 0 ||
         store_work_start(base, error, sizeof error) != 0)) {
        fprintf(stderr, "redressd: %s\n", error);
        log_error("cannot open store", "error=\"%s\"", LOG_ESC(error));
        goto done;
    }
    if (reset_admin) {
        if (store_work_run_now(base, reset_piece, &start) == 0 && start.status == 0) status = 0;
        goto done;
    }
    if (store_work_run_now(base, start_piece, &start) != 0 || start.status != 0) goto done;
    /* The search index's worker (DATA/search.db), once the start's own
     * reading is done: indexing a large store beside the warm-up of the
     * counters doubled the start (3.7 -> 8-15 s on a million cases).  A
     * failure is logged and searches answer an error.  On PostgreSQL the
     * worker reads the store through a libpq connection of its own (the
     * index stays this node's DATA/search.db). */
    search_start(config.data, config.store_kind == CONFIG_STORE_POSTGRESQL ? config.postgresql_url : NULL, base);
    log_info("ready", "version=%s data=%s sync=%s test_clock=%s", LOG_VALUE(REDRESS_VERSION), LOG_VALUE(config.data),
             LOG_VALUE(config.sync), config.test_clock ? "yes" : "no");
    /* The other nodes' cases and notices join this node's counts (what the
     * start's warm-up read of the cases table has already counted is in
     * their past: a peer's note heard from now on is news); their commits
     * make this node read its figures again. */
    /* The agents before the events: after notes were missed, a disabled
     * agent's connections end before the events of meanwhile are handed out. */
    if (peer_counts_follow() != 0 || attachments_follow_peers() != 0 || figures_follow_peers() != 0 ||
        agents_follow_peers() != 0 || events_follow_peers() != 0) {
        log_error("cannot follow the other nodes' events", NULL);
        goto done;
    }
    /* After following: an erase another node commits from now on is heard,
     * one committed before is in the rows this sweep reads. */
    attachments_sweep_erased();
    if (nodes_follow_peers() != 0) {
        log_error("cannot hear the other nodes' failed AUTHs", NULL);
        goto done;
    }
    if (tick_start(base) != 0) {
        log_error("cannot start the tick", NULL);
        goto done;
    }
    /* The HTTP port (when set) before the RESP one: "listening port=N"
     * stays the last line of the start. */
    if (http_listen(base, &config) != 0) goto done;
    if (server_listen() != 0) goto done;
    if (config.store_kind == CONFIG_STORE_SQLITE) store_integrity_start(base);
    if (start_watchdog(base) != 0) {
        log_error("cannot start the systemd watchdog", NULL);
        goto done;
    }
    sd_notifyf(0, "READY=1\nSTATUS=serving, data %s\nMAINPID=%lu", config.data, (unsigned long)getpid());
    server_run();
    sd_notify(0, "STOPPING=1");
    status = 0;
    log_info("stopped", NULL);
done:
    /* Whatever stopped the start (a corrupt page met by the counting
     * pass, a port in use, a plugin) logged its own line: this one says
     * that the daemon gives up, and with which status. */
    if (status != 0) log_error("start failed: exiting", "exit=%d", status);
    /* A piece still waiting for PostgreSQL (the stop's grace ran out) is
     * abandoned, never resumed over what is freed below; its batch dies
     * with the connection (the server rolls it back). */
    store_work_stop();
    replay_cancel();
    search_stop();
    backups_stop();
    if (watchdog_event) event_free(watchdog_event);
    http_free();
    server_free();
    tick_free();
    events_stop_following();
    agents_stop_following();
    nodes_stop_following();
    plugins_shutdown();
    deadlines_free();
    agents_roster_free();
    rules_unload();
    shared_free();
    store_close();
    drain_deferred_callbacks(base);
    event_base_free(base);
    return status;
}
