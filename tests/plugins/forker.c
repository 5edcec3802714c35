/* forker.c -- a plugin whose init forks a helper child without exec (as a
 * watchdog or a pre-forked worker would).  The child detaches from the
 * daemon's output, writes its pid to DATA/plugins/forker/child.pid and
 * waits for a signal: it outlives the daemon, so a test can check that it
 * holds nothing the next start needs (the data directory's lock). */
#include <redress/plugin.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static int forker_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    (void)state;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/child.pid", api->data_directory(self)) >= (int)sizeof path) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        FILE *f = fopen(path, "w");
        if (f) {
            fprintf(f, "%ld\n", (long)getpid());
            fclose(f);
        }
        for (;;) pause();
    }
    api->log(self, REDRESS_LOG_INFO, "child forked", "pid=%ld", (long)pid);
    return 0;
}

REDRESS_PLUGIN("forker", "1.0", forker_init, NULL);
