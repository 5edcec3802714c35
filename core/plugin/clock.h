/* clock.h -- plugins' listeners of the daemon's clock moving (see clock.c). */
#ifndef REDRESS_PLUGIN_CLOCK_H
#define REDRESS_PLUGIN_CLOCK_H

struct event_base;
struct redress_plugin;

/* Makes the event the listeners run from and listens to lib/clock.c's
 * moves (once per process: lib/clock.c keeps its listeners).  0, or -1. */
int plugin_clock_start(struct event_base *base);
/* A listener of plugin: fn(state) at the next turn of the loop after each
 * move of the clock.  0, or -1 (out of memory, or no fn). */
int plugin_clock_add(struct redress_plugin *plugin, void (*fn)(void *state), void *state);
/* Every listener of plugin goes (its init failed, or it is unloaded). */
void plugin_clock_remove(struct redress_plugin *plugin);
/* Frees the listeners and the event (after the loop stopped). */
void plugin_clock_free(void);

#endif
