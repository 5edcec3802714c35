/* matcher.c -- the compiled multi-keyword matcher (matcher.h): keywords in
 * named groups, an Aho-Corasick automaton over bytes with ASCII folded to
 * lower case, and results reused between matches.
 *
 * Layout after matcher_compile (states are uint32_t, 0 is the root):
 *   root[256]                  the root's transition for every byte (0: stay)
 *   edge_start[s]..[s+1]       state s's edges in edge_byte / edge_target,
 *                              sorted by byte (the root's are in root[])
 *   fail[s]                    the longest proper suffix of s's path that is
 *                              a state (Aho-Corasick's failure link)
 *   out_start[s]..[s+1]        the keywords ending exactly at s, in out_ids
 *   out_link[s]                the nearest state on s's failure chain that
 *                              has keywords of its own (0: none)
 * Matching follows one edge per byte, or failure links (amortised: never more
 * than the bytes read), then reports the keywords of the state and of its
 * out_link chain.  A result stamps every reporting state it walks with the
 * match's generation, and a walk stops at a stamped state (its chain was
 * reported already), so a match costs O(text + keywords) whatever the
 * keywords' overlaps and duplicates.
 *
 * All memory goes through the allocator given to matcher_new and is counted;
 * every allocation failure leaves the matcher as it was and returns -1.
 */
#include "lib/matcher.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Grown arrays start at this many elements and double. */
#define MATCHER_INITIAL_CAPACITY 16
/* A state with more edges than this is searched by halves, else in order. */
#define MATCHER_LINEAR_EDGES 8

struct keyword {
    uint32_t offset, length; /* in matcher->bytes: the text as added */
    uint32_t group;
    uint32_t state;          /* where it ends, after compiling */
};

struct group {
    uint32_t name_offset, name_length; /* in matcher->bytes */
    uint32_t first, count;             /* its keywords */
};

struct matcher {
    matcher_alloc_fn alloc;
    void *alloc_data;
    size_t memory;
    enum matcher_error error;
    int compiled;

    struct keyword *keywords;
    size_t keyword_count, keyword_capacity;
    struct group *groups;
    size_t group_count, group_capacity;
    char *bytes;                       /* keyword texts and group names */
    size_t bytes_used, bytes_capacity;
    size_t keyword_bytes;              /* of the keywords alone (the limit) */

    uint32_t state_count;
    uint32_t root[256];
    uint32_t *edge_start;              /* state_count + 1 */
    uint8_t *edge_byte;                /* state_count - 1 edges */
    uint32_t *edge_target;
    uint32_t *fail;                    /* state_count */
    uint32_t *out_start;               /* state_count + 1 */
    uint32_t *out_ids;                 /* keyword_count */
    uint32_t *out_link;                /* state_count */
};

struct matcher_result {
    const struct matcher *matcher;
    matcher_alloc_fn alloc;
    void *alloc_data;
    size_t memory;
    uint32_t generation;     /* of the last match; stamps equal to it are current */
    uint32_t *state_stamp;   /* state_count: reporting states walked */
    uint32_t *keyword_stamp; /* keyword_count */
    size_t *keyword_position;
    uint32_t *group_stamp;   /* group_count */
    size_t *group_count;
    size_t *group_position;
    unsigned *found;         /* keyword ids in the order found */
    size_t found_count;
    uint32_t state;          /* where the text fed so far left the automaton */
    size_t offset;           /* bytes fed so far */
};

/* ASCII A-Z -> a-z, every other byte as it is. */
static inline uint8_t fold(uint8_t byte) { return (uint8_t)((unsigned)(byte - 'A') < 26u ? byte | 0x20 : byte); }

/* ------------------------------------------------------------ memory */

static void *default_alloc(void *data, void *pointer, size_t old_size, size_t new_size) {
    (void)data;
    (void)old_size;
    if (new_size == 0) {
        free(pointer);
        return NULL;
    }
    return realloc(pointer, new_size);
}

