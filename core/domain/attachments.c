/* attachments.c -- files sent with a message or a reply (see attachments.h).
 *
 * A file is DATA/attachments/CASE/EVENT-N: named by the ids, never by what
 * the sender called it (that name is a column), so no name can reach
 * outside the folder.  It is written, flushed (file and folder) and then
 * its row inserted in the command's savepoint; if the command rolls back,
 * the file is removed (store_after_command with committed 0), so a file
 * without a row is only ever left by a crash in between.  An erase works
 * the other way round: the rows lose the name and digest in the command,
 * the files go once it is on disk (store_after_command_durable), so a
 * crash or a failed erase leaves the files with their rows.
 *
 * The erased rows (name '[erased]', no digest) say which files must be
 * gone wherever they are: a crash between an erase's fsync and its
 * unlinks, or an erase another node ran (several nodes on one database:
 * each keeps the files it received in its own data directory), leaves
 * some.  Such files go at start (attachments_sweep_erased), when another
 * node's erase is heard (its `customer_erased` event), and after notes
 * from the other nodes were missed.
 */
#include "domain/attachments.h"
#include "domain/events.h"
#include "lib/log.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_MAX_BYTES 1400

static char directory[PATH_MAX_BYTES];
static long long max_bytes = 1048576;

void attachments_configure(const char *data_directory, long long largest) {
    snprintf(directory, sizeof directory, "%s/attachments", data_directory);
    max_bytes = largest;
}

long long attachments_max_bytes(void) { return max_bytes; }

static void remove_unless_committed(void *argument, int committed) {
    char *path = argument;
    if (!committed && unlink(path) != 0 && errno != ENOENT)
        log_warn("attachment of a rolled back command not removed", "path=%s error=\"%s\"", LOG_VALUE(path),
                 strerror(errno));
    free(path);
}

static int sync_directory(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int write_file(const char *path, const char *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    int rc = fsync(fd);
    return close(fd) != 0 || rc != 0 ? -1 : 0;
}

int attachments_store(struct call *call, int64_t case_id, int64_t event_id, const struct attachment *list, int count) {
    if (count == 0) return 0;
    char folder[PATH_MAX_BYTES + 32];
    snprintf(folder, sizeof folder, "%s/%lld", directory, (long long)case_id);
    if ((mkdir(directory, 0700) != 0 && errno != EEXIST) || (mkdir(folder, 0700) != 0 && errno != EEXIST))
        return call_fail(call, CALL_ERR, "attachments: cannot create %s: %s", folder, strerror(errno));
    static const char sql[] =
        "INSERT INTO attachments(event_id, number, case_id, name, type, size, sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    for (int i = 0; i < count; i++) {
        const struct attachment *a = &list[i];
        if ((long long)a->len > max_bytes)
            return call_fail(call, CALL_LIMIT, "attachment '%.*s' is %zu bytes, more than attachment_max_bytes (%lld)",
                             (int)(a->name_len > 64 ? 64 : a->name_len), a->name, a->len, max_bytes);
        char *path = malloc(sizeof folder + 48);
        if (path == NULL) return call_fail(call, CALL_ERR, "out of memory");
        snprintf(path, sizeof folder + 48, "%s/%lld-%d", folder, (long long)event_id, i + 1);
        if (write_file(path, a->data, a->len) != 0 || sync_directory(folder) != 0) {
            int saved = errno;
            unlink(path);
            free(path);
            return call_fail(call, CALL_ERR, "attachments: cannot write under %s: %s", folder, strerror(saved));
        }
        if (store_after_command(remove_unless_committed, path) != 0) {
            unlink(path);
            free(path);
            return call_fail(call, CALL_ERR, "out of memory");
        }
        unsigned char hash[EVP_MAX_MD_SIZE];
        unsigned int hash_len = 0;
        char hex[2 * 32 + 1] = "";
        /* Never a row without its digest: an empty one is an erased row's
         * mark, and the start's sweep would remove the file.  (The file
         * goes with the command: remove_unless_committed.) */
        if (EVP_Digest(a->data, a->len, hash, &hash_len, EVP_sha256(), NULL) != 1 || hash_len != 32)
            return call_fail(call, CALL_ERR, "attachments: cannot compute the SHA-256 of '%.*s'",
                             (int)(a->name_len > 64 ? 64 : a->name_len), a->name);
        for (unsigned int k = 0; k < hash_len; k++) snprintf(hex + 2 * k, 3, "%02x", hash[k]);
        struct store_stmt *statement = store_statement(sql);
        if (statement) {
            store_bind_int64(statement, 1, event_id);
            store_bind_int(statement, 2, i + 1);
            store_bind_int64(statement, 3, case_id);
            store_bind_text(statement, 4, a->name, (int)a->name_len, STORE_STATIC);
            store_bind_text(statement, 5, a->type, (int)a->type_len, STORE_STATIC);
            store_bind_int64(statement, 6, (int64_t)a->len);
            store_bind_text(statement, 7, hex, -1, STORE_TRANSIENT);
        }
        if (call_step(call, statement) != 0) return -1;
    }
    return 0;
}

