/* orders.c -- order facts for rules and agents, from a CSV or SQLite file.
 *
 *   plugins = orders
 *   orders.file = /var/lib/shop/orders.csv    (or an SQLite database)
 *   orders.currency = CNY                     (when a row names none)
 *
 * Rules:   plugins.orders.get(order_id) -> nil for an unknown order, else
 *          {order_id = "O-1", paid_amount = 12900 (minor units), currency = "CNY",
 *           paid_at = t, delivered_at = t | nil, items = {"mug", "tea"},
 *           item_count = 2, shipping_insurance = true | false | nil}
 * Agents:  ORDERS.GET order_id -> the same facts as field / value pairs,
 *          paid_amount a decimal string as in every reply ("129.00"),
 *          -NOTFOUND for an unknown order.
 * Admins:  ORDERS.RELOAD -> reads the CSV file again (:n orders); a file
 *          with an error keeps the orders already loaded.
 * Host:    the daemon's order source (API 1.1): what the file says an
 *          order was paid is the ceiling of its refunds, and a case naming
 *          the order takes its amount and currency from it.
 *
 * The CSV file has a header row naming its columns (blanks around a name,
 * its case and a leading UTF-8 byte-order mark aside), in any order: order_id
 * and paid_amount are required; currency, paid_at, delivered_at, items
 * (separated by ';') and shipping_insurance (yes/no, true/false, 1/0) are
 * optional.  Amounts are decimals in the currency ("129.00"); instants are
 * unix seconds or ISO 8601.  Fields may be "double quoted" ("" is a quote).
 * A CSV file is read whole at start into a hash table; a bad row fails the
 * start with file:line and what is wrong.
 *
 * An SQLite file (recognized by its header) is opened read-only and queried
 * per lookup from its table `orders`, with the same column names (missing
 * optional columns are NULL): for order books too big to hold in memory,
 * or written by another program while redress runs.
 */
#include <redress/plugin.h>

#include <ctype.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <strings.h>

#define LINE_MAX_BYTES 65536
#define ID_MAX_BYTES 128

enum column { COLUMN_ID, COLUMN_AMOUNT, COLUMN_CURRENCY, COLUMN_PAID_AT, COLUMN_DELIVERED_AT, COLUMN_ITEMS,
              COLUMN_INSURANCE, COLUMN_COUNT };
static const char *const column_names[COLUMN_COUNT] = {"order_id", "paid_amount", "currency", "paid_at",
                                                       "delivered_at", "items", "shipping_insurance"};

struct order {
    char *id;                 /* owned; also the hash key */
    int64_t paid_amount;
    char currency[4];
    int64_t paid_at;          /* -1: unknown */
    int64_t delivered_at;     /* -1: not delivered (or unknown) */
    char *items;              /* owned, ';'-separated, may be NULL */
    int insurance;            /* -1 unknown, 0, 1 */
};

struct orders {
    const struct redress_host_api *api;
    struct redress_plugin *self;
    char path[1024];
    char currency[4];         /* default */
    /* CSV: an open-addressing hash table of orders. */
    struct order *table;
    size_t capacity, count;
    /* SQLite: a read-only connection and its lookup. */
    sqlite3 *database;
    sqlite3_stmt *lookup;
};

static uint64_t hash(const char *text, size_t length) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < length; i++) h = (h ^ (unsigned char)text[i]) * 1099511628211ULL;
    return h;
}

static void table_free(struct order *table, size_t capacity) {
    for (size_t i = 0; table && i < capacity; i++) {
        free(table[i].id);
        free(table[i].items);
    }
    free(table);
}

static struct order *table_find(struct order *table, size_t capacity, const char *id, size_t length) {
    if (capacity == 0) return NULL;
    for (size_t i = hash(id, length) & (capacity - 1);; i = (i + 1) & (capacity - 1)) {
        if (table[i].id == NULL) return &table[i];
        if (strlen(table[i].id) == length && memcmp(table[i].id, id, length) == 0) return &table[i];
    }
}