/* (Re)allocates `count` elements of `size` bytes for `*held` elements held;
 * counts the difference in *memory.  0 or -1 (*pointer untouched). */
static int resize(matcher_alloc_fn alloc, void *data, size_t *memory, void **pointer, size_t held,
                  size_t count, size_t size) {
    if (count != 0 && count > SIZE_MAX / size) return -1;
    void *grown = alloc(data, *pointer, held * size, count * size);
    if (grown == NULL && count != 0) return -1;
    *pointer = grown;
    *memory = *memory - held * size + count * size;
    return 0;
}

static int fail_with(struct matcher *matcher, enum matcher_error error) {
    matcher->error = error;
    return -1;
}

/* Room for `more` elements in a grown array of `*capacity`. */
static int reserve(struct matcher *matcher, void **array, size_t *capacity, size_t used, size_t more,
                   size_t size) {
    if (used + more <= *capacity) return 0;
    size_t wanted = *capacity ? *capacity : MATCHER_INITIAL_CAPACITY;
    while (wanted < used + more) wanted *= 2;
    if (resize(matcher->alloc, matcher->alloc_data, &matcher->memory, array, *capacity, wanted, size) != 0)
        return fail_with(matcher, MATCHER_ENOMEM);
    *capacity = wanted;
    return 0;
}

/* Copies `length` bytes into matcher->bytes; their offset in *offset. */
static int store_bytes(struct matcher *matcher, const char *text, size_t length, uint32_t *offset) {
    void *bytes = matcher->bytes;
    if (reserve(matcher, &bytes, &matcher->bytes_capacity, matcher->bytes_used, length, 1) != 0) return -1;
    matcher->bytes = bytes;
    if (length) memcpy(matcher->bytes + matcher->bytes_used, text, length);
    *offset = (uint32_t)matcher->bytes_used;
    matcher->bytes_used += length;
    return 0;
}

/* ---------------------------------------------------------- building */

struct matcher *matcher_new(matcher_alloc_fn alloc, void *alloc_data) {
    if (alloc == NULL) alloc = default_alloc;
    struct matcher *matcher = alloc(alloc_data, NULL, 0, sizeof *matcher);
    if (matcher == NULL) return NULL;
    memset(matcher, 0, sizeof *matcher);
    matcher->alloc = alloc;
    matcher->alloc_data = alloc_data;
    matcher->memory = sizeof *matcher;
    return matcher;
}

static void release(struct matcher *matcher, void *pointer, size_t count, size_t size) {
    if (pointer == NULL) return;
    matcher->alloc(matcher->alloc_data, pointer, count * size, 0);
    matcher->memory -= count * size;
}

static void free_automaton(struct matcher *matcher) {
    size_t states = matcher->state_count;
    size_t edges = states ? states - 1 : 0;
    release(matcher, matcher->edge_start, states + 1, sizeof *matcher->edge_start);
    release(matcher, matcher->edge_byte, edges, sizeof *matcher->edge_byte);
    release(matcher, matcher->edge_target, edges, sizeof *matcher->edge_target);
    release(matcher, matcher->fail, states, sizeof *matcher->fail);
    release(matcher, matcher->out_start, states + 1, sizeof *matcher->out_start);
    release(matcher, matcher->out_ids, matcher->keyword_count, sizeof *matcher->out_ids);
    release(matcher, matcher->out_link, states, sizeof *matcher->out_link);
    matcher->edge_start = matcher->edge_target = matcher->fail = NULL;
    matcher->out_start = matcher->out_ids = matcher->out_link = NULL;
    matcher->edge_byte = NULL;
    matcher->state_count = 0;
}

void matcher_free(struct matcher *matcher) {
    if (matcher == NULL) return;
    free_automaton(matcher);
    release(matcher, matcher->keywords, matcher->keyword_capacity, sizeof *matcher->keywords);
    release(matcher, matcher->groups, matcher->group_capacity, sizeof *matcher->groups);
    release(matcher, matcher->bytes, matcher->bytes_capacity, 1);
    matcher->alloc(matcher->alloc_data, matcher, sizeof *matcher, 0);
}

