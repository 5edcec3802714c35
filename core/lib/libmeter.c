/* libmeter.c -- the sandbox's library functions whose work grows with their
 * input, charged to the running call's meter (see libmeter.h).
 *
 * Three kinds of replacement:
 *  - a wrapper that works out what the call will do from its arguments (the
 *    same checks, in the same order, so a bad call fails with Lua's own
 *    error and is not charged), charges it, then runs Lua's function in the
 *    same frame (`call_original`), so errors name the function as Lua's do;
 *  - a copy of Lua 5.4's function (table.concat/unpack/move/insert/remove,
 *    string.upper/lower/reverse) whose loop charges piece by piece, so the
 *    deadline stops a long one midway; the code follows ltablib.c and
 *    lstrlib.c line by line;
 *  - string.rep, rebuilt by doubling: Lua's makes one memcpy per copy, even
 *    of an empty string (rep("", 1 << 60) held the loop forever); its work
 *    is now the length of its result, which the allocator charges.
 *
 * Invariant: a charge never leaves anything on the stack (the loops charge
 * while a luaL_Buffer is open).
 */
#include "lib/libmeter.h"

#include <ctype.h>
#include <lauxlib.h>
#include <limits.h>
#include <string.h>

#define UNITS_MAX (LLONG_MAX / 4)   /* a charge this big is over any budget; keeps sums from overflowing */
/* string.rep's limit on the result, as lstrlib.c's MAXSIZE. */
#define REP_MAX_BYTES (sizeof(size_t) < sizeof(int) ? (size_t)-1 : (size_t)INT_MAX)

/* ------------------------------------------------------------ charging */

static const struct lib_meter *meter_of(lua_State *state) {
    return lua_touserdata(state, lua_upvalueindex(1));
}

/* Runs the library's own function (upvalue 2) on this frame's arguments. */
static int call_original(lua_State *state) {
    return lua_tocfunction(state, lua_upvalueindex(2))(state);
}

static long long units_of(lua_Unsigned count, long long units_each) {
    if (count > (lua_Unsigned)(UNITS_MAX / units_each)) return UNITS_MAX;
    return (long long)count * units_each;
}

static void charge_items(lua_State *state, lua_Unsigned count, long long units_each, const char *function) {
    meter_of(state)->charge(state, units_of(count, units_each), function);
}

static void charge_bytes(lua_State *state, size_t bytes, size_t bytes_per_unit, const char *function) {
    meter_of(state)->charge(state, 1 + units_of(bytes / bytes_per_unit, 1), function);
}

/* A loop over `left` table elements, charged LIBMETER_CHUNK_ELEMENTS at a
 * time before they are done. */
struct chunks {
    lua_Unsigned left;          /* elements not charged yet */
    lua_Unsigned charged;       /* elements charged and not done yet */
    const char *function;
};

static void chunks_begin(struct chunks *chunks, lua_Unsigned count, const char *function) {
    chunks->left = count;
    chunks->charged = 0;
    chunks->function = function;
}

static void chunks_step(lua_State *state, struct chunks *chunks) {
    if (chunks->charged == 0) {
        lua_Unsigned piece = chunks->left < LIBMETER_CHUNK_ELEMENTS ? chunks->left : LIBMETER_CHUNK_ELEMENTS;
        if (piece == 0) piece = 1; /* more steps than announced: charge each */
        charge_items(state, piece, LIBMETER_ELEMENT_UNITS, chunks->function);
        chunks->left -= piece < chunks->left ? piece : chunks->left;
        chunks->charged = piece;
    }
    chunks->charged--;
}

/* -------------------------------------------------------------- string */

/* A 1-based, maybe negative start position (lstrlib.c's posrelatI). */
static size_t start_position(lua_Integer position, size_t len) {
    if (position > 0) return (size_t)position;
    if (position == 0) return 1;
    if (position < -(lua_Integer)len) return 1;
    return len + (size_t)position + 1;
}

