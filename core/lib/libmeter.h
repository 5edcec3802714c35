/* libmeter.h -- the library functions whose work grows with their input,
 * charged to the running call's budget.
 *
 * The count hook sees VM instructions only; one call of a C library
 * function is a single instruction however much it does (utf8.len over
 * 3 MB, a table.move of a million elements, string.rep("", 1 << 60), which
 * never returned).  libmeter_open() replaces those functions in the
 * sandbox's library tables with ones that charge their work, in units worth
 * about one VM instruction each, before doing it (or, where the work is only
 * known after, right after), and charge long loops piece by piece so the
 * deadline can stop them midway.  Results and error messages are Lua's.
 * What allocates is charged by the sandbox's allocator as well.
 *
 * Ownership: nothing is allocated here; the meter must outlive the state.
 */
#ifndef REDRESS_LIBMETER_H
#define REDRESS_LIBMETER_H

#include <lua.h>

/* Work units, about one VM instruction's worth each. */
#define LIBMETER_COPY_BYTES_PER_UNIT 64    /* memcpy-like copies and comparisons */
#define LIBMETER_SCAN_BYTES_PER_UNIT 2     /* byte-by-byte loops: case mapping, UTF-8 decoding, number parsing */
#define LIBMETER_QUOTE_BYTES_PER_UNIT 1    /* string.format's %q */
#define LIBMETER_FORMAT_UNITS_PER_BYTE 2   /* string.pack/packsize/unpack formats, per format byte */
#define LIBMETER_ELEMENT_UNITS 2           /* one table element read and written (concat, move, insert, ...) */
#define LIBMETER_VALUE_UNITS 1             /* one value pushed (table.unpack, string.byte, ...) */
#define LIBMETER_COMPARE_UNITS 1           /* one comparison of table.sort, plus the bytes of two strings */
#define LIBMETER_CHUNK_BYTES 65536         /* byte loops charge (and may stop) every this many bytes */
#define LIBMETER_CHUNK_ELEMENTS 4096       /* table loops charge every this many elements */

struct lib_meter {
    /* Charges `units` of work done by `function` ("string.upper"); raises
     * the budget error once a budget is spent (or keeps quiet: then the
     * next instruction does). */
    void (*charge)(lua_State *state, long long units, const char *function);
    /* The running call now holds `count` values on the stack at once: an
     * instruction that passes them on (`f(...)`, `return ...`) copies them
     * all. */
    void (*values)(lua_State *state, long long count);
};

/* Replaces, in the tables at the given stack indices (Lua's own string,
 * table and utf8 libraries and the base table holding `tonumber`), the
 * functions that work in proportion to their input:
 *   string.rep upper lower reverse byte format pack packsize unpack,
 *   table.concat unpack move insert remove sort,
 *   utf8.len codepoint offset codes, tonumber.
 * An index of 0 skips that table. */
void libmeter_open(lua_State *state, int string_table, int table_table, int utf8_table, int base_table,
                   const struct lib_meter *meter);

#endif
