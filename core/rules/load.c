/* load.c -- a rule folder read into a sealed rule set.
 *
 * Owns running the files (in name order, at most 64, as files.c lists and
 * reads them), the version hash (SHA-256 of names and contents), the
 * vocabulary and defaults, the hook references, the copy of `macros`
 * replies send (kept at load, out of the hooks' reach), and the order of it all --
 * and the built-in vocabulary below, the one place in C that names policy
 * (priorities P1..P4, the channels, the default category, queue and
 * priority of a daemon without a rule set).  The set's other settings
 * (calendars, timers, notices, assignment, tasks, incidents, refund
 * automation) are read by settings.c, once the vocabulary is in.
 *
 * Must never swap a set in or call a hook: it builds a set (or says which
 * file, line and field is wrong) and hands it to its caller.
 */
#include "rules/set.h"

#include "lib/clock.h"
#include "lib/names.h"
#include "rules/sandbox.h"

#include <lauxlib.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUILTIN_PRIORITIES 4
#define BUILTIN_CHANNELS 5

/* The built-in vocabulary (DESIGN: CASE.OPEN channels).  Priorities and
 * channels are what a set's vocabulary may leave out; the defaults decide
 * when no rule set is loaded, and are a set's fallbacks when its own
 * `defaults` leave one out and its vocabulary has the name. */
static const struct {
    const char *priorities[BUILTIN_PRIORITIES];
    const char *channels[BUILTIN_CHANNELS];
    const char *category, *queue, *priority, *channel;
} builtin_vocabulary = {
    .priorities = {"P1", "P2", "P3", "P4"},
    .channels = {"phone", "email", "chat", "social", "web"},
    .category = "general_inquiry",
    .queue = "support",
    .priority = "P3",
    .channel = "web",
};

int rules_builtin_names(enum rules_vocabulary kind, const char *const **names) {
    *names = kind == RULES_PRIORITY ? builtin_vocabulary.priorities
             : kind == RULES_CHANNEL ? builtin_vocabulary.channels : NULL;
    return kind == RULES_PRIORITY ? BUILTIN_PRIORITIES : kind == RULES_CHANNEL ? BUILTIN_CHANNELS : 0;
}

const char *rules_builtin_default(enum rules_vocabulary kind) {
    switch (kind) {
    case RULES_CATEGORY: return builtin_vocabulary.category;
    case RULES_QUEUE: return builtin_vocabulary.queue;
    case RULES_PRIORITY: return builtin_vocabulary.priority;
    case RULES_CHANNEL: return builtin_vocabulary.channel;
    }
    return "";
}

/* ------------------------------------------------------------ vocabulary */

/* Reads vocabulary.<name> (a list of names) into list. */
static int read_vocabulary_list(lua_State *state, const char *name, char list[][RULES_NAME_MAX + 1], int *count,
                                int required, char *error, size_t error_size) {
    *count = 0;
    int type = rules_raw_field(state, -1, name);
    if (type == LUA_TNIL && !required) {
        lua_pop(state, 1);
        return 0;
    }
    size_t items = type == LUA_TTABLE ? lua_rawlen(state, -1) : 0;
    if (type != LUA_TTABLE || items == 0 || items > RULES_VOCABULARY_MAX) {
        snprintf(error, error_size, "vocabulary.%s must be a list of 1 to %d names", name, RULES_VOCABULARY_MAX);
        lua_pop(state, 1);
        return -1;
    }
    for (size_t i = 1; i <= items; i++) {
        size_t len = 0;
        const char *text =
            lua_rawgeti(state, -1, (lua_Integer)i) == LUA_TSTRING ? lua_tolstring(state, -1, &len) : NULL;
        if (text == NULL || !names_valid(text, len)) {
            snprintf(error, error_size, "vocabulary.%s[%zu] is not a name of letters, digits, _ - . : @", name, i);
            lua_pop(state, 2);
            return -1;
        }
        memcpy(list[*count], text, len + 1);
        (*count)++;
        lua_pop(state, 1);
    }
    lua_pop(state, 1);
    return 0;
}

/* Urgency is the byte order of a priority's name: CASE.CLAIM and assignment
 * take cases ORDER BY priority, an incident raises a case only to a name
 * that sorts first (incidents.c).  A list in another order would have its
 * first, "most urgent" name handed out last: refused once here, rather than
 * a rank looked up for every case. */