int matcher_group(struct matcher *matcher, const char *name, size_t length) {
    if (matcher->compiled) return fail_with(matcher, MATCHER_ECOMPILED);
    if (length == 0) return fail_with(matcher, MATCHER_EEMPTY);
    if (length > MATCHER_MAX_GROUP_NAME || matcher->group_count >= MATCHER_MAX_GROUPS)
        return fail_with(matcher, MATCHER_ELIMIT);
    void *groups = matcher->groups;
    if (reserve(matcher, &groups, &matcher->group_capacity, matcher->group_count, 1, sizeof *matcher->groups) != 0)
        return -1;
    matcher->groups = groups;
    struct group *group = &matcher->groups[matcher->group_count];
    if (store_bytes(matcher, name, length, &group->name_offset) != 0) return -1;
    group->name_length = (uint32_t)length;
    group->first = (uint32_t)matcher->keyword_count;
    group->count = 0;
    return (int)matcher->group_count++;
}

int matcher_keyword(struct matcher *matcher, const char *keyword, size_t length) {
    if (matcher->compiled) return fail_with(matcher, MATCHER_ECOMPILED);
    if (matcher->group_count == 0) return fail_with(matcher, MATCHER_ENOGROUP);
    if (length == 0) return fail_with(matcher, MATCHER_EEMPTY);
    if (length > MATCHER_MAX_KEYWORD_BYTES || matcher->keyword_count >= MATCHER_MAX_KEYWORDS ||
        matcher->keyword_bytes + length > MATCHER_MAX_BYTES)
        return fail_with(matcher, MATCHER_ELIMIT);
    void *keywords = matcher->keywords;
    if (reserve(matcher, &keywords, &matcher->keyword_capacity, matcher->keyword_count, 1,
                sizeof *matcher->keywords) != 0)
        return -1;
    matcher->keywords = keywords;
    struct keyword *entry = &matcher->keywords[matcher->keyword_count];
    if (store_bytes(matcher, keyword, length, &entry->offset) != 0) return -1;
    entry->length = (uint32_t)length;
    entry->group = (uint32_t)(matcher->group_count - 1);
    entry->state = 0;
    matcher->keyword_bytes += length;
    matcher->groups[matcher->group_count - 1].count++;
    return (int)matcher->keyword_count++;
}

/* The trie while it is built: children as sibling lists. */
struct trie {
    uint32_t *first_child, *next_sibling;
    uint8_t *byte;
    uint32_t count, capacity;
};

/* The child of `state` by `byte` in the finished edge arrays, or 0. */
static uint32_t edge_lookup(const struct matcher *matcher, uint32_t state, uint8_t byte) {
    if (state == 0) return matcher->root[byte];
    uint32_t low = matcher->edge_start[state], high = matcher->edge_start[state + 1];
    if (high - low <= MATCHER_LINEAR_EDGES) {
        for (uint32_t e = low; e < high; e++) {
            if (matcher->edge_byte[e] == byte) return matcher->edge_target[e];
            if (matcher->edge_byte[e] > byte) return 0;
        }
        return 0;
    }
    while (low < high) {
        uint32_t middle = low + (high - low) / 2;
        if (matcher->edge_byte[middle] < byte) low = middle + 1;
        else high = middle;
    }
    return low < matcher->edge_start[state + 1] && matcher->edge_byte[low] == byte ? matcher->edge_target[low] : 0;
}