/* An optional end position, clipped to [0, len] (lstrlib.c's getendpos). */
static size_t end_position(lua_State *state, int arg, lua_Integer fallback, size_t len) {
    lua_Integer position = luaL_optinteger(state, arg, fallback);
    if (position > (lua_Integer)len) return len;
    if (position >= 0) return (size_t)position;
    if (position < -(lua_Integer)len) return 0;
    return len + (size_t)position + 1;
}

/* string.rep(s, n [, sep]): the result is periodic, so after one copy of
 * s and sep it copies what it has written, doubling it each time. */
static int metered_rep(lua_State *state) {
    size_t len, sep_len;
    const char *s = luaL_checklstring(state, 1, &len);
    lua_Integer n = luaL_checkinteger(state, 2);
    const char *sep = luaL_optlstring(state, 3, "", &sep_len);
    if (n <= 0) {
        lua_pushliteral(state, "");
        return 1;
    }
    if (len + sep_len < len || len + sep_len > REP_MAX_BYTES / (size_t)n)
        return luaL_error(state, "resulting string too large");
    size_t total = (size_t)n * len + (size_t)(n - 1) * sep_len;
    luaL_Buffer buffer; /* allocating it charges the copies that fill it */
    char *out = luaL_buffinitsize(state, &buffer, total);
    size_t done = 0;
    if (total > 0) {
        memcpy(out, s, len);
        done = len;
        if (done < total) {
            memcpy(out + done, sep, sep_len);
            done += sep_len;
        }
        /* done is a whole number of periods: copying out[0, more) goes on
         * with the same pattern, and the end cuts it after a copy of s. */
        while (done < total) {
            size_t more = done < total - done ? done : total - done;
            memcpy(out + done, out, more);
            done += more;
        }
    }
    luaL_pushresultsize(&buffer, total);
    return 1;
}

enum mapping { TO_UPPER, TO_LOWER, REVERSED };

/* string.upper/lower/reverse, a chunk at a time. */
static int map_bytes(lua_State *state, enum mapping mapping, const char *function) {
    size_t len;
    const char *s = luaL_checklstring(state, 1, &len);
    luaL_Buffer buffer;
    char *out = luaL_buffinitsize(state, &buffer, len);
    for (size_t at = 0; at < len;) {
        size_t end = len - at > LIBMETER_CHUNK_BYTES ? at + LIBMETER_CHUNK_BYTES : len;
        charge_bytes(state, end - at, LIBMETER_SCAN_BYTES_PER_UNIT, function);
        size_t i = at;
        switch (mapping) {
        case TO_UPPER:
            for (; i < end; i++) out[i] = (char)toupper((unsigned char)s[i]);
            break;
        case TO_LOWER:
            for (; i < end; i++) out[i] = (char)tolower((unsigned char)s[i]);
            break;
        case REVERSED:
            for (; i < end; i++) out[i] = s[len - i - 1];
            break;
        }
        at = end;
    }
    luaL_pushresultsize(&buffer, len);
    return 1;
}

static int metered_upper(lua_State *state) { return map_bytes(state, TO_UPPER, "string.upper"); }
static int metered_lower(lua_State *state) { return map_bytes(state, TO_LOWER, "string.lower"); }
static int metered_reverse(lua_State *state) { return map_bytes(state, REVERSED, "string.reverse"); }

/* string.byte(s, i, j): one value per byte of the range. */
static int metered_byte(lua_State *state) {
    size_t len;
    luaL_checklstring(state, 1, &len);
    lua_Integer first = luaL_optinteger(state, 2, 1);
    size_t start = start_position(first, len);
    size_t end = end_position(state, 3, first, len);
    if (start <= end && end - start < (size_t)INT_MAX) {
        charge_items(state, end - start + 1, LIBMETER_VALUE_UNITS, "string.byte");
        meter_of(state)->values(state, (long long)(end - start + 1));
    }
    return call_original(state);
}

