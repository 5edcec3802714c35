/* start_checks.c -- what a start checks of the machine before the store
 * opens (and migrates): the descriptor limit against the settings, files
 * the config names, the data directory's modes and its lock, and the TCP
 * ports.  Each says what is wrong on stderr/the log and returns -1; main.c
 * decides to stop.  Nothing here opens the store or listens. */
#include "net/start_checks.h"
#include "lib/log.h"

#include <event2/util.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Descriptors the daemon needs besides its clients': the databases (SQLite
 * main, WAL and shared memory, the search index's), the listeners, the
 * lock, the event loop's, the log, a backup or attachment being written,
 * plugins' sockets.  As Redis's CONFIG_MIN_RESERVED_FDS, with room. */
#define DAEMON_DESCRIPTORS 64

/* RLIMIT_NOFILE against what the settings may open: max_clients, the unix
 * socket's reserve beyond it, the HTTP port's connections and the
 * daemon's own.  As Redis's adjustOpenFilesLimit: the soft limit is
 * raised toward the hard one; if that is still short, max_clients is
 * lowered to what fits, so a full TCP side is refused with "max number of
 * clients reached" rather than by accept() failing, which left no
 * descriptor for the unix socket's reserve (a local admin locked out).
 * 0, or -1 when not even one client fits (message printed). */
int start_fit_descriptor_limit(struct config *config) {
    long long others = config->unix_reserved_clients + (config->http_port[0] ? config->http_max_connections : 0) +
                       DAEMON_DESCRIPTORS;
    long long need = config->max_clients + others;
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        log_warn("cannot read the descriptor limit", "error=\"%s\"", strerror(errno));
        return 0;
    }
    if (limit.rlim_cur != RLIM_INFINITY && (long long)limit.rlim_cur < need) {
        rlim_t before = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max == RLIM_INFINITY || (long long)limit.rlim_max >= need ? (rlim_t)need
                                                                                               : limit.rlim_max;
        if (limit.rlim_cur > before && setrlimit(RLIMIT_NOFILE, &limit) == 0)
            log_info("descriptor limit raised", "from=%llu to=%llu needed=%lld", (unsigned long long)before,
                     (unsigned long long)limit.rlim_cur, need);
        else
            limit.rlim_cur = before;
    }
    if (limit.rlim_cur == RLIM_INFINITY || (long long)limit.rlim_cur >= need) return 0;
    long long fit = (long long)limit.rlim_cur - others;
    if (fit < 1) {
        fprintf(stderr, "redressd: the descriptor limit (ulimit -n) of %llu is below the %lld the daemon needs "
                "besides its clients (unix_reserved_clients, http_max_connections, %d of its own): raise it\n",
                (unsigned long long)limit.rlim_cur, others, DAEMON_DESCRIPTORS);
        return -1;
    }
    log_warn("max_clients lowered: the descriptor limit is too low for it (raise ulimit -n, or LimitNOFILE=)",
             "max_clients=%lld was=%lld limit=%llu hard_limit=%llu needed=%lld", fit, config->max_clients,
             (unsigned long long)limit.rlim_cur, (unsigned long long)limit.rlim_max, need);
    config->max_clients = fit;
    return 0;
}

/* A certificate or key a listener will load, checked before the store is
 * opened: an unreadable one stopped the start only after the database was
 * created and the admin token written. */
int start_check_readable(const char *what, const char *setting, const char *path) {
    if (path[0] == '\0' || access(path, R_OK) == 0) return 0;
    fprintf(stderr, "redressd: config: cannot set up %s: %s: cannot read %s: %s\n", what, setting, path,
            strerror(errno));
    return -1;
}

/* The data directory's other private files (README, Files and modes): the
 * search index holds the text of every case, admin.token gives full
 * control.  The store sets redress.db and its -wal / -shm back to 0600 when
 * it opens them; these are set here, before anything reads them, each named
 * in the log.  A restore done by hand (cp, tar), an operator recreating the
 * token or an older redressd leaves them open to others.  Returns how many
 * are still open to others (their mode could not be changed). */