/* Every array the automaton needs, or none (-1). */
static int allocate_automaton(struct matcher *matcher, uint32_t states) {
    size_t edges = states - 1;
    struct { void **array; size_t count, size; } parts[] = {
        {(void **)&matcher->edge_start, states + 1, sizeof(uint32_t)},
        {(void **)&matcher->edge_byte, edges, sizeof(uint8_t)},
        {(void **)&matcher->edge_target, edges, sizeof(uint32_t)},
        {(void **)&matcher->fail, states, sizeof(uint32_t)},
        {(void **)&matcher->out_start, states + 1, sizeof(uint32_t)},
        {(void **)&matcher->out_ids, matcher->keyword_count, sizeof(uint32_t)},
        {(void **)&matcher->out_link, states, sizeof(uint32_t)},
    };
    matcher->state_count = states;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (resize(matcher->alloc, matcher->alloc_data, &matcher->memory, parts[i].array, 0, parts[i].count,
                   parts[i].size) != 0) {
            free_automaton(matcher); /* releases what was allocated (NULL for the rest) */
            return fail_with(matcher, MATCHER_ENOMEM);
        }
    }
    return 0;
}

static void free_trie(struct matcher *matcher, struct trie *trie) {
    release(matcher, trie->first_child, trie->capacity, sizeof(uint32_t));
    release(matcher, trie->next_sibling, trie->capacity, sizeof(uint32_t));
    release(matcher, trie->byte, trie->capacity, sizeof(uint8_t));
}

/* Inserts every keyword (folded) into the trie; each keyword's end state. */
static void insert_keywords(struct matcher *matcher, struct trie *trie) {
    for (size_t k = 0; k < matcher->keyword_count; k++) {
        struct keyword *entry = &matcher->keywords[k];
        const uint8_t *text = (const uint8_t *)matcher->bytes + entry->offset;
        uint32_t state = 0;
        for (uint32_t i = 0; i < entry->length; i++) {
            uint8_t byte = fold(text[i]);
            uint32_t child = trie->first_child[state];
            while (child && trie->byte[child] != byte) child = trie->next_sibling[child];
            if (child == 0) {
                child = trie->count++;
                trie->byte[child] = byte;
                trie->first_child[child] = 0;
                trie->next_sibling[child] = trie->first_child[state];
                trie->first_child[state] = child;
            }
            state = child;
        }
        entry->state = state;
    }
}

/* The trie's sibling lists -> sorted edge arrays, in breadth-first order of
 * states so that parents come before children (failure links need it). */
static void flatten(struct matcher *matcher, const struct trie *trie, uint32_t *order) {
    /* order[] holds trie nodes breadth first; renumber[] maps trie node ->
     * state (reusing trie->first_child's memory is not possible: both are
     * read), so states are numbered in the breadth-first order itself. */
    uint32_t head = 0, tail = 0;
    order[tail++] = 0;
    uint32_t edge = 0;
    memset(matcher->root, 0, sizeof matcher->root);
    while (head < tail) {
        uint32_t node = order[head];
        uint32_t state = head++; /* state number = position in order[] */
        matcher->edge_start[state] = edge;
        uint32_t first_edge = edge;
        for (uint32_t child = trie->first_child[node]; child; child = trie->next_sibling[child]) {
            uint32_t child_state = tail;
            order[tail++] = child;
            if (state == 0) {
                matcher->root[trie->byte[child]] = child_state;
            } else {
                /* insertion sort by byte: a state has few edges */
                uint32_t at = edge++;
                while (at > first_edge && matcher->edge_byte[at - 1] > trie->byte[child]) {
                    matcher->edge_byte[at] = matcher->edge_byte[at - 1];
                    matcher->edge_target[at] = matcher->edge_target[at - 1];
                    at--;
                }
                matcher->edge_byte[at] = trie->byte[child];
                matcher->edge_target[at] = child_state;
            }
        }
    }
    matcher->edge_start[matcher->state_count] = edge;
}