/* Whether text is an ISO 4217 code as the host takes it: three capital
 * ASCII letters ("cny" is not one; the host would refuse its amounts). */
static int is_currency_code(const char *text) {
    return strlen(text) == 3 && isupper((unsigned char)text[0]) && isupper((unsigned char)text[1]) &&
           isupper((unsigned char)text[2]);
}

/* Turns the text fields of one order into facts; NULL or a message. */
static const char *order_from_fields(struct orders *orders, char *const fields[COLUMN_COUNT], struct order *order,
                                     char *why, size_t why_size) {
    const struct redress_host_api *api = orders->api;
    memset(order, 0, sizeof *order);
    order->paid_at = order->delivered_at = -1;
    order->insurance = -1;
    const char *id = fields[COLUMN_ID];
    if (id == NULL || id[0] == '\0' || strlen(id) > ID_MAX_BYTES) return "order_id is empty or over 128 bytes";
    const char *currency = fields[COLUMN_CURRENCY] && fields[COLUMN_CURRENCY][0] ? fields[COLUMN_CURRENCY]
                                                                                 : orders->currency;
    if (!is_currency_code(currency)) { /* named here, not blamed on the amount */
        snprintf(why, why_size, "currency '%.16s' is not a 3-letter ISO 4217 code like CNY", currency);
        return why;
    }
    memcpy(order->currency, currency, 4);
    if (fields[COLUMN_AMOUNT] == NULL || api->parse_amount(currency, fields[COLUMN_AMOUNT], &order->paid_amount) != 0 ||
        order->paid_amount < 0) {
        snprintf(why, why_size, "paid_amount '%.32s' is not an amount in %s", fields[COLUMN_AMOUNT] ? fields[COLUMN_AMOUNT] : "",
                 currency);
        return why;
    }
    for (int c = COLUMN_PAID_AT; c <= COLUMN_DELIVERED_AT; c++) {
        const char *text = fields[c];
        if (text == NULL || text[0] == '\0') continue;
        int64_t *target = c == COLUMN_PAID_AT ? &order->paid_at : &order->delivered_at;
        if (api->parse_time(text, target) != 0) {
            snprintf(why, why_size, "%s '%.40s' is not an instant", column_names[c], text);
            return why;
        }
    }
    const char *insurance = fields[COLUMN_INSURANCE];
    if (insurance && insurance[0]) {
        if (!strcasecmp(insurance, "yes") || !strcasecmp(insurance, "true") || !strcmp(insurance, "1"))
            order->insurance = 1;
        else if (!strcasecmp(insurance, "no") || !strcasecmp(insurance, "false") || !strcmp(insurance, "0"))
            order->insurance = 0;
        else {
            snprintf(why, why_size, "shipping_insurance '%.16s' is not yes or no", insurance);
            return why;
        }
    }
    order->id = strdup(id);
    order->items = fields[COLUMN_ITEMS] && fields[COLUMN_ITEMS][0] ? strdup(fields[COLUMN_ITEMS]) : NULL;
    if (order->id == NULL || (fields[COLUMN_ITEMS] && fields[COLUMN_ITEMS][0] && order->items == NULL)) {
        free(order->id);
        free(order->items);
        return "out of memory";
    }
    return NULL;
}

/* Splits one CSV line in place into at most max fields; returns how many,
 * -1 on an unterminated quote, -2 on text after a closing quote. */