/* string.format: %q quotes its string byte by byte (the rest is copies,
 * which the allocator charges). */
static int has_quote(const char *format, size_t len) {
    for (size_t i = 0; i + 1 < len; i++) {
        if (format[i] != '%') continue;
        if (format[i + 1] == 'q') return 1;
        i++; /* "%%" or another conversion: skip its letter */
    }
    return 0;
}

static int metered_format(lua_State *state) {
    size_t len;
    const char *format = luaL_checklstring(state, 1, &len);
    if (has_quote(format, len)) {
        size_t bytes = 0;
        for (int i = 2; i <= lua_gettop(state); i++)
            if (lua_type(state, i) == LUA_TSTRING) bytes += lua_rawlen(state, i);
        charge_bytes(state, bytes, LIBMETER_QUOTE_BYTES_PER_UNIT, "string.format");
    }
    return call_original(state);
}

/* string.pack/packsize/unpack read their format option by option. */
static int pack_format(lua_State *state, const char *function, int values) {
    size_t len;
    luaL_checklstring(state, 1, &len);
    charge_items(state, len, LIBMETER_FORMAT_UNITS_PER_BYTE, function);
    if (values) meter_of(state)->values(state, (long long)len);
    return call_original(state);
}

static int metered_pack(lua_State *state) { return pack_format(state, "string.pack", 0); }
static int metered_packsize(lua_State *state) { return pack_format(state, "string.packsize", 0); }
static int metered_string_unpack(lua_State *state) { return pack_format(state, "string.unpack", 1); }

/* tonumber(s): Lua scans the whole string (strtod, or digit by digit). */
static int metered_tonumber(lua_State *state) {
    if (lua_type(state, 1) == LUA_TSTRING)
        charge_bytes(state, lua_rawlen(state, 1), LIBMETER_SCAN_BYTES_PER_UNIT, "tonumber");
    return call_original(state);
}

/* ---------------------------------------------------------------- utf8 */

/* lutf8lib.c's u_posrelat. */
static lua_Integer utf8_position(lua_Integer position, size_t len) {
    if (position >= 0) return position;
    if (0u - (size_t)position > len) return 0;
    return (lua_Integer)len + position + 1;
}

/* utf8.len(s, i, j): decodes the bytes from i to j. */
static int metered_utf8_len(lua_State *state) {
    size_t len;
    luaL_checklstring(state, 1, &len);
    lua_Integer first = utf8_position(luaL_optinteger(state, 2, 1), len);
    lua_Integer last = utf8_position(luaL_optinteger(state, 3, -1), len);
    if (first >= 1 && last >= first) {
        size_t end = last > (lua_Integer)len ? len : (size_t)last;
        if ((size_t)first <= end) charge_bytes(state, end - (size_t)first + 1, LIBMETER_SCAN_BYTES_PER_UNIT, "utf8.len");
    }
    return call_original(state);
}

/* utf8.codepoint(s, i, j): decodes, and pushes up to a value per byte. */
static int metered_codepoint(lua_State *state) {
    size_t len;
    luaL_checklstring(state, 1, &len);
    lua_Integer first = utf8_position(luaL_optinteger(state, 2, 1), len);
    lua_Integer last = utf8_position(luaL_optinteger(state, 3, first), len);
    if (first >= 1 && last <= (lua_Integer)len && first <= last) {
        size_t count = (size_t)(last - first) + 1;
        charge_bytes(state, count, LIBMETER_SCAN_BYTES_PER_UNIT, "utf8.codepoint");
        meter_of(state)->values(state, (long long)count);
    }
    return call_original(state);
}

/* utf8.offset(s, n, i): how far it walks is known once it has: charged
 * after (one walk is at most the string). */