int matcher_compile(struct matcher *matcher) {
    if (matcher->compiled) return fail_with(matcher, MATCHER_ECOMPILED);
    /* At most one state per keyword byte, plus the root. */
    size_t bound = matcher->keyword_bytes + 1;
    struct trie trie = {0};
    if (resize(matcher->alloc, matcher->alloc_data, &matcher->memory, (void **)&trie.first_child, 0, bound,
               sizeof(uint32_t)) != 0 ||
        resize(matcher->alloc, matcher->alloc_data, &matcher->memory, (void **)&trie.next_sibling, 0, bound,
               sizeof(uint32_t)) != 0 ||
        resize(matcher->alloc, matcher->alloc_data, &matcher->memory, (void **)&trie.byte, 0, bound, 1) != 0) {
        trie.capacity = (uint32_t)bound;
        free_trie(matcher, &trie);
        return fail_with(matcher, MATCHER_ENOMEM);
    }
    trie.capacity = (uint32_t)bound;
    trie.first_child[0] = trie.next_sibling[0] = 0;
    trie.count = 1;
    insert_keywords(matcher, &trie);

    if (allocate_automaton(matcher, trie.count) != 0) {
        free_trie(matcher, &trie);
        return -1;
    }
    /* order[] (trie node of each state) borrows `fail` until failure links
     * are computed: first, map each keyword's trie node to its state. */
    uint32_t *order = matcher->fail;
    flatten(matcher, &trie, order);
    uint32_t *state_of = trie.next_sibling; /* trie node -> state; siblings no longer needed */
    for (uint32_t s = 0; s < matcher->state_count; s++) state_of[order[s]] = s;
    for (size_t k = 0; k < matcher->keyword_count; k++) matcher->keywords[k].state = state_of[matcher->keywords[k].state];

    /* Keywords ending at each state, in keyword order (counting sort). */
    memset(matcher->out_start, 0, (matcher->state_count + 1) * sizeof *matcher->out_start);
    for (size_t k = 0; k < matcher->keyword_count; k++) matcher->out_start[matcher->keywords[k].state + 1]++;
    for (uint32_t s = 0; s < matcher->state_count; s++) matcher->out_start[s + 1] += matcher->out_start[s];
    uint32_t *cursor = trie.first_child; /* reused: trie no longer needed */
    memcpy(cursor, matcher->out_start, matcher->state_count * sizeof *cursor);
    for (size_t k = 0; k < matcher->keyword_count; k++) matcher->out_ids[cursor[matcher->keywords[k].state]++] = (uint32_t)k;
    free_trie(matcher, &trie);

    /* Failure and output links, breadth first (states are numbered so). */
    matcher->fail[0] = 0;
    matcher->out_link[0] = 0;
    for (uint32_t s = 0; s < matcher->state_count; s++) {
        uint32_t low = s == 0 ? 0 : matcher->edge_start[s], high = s == 0 ? 256 : matcher->edge_start[s + 1];
        for (uint32_t e = low; e < high; e++) {
            uint8_t byte = s == 0 ? (uint8_t)e : matcher->edge_byte[e];
            uint32_t child = s == 0 ? matcher->root[e] : matcher->edge_target[e];
            if (child == 0) continue;
            uint32_t link = 0;
            if (s != 0) {
                uint32_t f = matcher->fail[s];
                for (;;) {
                    uint32_t next = edge_lookup(matcher, f, byte);
                    if (next) { link = next; break; }
                    if (f == 0) break;
                    f = matcher->fail[f];
                }
            }
            matcher->fail[child] = link;
            matcher->out_link[child] =
                matcher->out_start[link + 1] > matcher->out_start[link] ? link : matcher->out_link[link];
        }
    }
    matcher->compiled = 1;
    return 0;
}

/* ------------------------------------------------------------ reading */

enum matcher_error matcher_error(const struct matcher *matcher) { return matcher->error; }

const char *matcher_error_text(enum matcher_error error) {
    switch (error) {
    case MATCHER_OK: return "no error";
    case MATCHER_ENOMEM: return "out of memory";
    case MATCHER_ELIMIT: return "over a limit (keywords, bytes, groups or name length)";
    case MATCHER_EEMPTY: return "empty keyword or group name";
    case MATCHER_ENOGROUP: return "keyword before any group";
    case MATCHER_ECOMPILED: return "matcher already compiled";
    case MATCHER_ENOTREADY: return "matcher not compiled";
    }
    return "unknown error";
}