static int csv_split(char *line, char **fields, int max) {
    int count = 0;
    char *in = line;
    for (;;) {
        char *out = in, *start = in;
        if (*in == '"') {
            in++;
            for (;;) {
                if (*in == '\0') return -1;
                if (*in == '"' && in[1] == '"') {
                    *out++ = '"';
                    in += 2;
                } else if (*in == '"') {
                    in++;
                    break;
                } else {
                    *out++ = *in++;
                }
            }
            /* Text after the closing quote ("1"00) is a malformed field:
             * refused, never read as the quoted part alone (1.00). */
            if (*in && *in != ',') return -2;
        } else {
            while (*in && *in != ',') *out++ = *in++;
        }
        int more = *in == ',';
        *out = '\0';
        if (count < max) fields[count] = start;
        count++;
        if (!more) break;
        in++;
    }
    return count;
}

/* Reads one line into line[0..LINE_MAX_BYTES) without its end of line;
 * returns its length, -1 at the end of the file, -2 for a line too long,
 * -3 for a NUL byte in it.  Never holds more than the buffer. */
static long read_line(FILE *file, char *line) {
    size_t length = 0;
    int c = getc(file);
    if (c == EOF) return -1;
    for (; c != EOF && c != '\n'; c = getc(file)) {
        if (c == '\0') return -3;
        if (length == LINE_MAX_BYTES - 1) return -2;
        line[length++] = (char)c;
    }
    if (length && line[length - 1] == '\r') length--;
    line[length] = '\0';
    return (long)length;
}

/* Reads the CSV file into a new table; 0, or -1 after logging file:line. */
static int csv_load(struct orders *orders, struct order **table_out, size_t *capacity_out, size_t *count_out) {
    const struct redress_host_api *api = orders->api;
    FILE *file = fopen(orders->path, "r");
    if (file == NULL) {
        api->log(orders->self, REDRESS_LOG_ERROR, "cannot open orders file", "file=%s error=\"%s\"", orders->path,
                 strerror(errno));
        return -1;
    }
    char *line = malloc(LINE_MAX_BYTES);
    size_t capacity = 1024, count = 0;
    struct order *table = calloc(capacity, sizeof *table);
    int position[COLUMN_COUNT];
    for (int c = 0; c < COLUMN_COUNT; c++) position[c] = -1;
    int number = 0, status = -1, columns = 0;
    char why[200];
    const char *problem = NULL;
    if (line == NULL || table == NULL) {
        problem = "out of memory";
        goto done;
    }
    long length;
    while ((length = read_line(file, line)) != -1) {
        number++;
        if (length == -2) {
            problem = "line longer than 64 KiB";
            goto done;
        }
        if (length == -3) {
            problem = "a NUL byte in the line";
            goto done;
        }
        if (length == 0) continue;
        char *fields[64];
        int count_fields = csv_split(line, fields, 64);
        if (count_fields == -2) {
            problem = "text after a closing quote";
            goto done;
        }
        if (count_fields < 0) {
            problem = "unterminated quote";
            goto done;
        }
        if (count_fields > 64) {
            problem = "more than 64 columns";
            goto done;
        }
        if (columns == 0) { /* the header */
            columns = count_fields;
            /* Names are read as people write them: blanks around a name
             * (", currency" in many exports), another case ("Currency"),
             * and the byte-order mark Excel's "CSV UTF-8" puts first.
             * Otherwise the column was "another one" and ignored: every
             * order in the default currency, without a word. */
            if (number == 1 && strncmp(fields[0], "\xEF\xBB\xBF", 3) == 0) fields[0] += 3;
            for (int i = 0; i < count_fields; i++) {
                while (*fields[i] == ' ' || *fields[i] == '\t') fields[i]++;
                size_t n = strlen(fields[i]);
                while (n && (fields[i][n - 1] == ' ' || fields[i][n - 1] == '\t')) fields[i][--n] = '\0';
            }
            /* A column named twice (an export joining a table that brings
             * its own currency, say) is refused: which one holds the
             * order's amount is anyone's guess, and the last one used to
             * win in silence. */
            for (int i = 0; i < count_fields; i++)
                for (int c = 0; c < COLUMN_COUNT; c++) {
                    if (strcasecmp(fields[i], column_names[c]) != 0) continue;
                    if (position[c] >= 0) {
                        snprintf(why, sizeof why, "column %s appears twice (columns %d and %d)", column_names[c],
                                 position[c] + 1, i + 1);
                        problem = why;
                        goto done;
                    }
                    position[c] = i;
                }
            if (position[COLUMN_ID] < 0 || position[COLUMN_AMOUNT] < 0) {
                problem = "the header names no order_id or no paid_amount column";
                goto done;
            }
            continue;
        }
        char *values[COLUMN_COUNT];
        for (int c = 0; c < COLUMN_COUNT; c++)
            values[c] = position[c] >= 0 && position[c] < count_fields ? fields[position[c]] : NULL;
        struct order order;
        problem = order_from_fields(orders, values, &order, why, sizeof why);
        if (problem) goto done;
        if (count * 2 >= capacity) { /* keep the table at most half full */
            size_t grown_capacity = capacity * 2;
            struct order *grown = calloc(grown_capacity, sizeof *grown);
            if (grown == NULL) {
                free(order.id);
                free(order.items);
                problem = "out of memory";
                goto done;
            }
            for (size_t i = 0; i < capacity; i++)
                if (table[i].id) *table_find(grown, grown_capacity, table[i].id, strlen(table[i].id)) = table[i];
            free(table);
            table = grown;
            capacity = grown_capacity;
        }
        struct order *slot = table_find(table, capacity, order.id, strlen(order.id));
        if (slot->id) {
            snprintf(why, sizeof why, "order %.128s appears twice", order.id);
            free(order.id);
            free(order.items);
            problem = why;
            goto done;
        }
        *slot = order;
        count++;
    }
    if (columns == 0) {
        problem = "no header row";
        goto done;
    }
    status = 0;
done:
    if (problem)
        api->log(orders->self, REDRESS_LOG_ERROR, "bad orders file", "file=%s line=%d why=\"%s\"", orders->path,
                 number, problem);
    fclose(file);
    free(line);
    if (status != 0) {
        table_free(table, capacity);
        return -1;
    }
    *table_out = table;
    *capacity_out = capacity;
    *count_out = count;
    return 0;
}

