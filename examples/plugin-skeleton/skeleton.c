/* skeleton.c -- the smallest useful redress plugin: copy it to start one.
 *
 * It shows each thing a plugin can register:
 *   - a command, SKELETON.GREET name [times], that any role may run;
 *   - a Lua function for rules, plugins.skeleton.greet(name) -> "hello, name",
 *     and plugins.skeleton.facts(text) -> {text = ..., length = n, words = {...}};
 *   - an event subscriber that counts the cases opened, read back with
 *     SKELETON.OPENED;
 *   - its own config key, skeleton.greeting (default "hello", at most 63
 *     bytes: a longer one stops the start).
 *
 * Build:  make                      (against PREFIX/include/redress/plugin.h)
 * Load:   redressd --plugins ./skeleton.so
 */
#include <redress/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Everything the plugin keeps: allocated in init, freed in shutdown. */
struct skeleton {
    const struct redress_host_api *api; /* the host's table, valid until shutdown */
    struct redress_plugin *self;
    char greeting[64];
    long long opened;
};

/* What snprintf wrote into a buffer of `size`: its result is what it
 * would have written, which may be more than the buffer holds (or -1).
 * Hand the host only the bytes that are there. */
static size_t written(int result, size_t size) {
    return result < 0 ? 0 : (size_t)result < size ? (size_t)result : size - 1;
}

/* SKELETON.GREET name [times] */
static void greet_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                          const size_t *argvlen) {
    struct skeleton *skeleton = state;
    const struct redress_host_api *api = skeleton->api;
    long times = 1;
    if (argc == 3) {
        /* Digits only, as every redress command reads an integer: strtol
         * alone would take " 2" and "+2". */
        if (argvlen[2] == 0 || argvlen[2] > 2 || strspn(argv[2], "0123456789") != argvlen[2] ||
            (times = strtol(argv[2], NULL, 10)) < 1 || times > 10) {
            api->reply_error(call, "INVALID", "times must be 1 to 10, not '%.20s'", argv[2]);
            return;
        }
    }
    if (argvlen[1] == 0 || argvlen[1] > 64) {
        api->reply_error(call, "INVALID", "name must be 1 to 64 bytes");
        return;
    }
    api->reply_array(call, (size_t)times);
    for (long i = 0; i < times; i++) {
        char text[sizeof skeleton->greeting + 2 + 64]; /* greeting, ", ", the name */
        api->reply_bulk(call, text, written(snprintf(text, sizeof text, "%s, %s", skeleton->greeting, argv[1]),
                                            sizeof text));
    }
}

/* SKELETON.OPENED: cases opened since the daemon started. */
static void opened_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                           const size_t *argvlen) {
    (void)argc, (void)argv, (void)argvlen;
    struct skeleton *skeleton = state;
    skeleton->api->reply_integer(call, skeleton->opened);
}

/* plugins.skeleton.greet(name) */
static int greet_function(void *state, struct redress_lua_call *call, int argc, const struct redress_value *argv) {
    struct skeleton *skeleton = state;
    if (argc != 1 || argv[0].type != REDRESS_VALUE_STRING) {
        skeleton->api->result_error(call, "expects one string");
        return -1;
    }
    char text[sizeof skeleton->greeting + 2 + 100]; /* greeting, ", ", at most 100 bytes of the name */
    skeleton->api->result_string(
        call, text, written(snprintf(text, sizeof text, "%s, %.100s", skeleton->greeting, argv[0].string), sizeof text));
    return 0;
}

/* plugins.skeleton.facts(text) -> {text = text, length = n, words = {w1, w2, ...}} */
static int facts_function(void *state, struct redress_lua_call *call, int argc, const struct redress_value *argv) {
    const struct redress_host_api *api = ((struct skeleton *)state)->api;
    if (argc != 1 || argv[0].type != REDRESS_VALUE_STRING) {
        api->result_error(call, "expects one string");
        return -1;
    }
    api->result_table(call);
    api->result_string(call, argv[0].string, argv[0].length);
    api->result_set_field(call, "text");
    api->result_integer(call, (int64_t)argv[0].length);
    api->result_set_field(call, "length");
    api->result_table(call);
    for (size_t i = 0; i < argv[0].length;) {
        while (i < argv[0].length && argv[0].string[i] == ' ') i++;
        size_t start = i;
        while (i < argv[0].length && argv[0].string[i] != ' ') i++;
        if (i > start) {
            api->result_string(call, argv[0].string + start, i - start);
            api->result_append(call);
        }
    }
    api->result_set_field(call, "words");
    return 0;
}

static void on_opened(void *state, const struct redress_event *event) {
    (void)event;
    ((struct skeleton *)state)->opened++;
}

/* A value from outside (a setting, a name, an error text) in a log field,
 * escaped as the daemon escapes its own: inside key="...", a quote or a
 * backslash is preceded by a backslash and a newline is \n, so the value
 * cannot end the field and write fields of its own (level=error msg=...).
 * Cut to fit out. */
static const char *log_escaped(const char *value, char *out, size_t out_size) {
    size_t used = 0;
    for (; *value && used + 3 < out_size; value++) {
        unsigned char c = (unsigned char)*value;
        if (c == '"' || c == '\\') out[used++] = '\\', out[used++] = (char)c;
        else if (c == '\n') out[used++] = '\\', out[used++] = 'n';
        else out[used++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    out[used] = '\0';
    return out;
}

static int skeleton_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    struct skeleton *skeleton = calloc(1, sizeof *skeleton);
    if (skeleton == NULL) {
        api->log(self, REDRESS_LOG_ERROR, "out of memory", NULL);
        return -1;
    }
    skeleton->api = api;
    skeleton->self = self;
    const char *greeting = api->config_get(self, "greeting");
    if (greeting == NULL) greeting = "hello";
    /* A setting longer than the plugin keeps stops the start, naming it:
     * cut in silence, the operator would never learn why it reads short. */
    if (strlen(greeting) >= sizeof skeleton->greeting) {
        api->log(self, REDRESS_LOG_ERROR, "bad setting", "why=\"skeleton.greeting is %zu bytes: at most %zu\"",
                 strlen(greeting), sizeof skeleton->greeting - 1);
        free(skeleton);
        return -1;
    }
    memcpy(skeleton->greeting, greeting, strlen(greeting) + 1);
    *state = skeleton;
    if (api->register_command(self, "SKELETON.GREET", 2, 3, REDRESS_ROLE_ANY, "name [times]", greet_command) != 0 ||
        api->register_command(self, "SKELETON.OPENED", 1, 1, REDRESS_ROLE_ANY, "", opened_command) != 0 ||
        api->register_lua_function(self, "greet", greet_function) != 0 ||
        api->register_lua_function(self, "facts", facts_function) != 0 ||
        api->subscribe_events(self, "opened", on_opened) != 0) {
        free(skeleton); /* the host logged which registration it refused, and removes the others */
        return -1;
    }
    char escaped[2 * sizeof skeleton->greeting];
    api->log(self, REDRESS_LOG_INFO, "skeleton ready", "greeting=\"%s\"",
             log_escaped(skeleton->greeting, escaped, sizeof escaped));
    return 0;
}

static void skeleton_shutdown(void *state) { free(state); }

REDRESS_PLUGIN("skeleton", "1.0.0", skeleton_init, skeleton_shutdown);
