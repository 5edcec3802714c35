/* redress/plugin.h -- the one header a redress plugin needs.
 *
 * A plugin is a shared object that defines one exported symbol,
 * `redress_plugin` (use REDRESS_PLUGIN() below).  The host reads the API
 * version the plugin was built against from it, refuses a plugin built for
 * another major version or for a newer minor version than its own, then
 * calls the plugin's init with the host's function table.  Everything a
 * plugin does to the daemon goes through that table: registering commands,
 * Lua functions for rules, event subscribers, a refund executor and an
 * order source (during init only), replying, reading its config keys,
 * logging, reporting refund results, and (since 1.2) acting on cases as
 * the plugin's own identity.  The guide is include/README.md.
 *
 * Versioning.  REDRESS_PLUGIN_API_MAJOR changes when anything here is removed
 * or changes meaning or signature; then every plugin must be rebuilt.
 * REDRESS_PLUGIN_API_MINOR grows when a function is added, and functions
 * are only ever added at the end of struct redress_host_api.  A plugin that
 * wants to run on older hosts of the same major checks api->size before
 * using a newer field (REDRESS_API_HAS()).
 *
 * Threading.  The host is single-threaded: every callback runs on its event
 * loop thread, and the API may be called only from that thread, only while
 * the host is inside a call into the plugin (init, a callback, or an event
 * of the plugin's own on the host's event_base).
 *
 * Ownership.  Unless a declaration says otherwise: what the host passes to a
 * plugin (strings, arrays, structs) is borrowed for the duration of the call
 * and must be copied to be kept; what a plugin passes to the host is copied
 * by the host before the function returns.  A plugin frees its own state in
 * its shutdown function, which runs once, after the last callback.
 *
 * Handles.  A struct redress_command_call or redress_lua_call is valid until
 * the callback it was given to returns, a struct redress_refund_job until it
 * is reported; `self` until shutdown returns (or init returns -1).  A host
 * call with one that is over is refused -- the reply goes nowhere, a
 * function with a status returns -1, call_agent "" -- and logged naming the
 * plugin; it never reaches another call.  Refusing such misuse is not a
 * version change.
 *
 * A plugin runs inside the daemon: a crash in it is a crash of the daemon.
 * The host's durability (SQLite, the event log) makes that lossless, not
 * harmless.
 */
#ifndef REDRESS_PLUGIN_H
#define REDRESS_PLUGIN_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define REDRESS_PLUGIN_API_MAJOR 1
#define REDRESS_PLUGIN_API_MINOR 5

/* 1 if the host's table `api` holds the function `field` (it was added in
 * a minor version newer than the host the plugin runs in otherwise). */
#define REDRESS_API_HAS(api, field) \
    ((api)->size >= offsetof(struct redress_host_api, field) + sizeof((api)->field))

/* Roles, for the commands a plugin registers (any combination). */
#define REDRESS_ROLE_AGENT 1u
#define REDRESS_ROLE_SUPERVISOR 2u
#define REDRESS_ROLE_FINANCE 4u
#define REDRESS_ROLE_ADMIN 8u
#define REDRESS_ROLE_ANY 15u

/* Opaque handles, owned by the host. */
struct redress_plugin;        /* this plugin, as the host knows it */
struct redress_command_call;  /* one run of a plugin command: where its reply goes */
struct redress_lua_call;      /* one call of a plugin Lua function: where its result goes */
struct redress_refund_job;    /* one refund execution, until it is reported */

/* ------------------------------------------------------------ values */

/* An argument a rule passed to a plugin Lua function. */
enum redress_value_type {
    REDRESS_VALUE_NIL = 0,
    REDRESS_VALUE_BOOLEAN = 1,
    REDRESS_VALUE_INTEGER = 2,
    REDRESS_VALUE_NUMBER = 3,
    REDRESS_VALUE_STRING = 4,
};