static int check_priority_order(const struct rule_set *set, char *error, size_t error_size) {
    for (int i = 1; i < set->priority_count; i++) {
        int order = strcmp(set->priorities[i - 1], set->priorities[i]);
        if (order == 0) {
            snprintf(error, error_size, "vocabulary.priorities names '%s' twice", set->priorities[i]);
            return -1;
        }
        if (order > 0) {
            snprintf(error, error_size,
                     "vocabulary.priorities must sort most urgent first: '%s' sorts after '%s' (CASE.CLAIM and "
                     "incidents order cases by the name: use P1, P2, ... or 1-urgent, 2-high, ...)",
                     set->priorities[i - 1], set->priorities[i]);
            return -1;
        }
    }
    return 0;
}

/* A built-in name if the list has it, else the list's name at fallback. */
static void pick_default(char *out, const char list[][RULES_NAME_MAX + 1], int count, const char *builtin,
                         int fallback) {
    snprintf(out, RULES_NAME_MAX + 1, "%s", rule_list_has(list, count, builtin) ? builtin : list[fallback]);
}

static int read_vocabulary_and_defaults(struct rule_set *set, char *error, size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    if (sandbox_get_global(set->sandbox, "vocabulary") != LUA_TTABLE) {
        snprintf(error, error_size, "%s: the rule set defines no vocabulary table", set->directory);
        lua_pop(state, 1);
        return -1;
    }
    char why[512];
    if (read_vocabulary_list(state, "categories", set->categories, &set->category_count, 1, why, sizeof why) ||
        read_vocabulary_list(state, "queues", set->queues, &set->queue_count, 1, why, sizeof why) ||
        read_vocabulary_list(state, "priorities", set->priorities, &set->priority_count, 0, why, sizeof why) ||
        read_vocabulary_list(state, "channels", set->channels, &set->channel_count, 0, why, sizeof why) ||
        check_priority_order(set, why, sizeof why)) {
        snprintf(error, error_size, "%s: %s", set->directory, why);
        lua_pop(state, 1);
        return -1;
    }
    lua_pop(state, 1);
    if (set->priority_count == 0) {
        for (int i = 0; i < BUILTIN_PRIORITIES; i++)
            snprintf(set->priorities[i], RULES_NAME_MAX + 1, "%s", builtin_vocabulary.priorities[i]);
        set->priority_count = BUILTIN_PRIORITIES;
    }
    if (set->channel_count == 0) {
        for (int i = 0; i < BUILTIN_CHANNELS; i++)
            snprintf(set->channels[i], RULES_NAME_MAX + 1, "%s", builtin_vocabulary.channels[i]);
        set->channel_count = BUILTIN_CHANNELS;
    }
    /* Defaults: the rule set's, else the built-in ones when the vocabulary
     * has them, else the first category and queue, the last priority. */
    pick_default(set->default_category, set->categories, set->category_count, builtin_vocabulary.category, 0);
    pick_default(set->default_queue, set->queues, set->queue_count, builtin_vocabulary.queue, 0);
    pick_default(set->default_priority, set->priorities, set->priority_count, builtin_vocabulary.priority,
                 set->priority_count - 1);
    if (sandbox_get_global(set->sandbox, "defaults") == LUA_TTABLE) {
        if (rules_read_vocabulary(state, -1, "category", set->categories, set->category_count,
                                  set->default_category, why, sizeof why) < 0 ||
            rules_read_vocabulary(state, -1, "queue", set->queues, set->queue_count, set->default_queue, why,
                                  sizeof why) < 0 ||
            rules_read_vocabulary(state, -1, "priority", set->priorities, set->priority_count,
                                  set->default_priority, why, sizeof why) < 0) {
            snprintf(error, error_size, "%s: defaults: %s", set->directory, why);
            lua_pop(state, 1);
            return -1;
        }
    }
    lua_pop(state, 1);
    return 0;
}

/* ------------------------------------------------------------ the macros as loaded */

/* The registry key of a set's kept macros (its address). */
static const char macros_key = 0;

/* Runs under lua_pcall (a copy allocates): the macros table at index 1,
 * copied two levels deep (name -> its texts) into the registry.  Raw reads
 * and writes only: no rule code runs. */