size_t matcher_keywords(const struct matcher *matcher) { return matcher->keyword_count; }
size_t matcher_groups(const struct matcher *matcher) { return matcher->group_count; }
size_t matcher_memory(const struct matcher *matcher) { return matcher->memory; }
size_t matcher_states(const struct matcher *matcher) { return matcher->state_count; }

const char *matcher_keyword_text(const struct matcher *matcher, size_t keyword, size_t *length) {
    if (keyword >= matcher->keyword_count) return NULL;
    *length = matcher->keywords[keyword].length;
    return matcher->bytes + matcher->keywords[keyword].offset;
}

size_t matcher_keyword_group(const struct matcher *matcher, size_t keyword) {
    return keyword < matcher->keyword_count ? matcher->keywords[keyword].group : (size_t)-1;
}

const char *matcher_group_name(const struct matcher *matcher, size_t group, size_t *length) {
    if (group >= matcher->group_count) return NULL;
    *length = matcher->groups[group].name_length;
    return matcher->bytes + matcher->groups[group].name_offset;
}

size_t matcher_group_keywords(const struct matcher *matcher, size_t group, size_t *first) {
    if (group >= matcher->group_count) return 0;
    *first = matcher->groups[group].first;
    return matcher->groups[group].count;
}

/* ------------------------------------------------------------ results */

struct matcher_result *matcher_result_new(const struct matcher *matcher) {
    if (!matcher->compiled) return NULL;
    struct matcher_result *result = matcher->alloc(matcher->alloc_data, NULL, 0, sizeof *result);
    if (result == NULL) return NULL;
    memset(result, 0, sizeof *result);
    result->matcher = matcher;
    result->alloc = matcher->alloc;
    result->alloc_data = matcher->alloc_data;
    result->memory = sizeof *result;
    size_t states = matcher->state_count, keywords = matcher->keyword_count, groups = matcher->group_count;
    struct { void **array; size_t count, size; } parts[] = {
        {(void **)&result->state_stamp, states, sizeof(uint32_t)},
        {(void **)&result->keyword_stamp, keywords, sizeof(uint32_t)},
        {(void **)&result->keyword_position, keywords, sizeof(size_t)},
        {(void **)&result->group_stamp, groups, sizeof(uint32_t)},
        {(void **)&result->group_count, groups, sizeof(size_t)},
        {(void **)&result->group_position, groups, sizeof(size_t)},
        {(void **)&result->found, keywords, sizeof(unsigned)},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (resize(result->alloc, result->alloc_data, &result->memory, parts[i].array, 0, parts[i].count,
                   parts[i].size) != 0) {
            matcher_result_free(result);
            return NULL;
        }
        if (parts[i].count) memset(*parts[i].array, 0, parts[i].count * parts[i].size);
    }
    return result;
}