struct redress_value {
    enum redress_value_type type;
    int boolean;              /* REDRESS_VALUE_BOOLEAN: 0 or 1 */
    int64_t integer;          /* REDRESS_VALUE_INTEGER */
    double number;            /* REDRESS_VALUE_NUMBER: a Lua float (6/2 is 3.0, a float) */
    const char *string;       /* REDRESS_VALUE_STRING: NUL-terminated, may hold NULs */
    size_t length;            /* REDRESS_VALUE_STRING: bytes */
};

/* ------------------------------------------------------------ events */

/* One committed event of the case log (see DESIGN: events).  Delivered
 * after the transaction that wrote it committed, in log order. */
struct redress_event {
    size_t size;              /* sizeof(struct redress_event) of the host */
    int64_t id;               /* position in the event log, increasing */
    int64_t case_id;
    int64_t at;               /* unix seconds (daemon clock) */
    const char *kind;         /* "opened", "refund_paid", ... */
    const char *queue;        /* the case's queue when delivered */
    const char *actor;        /* agent name, "timer", "rules", ... */
    const char *detail;       /* logfmt text of the event, may be empty */
    size_t detail_length;
};

/* ------------------------------------------------------------ refunds */

/* A refund to execute.  Amount in minor units of currency (100 = 1.00 CNY). */
struct redress_refund {
    size_t size;              /* sizeof(struct redress_refund) of the host */
    int64_t id;
    int64_t case_id;
    const char *order_id;
    int64_t amount;
    const char *currency;     /* ISO 4217, e.g. "CNY" */
    int amount_digits;        /* minor unit digits of currency (2 for CNY) */
    const char *idempotency_key; /* the same on every attempt of this refund: made with it, unique */
    int attempt;              /* 1 for the first execution, then 2, 3 ... */
    /* 1 when this is the host sending this attempt again -- at start, or a
     * node taking over a dead node's refunds -- so an earlier execution of
     * it may have reached the provider and paid.  Then only a definite
     * answer settles it: an executor that cannot tell (no connection) must
     * report REDRESS_REFUND_UNKNOWN, never FAILED.  (Since API 1.5; check
     * `size` before reading it.) */
    int resent;
};

/* What refund_report says of a job: paid, surely not paid, or not known
 * (REDRESS_REFUND_UNKNOWN since 1.5: a host of 1.4 would take it for paid,
 * and refuses a plugin built for 1.5). */
#define REDRESS_REFUND_FAILED 0
#define REDRESS_REFUND_SUCCEEDED 1
#define REDRESS_REFUND_UNKNOWN 2

/* A refund executor (see register_refund_executor). */
struct redress_refund_executor {
    size_t size;              /* sizeof(struct redress_refund_executor) */
    const char *name;         /* "http_refund"; chosen with refund_executor = NAME */
    /* Starts executing `refund` (borrowed) and returns at once.  Later --
     * from an I/O or timer callback, or before returning -- the plugin calls
     * api->refund_report(job, ...) exactly once.  Called after the approval
     * is committed, and again at start for each refund still executing when
     * the daemon stopped: the same idempotency key makes that safe. */
    void (*start)(void *state, const struct redress_refund *refund, struct redress_refund_job *job);
};

/* ------------------------------------------------------------ order facts */

/* What an order was paid, as an order source tells the host (see
 * register_order_source).  Before each lookup the host zeroes it and sets
 * `size`; the source fills what it knows.  Fields are only ever added at
 * the end: a source built for an older minor version leaves the newer ones
 * zero.  (Since API 1.1.) */
struct redress_order {
    size_t size;              /* sizeof(struct redress_order) of the host */
    int64_t paid_amount;      /* what the customer paid, minor units of currency, >= 0 */
    char currency[4];         /* ISO 4217, three capital letters, NUL-terminated ("CNY") */
    char error[256];          /* why, when the lookup returns -1 */
};

/* An order source's lookup of order_id (NUL-terminated, order_id_length
 * bytes, borrowed).  Returns 1 with *order filled, 0 when the source does
 * not know the order, -1 with order->error saying why it cannot answer now.
 * Called on the loop, inside a command: answer at once, never block. */
typedef int (*redress_order_fn)(void *state, const char *order_id, size_t order_id_length,
                                struct redress_order *order);

/* ------------------------------------------------------------ cases (since 1.2) */

