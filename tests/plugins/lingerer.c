/* lingerer.c -- a plugin that adds an event of its own to the daemon's
 * loop, never frees it, and calls the host from it once the host tore the
 * plugin down: its init fails, or (setting lingerer.after = shutdown) it
 * succeeds and the host refuses the plugin afterwards -- a setting it never
 * read -- running its shutdown first.  It never loads.  The host must refuse
 * the calls, naming the plugin, and never touch what it freed.  Loaded with
 * plugin_failure = skip. */
#include <redress/plugin.h>

#include <stddef.h>
#include <string.h>

static const struct redress_host_api *host;
static struct redress_plugin *me;
static struct event *linger_event;

static void linger(evutil_socket_t fd, short what, void *argument) {
    (void)fd, (void)what, (void)argument;
    host->log(me, REDRESS_LOG_WARN, "still here", "after=teardown");
    const char *directory = host->data_directory(me);
    const char *setting = host->config_get(me, "anything");
    int64_t last = host->last_event_id(me);
    host->log(me, REDRESS_LOG_WARN, "what the host gave", "directory=%d setting=%d last=%lld", directory != NULL,
              setting != NULL, (long long)last);
    event_free(linger_event);
    linger_event = NULL;
}

static int lingerer_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    (void)state;
    host = api;
    me = self;
    linger_event = event_new(api->event_base(self), -1, 0, linger, NULL);
    if (linger_event) event_active(linger_event, 0, 0);
    const char *after = api->config_get(self, "after");
    if (after && strcmp(after, "shutdown") == 0) return 0;
    api->log(self, REDRESS_LOG_ERROR, "init fails on purpose", NULL);
    return -1;
}

/* Leaves its event behind on purpose; the host still listens while this runs. */
static void lingerer_shutdown(void *state) {
    (void)state;
    host->log(me, REDRESS_LOG_INFO, "lingerer shut down", NULL);
}

REDRESS_PLUGIN("lingerer", "0.1", lingerer_init, lingerer_shutdown);
