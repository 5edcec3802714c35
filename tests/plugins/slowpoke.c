/* slowpoke.c -- an order source and a refund executor ("slowpoke") that
 * take as long as a test says, to test the host's slow-callback warning:
 *   SLOWPOKE.SPIN order|start ms   the next order lookup / executor start
 *                                  is busy for ms milliseconds
 *   SLOWPOKE.AGAIN                 reports again the last job it reported
 *                                  (a job handle kept past its report: the
 *                                  host must refuse it)
 * Every order was paid 199.00 CNY; every refund succeeds at once ("SP-id"). */
#include <redress/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct redress_host_api *host;
static long long order_spin_ms, start_spin_ms;
static struct redress_refund_job *last_job;

static void spin(long long ms) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do clock_gettime(CLOCK_MONOTONIC, &now);
    while ((now.tv_sec - start.tv_sec) * 1000000000LL + (now.tv_nsec - start.tv_nsec) < ms * 1000000LL);
}

static int lookup(void *s, const char *id, size_t length, struct redress_order *order) {
    (void)s, (void)id, (void)length;
    spin(order_spin_ms);
    order_spin_ms = 0;
    order->paid_amount = 19900;
    memcpy(order->currency, "CNY", 4);
    return 1;
}

static void start(void *s, const struct redress_refund *refund, struct redress_refund_job *job) {
    (void)s;
    spin(start_spin_ms);
    start_spin_ms = 0;
    char reference[32];
    snprintf(reference, sizeof reference, "SP-%lld", (long long)refund->id);
    last_job = job;
    host->refund_report(job, REDRESS_REFUND_SUCCEEDED, reference, NULL);
}

static const struct redress_refund_executor executor = {sizeof executor, "slowpoke", start};

static void spin_command(void *s, struct redress_command_call *call, int argc, const char *const *argv,
                         const size_t *argvlen) {
    (void)s, (void)argc, (void)argvlen;
    if (strcmp(argv[1], "order") == 0) order_spin_ms = atoll(argv[2]);
    else start_spin_ms = atoll(argv[2]);
    host->reply_simple(call, "OK");
}

static void again_command(void *s, struct redress_command_call *call, int argc, const char *const *argv,
                          const size_t *argvlen) {
    (void)s, (void)argc, (void)argv, (void)argvlen;
    host->refund_report(last_job, REDRESS_REFUND_FAILED, NULL, "reported again");
    host->reply_simple(call, "OK");
}

static int slowpoke_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    (void)state;
    host = api;
    int failed = 0;
    failed |= api->register_command(self, "SLOWPOKE.SPIN", 3, 3, REDRESS_ROLE_ANY, "order|start ms", spin_command);
    failed |= api->register_command(self, "SLOWPOKE.AGAIN", 1, 1, REDRESS_ROLE_ANY, "", again_command);
    failed |= api->register_order_source(self, lookup);
    failed |= api->register_refund_executor(self, &executor);
    return failed ? -1 : 0;
}

REDRESS_PLUGIN("slowpoke", "0.1", slowpoke_init, NULL);