/* One field of a case to open: a CASE.OPEN field name ("customer",
 * "subject", "body", "channel", "lang", "external_id", "order", ...) and
 * its value (NUL-terminated, `length` bytes). */
struct redress_case_field {
    const char *name;
    const char *value;
    size_t length;
};

/* A file that came with a customer's message (all borrowed for the call). */
struct redress_attachment {
    const char *name;         /* file name, one line */
    const char *type;         /* media type, "image/jpeg" */
    const char *data;         /* the content, `length` bytes */
    size_t length;
};

/* What the customer wrote, for case_message.  Zero it, set `size`, fill
 * what applies. */
struct redress_message {
    size_t size;              /* sizeof(struct redress_message) of the plugin */
    const char *text;         /* UTF-8, `text_length` bytes */
    size_t text_length;
    const char *channel;      /* NULL: the case's channel */
    const char *external_id;  /* NULL: none; the same id again is the same message */
    const struct redress_attachment *attachments;
    size_t attachment_count;
};

/* One field of a case as case_get reads it: CASE.GET's name and its value
 * as text (an integer in decimal), or value NULL for nil. */
typedef void (*redress_case_field_fn)(void *state, const char *name, const char *value, size_t length);

/* Runs after the store's batch holding the plugin's writes ended: committed
 * 1 (on disk: acknowledge now), or 0 (rolled back: nothing of it remains). */
typedef void (*redress_commit_fn)(void *state, int committed);

/* ------------------------------------------------------------ callbacks */

/* A plugin command.  argv[0] is the command name as typed; argv[i] is
 * NUL-terminated and argvlen[i] bytes long.  The host checked the arity and
 * the caller's role.  The command writes exactly one reply through the
 * api->reply_* functions (an array counts as one reply once its elements are
 * written); a command that writes none, or an incomplete array, answers
 * "-ERR plugin NAME: command X wrote no complete reply".  The host sends the
 * reply as a built-in command's: once what the command's case calls wrote,
 * or read of a batch still open, is on disk (a failed commit answers the
 * store's error instead). */
typedef void (*redress_command_fn)(void *state, struct redress_command_call *call, int argc,
                                   const char *const *argv, const size_t *argvlen);

/* A Lua function for rules: plugins.NAME.function(...).  The arguments are
 * those the rule passed (a table argument is refused by the host before the
 * call).  The function builds its result with the api->result_* functions
 * (nothing built: nil) and returns 0, or calls api->result_error() and
 * returns -1: the rule then sees a Lua error with that message.  It runs
 * inside the rule's budgets: its time counts in the hook's time budget, and
 * its result in the rule state's memory cap. */
typedef int (*redress_lua_fn)(void *state, struct redress_lua_call *call, int argc,
                              const struct redress_value *argv);

/* An event subscriber. */
typedef void (*redress_event_fn)(void *state, const struct redress_event *event);

/* Log levels for api->log. */
enum redress_log_level { REDRESS_LOG_DEBUG = 0, REDRESS_LOG_INFO = 1, REDRESS_LOG_WARN = 2, REDRESS_LOG_ERROR = 3 };

/* ------------------------------------------------------------ the host's table */

struct redress_host_api {
    uint32_t size;            /* sizeof(struct redress_host_api) of the host */
    uint16_t major, minor;    /* the host's REDRESS_PLUGIN_API_MAJOR / _MINOR */

    /* -- registration: only during init; each returns 0, or -1 after logging
     *    the plugin, what, its name and why (name taken, bad arity, out of
     *    memory).  Strings are copied. */