static int tighten_data_files(const char *directory) {
    static const struct {
        const char *name, *message;
    } files[] = {
        {"search.db", "database file was open to other users: mode set to 0600"},
        {"search.db-wal", "database file was open to other users: mode set to 0600"},
        {"search.db-shm", "database file was open to other users: mode set to 0600"},
        {"admin.token", "admin token file was open to other users: mode set to 0600"},
        {"rules.promoted", "promoted rules record was open to other users: mode set to 0600"},
    };
    int still_open = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[PATH_MAX + 32], quoted[PATH_MAX + 64];
        struct stat status;
        snprintf(path, sizeof path, "%s/%s", directory, files[i].name);
        /* lstat: a link is never followed to chmod what it points at --
         * but named, or what it points at (0644, say) goes unmentioned. */
        if (lstat(path, &status) == 0 && S_ISLNK(status.st_mode)) {
            log_warn("private file is a symbolic link: neither it nor what it points at is checked or set to 0600",
                     "path=%s", log_quote(path, quoted, sizeof quoted));
            continue;
        }
        if (lstat(path, &status) != 0 || !S_ISREG(status.st_mode) || (status.st_mode & 077) == 0) continue;
        if (chmod(path, 0600) == 0) {
            log_warn(files[i].message, "path=%s mode_was=%04o", log_quote(path, quoted, sizeof quoted),
                     (unsigned)(status.st_mode & 07777));
        } else {
            still_open++;
            log_warn("file is open to other users and its mode cannot be changed", "path=%s mode=%04o error=\"%s\"",
                     log_quote(path, quoted, sizeof quoted), (unsigned)(status.st_mode & 07777), strerror(errno));
        }
    }
    return still_open;
}

/* The data directory holds customer data: say so when others may look in.
 * The files are set to 0600 first, so that the warning says what is so. */
void start_check_data_directory_mode(const char *path) {
    struct stat status;
    char quoted[1100];
    int still_open = tighten_data_files(path);
    if (stat(path, &status) == 0 && (status.st_mode & 077) != 0)
        log_warn(still_open ? "data directory is open to other users, and so are files in it (logged above): "
                              "chmod 700 it"
                            : "data directory is open to other users: its files are 0600, but chmod 700 it",
                 "path=%s mode=%04o", log_quote(path, quoted, sizeof quoted), (unsigned)(status.st_mode & 07777));
}

/* One daemon per data directory: a second one on the same directory would
 * arm the same deadlines again, keep in-memory figures that follow only its
 * own writes, and take the first one's unix socket.  DATA/redress.lock is
 * locked (a POSIX record lock, F_SETLK) for the process's life -- the
 * kernel drops the lock when the process ends, however it ends, so a crash
 * leaves nothing to clean up -- and holds the holder's pid.  The file stays
 * after a stop; its pid means something only while it is locked.  Taken
 * before anything is written: a refused start migrates nothing, writes no
 * token and touches no socket.  A record lock is not inherited by fork()
 * and the descriptor is close-on-exec, so no child or program a plugin
 * starts holds it after the daemon.  (Record locks also end when the
 * process closes any descriptor of the file: nothing else opens it.) */
#define DATA_LOCK_FILE "redress.lock"

/* The sockets the port check holds open until every port is tried: a
 * listener given the port another one has (port = http_port, a typo) is
 * then refused as the second listen would be.  Three listeners, each
 * bound to one address. */
struct probes {
    int fd[3];
    const char *what[3];
    int count;
};

/* May the daemon listen on address:port?  Resolved as the listener will
 * (libevent's resolver, passive, AI_ADDRCONFIG: a name such as localhost
 * for http_bind; the listeners bind the first address found), then bound
 * and listened on as the listeners do (SO_REUSEADDR, so a port in
 * TIME_WAIT is free; listening, so that another of these probes on the same
 * port conflicts as the listeners would).  The socket is kept in `probes`.
 * Port "" or 0 is left to the listener; so is a name that does not
 * resolve (the listener says so).  0, or -1 after saying why. */
