/* hiredis_client.c -- hiredis (Debian libhiredis-dev) against redressd, as a C program would use
 * it: connect and AUTH agent token, open and read cases, pipeline 1,000 commands, a MULTI/EXEC
 * whose failure writes nothing, subscribe to two queues and unsubscribe from one, pattern
 * subscribe, client name.
 *
 * Run by tests/clients/suite.py with REDRESS_PORT and REDRESS_TOKEN (the admin's) in the
 * environment; prints "ok NAME" or "FAIL NAME: why" per test, then "N passed, N failed".  The
 * README's hiredis snippet is test_connect_open_and_read's code.
 */
#include <hiredis.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define PIPELINED 1000
#define REPLY_WAIT_SECONDS 10
#define LOGISTICS "快递没收到 parcel late"
#define SUPPORT "屏幕坏了 screen broken"

static const char *token;
static int port;
static char failure[512];

/* Records why the current test failed (the first reason) and returns -1. */
static int fail(const char *format, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *format, ...) {
    if (failure[0] == '\0') {
        va_list ap;
        va_start(ap, format);
        vsnprintf(failure, sizeof failure, format, ap);
        va_end(ap);
    }
    return -1;
}

static redisContext *connect_as_admin(void) {
    redisContext *c = redisConnect("127.0.0.1", port);
    if (c == NULL || c->err) {
        fail("connect: %s", c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return NULL;
    }
    struct timeval wait = {REPLY_WAIT_SECONDS, 0};
    redisSetTimeout(c, wait);
    redisReply *reply = redisCommand(c, "AUTH %s %s", "admin", token);
    int ok = reply && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0;
    if (!ok) fail("AUTH: %s", reply ? reply->str : c->errstr);
    if (reply) freeReplyObject(reply);
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* The value of field `name` in a flat field/value array, or NULL. */
static const redisReply *field(const redisReply *pairs, const char *name) {
    if (pairs == NULL || pairs->type != REDIS_REPLY_ARRAY) return NULL;
    for (size_t i = 0; i + 1 < pairs->elements; i += 2)
        if (pairs->element[i]->type == REDIS_REPLY_STRING && strcmp(pairs->element[i]->str, name) == 0)
            return pairs->element[i + 1];
    return NULL;
}

static long long open_case(redisContext *c, const char *subject) {
    redisReply *reply = redisCommand(c, "CASE.OPEN customer %s subject %s", "C-1", subject);
    long long id = reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    if (id < 0) fail("CASE.OPEN: %s", reply && reply->str ? reply->str : c->errstr);
    if (reply) freeReplyObject(reply);
    return id;
}

static long long case_count(redisContext *c) {
    redisReply *reply = redisCommand(c, "STATS");
    const redisReply *cases = field(reply, "cases");
    long long count = cases && cases->type == REDIS_REPLY_STRING ? atoll(cases->str) : -1;
    if (count < 0) fail("STATS has no cases");
    if (reply) freeReplyObject(reply);
    return count;
}

static int test_connect_open_and_read(void) {
    redisContext *c = redisConnect("127.0.0.1", port);
    if (c == NULL || c->err) return fail("connect: %s", c ? c->errstr : "out of memory");
    redisReply *reply = redisCommand(c, "AUTH %s %s", "admin", token);
    if (reply == NULL || reply->type != REDIS_REPLY_STATUS) return fail("AUTH refused");
    freeReplyObject(reply);

    reply = redisCommand(c, "CASE.OPEN customer %s subject %s", "C-1", "包裹破损 parcel damaged");
    long long id = reply->integer;
    freeReplyObject(reply);
    reply = redisCommand(c, "CASE.GET %lld", id);
    for (size_t i = 0; i + 1 < reply->elements; i += 2)
        if (strcmp(reply->element[i]->str, "subject") == 0) printf("case %lld: %s\n", id, reply->element[i + 1]->str);
    const redisReply *subject = field(reply, "subject");
    int ok = subject && strcmp(subject->str, "包裹破损 parcel damaged") == 0;
    freeReplyObject(reply);
    redisFree(c);
    return ok ? 0 : fail("CASE.GET did not give the subject back");
}

static int test_pipeline_of_1000_commands(void) {
    redisContext *c = connect_as_admin();
    if (c == NULL) return -1;
    for (int i = 0; i < PIPELINED; i++) {
        char external[32];
        snprintf(external, sizeof external, "hi-%d", i);
        if (redisAppendCommand(c, "CASE.OPEN customer C-%d subject %s external_id %s", i, SUPPORT, external) !=
            REDIS_OK)
            return fail("append: %s", c->errstr);
    }
    long long previous = 0;
    int status = 0;
    for (int i = 0; i < PIPELINED; i++) {
        redisReply *reply = NULL;
        if (redisGetReply(c, (void **)&reply) != REDIS_OK) {
            status = fail("reply %d: %s", i, c->errstr);
            break;
        }
        if (reply->type != REDIS_REPLY_INTEGER || reply->integer <= previous)
            status = fail("reply %d is not a new id: %s", i, reply->str ? reply->str : "");
        else previous = reply->integer;
        freeReplyObject(reply);
    }
    redisFree(c);
    return status;
}

static int test_transaction_that_fails_writes_nothing(void) {
    redisContext *c = connect_as_admin();
    if (c == NULL) return -1;
    long long open = open_case(c, SUPPORT), before = case_count(c);
    const char *queued[] = {"MULTI", "CASE.OPEN customer C-2 subject x external_id hi-tx", "CASE.NOTE %lld checked",
                            "CASE.CLOSE %lld", "EXEC"};
    int status = 0, failed_inside = 0;
    for (size_t i = 0; i < sizeof queued / sizeof queued[0]; i++) {
        redisReply *reply = redisCommand(c, queued[i], open);
        if (reply == NULL) return fail("%s: %s", queued[i], c->errstr);
        if (i == 4) {   /* EXEC: an error, or the replies with CASE.CLOSE's -BADSTATE among them */
            if (reply->type == REDIS_REPLY_ERROR) failed_inside = 1;
            for (size_t j = 0; reply->type == REDIS_REPLY_ARRAY && j < reply->elements; j++)
                failed_inside |= reply->element[j]->type == REDIS_REPLY_ERROR;
        }
        freeReplyObject(reply);
    }
    if (!failed_inside) status = fail("EXEC succeeded although CASE.CLOSE of an open case fails");
    if (case_count(c) != before) status = fail("the failed transaction opened a case");
    redisFree(c);
    return status;
}

/* The next pushed message on a subscribed connection: kind, channel (and pattern), payload. */
static redisReply *next_push(redisContext *c) {
    redisReply *reply = NULL;
    if (redisGetReply(c, (void **)&reply) != REDIS_OK) {
        fail("no message: %s", c->errstr);
        return NULL;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) {
        fail("not a pushed message");
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

static int expect_push(redisContext *c, const char *kind, const char *channel, long long count) {
    redisReply *reply = next_push(c);
    if (reply == NULL) return -1;
    int ok = strcmp(reply->element[0]->str, kind) == 0 && strcmp(reply->element[1]->str, channel) == 0 &&
             reply->element[2]->type == REDIS_REPLY_INTEGER && reply->element[2]->integer == count;
    if (!ok) fail("expected [%s %s %lld], got [%s %s ...]", kind, channel, count, reply->element[0]->str,
                  reply->element[1]->str ? reply->element[1]->str : "");
    freeReplyObject(reply);
    return ok ? 0 : -1;
}

static int test_subscribe_two_queues_unsubscribe_one(void) {
    redisContext *c = connect_as_admin(), *subscriber = connect_as_admin();
    if (c == NULL || subscriber == NULL) return -1;
    int status = 0;
    redisReply *reply = redisCommand(subscriber, "SUBSCRIBE support logistics");
    if (reply) freeReplyObject(reply);   /* the first confirmation; the second follows */
    if (expect_push(subscriber, "subscribe", "logistics", 2) != 0) return -1;
    if (redisAppendCommand(subscriber, "UNSUBSCRIBE support") != REDIS_OK) return fail("append UNSUBSCRIBE");
    if (expect_push(subscriber, "unsubscribe", "support", 1) != 0) return -1;
    open_case(c, SUPPORT);
    long long logistics = open_case(c, LOGISTICS);
    /* The support case came first: had it been delivered, it would be this one. */
    reply = next_push(subscriber);
    if (reply == NULL) return -1;
    char expected[64];
    snprintf(expected, sizeof expected, "event=opened case=%lld ", logistics);
    if (strcmp(reply->element[0]->str, "message") != 0 || strcmp(reply->element[1]->str, "logistics") != 0 ||
        strstr(reply->element[2]->str, expected) == NULL)
        status = fail("expected logistics' opened event, got %s %s %s", reply->element[0]->str,
                      reply->element[1]->str, reply->element[2]->str ? reply->element[2]->str : "");
    freeReplyObject(reply);
    redisFree(subscriber);
    redisFree(c);
    return status;
}

static int test_pattern_subscribe(void) {
    redisContext *c = connect_as_admin(), *subscriber = connect_as_admin();
    if (c == NULL || subscriber == NULL) return -1;
    redisReply *reply = redisCommand(subscriber, "PSUBSCRIBE log*");
    int ok = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
             strcmp(reply->element[0]->str, "psubscribe") == 0 && reply->element[2]->integer == 1;
    if (reply) freeReplyObject(reply);
    if (!ok) return fail("PSUBSCRIBE log* was not confirmed");
    open_case(c, SUPPORT);
    long long logistics = open_case(c, LOGISTICS);
    reply = next_push(subscriber);
    if (reply == NULL) return -1;
    char expected[64];
    snprintf(expected, sizeof expected, "event=opened case=%lld ", logistics);
    int status = 0;
    if (reply->elements != 4 || strcmp(reply->element[0]->str, "pmessage") != 0 ||
        strcmp(reply->element[1]->str, "log*") != 0 || strcmp(reply->element[2]->str, "logistics") != 0 ||
        strstr(reply->element[3]->str, expected) == NULL)
        status = fail("expected pmessage log* logistics with the opened event");
    freeReplyObject(reply);
    redisFree(subscriber);
    redisFree(c);
    return status;
}

static int test_client_name(void) {
    redisContext *c = connect_as_admin();
    if (c == NULL) return -1;
    redisReply *reply = redisCommand(c, "CLIENT SETNAME %s", "c-worker");
    int ok = reply && reply->type == REDIS_REPLY_STATUS;
    if (reply) freeReplyObject(reply);
    reply = redisCommand(c, "CLIENT GETNAME");
    ok = ok && reply && reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "c-worker") == 0;
    if (reply) freeReplyObject(reply);
    redisFree(c);
    return ok ? 0 : fail("CLIENT SETNAME / GETNAME did not keep the name");
}

int main(void) {
    const char *port_text = getenv("REDRESS_PORT");
    token = getenv("REDRESS_TOKEN");
    if (port_text == NULL || token == NULL) {
        fprintf(stderr, "REDRESS_PORT and REDRESS_TOKEN must be set\n");
        return 2;
    }
    port = atoi(port_text);
    static const struct {
        const char *name;
        int (*run)(void);
    } tests[] = {
        {"connect_open_and_read", test_connect_open_and_read},
        {"pipeline_of_1000_commands", test_pipeline_of_1000_commands},
        {"transaction_that_fails_writes_nothing", test_transaction_that_fails_writes_nothing},
        {"subscribe_two_queues_unsubscribe_one", test_subscribe_two_queues_unsubscribe_one},
        {"pattern_subscribe", test_pattern_subscribe},
        {"client_name", test_client_name},
    };
    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        failure[0] = '\0';
        if (tests[i].run() == 0 && failure[0] == '\0') {
            passed++;
            printf("ok   %s\n", tests[i].name);
        } else {
            failed++;
            printf("FAIL %s: %s\n", tests[i].name, failure[0] ? failure : "failed");
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
