/* Unit tests of the statement texts' translation for PostgreSQL
 * (core/store/pg_statement.c: pgs_translate): SQLite's ?N become $M
 * numbered by first use, with the map back to N; quotes and comments are
 * left alone; SQLite's INDEXED BY hint goes; malformed texts are refused. */
#include "check.h"
#include "store/pg_statement.h"
#include "store/statement.h"

#include <stdlib.h>

static char *translate(const char *sql, int *count, int *highest, int **map) {
    return pgs_translate(sql, map, count, highest);
}

TEST(pg_translate_numbers_parameters_by_first_use) {
    int count = 0, highest = 0, *map = NULL;
    char *out = translate("SELECT a FROM t WHERE b = ?3 AND c = ?1 OR d = ?3", &count, &highest, &map);
    CHECK_STR(out, "SELECT a FROM t WHERE b = $1 AND c = $2 OR d = $1");
    CHECK_INT(count, 2);
    CHECK_INT(highest, 3);
    CHECK_INT(map[0], 3);
    CHECK_INT(map[1], 1);
    free(out);
    free(map);
}

TEST(pg_translate_bare_marks_count_on_from_the_highest) {
    int count = 0, highest = 0, *map = NULL;
    char *out = translate("INSERT INTO t(a, b, c) VALUES (?, ?5, ?)", &count, &highest, &map);
    CHECK_STR(out, "INSERT INTO t(a, b, c) VALUES ($1, $2, $3)");
    CHECK_INT(highest, 6);
    CHECK_INT(map[0], 1);
    CHECK_INT(map[1], 5);
    CHECK_INT(map[2], 6);
    free(out);
    free(map);
}

TEST(pg_translate_leaves_quotes_and_drops_comments) {
    int count = 0, highest = 0, *map = NULL;
    char *out = translate("SELECT 'a?1 ''?2''', \"x?\" -- ?3 here\nFROM t WHERE y = ?4;  ", &count, &highest, &map);
    CHECK_STR(out, "SELECT 'a?1 ''?2''', \"x?\" \nFROM t WHERE y = $1");
    CHECK_INT(count, 1);
    CHECK_INT(map[0], 4);
    free(out);
    free(map);
}

TEST(pg_translate_drops_sqlites_index_hint) {
    int count = 0, highest = 0, *map = NULL;
    char *out = translate("SELECT id FROM cases INDEXED BY cases_by_state WHERE state = ?1", &count, &highest, &map);
    CHECK_STR(out, "SELECT id FROM cases WHERE state = $1");
    free(out);
    free(map);
    out = translate("SELECT indexed_by FROM t", &count, &highest, &map);
    CHECK_STR(out, "SELECT indexed_by FROM t");
    free(out);
    free(map);
}

TEST(pg_translate_opens_postgresql_only_clauses) {
    int count = 0, highest = 0, *map = NULL;
    char *out = translate("SELECT id FROM t WHERE a = ?1 LIMIT 1 " STORE_PG_ONLY("FOR UPDATE SKIP LOCKED"), &count,
                          &highest, &map);
    CHECK_STR(out, "SELECT id FROM t WHERE a = $1 LIMIT 1   FOR UPDATE SKIP LOCKED");
    free(out);
    free(map);
    out = translate("SELECT 1 /* a plain comment */ FROM t", &count, &highest, &map);
    CHECK_STR(out, "SELECT 1 /* a plain comment */ FROM t");
    free(out);
    free(map);
    CHECK(translate("SELECT 1 " STORE_PG_ONLY_OPEN " FOR UPDATE", &count, &highest, &map) == NULL);
}

TEST(pg_translate_refuses_malformed_texts) {
    int count = 0, highest = 0, *map = NULL;
    CHECK(translate("SELECT 'open", &count, &highest, &map) == NULL);
    CHECK(translate("SELECT ?0", &count, &highest, &map) == NULL);
    CHECK(translate("SELECT ?1000", &count, &highest, &map) == NULL);
}