    /* A command NAME (letters, digits, '.', '_', '-'; up to 40 bytes; any case,
     * stored upper case; not a built-in's name) taking from minimum_arguments
     * to maximum_arguments arguments counting its name (-1: no maximum), that
     * the roles in `roles` may run.  usage is shown in arity errors. */
    int (*register_command)(struct redress_plugin *self, const char *name, int minimum_arguments,
                            int maximum_arguments, unsigned roles, const char *usage, redress_command_fn fn);
    /* plugins.<plugin name>.<name> for rules (name: a Lua identifier). */
    int (*register_lua_function)(struct redress_plugin *self, const char *name, redress_lua_fn fn);
    /* fn is called for each committed event whose kind is in `kinds`
     * (comma-separated, e.g. "opened,refund_paid"; NULL or "*": every kind). */
    int (*subscribe_events)(struct redress_plugin *self, const char *kinds, redress_event_fn fn);
    /* Offers a refund executor (executor borrowed for the plugin's life: a
     * static struct).  It runs refunds when the config says
     * refund_executor = its name. */
    int (*register_refund_executor)(struct redress_plugin *self, const struct redress_refund_executor *executor);

    /* -- the host's facilities */

    /* The daemon's event loop: add events for non-blocking I/O and timers;
     * free them all in shutdown.  Never run or break the loop. */
    struct event_base *(*event_base)(struct redress_plugin *self);
    /* The value of config key "<plugin name>.<key>" (config file or
     * --NAME.KEY flag), or NULL.  Owned by the host, valid until shutdown. */
    const char *(*config_get)(struct redress_plugin *self, const char *key);
    /* A directory of the plugin's own under the daemon's data directory
     * (DATA/plugins/NAME), created.  Owned by the host, valid until shutdown. */
    const char *(*data_directory)(struct redress_plugin *self);
    /* One logfmt line: level, plugin=NAME, msg="message", then `fields`
     * (printf-style, already logfmt: "key=value key2=value2"; may be NULL).
     * Escape a value from outside inside its quotes (\" \\ \n, as
     * examples/plugin-skeleton's log_escaped does); a field named ts, level,
     * msg or plugin is written plugin_KEY, never as the line's own, and a
     * control byte in the fields is written as a blank. */
    void (*log)(struct redress_plugin *self, enum redress_log_level level, const char *message,
                const char *fields_format, ...) __attribute__((format(printf, 4, 5)));
    /* The daemon's clock, unix seconds (the test clock under --test-clock). */
    int64_t (*now)(void);

    /* -- replies of a command (see redress_command_fn) */
    void (*reply_simple)(struct redress_command_call *call, const char *text);   /* +text */
    /* -CODE message; code: 1 to 32 letters A-Z.  Another code is the
     * plugin's fault: "-ERR plugin NAME: command X replied an invalid error
     * code (...): message", and the log names the code. */
    void (*reply_error)(struct redress_command_call *call, const char *code, const char *format, ...)
        __attribute__((format(printf, 3, 4)));
    void (*reply_integer)(struct redress_command_call *call, int64_t value);
    void (*reply_bulk)(struct redress_command_call *call, const char *data, size_t length);
    void (*reply_nil)(struct redress_command_call *call);
    void (*reply_array)(struct redress_command_call *call, size_t count); /* then count replies */
    /* The agent running the command (borrowed for the call). */
    const char *(*call_agent)(struct redress_command_call *call);

    /* -- results of a Lua function (see redress_lua_fn).  A small stack:
     *    push values, and tables to set fields of.  Limits: 64 levels deep,
     *    100,000 values, 1 MiB of strings per call; past them the call fails. */
    void (*result_nil)(struct redress_lua_call *call);
    void (*result_boolean)(struct redress_lua_call *call, int value);
    void (*result_integer)(struct redress_lua_call *call, int64_t value);
    void (*result_number)(struct redress_lua_call *call, double value);
    void (*result_string)(struct redress_lua_call *call, const char *data, size_t length);
    void (*result_table)(struct redress_lua_call *call);          /* pushes an empty table */
    /* Pops the value on top into the table under it, at key (copied). */
    void (*result_set_field)(struct redress_lua_call *call, const char *key);
    /* Pops the value on top into the table under it, at the next array index. */
    void (*result_append)(struct redress_lua_call *call);
    /* The error the rule sees (prefixed with "plugins.NAME.function: "). */
    void (*result_error)(struct redress_lua_call *call, const char *format, ...)
        __attribute__((format(printf, 2, 3)));