/* After the erase is on disk: the file goes (one the crash left unwritten
 * is no error).  A failed erase removes nothing. */
static void remove_if_committed(void *argument, int committed) {
    char *path = argument;
    if (committed && unlink(path) != 0 && errno != ENOENT)
        log_warn("erased attachment not removed", "path=%s error=\"%s\"", LOG_VALUE(path), strerror(errno));
    free(path);
}

/* ------------------------------------------------------------ erased elsewhere */

/* Removes the files of the erased rows that `sql` selects (case_id,
 * event_id, number), with `id` bound to ?1 when it is > 0; a file already
 * gone is no error.  The rows are committed: the erase is on disk. */
static void remove_erased(const char *sql, int64_t id) {
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) {
        log_error("erased attachments' files not looked for", "error=\"%s\"", LOG_ESC(store_error()));
        return;
    }
    if (id > 0) store_bind_int64(statement, 1, id);
    int rc;
    long long removed = 0;
    while ((rc = store_step(statement)) == STORE_ROW) {
        char path[PATH_MAX_BYTES + 80];
        snprintf(path, sizeof path, "%s/%lld/%lld-%lld", directory, (long long)store_column_int64(statement, 0),
                 (long long)store_column_int64(statement, 1), (long long)store_column_int64(statement, 2));
        if (unlink(path) == 0) removed++;
        else if (errno != ENOENT)
            log_warn("erased attachment not removed", "path=%s error=\"%s\"", LOG_VALUE(path), strerror(errno));
    }
    store_reset(statement);
    if (rc != STORE_DONE) log_error("erased attachments' files not all looked for", "error=\"%s\"",
    LOG_ESC(store_error()));
    if (removed) log_info("erased attachments' files removed", "files=%lld", removed);
}

#define ERASED_ROWS " FROM attachments WHERE name = '[erased]' AND sha256 = ''"

/* A case's folder that the erase emptied goes too: the next sweep looks
 * only at the folders still holding files, not at every erased row ever
 * written (a sweep per start, and per reconnection with several nodes). */
