/* probe.c -- a plugin that misbehaves on purpose, to test the host's guards:
 *   PROBE.NOREPLY        writes no reply
 *   PROBE.TWICE          writes two replies
 *   PROBE.SHORT          announces an array of 3 and writes 1
 *   PROBE.LATE           tries to register a command after init (-> :-1)
 *   PROBE.ERROR          replies an error with CR LF in its text
 *   PROBE.SPIN ms [clock] busy for ms milliseconds (with "clock": its clock listener is, at its next run)
 *   PROBE.KEEP           keeps its call handle after it returns (replies +KEPT)
 *   PROBE.STALE          replies through the handle PROBE.KEEP kept, then with that handle's agent (bulk)
 *   PROBE.CODE code      replies an error with that code
 *   PROBE.CLOCK          [runs of its clock listener, now() at the last run, a listener added after init (-> -1),
 *                         the newest committed event at the last run]
 *   plugins.probe.deep(n)    a table nested n levels
 *   plugins.probe.big(n)     a string of n bytes
 *   plugins.probe.spin(ms)   busy for ms milliseconds, returns true
 *   plugins.probe.fail()     fails with a message
 *   plugins.probe.echo(...)  returns its arguments as a list of {type, value}
 *   plugins.probe.two()      pushes two values (an error)
 *   plugins.probe.keep()     keeps its call handle after it returns, returns true
 *   plugins.probe.stale()    writes 99 through the handle keep() kept, returns true
 */
#include <redress/plugin.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct redress_host_api *host;
static struct redress_plugin *me;

static void noreply_command(void *s, struct redress_command_call *call, int argc, const char *const *argv,
                            const size_t *argvlen) {
    (void)s, (void)call, (void)argc, (void)argv, (void)argvlen;
}

static void twice_command(void *s, struct redress_command_call *call, int argc, const char *const *argv,
                          const size_t *argvlen) {
    (void)s, (void)argc, (void)argv, (void)argvlen;
    host->reply_simple(call, "ONE");
    host->reply_simple(call, "TWO");
}

static void short_command(void *s, struct redress_command_call *call, int argc, const char *const *argv,
                          const size_t *argvlen) {
    (void)s, (void)argc, (void)argv, (void)argvlen;
    host->reply_array(call, 3);
    host->reply_integer(call, 1);
}

static void late_command(void *s, struct redress_command_call *call, int argc, const char *const *argv,
                         const size_t *argvlen) {
    (void)s, (void)argc, (void)argv, (void)argvlen;
    host->reply_integer(call, host->register_command(me, "PROBE.LATER", 1, 1, REDRESS_ROLE_ANY, "", late_command));
}

static void error_command(void *s, struct redress_command_call *call, int argc, const char *const *argv,
                          const size_t *argvlen) {
    (void)s, (void)argc, (void)argv, (void)argvlen;
    host->reply_error(call, "BAD\r\nCODE", "line one\r\n+OK injected");
}

/* A plugin that keeps a call handle past its callback (to reply later, or twice): the host must refuse
 * it, never write into another call. */
static struct redress_command_call *kept_call;

static void keep_command(void *s, struct redress_command_call *call, int argc, const char *const *argv,
                         const size_t *argvlen) {
    (void)s, (void)argc, (void)argv, (void)argvlen;
    kept_call = call;
    host->reply_simple(call, "KEPT");
}

static void stale_command(void *s, struct redress_command_call *call, int argc, const char *const *argv,
                          const size_t *argvlen) {
    (void)s, (void)argc, (void)argv, (void)argvlen;
    host->reply_simple(kept_call, "STALE");
    host->reply_error(kept_call, "STALE", "late");
    const char *agent = host->call_agent(kept_call);
    host->reply_bulk(call, agent, strlen(agent));
}

static void code_command(void *s, struct redress_command_call *call, int argc, const char *const *argv,
                         const size_t *argvlen) {
    (void)s, (void)argc, (void)argvlen;
    host->reply_error(call, argv[1], "the probe's message");
}

static long long clock_runs;
static int64_t clock_seen, clock_last_event;
static long long clock_spin_ms;