static int metered_offset(lua_State *state) {
    size_t len;
    luaL_checklstring(state, 1, &len);
    lua_Integer n = luaL_checkinteger(state, 2);
    lua_Integer from = utf8_position(luaL_optinteger(state, 3, n >= 0 ? 1 : (lua_Integer)len + 1), len);
    int results = call_original(state);
    lua_Integer to = lua_isinteger(state, -1) ? lua_tointeger(state, -1) : n >= 0 ? (lua_Integer)len + 1 : 1;
    lua_Unsigned walked = to >= from ? (lua_Unsigned)to - (lua_Unsigned)from : (lua_Unsigned)from - (lua_Unsigned)to;
    charge_bytes(state, walked > len ? len : (size_t)walked, LIBMETER_SCAN_BYTES_PER_UNIT, "utf8.offset");
    return results;
}

/* The iterator utf8.codes returns: Lua's (upvalue 2) skips the rest of the
 * previous character, however long a run of continuation bytes that is,
 * and decodes the next one; charged for the bytes it moved over. */
static int metered_codes_step(lua_State *state) {
    size_t len;
    luaL_checklstring(state, 1, &len);
    lua_Integer from = lua_tointeger(state, 2);
    int results = call_original(state);
    lua_Integer to = results > 0 ? lua_tointeger(state, -results) : (lua_Integer)len;
    if (from < 0 || from > (lua_Integer)len) from = (lua_Integer)len;
    size_t moved = to > from ? (size_t)(to - from) : 0;
    charge_bytes(state, moved, LIBMETER_SCAN_BYTES_PER_UNIT, "utf8.codes");
    return results;
}

static int metered_codes(lua_State *state) {
    int results = call_original(state); /* iterator, s, 0 */
    lua_pushlightuserdata(state, (void *)meter_of(state));
    lua_pushvalue(state, -1 - results);
    lua_pushcclosure(state, metered_codes_step, 2);
    lua_replace(state, -1 - results);
    return results;
}

/* --------------------------------------------------------------- table */

/* What an object needs to stand for a table (ltablib.c's TAB_*). */
#define TAB_R 1
#define TAB_W 2
#define TAB_L 4

static int check_field(lua_State *state, const char *key, int n) {
    lua_pushstring(state, key);
    return lua_rawget(state, -n) != LUA_TNIL;
}

/* ltablib.c's checktab: a table, or something whose metatable has what is needed. */
static void check_table(lua_State *state, int arg, int what) {
    if (lua_type(state, arg) != LUA_TTABLE) {
        int n = 1;
        if (lua_getmetatable(state, arg) && (!(what & TAB_R) || check_field(state, "__index", ++n)) &&
            (!(what & TAB_W) || check_field(state, "__newindex", ++n)) &&
            (!(what & TAB_L) || check_field(state, "__len", ++n)))
            lua_pop(state, n);
        else
            luaL_checktype(state, arg, LUA_TTABLE);
    }
}

static lua_Integer table_length(lua_State *state, int arg, int what) {
    check_table(state, arg, what | TAB_L);
    return luaL_len(state, arg);
}

static void add_field(lua_State *state, luaL_Buffer *buffer, lua_Integer i) {
    lua_geti(state, 1, i);
    if (!lua_isstring(state, -1))
        luaL_error(state, "invalid value (%s) at index %I in table for 'concat'", luaL_typename(state, -1),
                   (LUAI_UACINT)i);
    luaL_addvalue(buffer);
}

static int metered_concat(lua_State *state) {
    luaL_Buffer buffer;
    lua_Integer last = table_length(state, 1, TAB_R);
    size_t sep_len;
    const char *sep = luaL_optlstring(state, 2, "", &sep_len);
    lua_Integer i = luaL_optinteger(state, 3, 1);
    last = luaL_optinteger(state, 4, last);
    struct chunks chunks;
    chunks_begin(&chunks, i <= last ? (lua_Unsigned)last - (lua_Unsigned)i + 1 : 0, "table.concat");
    luaL_buffinit(state, &buffer);
    for (; i < last; i++) {
        chunks_step(state, &chunks);
        add_field(state, &buffer, i);
        luaL_addlstring(&buffer, sep, sep_len);
    }
    if (i == last) {
        chunks_step(state, &chunks);
        add_field(state, &buffer, i);
    }
    luaL_pushresult(&buffer);
    return 1;
}