static int copy_macros(lua_State *state) {
    lua_newtable(state);
    int copy = lua_gettop(state);
    lua_pushnil(state);
    while (lua_next(state, 1) != 0) {
        if (lua_type(state, -1) == LUA_TTABLE) {
            int texts = lua_gettop(state);
            lua_newtable(state);
            int texts_copy = lua_gettop(state);
            lua_pushnil(state);
            while (lua_next(state, texts) != 0) {
                lua_pushvalue(state, -2);
                lua_insert(state, -2);
                lua_rawset(state, texts_copy);
            }
            lua_replace(state, texts); /* the value is now its copy */
        }
        lua_pushvalue(state, -2);
        lua_insert(state, -2);
        lua_rawset(state, copy);
    }
    lua_rawsetp(state, LUA_REGISTRYINDEX, &macros_key);
    return 0;
}

static int keep_macros(struct rule_set *set, char *error, size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    int top = lua_gettop(state);
    if (sandbox_get_global(set->sandbox, "macros") != LUA_TTABLE) {
        lua_settop(state, top);
        return 0; /* no macros: rules_macro says so */
    }
    lua_pushcfunction(state, copy_macros);
    lua_insert(state, -2);
    int status = lua_pcall(state, 1, 0, 0);
    if (status != LUA_OK) {
        snprintf(error, error_size, "%s: macros: cannot keep them: %s", set->directory,
                 lua_type(state, -1) == LUA_TSTRING ? lua_tostring(state, -1) : "not enough memory");
        lua_settop(state, top);
        return -1;
    }
    lua_settop(state, top);
    return 0;
}

int rules_set_push_macros(struct rule_set *set) {
    return lua_rawgetp(sandbox_state(set->sandbox), LUA_REGISTRYINDEX, &macros_key);
}

/* ------------------------------------------------------------ a whole set */

void rules_set_free(struct rule_set *set) {
    if (set == NULL) return;
    sandbox_free(set->sandbox);
    for (int i = 0; i < RULES_CALENDARS_MAX; i++) calendar_zone_free(set->calendars[i].zone);
    for (int i = 0; i < RULES_FILES_MAX; i++) free(set->sources[i]);
    free(set);
}

/* Runs the set's files in name order, hashing names and contents. */
static int run_files(struct rule_set *set, EVP_MD_CTX *digest, char *error, size_t error_size) {
    for (int i = 0; i < set->file_count; i++) {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", set->directory, set->files[i]);
        /* Kept (a copy of a set has them already): see rule_set.sources. */
        if (set->sources[i] == NULL) {
            char *read = rules_read_file(path, &set->source_lens[i], error, error_size);
            if (read == NULL) return -1;
            /* The reader's buffer is 1 MiB: keep only the text. */
            char *fitted = realloc(read, set->source_lens[i] + 1);
            set->sources[i] = fitted ? fitted : read;
            set->sources[i][set->source_lens[i]] = '\0';
        }
        const char *text = set->sources[i];
        size_t len = set->source_lens[i];
        /* The version covers names and contents: a rename is a new version. */
        if (EVP_DigestUpdate(digest, set->files[i], strlen(set->files[i]) + 1) != 1 ||
            EVP_DigestUpdate(digest, text, len) != 1) {
            snprintf(error, error_size, "%s: cannot hash", path);
            return -1;
        }
        if (sandbox_run_file(set->sandbox, path, text, len, error, error_size) != 0) return -1;
    }
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int hash_len = 0;
    if (EVP_DigestFinal_ex(digest, hash, &hash_len) != 1) {
        snprintf(error, error_size, "%s: cannot hash", set->directory);
        return -1;
    }
    for (unsigned int i = 0; i < hash_len && i < 32; i++) snprintf(set->version + 2 * i, 3, "%02x", hash[i]);
    return 0;
}

/* References the hook functions the set defines; a hook name bound to
 * anything but a function is an error. */
static int find_hooks(struct rule_set *set, char *error, size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    for (int h = 0; h < HOOK_COUNT; h++) {
        int type = sandbox_get_global(set->sandbox, rules_hook_name((enum rules_hook)h));
        if (type == LUA_TFUNCTION) {
            set->hook_refs[h] = luaL_ref(state, LUA_REGISTRYINDEX);
            continue;
        }
        lua_pop(state, 1);
        if (type != LUA_TNIL) {
            snprintf(error, error_size, "%s: %s is a %s, not a function", set->directory,
                     rules_hook_name((enum rules_hook)h), lua_typename(state, type));
            return -1;
        }
    }
    return 0;
}

/* What the files defined, read into set and sealed: inside
 * sandbox_host_read, so a Lua error (out of memory in a state the files
 * filled) is a load error naming the folder, not an abort. */