void matcher_result_free(struct matcher_result *result) {
    if (result == NULL) return;
    const struct matcher *m = result->matcher;
    size_t states = m->state_count, keywords = m->keyword_count, groups = m->group_count;
    struct { void *array; size_t size; } parts[] = {
        {result->state_stamp, states * sizeof(uint32_t)},     {result->keyword_stamp, keywords * sizeof(uint32_t)},
        {result->keyword_position, keywords * sizeof(size_t)}, {result->group_stamp, groups * sizeof(uint32_t)},
        {result->group_count, groups * sizeof(size_t)},       {result->group_position, groups * sizeof(size_t)},
        {result->found, keywords * sizeof(unsigned)},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (parts[i].array) result->alloc(result->alloc_data, parts[i].array, parts[i].size, 0);
    result->alloc(result->alloc_data, result, sizeof *result, 0);
}

size_t matcher_result_memory(const struct matcher_result *result) { return result->memory; }

/* A new generation for a match; stamps of older ones are cleared when the
 * counter wraps (once in 4 billion matches). */
static void next_generation(struct matcher_result *result) {
    const struct matcher *m = result->matcher;
    if (++result->generation == 0) {
        memset(result->state_stamp, 0, m->state_count * sizeof *result->state_stamp);
        memset(result->keyword_stamp, 0, m->keyword_count * sizeof *result->keyword_stamp);
        memset(result->group_stamp, 0, m->group_count * sizeof *result->group_stamp);
        result->generation = 1;
    }
    result->found_count = 0;
}

/* Records the keywords of `state` and of its output chain that ends at
 * byte `end` (exclusive), stopping at a state reported already. */
static void report(const struct matcher *m, struct matcher_result *result, uint32_t state, size_t end) {
    uint32_t generation = result->generation;
    while (state && result->state_stamp[state] != generation) {
        result->state_stamp[state] = generation;
        for (uint32_t o = m->out_start[state]; o < m->out_start[state + 1]; o++) {
            uint32_t k = m->out_ids[o];
            size_t position = end - m->keywords[k].length;
            result->keyword_stamp[k] = generation;
            result->keyword_position[k] = position;
            result->found[result->found_count++] = k;
            uint32_t g = m->keywords[k].group;
            if (result->group_stamp[g] != generation) {
                result->group_stamp[g] = generation;
                result->group_count[g] = 0;
                result->group_position[g] = position;
            }
            result->group_count[g]++;
            if (position < result->group_position[g]) result->group_position[g] = position;
        }
        state = m->out_link[state];
    }
}

int matcher_begin(const struct matcher *m, struct matcher_result *result) {
    if (!m->compiled || result == NULL || result->matcher != m) return -1;
    next_generation(result);
    result->state = 0;
    result->offset = 0;
    return 0;
}

long matcher_feed(const struct matcher *m, struct matcher_result *result, const char *piece, size_t length) {
    if (!m->compiled || result == NULL || result->matcher != m || result->generation == 0) return -1;
    const uint8_t *bytes = (const uint8_t *)piece;
    uint32_t state = result->state;
    size_t offset = result->offset;
    for (size_t i = 0; i < length; i++) {
        uint8_t byte = fold(bytes[i]);
        for (;;) {
            if (state == 0) {
                state = m->root[byte];
                break;
            }
            uint32_t next = edge_lookup(m, state, byte);
            if (next) {
                state = next;
                break;
            }
            state = m->fail[state];
        }
        if (state == 0) continue;
        uint32_t out = m->out_start[state + 1] > m->out_start[state] ? state : m->out_link[state];
        if (out) report(m, result, out, offset + i + 1);
    }
    result->state = state;
    result->offset = offset + length;
    return (long)result->found_count;
}

long matcher_match(const struct matcher *m, struct matcher_result *result, const char *text, size_t length) {
    if (matcher_begin(m, result) != 0) return -1;
    return matcher_feed(m, result, text, length);
}

int matcher_found(const struct matcher_result *result, size_t keyword, size_t *position) {
    if (keyword >= result->matcher->keyword_count || result->keyword_stamp[keyword] != result->generation ||
        result->generation == 0)
        return 0;
    if (position) *position = result->keyword_position[keyword];
    return 1;
}

size_t matcher_group_found(const struct matcher_result *result, size_t group, size_t *position) {
    if (group >= result->matcher->group_count || result->group_stamp[group] != result->generation ||
        result->generation == 0)
        return 0;
    if (position) *position = result->group_position[group];
    return result->group_count[group];
}

const unsigned *matcher_found_list(const struct matcher_result *result, size_t *count) {
    *count = result->found_count;
    return result->found;
}

static int compare_ids(const void *a, const void *b) {
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return (x > y) - (x < y);
}

const unsigned *matcher_found_sorted(struct matcher_result *result, size_t *count) {
    if (result->found_count > 1) qsort(result->found, result->found_count, sizeof *result->found, compare_ids);
    *count = result->found_count;
    return result->found;
}