static int metered_table_unpack(lua_State *state) {
    lua_Unsigned n;
    lua_Integer i = luaL_optinteger(state, 2, 1);
    lua_Integer e = luaL_opt(state, luaL_checkinteger, 3, luaL_len(state, 1));
    if (i > e) return 0;
    n = (lua_Unsigned)e - (lua_Unsigned)i;
    if (n >= (unsigned int)INT_MAX || !lua_checkstack(state, (int)(++n)))
        return luaL_error(state, "too many results to unpack");
    charge_items(state, n, LIBMETER_ELEMENT_UNITS, "table.unpack");
    meter_of(state)->values(state, (long long)n);
    for (; i < e; i++) lua_geti(state, 1, i);
    lua_geti(state, 1, e);
    return (int)n;
}

static int metered_move(lua_State *state) {
    lua_Integer f = luaL_checkinteger(state, 2);
    lua_Integer e = luaL_checkinteger(state, 3);
    lua_Integer t = luaL_checkinteger(state, 4);
    int tt = !lua_isnoneornil(state, 5) ? 5 : 1;
    check_table(state, 1, TAB_R);
    check_table(state, tt, TAB_W);
    if (e >= f) {
        lua_Integer n, i;
        luaL_argcheck(state, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
        n = e - f + 1;
        luaL_argcheck(state, t <= LUA_MAXINTEGER - n + 1, 4, "destination wrap around");
        struct chunks chunks;
        chunks_begin(&chunks, (lua_Unsigned)n, "table.move");
        if (t > e || t <= f || (tt != 1 && !lua_compare(state, 1, tt, LUA_OPEQ))) {
            for (i = 0; i < n; i++) {
                chunks_step(state, &chunks);
                lua_geti(state, 1, f + i);
                lua_seti(state, tt, t + i);
            }
        } else {
            for (i = n - 1; i >= 0; i--) {
                chunks_step(state, &chunks);
                lua_geti(state, 1, f + i);
                lua_seti(state, tt, t + i);
            }
        }
    }
    lua_pushvalue(state, tt);
    return 1;
}

/* table.insert shifts every element above the position (up to a length an
 * __len may make up). */
static int metered_insert(lua_State *state) {
    lua_Integer pos;
    lua_Integer e = table_length(state, 1, TAB_R | TAB_W);
    e = luaL_intop(+, e, 1);
    switch (lua_gettop(state)) {
    case 2:
        pos = e;
        break;
    case 3: {
        pos = luaL_checkinteger(state, 2);
        luaL_argcheck(state, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2, "position out of bounds");
        struct chunks chunks;
        chunks_begin(&chunks, (lua_Unsigned)e - (lua_Unsigned)pos, "table.insert");
        for (lua_Integer i = e; i > pos; i--) {
            chunks_step(state, &chunks);
            lua_geti(state, 1, i - 1);
            lua_seti(state, 1, i);
        }
        break;
    }
    default:
        return luaL_error(state, "wrong number of arguments to 'insert'");
    }
    lua_seti(state, 1, pos);
    return 0;
}

static int metered_remove(lua_State *state) {
    lua_Integer size = table_length(state, 1, TAB_R | TAB_W);
    lua_Integer pos = luaL_optinteger(state, 2, size);
    if (pos != size)
        luaL_argcheck(state, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 1, "position out of bounds");
    lua_geti(state, 1, pos);
    struct chunks chunks;
    chunks_begin(&chunks, pos < size ? (lua_Unsigned)size - (lua_Unsigned)pos : 0, "table.remove");
    for (; pos < size; pos++) {
        chunks_step(state, &chunks);
        lua_geti(state, 1, pos + 1);
        lua_seti(state, 1, pos);
    }
    lua_pushnil(state);
    lua_seti(state, 1, pos);
    return 1;
}

/* The comparison table.sort runs: the rule's comparator (upvalue 2), or
 * Lua's `<` (which compares strings byte by byte), charged each time. */
static int metered_less(lua_State *state) {
    long long units = LIBMETER_COMPARE_UNITS;
    if (lua_isnil(state, lua_upvalueindex(2))) {
        if (lua_type(state, 1) == LUA_TSTRING && lua_type(state, 2) == LUA_TSTRING) {
            size_t shorter = lua_rawlen(state, 1) < lua_rawlen(state, 2) ? lua_rawlen(state, 1) : lua_rawlen(state, 2);
            units += (long long)(shorter / LIBMETER_COPY_BYTES_PER_UNIT);
        }
        meter_of(state)->charge(state, units, "table.sort");
        lua_pushboolean(state, lua_compare(state, 1, 2, LUA_OPLT));
        return 1;
    }
    meter_of(state)->charge(state, units, "table.sort");
    lua_pushvalue(state, lua_upvalueindex(2));
    lua_insert(state, 1);
    lua_call(state, lua_gettop(state) - 1, 1);
    return 1;
}

/* table.sort(t [, comp]): Lua's quicksort, with every comparison going
 * through metered_less (a sort without comparator compares in C, out of
 * the hook's sight: a million elements took half a second). */
static int metered_sort(lua_State *state) {
    if (lua_isnoneornil(state, 2) || lua_type(state, 2) == LUA_TFUNCTION) {
        lua_settop(state, 2);
        lua_pushlightuserdata(state, (void *)meter_of(state));
        lua_pushvalue(state, 2);
        lua_pushcclosure(state, metered_less, 2);
        lua_replace(state, 2);
    } /* else Lua's sort refuses the comparator */
    return call_original(state);
}

/* ----------------------------------------------------------------- open */

static void replace(lua_State *state, int table, const char *name, lua_CFunction function,
                    const struct lib_meter *meter) {
    lua_pushlightuserdata(state, (void *)meter);
    lua_getfield(state, table, name); /* Lua's own, upvalue 2 */
    lua_pushcclosure(state, function, 2);
    lua_setfield(state, table, name);
}

void libmeter_open(lua_State *state, int string_table, int table_table, int utf8_table, int base_table,
                   const struct lib_meter *meter) {
    static const luaL_Reg string_functions[] = {
        {"rep", metered_rep},         {"upper", metered_upper},   {"lower", metered_lower},
        {"reverse", metered_reverse}, {"byte", metered_byte},     {"format", metered_format},
        {"pack", metered_pack},       {"packsize", metered_packsize}, {"unpack", metered_string_unpack},
        {NULL, NULL}};
    static const luaL_Reg table_functions[] = {
        {"concat", metered_concat}, {"unpack", metered_table_unpack}, {"move", metered_move},
        {"insert", metered_insert}, {"remove", metered_remove},       {"sort", metered_sort},
        {NULL, NULL}};
    static const luaL_Reg utf8_functions[] = {
        {"len", metered_utf8_len}, {"codepoint", metered_codepoint}, {"offset", metered_offset},
        {"codes", metered_codes},  {NULL, NULL}};
    static const luaL_Reg base_functions[] = {{"tonumber", metered_tonumber}, {NULL, NULL}};
    const struct {
        int index;
        const luaL_Reg *functions;
    } tables[] = {{string_table, string_functions}, {table_table, table_functions},
                  {utf8_table, utf8_functions},     {base_table, base_functions}};
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        if (tables[t].index == 0) continue;
        int index = lua_absindex(state, tables[t].index);
        for (const luaL_Reg *f = tables[t].functions; f->name; f++) replace(state, index, f->name, f->func, meter);
    }
}