static void spin(long long ms) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do clock_gettime(CLOCK_MONOTONIC, &now);
    /* In nanoseconds: milliseconds of a negative tv_nsec difference truncate toward zero and ended the
     * spin up to 1 ms early. */
    while ((now.tv_sec - start.tv_sec) * 1000000000LL + (now.tv_nsec - start.tv_nsec) < ms * 1000000LL);
}

static void spin_command(void *s, struct redress_command_call *call, int argc, const char *const *argv,
                         const size_t *argvlen) {
    (void)s, (void)argvlen;
    long long ms = atoll(argv[1]);
    if (argc > 2) clock_spin_ms = ms;
    else spin(ms);
    host->reply_simple(call, "OK");
}

static void on_clock_moved(void *s) {
    (void)s;
    spin(clock_spin_ms);
    clock_spin_ms = 0;
    clock_runs++;
    clock_seen = host->now();
    clock_last_event = host->last_event_id(me);
}

static void clock_command(void *s, struct redress_command_call *call, int argc, const char *const *argv,
                          const size_t *argvlen) {
    (void)s, (void)argc, (void)argv, (void)argvlen;
    host->reply_array(call, 4);
    host->reply_integer(call, clock_runs);
    host->reply_integer(call, clock_seen);
    host->reply_integer(call, host->on_clock_moved(me, on_clock_moved, NULL));
    host->reply_integer(call, clock_last_event);
}

static int deep_function(void *s, struct redress_lua_call *call, int argc, const struct redress_value *argv) {
    (void)s;
    if (argc != 1 || argv[0].type != REDRESS_VALUE_INTEGER) {
        host->result_error(call, "deep(n) wants an integer");
        return -1;
    }
    for (int64_t i = 0; i < argv[0].integer; i++) host->result_table(call);
    host->result_integer(call, 1);
    for (int64_t i = 0; i < argv[0].integer; i++) host->result_set_field(call, "x");
    return 0;
}

static int big_function(void *s, struct redress_lua_call *call, int argc, const struct redress_value *argv) {
    (void)s;
    if (argc != 1 || argv[0].type != REDRESS_VALUE_INTEGER || argv[0].integer < 0 || argv[0].integer > (1 << 26)) {
        host->result_error(call, "big(n) wants 0 to 2^26");
        return -1;
    }
    char *text = malloc((size_t)argv[0].integer + 1);
    if (text == NULL) return -1;
    memset(text, 'x', (size_t)argv[0].integer);
    host->result_string(call, text, (size_t)argv[0].integer);
    free(text);
    return 0;
}

static int spin_function(void *s, struct redress_lua_call *call, int argc, const struct redress_value *argv) {
    (void)s;
    int64_t ms = argc == 1 && argv[0].type == REDRESS_VALUE_INTEGER ? argv[0].integer : 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do clock_gettime(CLOCK_MONOTONIC, &now);
    /* In nanoseconds: milliseconds of a negative tv_nsec difference truncate toward zero and ended the
     * spin up to 1 ms early. */
    while ((now.tv_sec - start.tv_sec) * 1000000000LL + (now.tv_nsec - start.tv_nsec) < ms * 1000000LL);
    host->result_boolean(call, 1);
    return 0;
}

static int fail_function(void *s, struct redress_lua_call *call, int argc, const struct redress_value *argv) {
    (void)s, (void)argc, (void)argv;
    host->result_error(call, "the probe fails on purpose");
    return -1;
}

static int echo_function(void *s, struct redress_lua_call *call, int argc, const struct redress_value *argv) {
    (void)s;
    static const char *const names[] = {"nil", "boolean", "integer", "number", "string"};
    host->result_table(call);
    for (int i = 0; i < argc; i++) {
        host->result_table(call);
        host->result_string(call, names[argv[i].type], strlen(names[argv[i].type]));
        host->result_set_field(call, "type");
        switch (argv[i].type) {
        case REDRESS_VALUE_NIL: host->result_nil(call); break;
        case REDRESS_VALUE_BOOLEAN: host->result_boolean(call, argv[i].boolean); break;
        case REDRESS_VALUE_INTEGER: host->result_integer(call, argv[i].integer); break;
        case REDRESS_VALUE_NUMBER: host->result_number(call, argv[i].number); break;
        case REDRESS_VALUE_STRING: host->result_string(call, argv[i].string, argv[i].length); break;
        }
        host->result_set_field(call, "value");
        host->result_append(call);
    }
    return 0;
}