static int check_port_free(struct probes *probes, const char *what, const char *address, const char *port) {
    if (address[0] == '\0' || port[0] == '\0' || strcmp(port, "0") == 0) return 0;
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                    .ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_ADDRCONFIG | EVUTIL_AI_NUMERICSERV};
    struct evutil_addrinfo *found = NULL;
    if (evutil_getaddrinfo(address, port, &hints, &found) != 0 || found == NULL) return 0;
    int status = 0;
    int fd = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
    if (fd >= 0) {
        int on = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
            bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, 1) != 0) {
            int failed = errno;
            char where[300], earlier[64] = "";
            snprintf(where, sizeof where, found->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", address, port);
            /* Taken by one of our own probes: name the setting, the
             * operator's typo is there. */
            for (int i = 0; i < probes->count; i++) {
                struct sockaddr_storage mine;
                socklen_t length = sizeof mine;
                if (getsockname(probes->fd[i], (struct sockaddr *)&mine, &length) == 0 &&
                    (mine.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)(void *)&mine)->sin6_port
                                                : ((struct sockaddr_in *)(void *)&mine)->sin_port) ==
                        htons((uint16_t)atoi(port)))
                    snprintf(earlier, sizeof earlier, " also=%s", probes->what[i]);
            }
            /* The lines the listeners log for the same failure (only
             * logfmt lines: an address is an outside value). */
            if (strcmp(what, "http_port") == 0)
                log_error("cannot listen for HTTP", "address=%s port=%s error=\"%s\"%s", LOG_VALUE(address),
                          LOG_VALUE(port), strerror(failed), earlier);
            else
                log_error("cannot listen", "address=%s error=\"%s\"%s", LOG_VALUE(where), strerror(failed),
                          earlier);
            status = -1;
            close(fd);
        } else {
            probes->fd[probes->count] = fd;
            probes->what[probes->count++] = what;
        }
    }
    evutil_freeaddrinfo(found);
    return status;
}

/* The TCP ports the config names, before the store opens (which migrates
 * and commits an older schema): an upgrade that cannot listen stops while
 * the old binary can still open the database.  All are tried together, so
 * two listeners given one port stop here too.  The listeners bind for good
 * later (net/server.c, http/http.c); this cannot see a port taken in
 * between, which then fails there as before. */
int start_check_ports(const struct config *config) {
    char port[24];
    struct probes probes = {.count = 0};
    snprintf(port, sizeof port, "%lld", config->port);
    int status = check_port_free(&probes, "port", config->bind, port) != 0 ||
                         check_port_free(&probes, "tls_port", config->bind, config->tls_port) != 0 ||
                         check_port_free(&probes, "http_port", config->http_bind, config->http_port) != 0
                     ? -1
                     : 0;
    for (int i = 0; i < probes.count; i++) close(probes.fd[i]);
    return status;
}

int start_lock_data_directory(const char *data) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/" DATA_LOCK_FILE, data) >= (int)sizeof path) {
        fprintf(stderr, "redressd: data directory path too long: %s\n", data);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "redressd: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    /* A POSIX record lock, not flock(): a child a plugin forks does not
     * inherit it, so the lock ends with this process however it ends (a
     * flock is shared with forked children and outlived a kill -9 of the
     * daemon while such a child lived).  F_GETLK names the holder. */
    struct flock whole = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_SETLK, &whole) != 0) {
        int why = errno;
        int held = why == EACCES || why == EAGAIN;
        struct flock holder = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        long pid = held && fcntl(fd, F_GETLK, &holder) == 0 && holder.l_type != F_UNLCK ? (long)holder.l_pid : 0;
        if (!held)
            fprintf(stderr, "redressd: cannot lock %s: %s\n", path, strerror(why));
        else if (pid > 0)
            fprintf(stderr, "redressd: data directory %s is in use by pid %ld (%s is locked): "
                    "one redressd per data directory\n", data, pid, path);
        else   /* the holder ended between the two calls */
            fprintf(stderr, "redressd: data directory %s is in use by another redressd (%s is locked): "
                    "one redressd per data directory\n", data, path);
        close(fd);
        return -1;
    }
    char text[32];
    int length = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)length, 0) != length) {
        fprintf(stderr, "redressd: cannot write %s: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    return 0;   /* the descriptor stays open (and the lock held) until the process ends */
}