static int read_set(void *context, char *error, size_t error_size) {
    struct rule_set *set = context;
    if (read_vocabulary_and_defaults(set, error, error_size) != 0 ||
        rules_set_read_settings(set, error, error_size) != 0 || find_hooks(set, error, error_size) != 0 ||
        keep_macros(set, error, error_size) != 0)
        return -1;
    sandbox_seal(set->sandbox);
    return 0;
}

/* Runs set's files (listed, texts read or copied) into a sealed set; frees
 * it and returns NULL on an error. */
static struct rule_set *build(struct rule_set *set, const struct sandbox_limits *limits,
                              const struct rules_environment *environment, char *error, size_t error_size) {
    EVP_MD_CTX *digest = EVP_MD_CTX_new();
    if (digest == NULL || EVP_DigestInit_ex(digest, EVP_sha256(), NULL) != 1) {
        snprintf(error, error_size, "out of memory");
        goto failed;
    }
    set->sandbox = sandbox_new(limits, error, error_size);
    if (set->sandbox == NULL) goto failed;
    sandbox_set_clock(set->sandbox, environment->now);
    lua_State *state = sandbox_state(set->sandbox);
    lua_pushlightuserdata(state, set);
    lua_setfield(state, LUA_REGISTRYINDEX, "redress.set");
    rules_push_helpers(state);
    sandbox_set_global(set->sandbox, "redress");
    rules_push_plugins(state, environment);
    sandbox_set_global(set->sandbox, "plugins");
    /* One budget for all the files (64 files each under its own held the
     * loop for 64 budgets, twice per STAGE), and the same wherever the set
     * loads: live, or as RULES.EVAL's copy inside a command. */
    sandbox_load_budget(set->sandbox, 1);
    int ran = run_files(set, digest, error, error_size);
    sandbox_load_budget(set->sandbox, 0);
    if (ran != 0) goto failed;
    EVP_MD_CTX_free(digest);
    digest = NULL;
    char why[400];
    int read = sandbox_host_read(set->sandbox, read_set, set, error, error_size, why, sizeof why);
    if (read == -2) snprintf(error, error_size, "%s: reading what the files defined: %s", set->directory, why);
    if (read != 0) goto failed;
    set->loaded_at = clock_now();
    return set;
failed:
    if (digest) EVP_MD_CTX_free(digest);
    rules_set_free(set);
    return NULL;
}

/* An empty set of `directory`, its hooks not found yet; NULL (out of memory). */
static struct rule_set *set_new(const char *directory, const struct rules_environment *environment, char *error,
                                size_t error_size) {
    struct rule_set *set = calloc(1, sizeof *set);
    if (set == NULL) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    set->environment = environment;
    snprintf(set->directory, sizeof set->directory, "%s", directory);
    for (int h = 0; h < HOOK_COUNT; h++) set->hook_refs[h] = LUA_NOREF;
    return set;
}

struct rule_set *rules_set_load(const char *directory, const struct sandbox_limits *limits,
                                const struct rules_environment *environment, char *error, size_t error_size) {
    struct rule_set *set = set_new(directory, environment, error, error_size);
    if (set == NULL) return NULL;
    set->file_count = rules_list_files(directory, ".lua", set->files, RULES_FILES_MAX, error, error_size);
    if (set->file_count <= 0) {
        if (set->file_count == 0) snprintf(error, error_size, "%s: no .lua files", directory);
        rules_set_free(set);
        return NULL;
    }
    return build(set, limits, environment, error, error_size);
}

struct rule_set *rules_set_copy(const struct rule_set *model, const struct sandbox_limits *limits,
                                const struct rules_environment *environment, char *error, size_t error_size) {
    struct rule_set *set = set_new(model->directory, environment, error, error_size);
    if (set == NULL) return NULL;
    set->file_count = model->file_count;
    memcpy(set->files, model->files, sizeof set->files);
    for (int i = 0; i < set->file_count; i++) {
        set->sources[i] = malloc(model->source_lens[i] + 1);
        if (set->sources[i] == NULL) {
            snprintf(error, error_size, "out of memory");
            rules_set_free(set);
            return NULL;
        }
        memcpy(set->sources[i], model->sources[i], model->source_lens[i] + 1);
        set->source_lens[i] = model->source_lens[i];
    }
    return build(set, limits, environment, error, error_size);
}
