/* fuzz_orders.c -- libFuzzer target for the orders plugin's CSV reader
 * (plugins/orders.c, included whole: its reader is static), with the host's
 * real amount and instant parsers behind the API table.  Checks: no crash,
 * leak or sanitizer report; a table that loads holds as many orders as it
 * counts, each findable by its id. */
#include "fuzz_util.h"

#include "../../plugins/orders.c"

#include "lib/money.h"
#include "lib/timeparse.h"

static void quiet_log(struct redress_plugin *self, enum redress_log_level level, const char *message,
                      const char *format, ...) {
    (void)self; (void)level; (void)message; (void)format;
}
static int parse_amount(const char *currency, const char *text, int64_t *minor_units) {
    int digits = money_currency_digits(currency, strlen(currency));
    return money_parse(text, strlen(text), digits < 0 ? 2 : digits, minor_units) == NULL ? 0 : -1;
}
static int parse_time(const char *text, int64_t *unix_seconds) {
    return timeparse_instant(text, strlen(text), unix_seconds) == NULL ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct redress_host_api api;
    api.log = quiet_log;
    api.parse_amount = parse_amount;
    api.parse_time = parse_time;
    const char *path = fuzz_file(data, size);
    if (path == NULL) return 0;
    struct orders orders;
    memset(&orders, 0, sizeof orders);
    orders.api = &api;
    snprintf(orders.path, sizeof orders.path, "%s", path);
    memcpy(orders.currency, "CNY", 4);
    struct order *table = NULL;
    size_t capacity = 0, count = 0;
    if (csv_load(&orders, &table, &capacity, &count) != 0) return 0;
    size_t found = 0;
    for (size_t i = 0; i < capacity; i++) {
        if (table[i].id == NULL) continue;
        found++;
        if (table_find(table, capacity, table[i].id, strlen(table[i].id)) != &table[i]) abort();
    }
    if (found != count) abort();
    table_free(table, capacity);
    return 0;
}
