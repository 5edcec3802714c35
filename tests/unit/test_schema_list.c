/* test_schema_list.c -- the one list of versions (store/schema.c): every
 * migration has SQLite's text, and each after PostgreSQL's baseline its
 * PostgreSQL text too (the build checks the count; this, that none is
 * missing).  tests/functional/test_postgres_schema.py runs them. */
#include "check.h"
#include "store/internal.h"
#include "store/schema.h"

TEST(schema_list_has_a_text_for_every_version_on_both_stores) {
    CHECK(STORE_POSTGRESQL_BASELINE >= 1 && STORE_POSTGRESQL_BASELINE <= STORE_SCHEMA_VERSION);
    for (int version = 1; version <= STORE_SCHEMA_VERSION; version++) {
        if (store_migration(version) == NULL || store_migration(version)[0] == '\0')
            check_fail(__FILE__, __LINE__, "migration %d has no SQLite text", version);
    }
    /* the baseline is schema_postgresql.sql, not an entry */
    CHECK(store_migrations_postgresql[0] == NULL);
    for (int version = STORE_POSTGRESQL_BASELINE + 1; version <= STORE_SCHEMA_VERSION; version++) {
        const char *text = store_migrations_postgresql[version - STORE_POSTGRESQL_BASELINE];
        if (text == NULL || text[0] == '\0')
            check_fail(__FILE__, __LINE__, "migration %d has no PostgreSQL text (store_migrations_postgresql)",
                       version);
    }
}
