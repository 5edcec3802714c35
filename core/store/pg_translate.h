/* pg_translate.h -- SQLite's statement texts as PostgreSQL's (store/pg_translate.c). */
#ifndef REDRESS_PG_TRANSLATE_H
#define REDRESS_PG_TRANSLATE_H

#define PARAMETERS_MAX 999   /* SQLite's default highest ?N */

/* SQLite's text as PostgreSQL's (exposed for the unit tests): ?N -> $M
 * numbered by first use (map[M-1] = N), `INDEXED BY name` dropped, a
 * trailing `;` dropped.  Returns a malloc'd text, NULL when out of memory or
 * the text is malformed; *count gets the number of $M, *highest SQLite's
 * highest parameter number. */
char *pgs_translate(const char *sql, int **map, int *count, int *highest);
/* 1 when p starts with word (any case) and a non-word character follows. */
int pgs_word_at(const char *p, const char *word);

#endif