static void remove_folder_if_empty(int64_t case_id) {
    char folder[PATH_MAX_BYTES + 32];
    snprintf(folder, sizeof folder, "%s/%lld", directory, (long long)case_id);
    if (rmdir(folder) != 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
        log_warn("erased attachments' folder not removed", "path=%s error=\"%s\"", LOG_VALUE(folder), strerror(errno));
}

void attachments_sweep_erased(void) {
    /* The folders first, then the rows of each: the cost follows the cases
     * holding files here, and no directory stream is open across a read. */
    DIR *folders = opendir(directory);
    if (folders == NULL) {
        if (errno != ENOENT) log_warn("attachments not swept", "path=%s error=\"%s\"", LOG_VALUE(directory),
        strerror(errno));
        return;
    }
    int64_t *cases = NULL;
    size_t count = 0, capacity = 0;
    for (struct dirent *entry; (entry = readdir(folders)) != NULL;) {
        const char *name = entry->d_name;
        size_t digits = strspn(name, "0123456789");
        if (digits == 0 || digits > 18 || name[digits] != '\0') continue;
        if (count == capacity) {
            size_t grown = capacity ? capacity * 2 : 256;
            int64_t *more = realloc(cases, grown * sizeof *more);
            if (more == NULL) {
                log_error("attachments not swept: out of memory", NULL);
                break;
            }
            cases = more;
            capacity = grown;
        }
        cases[count++] = strtoll(name, NULL, 10);
    }
    closedir(folders);
    for (size_t i = 0; i < count; i++) {
        remove_erased("SELECT case_id, event_id, number" ERASED_ROWS " AND case_id = ?1", cases[i]);
        remove_folder_if_empty(cases[i]);
    }
    free(cases);
}

/* Another node committed the events low..high: the cases it erased lose
 * the files this node keeps of them.  0, or -1 when the range could not be
 * read (read again later: events.h). */
static int peer_range(int64_t low, int64_t high) {
    static const char cases_sql[] =
        "SELECT DISTINCT case_id FROM events WHERE id BETWEEN ?1 AND ?2 AND kind = 'customer_erased'";
    struct store_stmt *statement = store_statement(cases_sql);
    if (statement == NULL) {
        log_error("another node's erases not looked for", "error=\"%s\"", LOG_ESC(store_error()));
        return -1;
    }
    store_bind_int64(statement, 1, low);
    store_bind_int64(statement, 2, high);
    int64_t erased[64];
    int count = 0, rc;
    /* A batch erases up to ERASE_CASES_MAX cases: more than 64 at once and
     * the sweep of every erased row does it instead. */
    while ((rc = store_step(statement)) == STORE_ROW && count < 64) erased[count++] = store_column_int64(statement, 0);
    int more = rc == STORE_ROW;
    store_reset(statement);
    if (rc != STORE_DONE && rc != STORE_ROW) {
        log_error("another node's erases not read", "from=%lld to=%lld error=\"%s\"", (long long)low,
                  (long long)high, LOG_ESC(store_error()));
        return -1;
    }
    if (more) {
        attachments_sweep_erased();
        return 0;
    }
    for (int i = 0; i < count; i++) {
        remove_erased("SELECT case_id, event_id, number" ERASED_ROWS " AND case_id = ?1", erased[i]);
        remove_folder_if_empty(erased[i]);
    }
    return 0;
}

int attachments_follow_peers(void) {
    if (!store_shared()) return 0;
    return events_read_peer_ranges(peer_range) != 0 || store_on_missed_notes(attachments_sweep_erased) != 0 ? -1 : 0;
}

int attachments_erase_case(struct call *call, int64_t case_id) {
    static const char files_sql[] = "SELECT event_id, number FROM attachments WHERE case_id = ?1 ORDER BY event_id, number";
    static const char rows_sql[] = "UPDATE attachments SET name = '[erased]', sha256 = '' WHERE case_id = ?1";
    struct store_stmt *statement = store_statement(files_sql);
    if (statement) store_bind_int64(statement, 1, case_id);
    int found;
    while ((found = call_row(call, statement)) > 0) {
        char *path = malloc(PATH_MAX_BYTES + 80);
        if (path)
            snprintf(path, PATH_MAX_BYTES + 80, "%s/%lld/%lld-%lld", directory, (long long)case_id,
                     (long long)store_column_int64(statement, 0), (long long)store_column_int64(statement, 1));
        if (path == NULL || store_after_command_durable(remove_if_committed, path) != 0) {
            free(path);
            store_reset(statement);
            return call_fail(call, CALL_ERR, "out of memory");
        }
    }
    if (found < 0) return -1;
    statement = store_statement(rows_sql);
    if (statement) store_bind_int64(statement, 1, case_id);
    return call_step(call, statement);
}
