/* pg_translate.c -- SQLite's statement texts as PostgreSQL's: ?N
 * parameters numbered $M by first use, `INDEXED BY name` and a trailing
 * `;` dropped.  Pure text; pg_statement.c prepares what it returns.
 */
#include "store/pg_translate.h"
#include "store/codes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


int pgs_word_at(const char *p, const char *word) {
    size_t n = strlen(word);
    return strncasecmp(p, word, n) == 0 && !isalnum((unsigned char)p[n]) && p[n] != '_';
}

char *pgs_translate(const char *sql, int **map_out, int *count_out, int *highest_out) {
    size_t length = strlen(sql);
    /* $M is at most 4 characters for every ?N of at least 2 */
    char *out = malloc(length * 2 + 32);
    int *first = calloc(PARAMETERS_MAX + 1, sizeof *first);   /* N -> M */
    int *map = calloc(PARAMETERS_MAX + 1, sizeof *map);
    if (!out || !first || !map) goto fail;
    size_t o = 0;
    int count = 0, highest = 0;
    for (const char *p = sql; *p;) {
        if (*p == '\'' || *p == '"') {
            char quote = *p;
            out[o++] = *p++;
            while (*p && !(*p == quote && p[1] != quote)) {
                if (*p == quote) out[o++] = *p++;   /* doubled quote */
                out[o++] = *p++;
            }
            if (!*p) goto fail;
            out[o++] = *p++;
        } else if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n') p++;
        } else if (strncmp(p, STORE_PG_ONLY_OPEN, sizeof STORE_PG_ONLY_OPEN - 1) == 0) {
            /* A clause for PostgreSQL alone (statement.h): SQLite reads the
             * comment as a space, PostgreSQL gets its text. */
            const char *end = strstr(p, "*/");
            if (end == NULL) goto fail;
            p += sizeof STORE_PG_ONLY_OPEN - 1;
            out[o++] = ' ';
            while (p < end) out[o++] = *p++;
            p = end + 2;
        } else if (*p == '?') {
            p++;
            long n;
            if (isdigit((unsigned char)*p)) {
                char *end;
                n = strtol(p, &end, 10);
                p = end;
            } else {
                n = highest + 1;
            }
            if (n < 1 || n > PARAMETERS_MAX) goto fail;
            if (n > highest) highest = (int)n;
            if (!first[n]) {
                first[n] = ++count;
                map[count - 1] = (int)n;
            }
            o += (size_t)sprintf(out + o, "$%d", first[n]);
        } else if ((p == sql || !isalnum((unsigned char)p[-1])) && pgs_word_at(p, "INDEXED")) {
            /* INDEXED BY name: a hint of SQLite's planner */
            const char *q = p + 7;
            while (isspace((unsigned char)*q)) q++;
            if (!pgs_word_at(q, "BY")) {
                out[o++] = *p++;
                continue;
            }
            q += 2;
            while (isspace((unsigned char)*q)) q++;
            while (isalnum((unsigned char)*q) || *q == '_') q++;
            while (isspace((unsigned char)*q)) q++;
            p = q;
        } else {
            out[o++] = *p++;
        }
    }
    while (o > 0 && (isspace((unsigned char)out[o - 1]) || out[o - 1] == ';')) o--;
    out[o] = '\0';
    free(first);
    *map_out = map;
    *count_out = count;
    *highest_out = highest;
    return out;
fail:
    free(out);
    free(first);
    free(map);
    return NULL;
}

