/* Unit tests of a conninfo's hosts and their bound (core/store/pg_hosts.c):
 * connect_timeout bounds each host and an attempt takes at most every
 * host's; without it, the default; the host libpq is on is found by its
 * name and port; the hosts left after skipping some become the next
 * attempt's settings, the conninfo's others kept. */
#include "check.h"
#include "store/pg_hosts.h"

#include <string.h>

static const char *value_of(const char **keywords, const char **values, const char *keyword) {
    for (int i = 0; keywords[i]; i++)
        if (strcmp(keywords[i], keyword) == 0) return values[i];
    return NULL;
}

TEST(pg_hosts_connect_timeout_bounds_each_host_of_a_url) {
    struct pg_hosts hosts;
    CHECK_INT(pg_hosts_read("postgresql://redress@pg1:5432,pg2:5433,pg3/redress?target_session_attrs=read-write"
                            "&connect_timeout=5", 10000, &hosts), 0);
    CHECK_INT(hosts.count, 3);
    CHECK_INT(hosts.host_timeout_ms, 5000);
    CHECK_INT(pg_hosts_attempt_ms(&hosts), 15000);
    CHECK_INT(pg_hosts_find(&hosts, "pg2", "5433", 0), 1);
    CHECK_INT(pg_hosts_find(&hosts, "pg2", "5432", 0), -1);
    CHECK_INT(pg_hosts_find(&hosts, "pg3", "5432", 0), 2);   /* no port given: any */
    pg_hosts_free(&hosts);
}

TEST(pg_hosts_without_connect_timeout_take_the_default_and_one_second_counts_as_two) {
    struct pg_hosts hosts;
    CHECK_INT(pg_hosts_read("host=a,b port=5432", 10000, &hosts), 0);
    CHECK_INT(hosts.count, 2);
    CHECK_INT(hosts.host_timeout_ms, 10000);
    CHECK_INT(pg_hosts_attempt_ms(&hosts), 20000);
    CHECK_INT(pg_hosts_find(&hosts, "b", "5432", 1), 1);
    CHECK_INT(pg_hosts_find(&hosts, "a", "5432", 1), -1);   /* skipped */
    pg_hosts_free(&hosts);
    CHECK_INT(pg_hosts_read("host=a connect_timeout=0", 10000, &hosts), 0);   /* libpq: no bound; ours stays */
    CHECK_INT(hosts.host_timeout_ms, 10000);
    pg_hosts_free(&hosts);
    CHECK_INT(pg_hosts_read("host=a connect_timeout=1", 10000, &hosts), 0);   /* libpq waits 2 s at least */
    CHECK_INT(pg_hosts_attempt_ms(&hosts), 2000);
    pg_hosts_free(&hosts);
    CHECK_INT(pg_hosts_read("not a conninfo", 10000, &hosts), 0);   /* libpq says why at the connect */
    CHECK_INT(hosts.count, 1);
    CHECK_INT(pg_hosts_attempt_ms(&hosts), 10000);
    pg_hosts_free(&hosts);
}

TEST(pg_hosts_params_keep_the_hosts_not_skipped_and_the_other_settings) {
    struct pg_hosts hosts;
    CHECK_INT(pg_hosts_read("postgresql://redress@h1:1,h2:2,h3:3/db?connect_timeout=4&sslmode=disable", 10000,
                            &hosts), 0);
    const char *keywords[80], *values[80];
    char strings[512];
    keywords[0] = "application_name";
    values[0] = "redressd";
    CHECK_INT(pg_hosts_params(&hosts, 1, keywords, values, 1, 80, strings, sizeof strings), 2);
    CHECK_STR(values[0], "redressd");
    CHECK_STR(value_of(keywords, values, "host"), "h2,h3");
    CHECK_STR(value_of(keywords, values, "port"), "2,3");
    CHECK_STR(value_of(keywords, values, "dbname"), "db");
    CHECK_STR(value_of(keywords, values, "user"), "redress");
    CHECK_STR(value_of(keywords, values, "sslmode"), "disable");
    CHECK_STR(value_of(keywords, values, "connect_timeout"), "4");
    CHECK_INT(pg_hosts_params(&hosts, 3, keywords, values, 1, 80, strings, sizeof strings), 1);
    CHECK_STR(value_of(keywords, values, "host"), "h3");
    CHECK_STR(value_of(keywords, values, "port"), "3");
    CHECK_INT(pg_hosts_params(&hosts, 7, keywords, values, 1, 80, strings, sizeof strings), 0);
    CHECK_INT(pg_hosts_params(&hosts, 0, keywords, values, 1, 4, strings, sizeof strings), -1);   /* too small */
    pg_hosts_free(&hosts);
}