static int sqlite_open(struct orders *orders) {
    const struct redress_host_api *api = orders->api;
    if (sqlite3_open_v2(orders->path, &orders->database, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        api->log(orders->self, REDRESS_LOG_ERROR, "cannot open orders database", "file=%s why=\"%s\"", orders->path,
                 orders->database ? sqlite3_errmsg(orders->database) : "out of memory");
        return -1;
    }
    /* No waiting: a lookup runs inside a rule, on the daemon's loop.  A
     * writer in WAL mode never blocks it; in rollback-journal mode a lookup
     * during the writer's commit fails (the rule's default applies). */
    sqlite3_busy_timeout(orders->database, 0);
    /* Which columns exist: the missing optional ones read as NULL. */
    int present[COLUMN_COUNT] = {0};
    sqlite3_stmt *info = NULL;
    if (sqlite3_prepare_v2(orders->database, "SELECT name FROM pragma_table_info('orders')", -1, &info, NULL) ==
        SQLITE_OK) {
        while (sqlite3_step(info) == SQLITE_ROW)
            for (int c = 0; c < COLUMN_COUNT; c++)
                if (strcmp((const char *)sqlite3_column_text(info, 0), column_names[c]) == 0) present[c] = 1;
    }
    sqlite3_finalize(info);
    if (!present[COLUMN_ID] || !present[COLUMN_AMOUNT]) {
        api->log(orders->self, REDRESS_LOG_ERROR, "bad orders database",
                 "file=%s why=\"no table orders with order_id and paid_amount\"", orders->path);
        return -1;
    }
    char sql[512] = "SELECT ";
    for (int c = 0; c < COLUMN_COUNT; c++)
        snprintf(sql + strlen(sql), sizeof sql - strlen(sql), "%s%s", c ? ", " : "", present[c] ? column_names[c] : "NULL");
    snprintf(sql + strlen(sql), sizeof sql - strlen(sql), " FROM orders WHERE order_id = ?1");
    if (sqlite3_prepare_v2(orders->database, sql, -1, &orders->lookup, NULL) != SQLITE_OK) {
        api->log(orders->self, REDRESS_LOG_ERROR, "bad orders database", "file=%s why=\"%s\"", orders->path,
                 sqlite3_errmsg(orders->database));
        return -1;
    }
    return 0;
}

/* Looks an order up.  Returns 1 and fills *order (owned by the caller when
 * *owned is set: free with order_release), 0 if unknown, -1 with why. */
static int find(struct orders *orders, const char *id, size_t length, struct order *order, int *owned, char *why,
                size_t why_size) {
    *owned = 0;
    if (orders->database == NULL) {
        struct order *slot = table_find(orders->table, orders->capacity, id, length);
        if (slot == NULL || slot->id == NULL) return 0;
        *order = *slot;
        return 1;
    }
    sqlite3_bind_text(orders->lookup, 1, id, (int)length, SQLITE_STATIC);
    int step = sqlite3_step(orders->lookup);
    int found = 0;
    if (step == SQLITE_ROW) {
        char *values[COLUMN_COUNT];
        for (int c = 0; c < COLUMN_COUNT; c++) {
            const unsigned char *text = sqlite3_column_text(orders->lookup, c);
            values[c] = text ? strdup((const char *)text) : NULL;
        }
        const char *problem = order_from_fields(orders, values, order, why, why_size);
        for (int c = 0; c < COLUMN_COUNT; c++) free(values[c]);
        if (problem) {
            if (problem != why) snprintf(why, why_size, "%s", problem);
            found = -1;
        } else {
            found = 1;
            *owned = 1;
        }
    } else if (step != SQLITE_DONE) {
        snprintf(why, why_size, "orders database: %s", sqlite3_errmsg(orders->database));
        found = -1;
    }
    sqlite3_reset(orders->lookup);
    return found;
}

static void order_release(struct order *order, int owned) {
    if (!owned) return;
    free(order->id);
    free(order->items);
}

/* plugins.orders.get(order_id) */
static int get_function(void *state, struct redress_lua_call *call, int argc, const struct redress_value *argv) {
    struct orders *orders = state;
    const struct redress_host_api *api = orders->api;
    if (argc != 1 || argv[0].type != REDRESS_VALUE_STRING || argv[0].length == 0 || argv[0].length > ID_MAX_BYTES) {
        api->result_error(call, "expects an order id (a string of 1 to 128 bytes)");
        return -1;
    }
    struct order order;
    int owned;
    char why[200];
    int found = find(orders, argv[0].string, argv[0].length, &order, &owned, why, sizeof why);
    if (found < 0) {
        api->result_error(call, "%s", why);
        return -1;
    }
    if (found == 0) return 0; /* nil */
    api->result_table(call);
    api->result_string(call, order.id, strlen(order.id));
    api->result_set_field(call, "order_id");
    api->result_integer(call, order.paid_amount);
    api->result_set_field(call, "paid_amount");
    api->result_string(call, order.currency, strlen(order.currency));
    api->result_set_field(call, "currency");
    if (order.paid_at >= 0) {
        api->result_integer(call, order.paid_at);
        api->result_set_field(call, "paid_at");
    }
    if (order.delivered_at >= 0) {
        api->result_integer(call, order.delivered_at);
        api->result_set_field(call, "delivered_at");
    }
    if (order.insurance >= 0) {
        api->result_boolean(call, order.insurance);
        api->result_set_field(call, "shipping_insurance");
    }
    api->result_table(call);
    int64_t items = 0;
    for (const char *at = order.items; at && *at;) {
        const char *end = strchr(at, ';');
        size_t length = end ? (size_t)(end - at) : strlen(at);
        while (length && isspace((unsigned char)*at)) at++, length--;
        size_t trimmed = length;
        while (trimmed && isspace((unsigned char)at[trimmed - 1])) trimmed--;
        if (trimmed) {
            api->result_string(call, at, trimmed);
            api->result_append(call);
            items++;
        }
        at += length;
        if (*at == ';') at++;
    }
    api->result_set_field(call, "items");
    api->result_integer(call, items);
    api->result_set_field(call, "item_count");
    order_release(&order, owned);
    return 0;
}

/* The host's order source: the paid amount and currency of an order. */
static int order_source(void *state, const char *id, size_t length, struct redress_order *out) {
    struct orders *orders = state;
    if (length == 0 || length > ID_MAX_BYTES) return 0; /* no such id is in the book */
    struct order order;
    int owned;
    char why[200];
    int found = find(orders, id, length, &order, &owned, why, sizeof why);
    if (found < 0) snprintf(out->error, sizeof out->error, "%s", why);
    if (found != 1) return found;
    out->paid_amount = order.paid_amount;
    memcpy(out->currency, order.currency, sizeof out->currency);
    order_release(&order, owned);
    return 1;
}

/* An amount in minor units as the host shows money in every reply: a
 * decimal string with the currency's minor digits (19900 CNY -> "199.00",
 * 1500 JPY -> "1500", 1234 KWD -> "1.234").  The digits are what one unit
 * parses to (100 for CNY): the host's table, not a copy of it.  -1 if the
 * currency is not one the host knows (the file's currencies are checked at
 * load, so only a bug gets there). */
static int format_amount(const struct redress_host_api *api, const char *currency, int64_t minor_units, char *out,
                         size_t size) {
    int64_t unit;
    if (api->parse_amount(currency, "1", &unit) != 0 || unit < 1 || minor_units < 0) return -1;
    int digits = 0;
    for (int64_t u = unit; u >= 10; u /= 10) digits++;
    if (digits > 4) return -1; /* ISO 4217 has none past 4 */
    if (digits == 0) snprintf(out, size, "%lld", (long long)minor_units);
    else snprintf(out, size, "%lld.%0*lld", (long long)(minor_units / unit), digits, (long long)(minor_units % unit));
    return 0;
}

/* ORDERS.GET order_id */
static void get_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                        const size_t *argvlen) {
    (void)argc;
    struct orders *orders = state;
    const struct redress_host_api *api = orders->api;
    if (argvlen[1] == 0 || argvlen[1] > ID_MAX_BYTES) {
        api->reply_error(call, "INVALID", "order id must be 1 to 128 bytes");
        return;
    }
    struct order order;
    int owned;
    char why[200];
    int found = find(orders, argv[1], argvlen[1], &order, &owned, why, sizeof why);
    if (found < 0) {
        api->reply_error(call, "ERR", "orders: %s", why);
        return;
    }
    if (found == 0) {
        api->reply_error(call, "NOTFOUND", "order %.128s is unknown", argv[1]);
        return;
    }
    char amount[48];
    if (format_amount(api, order.currency, order.paid_amount, amount, sizeof amount) != 0) {
        api->reply_error(call, "ERR", "orders: order %.128s: paid_amount in unknown currency '%s'", order.id,
                         order.currency);
        order_release(&order, owned);
        return;
    }
    api->reply_array(call, 14);
    api->reply_bulk(call, "order_id", 8);
    api->reply_bulk(call, order.id, strlen(order.id));
    api->reply_bulk(call, "paid_amount", 11);
    api->reply_bulk(call, amount, strlen(amount));
    api->reply_bulk(call, "currency", 8);
    api->reply_bulk(call, order.currency, strlen(order.currency));
    api->reply_bulk(call, "paid_at", 7);
    if (order.paid_at >= 0) api->reply_integer(call, order.paid_at);
    else api->reply_nil(call);
    api->reply_bulk(call, "delivered_at", 12);
    if (order.delivered_at >= 0) api->reply_integer(call, order.delivered_at);
    else api->reply_nil(call);
    api->reply_bulk(call, "items", 5);
    if (order.items) api->reply_bulk(call, order.items, strlen(order.items));
    else api->reply_nil(call);
    api->reply_bulk(call, "shipping_insurance", 18);
    if (order.insurance >= 0) api->reply_bulk(call, order.insurance ? "yes" : "no", order.insurance ? 3 : 2);
    else api->reply_nil(call);
    order_release(&order, owned);
}