static int two_function(void *s, struct redress_lua_call *call, int argc, const struct redress_value *argv) {
    (void)s, (void)argc, (void)argv;
    host->result_integer(call, 1);
    host->result_integer(call, 2);
    return 0;
}

static struct redress_lua_call *kept_lua_call;

static int keep_function(void *s, struct redress_lua_call *call, int argc, const struct redress_value *argv) {
    (void)s, (void)argc, (void)argv;
    kept_lua_call = call;
    host->result_boolean(call, 1);
    return 0;
}

static int stale_function(void *s, struct redress_lua_call *call, int argc, const struct redress_value *argv) {
    (void)s, (void)argc, (void)argv;
    host->result_integer(kept_lua_call, 99);
    host->result_boolean(call, 1);
    return 0;
}

/* PROBE.LOG value [message]: logs the value the way a careless plugin
 * would, raw inside quotes, under the message given (else "probe says"):
 * the host must not let either forge the line's level or msg. */
static void log_command(void *s, struct redress_command_call *call, int argc, const char *const *argv,
                        const size_t *argvlen) {
    (void)s, (void)argvlen;
    host->log(me, REDRESS_LOG_INFO, argc > 2 ? argv[2] : "probe says", "value=\"%s\"", argv[1]);
    host->reply_simple(call, "OK");
}

static int probe_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    (void)state;
    host = api;
    me = self;
    int failed = 0;
    failed |= api->register_command(self, "PROBE.NOREPLY", 1, 1, REDRESS_ROLE_ANY, "", noreply_command);
    failed |= api->register_command(self, "PROBE.TWICE", 1, 1, REDRESS_ROLE_ANY, "", twice_command);
    failed |= api->register_command(self, "PROBE.SHORT", 1, 1, REDRESS_ROLE_ANY, "", short_command);
    failed |= api->register_command(self, "PROBE.LATE", 1, 1, REDRESS_ROLE_ADMIN, "", late_command);
    failed |= api->register_command(self, "PROBE.ERROR", 1, 1, REDRESS_ROLE_ANY, "", error_command);
    failed |= api->register_command(self, "PROBE.CLOCK", 1, 1, REDRESS_ROLE_ANY, "", clock_command);
    failed |= api->register_command(self, "PROBE.KEEP", 1, 1, REDRESS_ROLE_ANY, "", keep_command);
    failed |= api->register_command(self, "PROBE.STALE", 1, 1, REDRESS_ROLE_ANY, "", stale_command);
    failed |= api->register_command(self, "PROBE.CODE", 2, 2, REDRESS_ROLE_ANY, "code", code_command);
    failed |= api->register_command(self, "PROBE.SPIN", 2, 3, REDRESS_ROLE_ANY, "ms [clock]", spin_command);
    failed |= api->register_command(self, "PROBE.LOG", 2, 3, REDRESS_ROLE_ANY, "value [message]", log_command);
    failed |= api->on_clock_moved(self, on_clock_moved, NULL);
    /* a built-in's name is refused, and does not fail the init here */
    if (api->register_command(self, "CASE.OPEN", 1, 1, REDRESS_ROLE_ANY, "", error_command) == 0) failed = 1;
    failed |= api->register_lua_function(self, "deep", deep_function);
    failed |= api->register_lua_function(self, "big", big_function);
    failed |= api->register_lua_function(self, "spin", spin_function);
    failed |= api->register_lua_function(self, "fail", fail_function);
    failed |= api->register_lua_function(self, "echo", echo_function);
    failed |= api->register_lua_function(self, "two", two_function);
    failed |= api->register_lua_function(self, "keep", keep_function);
    failed |= api->register_lua_function(self, "stale", stale_function);
    return failed ? -1 : 0;
}

REDRESS_PLUGIN("probe", "0.1", probe_init, NULL);
