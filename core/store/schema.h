/* store/schema.h -- the version of the store's schema (store/schema.c holds
 * one migration per version, store/migrate.c runs SQLite's; included by
 * store/store.h).
 */
#ifndef REDRESS_STORE_SCHEMA_H
#define REDRESS_STORE_SCHEMA_H

/* REDRESS_TEST_MIGRATION: a test build only (BUILD/pg_schema_check-next),
 * with one migration more in both stores' texts, to show that a migration
 * after PostgreSQL's baseline runs on both.  Never the daemon. */
#ifdef REDRESS_TEST_MIGRATION
#define STORE_SCHEMA_VERSION 35
#else
#define STORE_SCHEMA_VERSION 34
#endif

/* The first version a PostgreSQL store has: store/schema_postgresql.sql
 * creates it whole (store/pg_schema.c); each later migration carries its
 * PostgreSQL text beside SQLite's (store_migrations_postgresql). */
#define STORE_POSTGRESQL_BASELINE 29

#endif