/* ORDERS.RELOAD */
static void reload_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                           const size_t *argvlen) {
    (void)argc, (void)argv, (void)argvlen;
    struct orders *orders = state;
    if (orders->database) {
        orders->api->reply_integer(call, -1); /* SQLite is read at each lookup: nothing to reload */
        return;
    }
    struct order *table;
    size_t capacity, count;
    if (csv_load(orders, &table, &capacity, &count) != 0) {
        orders->api->reply_error(call, "ERR", "orders file %.200s not reloaded: see the log for the line", orders->path);
        return;
    }
    table_free(orders->table, orders->capacity);
    orders->table = table;
    orders->capacity = capacity;
    orders->count = count;
    orders->api->reply_integer(call, (int64_t)count);
}

static void orders_shutdown(void *state) {
    struct orders *orders = state;
    if (orders == NULL) return;
    table_free(orders->table, orders->capacity);
    if (orders->lookup) sqlite3_finalize(orders->lookup);
    if (orders->database) sqlite3_close(orders->database);
    free(orders);
}

static int orders_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    struct orders *orders = calloc(1, sizeof *orders);
    if (orders == NULL) return -1;
    orders->api = api;
    orders->self = self;
    const char *path = api->config_get(self, "file");
    const char *currency = api->config_get(self, "currency");
    if (currency && !is_currency_code(currency)) {
        api->log(self, REDRESS_LOG_ERROR, "bad setting", "key=currency why=\"'%.16s' is not an ISO 4217 code\"",
                 currency);
        goto failed;
    }
    snprintf(orders->currency, sizeof orders->currency, "%s", currency ? currency : "CNY");
    if (path == NULL || path[0] == '\0') {
        api->log(self, REDRESS_LOG_ERROR, "orders.file is not set", NULL);
        goto failed;
    }
    snprintf(orders->path, sizeof orders->path, "%s", path);
    char magic[16] = "";
    FILE *file = fopen(path, "rb");
    if (file) {
        if (fread(magic, 1, sizeof magic, file) != sizeof magic) magic[0] = '\0';
        fclose(file);
    }
    int sqlite = memcmp(magic, "SQLite format 3", 16) == 0;
    if (sqlite ? sqlite_open(orders) != 0 : csv_load(orders, &orders->table, &orders->capacity, &orders->count) != 0)
        goto failed;
    if (api->register_lua_function(self, "get", get_function) != 0 ||
        api->register_command(self, "ORDERS.GET", 2, 2, REDRESS_ROLE_ANY, "order_id", get_command) != 0 ||
        api->register_command(self, "ORDERS.RELOAD", 1, 1, REDRESS_ROLE_ADMIN, "", reload_command) != 0 ||
        api->register_order_source(self, order_source) != 0)
        goto failed;
    api->log(self, REDRESS_LOG_INFO, "orders ready", "file=%s source=%s orders=%lld", path, sqlite ? "sqlite" : "csv",
             sqlite ? -1LL : (long long)orders->count);
    *state = orders;
    return 0;
failed:
    orders_shutdown(orders);
    return -1;
}

REDRESS_PLUGIN("orders", "1.1.0", orders_init, orders_shutdown);