    /* -- refunds */
    /* Reports the outcome of a job given to an executor's start():
     * REDRESS_REFUND_SUCCEEDED (1) with the provider's reference (may be
     * NULL), REDRESS_REFUND_FAILED (0) with why (may be NULL): the provider
     * surely did not pay it, or (since 1.5) REDRESS_REFUND_UNKNOWN with why:
     * the provider may have paid it (no answer, 5xx).  Exactly once per job;
     * the job is freed by this call.  The refund becomes succeeded, failed
     * (REFUND.RETRY starts it again), or stays executing, keeping its room
     * on the order, until REFUND.SETTLE or the next start asks again. */
    void (*refund_report)(struct redress_refund_job *job, int succeeded, const char *reference,
                          const char *message);

    /* -- helpers */
    /* Parses a decimal amount ("129.5") in minor units of currency;
     * 0, or -1 if it is not a valid amount for that currency. */
    int (*parse_amount)(const char *currency, const char *text, int64_t *minor_units);
    /* Parses an instant: unix seconds or ISO 8601 "2026-11-02T10:00:00Z"
     * (or with an offset); 0, or -1. */
    int (*parse_time)(const char *text, int64_t *unix_seconds);
    /* Delivers to fn, synchronously and in order, every event of the log
     * after `after_id` (0: from the start) whose kind is in `kinds` (as in
     * subscribe_events), at most `limit` of them; returns the id of the last
     * event looked at (delivered or not of those kinds), or after_id if none.
     * Only committed events: while the host is inside a transaction it
     * delivers nothing and returns after_id (try again from a timer).  fn
     * gets `state` as its first argument.  For catching up after a restart. */
    int64_t (*replay_events)(struct redress_plugin *self, int64_t after_id, const char *kinds, size_t limit,
                             redress_event_fn fn, void *state);
    /* The id of the newest committed event (0: none yet); never one of a
     * transaction still open. */
    int64_t (*last_event_id)(struct redress_plugin *self);

    /* -- since 1.1 */
    /* Makes the plugin the daemon's order source (only during init): what
     * fn says an order was paid is the ceiling of that order's refunds, and
     * a case naming the order takes its amount from it.  One source per
     * daemon: a second registration is refused.  0, or -1 after logging why. */
    int (*register_order_source)(struct redress_plugin *self, redress_order_fn fn);

    /* -- since 1.2: acting on cases.  The plugin acts as its own identity:
     *    the agent "plugin:NAME" with the role of setting NAME.role (agent,
     *    supervisor, finance, admin; default supervisor) and, for role agent,
     *    the queues of NAME.queues.  Each call runs the command an agent would
     *    send (CASE.OPEN, CASE.MESSAGE, CASE.NOTE, CASE.GET) through the same
     *    checks -- role, arguments, queue isolation -- and domain calls, with
     *    the rules' hooks; events name the identity as actor.  Called from
     *    the plugin's own command, a call also acts for its caller: the
     *    caller's role must allow the command, an agent caller reaches only
     *    the queues it shares with the identity, and the events name "CALLER
     *    via plugin:NAME" (timers, listeners, subscribers, Lua functions and
     *    auth = no: the identity alone).  A write lands
     *    in the store's current batch and is committed soon after (see
     *    when_committed); the committed events reach subscribers as any do.
     *    Each returns 0, or -1 with `error` (error_size bytes, may be NULL)
     *    holding the reply's error, code word first ("NOTFOUND case 9 does
     *    not exist", "INVALID ...", "NOPERM ...", "ERR store: ...").  From
     *    the plugin's command, the writes are steps of the command's one
     *    savepoint: an error reply rolls all of them back (inside EXEC, it
     *    fails EXEC); a failed step alone is rolled back alone.  Not
     *    callable inside a host command's write (from a Lua function of a
     *    rule, say): -1 "BADSTATE ...". */
    /* Opens a case from CASE.OPEN's fields (count of them); *case_id its id
     * (the existing case when external_id names one and the contact is the
     * same; another customer, subject or body under it is "CONFLICT ..."). */
    int (*case_open)(struct redress_plugin *self, const struct redress_case_field *fields, size_t count,
                     int64_t *case_id, char *error, size_t error_size);
    /* CASE.MESSAGE: records what the customer wrote on case_id; *landed is
     * the case that holds it (a follow-up case when the rules open one). */
    int (*case_message)(struct redress_plugin *self, int64_t case_id, const struct redress_message *message,
                        int64_t *landed, char *error, size_t error_size);
    /* CASE.NOTE: appends an event (kind "note") with text to case_id. */
    int (*case_note)(struct redress_plugin *self, int64_t case_id, const char *text, char *error,
                     size_t error_size);
    /* CASE.GET: fn(state, name, value, length) for each field of case_id,
     * synchronously, in CASE.GET's order. */
    int (*case_get)(struct redress_plugin *self, int64_t case_id, redress_case_field_fn fn, void *state,
                    char *error, size_t error_size);
    /* fn(state, committed) once what the plugin wrote so far is committed
     * (or rolled back), from the loop; at once with 1 when nothing is
     * pending.  0, or -1 when out of memory. */
    int (*when_committed)(struct redress_plugin *self, redress_commit_fn fn, void *state);
    /* -- since 1.3 */
    /* CUSTOMER.GET customer ("id:N" or any of its identities, "kind:value"
     * or an address): fn(state, name, value, length) for each field -- id,
     * created_at, cases, open, last_case_at, identities (an array: NULL) --
     * as case_get does.  -1 "NOTFOUND ..." for a customer never seen. */
    int (*customer_get)(struct redress_plugin *self, const char *customer, redress_case_field_fn fn, void *state,
                        char *error, size_t error_size);
    /* -- since 1.4 */
    /* fn(state) runs after each move of the daemon's clock by DEBUG.CLOCK
     * (under --test-clock only: a real clock never moves this way), outside
     * any command, once what the move wrote (the deadlines it made due) is
     * on disk, so the store and the event log show it.  For a plugin that looks
     * at now() from a timer of its own (a retry's backoff, a hold): the
     * timer runs on real time, so a test moving the daemon's clock would
     * wait for it; fn does the timer's work at once.  During init only.
     * 0, or -1 (out of memory, no fn, or not during init). */
    int (*on_clock_moved)(struct redress_plugin *self, void (*fn)(void *state), void *state);
    /* New functions are added here, at the end (minor version + 1). */
};

/* ------------------------------------------------------------ the plugin */

/* What a plugin exports as `redress_plugin` (through REDRESS_PLUGIN). */
struct redress_plugin_info {
    uint32_t size;            /* sizeof(struct redress_plugin_info) when built */
    uint16_t api_major, api_minor; /* the API the plugin was built against */
    const char *name;         /* a-z, 0-9, _, a letter first, up to 32 bytes: its settings prefix, Lua namespace, data directory */
    const char *version;      /* the plugin's own version, free text on one line (no control characters, no comma) */
    /* Registers what the plugin offers and sets *state (passed back to every
     * callback; may stay NULL).  Returns 0, or -1 after api->log() said why:
     * the host then unregisters everything the plugin registered, calls no
     * shutdown, and unloads it. */
    int (*init)(const struct redress_host_api *api, struct redress_plugin *self, void **state);
    /* Frees the state and every event the plugin added (may be NULL).
     * Called once at daemon exit, after the loop stopped, in reverse load
     * order.  Refund jobs not yet reported are abandoned: those refunds stay
     * executing and are started again at the next start (under the same
     * refund_executor). */
    void (*shutdown)(void *state);
};

#if defined(__GNUC__)
#define REDRESS_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define REDRESS_PLUGIN_EXPORT
#endif

/* Declares the plugin:  REDRESS_PLUGIN("orders", "1.0.0", orders_init, orders_shutdown); */
#define REDRESS_PLUGIN(name, version, init, shutdown)                                                   \
    REDRESS_PLUGIN_EXPORT extern const struct redress_plugin_info redress_plugin;                       \
    const struct redress_plugin_info redress_plugin = {                                                 \
        sizeof(struct redress_plugin_info), REDRESS_PLUGIN_API_MAJOR, REDRESS_PLUGIN_API_MINOR, (name), \
        (version), (init), (shutdown)}

#ifdef __cplusplus
}
#endif

#endif
