/* agents.c -- agents, tokens and roles (see agents.h).
 *
 * Invariants: a token exists in clear only in the reply of AGENT.ADD (and,
 * for the first admin, in DATA/admin.token, mode 0600); the store holds its
 * SHA-256; AUTH compares hashes with CRYPTO_memcmp so the time taken does not
 * depend on how much of a guess was right; a failed AUTH says the same
 * whether the agent or the token was wrong; a store error is a store error,
 * never "invalid agent or token".
 */
#include "domain/agents.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/names.h"
#include "rules/rules.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_SHOWN 64                   /* of a name repeated in an error */
#define TOKEN_PATH_BYTES 1200
#define CASE_NAME_SHOWN_MAX (NAME_SHOWN + 1)


static int sha256(const char *data, size_t len, unsigned char out[HASH_BYTES]) {
    unsigned int out_len = 0;
    return EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL) == 1 && out_len == HASH_BYTES ? 0 : -1;
}

/* A fresh token as 48 hex digits (+ NUL). */
static int new_token(char out[AGENTS_TOKEN_HEX + 1]) {
    unsigned char bytes[AGENTS_TOKEN_BYTES];
    if (RAND_bytes(bytes, sizeof bytes) != 1) return -1;
    for (int i = 0; i < AGENTS_TOKEN_BYTES; i++) snprintf(out + 2 * i, 3, "%02x", bytes[i]);
    return 0;
}

/* Inserts an agent; 0, 1 if the name exists, -1 on a store error (or no hash). */
static int insert_agent(const char *name, size_t name_len, unsigned role, const char *queues, size_t queues_len,
                        const char *token) {
    unsigned char hash[HASH_BYTES];
    if (sha256(token, strlen(token), hash) != 0) return -1;
    static const char sql[] =
        "INSERT INTO agents(name, role, queues, token_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)"
        " ON CONFLICT(name) DO NOTHING";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return -1;
    store_bind_text(statement, 1, name, (int)name_len, STORE_STATIC);
    store_bind_text(statement, 2, agents_role_name(role), -1, STORE_STATIC);
    store_bind_text(statement, 3, queues, (int)queues_len, STORE_STATIC);
    store_bind_blob(statement, 4, hash, sizeof hash, STORE_TRANSIENT);
    store_bind_int64(statement, 5, clock_now());
    int rc = store_step(statement);
    store_reset(statement);
    if (rc != STORE_DONE) return -1;
    return store_changes() == 0 ? 1 : 0;
}

/* Writes token to DATA/admin.token (its path into path): a new file, never
 * one left there (whose mode it would keep) nor a link (that would write
 * the token where the link points).  0, or -1 (logged). */
static int write_token_file(const char *data_directory, const char *token, char path[TOKEN_PATH_BYTES]) {
    snprintf(path, TOKEN_PATH_BYTES, "%s/admin.token", data_directory);
    if (unlink(path) != 0 && errno != ENOENT) {
        log_error("cannot replace the admin token file", "path=%s error=\"%s\"", LOG_VALUE(path), strerror(errno));
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    /* Owned as the directory is, as --restore writes its copy: a root
     * shell resetting the token of a service user's daemon (after
     * systemctl stop) must not leave a file that user cannot read. */
    struct stat directory;
    if (fd >= 0 && getuid() == 0 && (stat(data_directory, &directory) != 0 ||
                                     fchown(fd, directory.st_uid, directory.st_gid) != 0)) {
        log_error("cannot give the admin token file the data directory's owner", "path=%s error=\"%s\"",
                  LOG_VALUE(path), strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    if (fd < 0 || write(fd, token, strlen(token)) != (ssize_t)strlen(token) || write(fd, "\n", 1) != 1 ||
        fsync(fd) != 0) {
        log_error("cannot write the admin token", "path=%s error=\"%s\"", LOG_VALUE(path), strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int agents_bootstrap(const char *data_directory) {
    static const char count_sql[] = "SELECT count(*) FROM agents";
    struct call call = {.who = {.internal = 1}, .actor = "redress"};
    struct store_stmt *statement = store_statement(count_sql);
    int found = call_row(&call, statement);
    if (found != 1) {
        if (found == 0) call_fail(&call, CALL_ERR, "store: no count of agents");
        log_error("cannot count the agents", "error=\"%s\"", LOG_ESC(call.message));
        return -1;
    }
    long long count = store_column_int64(statement, 0);
    store_reset(statement);
    if (count != 0) return 0;
    char token[AGENTS_TOKEN_HEX + 1], path[TOKEN_PATH_BYTES], error[256];
    if (new_token(token) != 0) {
        log_error("cannot make the admin token: no random bytes", NULL);
        return -1;
    }
    if (write_token_file(data_directory, token, path) != 0) return -1;
    if (insert_agent("admin", 5, ROLE_ADMIN, "", 0, token) != 0) {
        log_error("cannot create the admin agent", "error=\"%s\"", LOG_ESC(store_error()));
        return -1;
    }
    if (store_batch_commit(error, sizeof error) != 0) {
        log_error("cannot create the admin agent", "error=\"%s\"", LOG_ESC(error));
        return -1;
    }
    log_info("first start: agent admin created, its token is in the data directory", "path=%s", LOG_VALUE(path));
    return 0;
}


int agents_authenticate(struct call *call, const char *name, size_t name_len, const char *token, size_t token_len,
                        struct agent_identity *out) {
    unsigned char given[HASH_BYTES], stored[HASH_BYTES];
    memset(stored, 0, sizeof stored);
    int found = 0;
    out->known = 0;
    out->role = 0;
    out->queues[0] = '\0';
    static const char sql[] = "SELECT token_hash, role, queues, disabled FROM agents WHERE name = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_text(statement, 1, name, (int)name_len, STORE_STATIC);
    int row = call_row(call, statement);
    if (row < 0) return -1;
    if (row == 1) {
        out->known = 1;
        if (store_column_int64(statement, 3) == 0 && store_column_bytes(statement, 0) == HASH_BYTES) {
            memcpy(stored, store_column_blob(statement, 0), HASH_BYTES);
            const char *queues = (const char *)store_column_text(statement, 2);
            out->role = agents_column_role(statement, 1);
            snprintf(out->queues, sizeof out->queues, "%s", queues ? queues : "");
            found = 1;
        }
        store_reset(statement);
    }
    /* Hash and compare even for an unknown agent: the same work either way. */
    int match = sha256(token, token_len, given) == 0 && CRYPTO_memcmp(given, stored, HASH_BYTES) == 0;
    if (!found || !match) return call_fail(call, CALL_NOAUTH, "invalid agent or token");
    return 0;
}

int agents_authenticate_token(struct call *call, const char *token, size_t token_len, char *name, size_t name_size,
                              struct agent_identity *out) {
    unsigned char given[HASH_BYTES];
    out->known = 0;
    out->role = 0;
    out->queues[0] = '\0';
    name[0] = '\0';
    if (token_len != AGENTS_TOKEN_HEX || sha256(token, token_len, given) != 0)
        return call_fail(call, CALL_NOAUTH, "invalid token");
    static const char sql[] = "SELECT name, role, queues FROM agents WHERE token_hash = ?1 AND disabled = 0";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_blob(statement, 1, given, HASH_BYTES, STORE_STATIC);
    int row = call_row(call, statement);
    if (row < 0) return -1;
    if (row == 0) return call_fail(call, CALL_NOAUTH, "invalid token");
    const char *found = (const char *)store_column_text(statement, 0);
    const char *queues = (const char *)store_column_text(statement, 2);
    snprintf(name, name_size, "%s", found ? found : "");
    out->role = agents_column_role(statement, 1);
    snprintf(out->queues, sizeof out->queues, "%s", queues ? queues : "");
    store_reset(statement);
    if (name[0] == '\0' || out->role == 0) return call_fail(call, CALL_NOAUTH, "invalid token");
    return 0;
}

/* Each a queue the running rule set's vocabulary names: a typo would
 * otherwise give an agent a queue no case is ever in. */
static int check_queues(struct call *call, const char *queues, size_t queues_len) {
    for (size_t start = 0, end; queues_len > 0 && start <= queues_len; start = end + 1) {
        for (end = start; end < queues_len && queues[end] != ','; end++) continue;
        char why[RULES_VOCABULARY_ERROR_MAX];
        if (rules_check_name(RULES_QUEUE, queues + start, end - start, why, sizeof why) != 0)
            return call_fail(call, CALL_INVALID, "QUEUES is a comma-separated list of queues: %s", why);
    }
    return 0;
}

/* The actors the host writes in events for its own work (`call.actor`
 * where it acts by itself: intake's triage, timers, retention, replay, the
 * HTTP front, a customer's survey answer ...), the plugins' identities
 * ("plugin:NAME", plugin/case_api.c) and the running rule set's refund
 * automation actor.  An agent by one of these names, in any case, could
 * not be told apart from the engine in CASE.HISTORY. */
static const char *const host_actors[] = {"customer", "decisions", "figures", "http",  "intake", "nodes", "redress",
                                          "replay",   "retention", "rules",   "search", "stats", "timer"};
/* The families of actors: a plugin's identity (plugin:NAME) and a refund
 * executor's (executor:NAME, refund_exec.c: executor:outbox by default). */
static const char *const host_actor_prefixes[] = {"plugin:", "executor:"};

static int reserved_name(const char *name, size_t name_len) {
    for (size_t i = 0; i < sizeof host_actors / sizeof host_actors[0]; i++)
        if (strlen(host_actors[i]) == name_len && strncasecmp(name, host_actors[i], name_len) == 0) return 1;
    for (size_t i = 0; i < sizeof host_actor_prefixes / sizeof host_actor_prefixes[0]; i++) {
        size_t prefix = strlen(host_actor_prefixes[i]);
        if (name_len >= prefix && strncasecmp(name, host_actor_prefixes[i], prefix) == 0) return 1;
    }
    const char *automation = rules_refund_system_actor();
    return automation && strlen(automation) == name_len && strncasecmp(name, automation, name_len) == 0;
}

void agents_warn_reserved(void) {
    static const char sql[] = "SELECT name FROM agents ORDER BY name";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return;
    int rc;
    while ((rc = store_step(statement)) == STORE_ROW) {
        const char *name = (const char *)store_column_text(statement, 0);
        if (name && reserved_name(name, strlen(name)))
            log_warn("an agent's name is one the host writes as the actor of its own work: histories cannot tell "
                     "them apart; add the person under another name and disable this one",
                     "agent=%s", LOG_VALUE(name));
    }
    store_reset(statement);
    if (rc != STORE_DONE) log_error("agents' names not checked", "error=\"%s\"", LOG_ESC(store_error()));
}

/* One person, one name: an agent whose name differs from another's only by
 * case (Admin beside admin) would be read as the same in every history.
 * 0 none, 1 found (CONFLICT in the call), -1 a store error. */
static int name_taken(struct call *call, const char *name, size_t name_len) {
    static const char sql[] = "SELECT name FROM agents WHERE lower(name) = lower(?1) LIMIT 1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_text(statement, 1, name, (int)name_len, STORE_STATIC);
    int found = call_row(call, statement);
    if (found <= 0) return found;
    char existing[NAMES_MAX + 1];
    snprintf(existing, sizeof existing, "%s", (const char *)store_column_text(statement, 0));
    store_reset(statement);
    if (strlen(existing) == name_len && memcmp(existing, name, name_len) == 0)
        call_fail(call, CALL_CONFLICT, "agent '%.*s' exists", (int)name_len, name);
    else
        call_fail(call, CALL_CONFLICT, "agent '%.*s' differs only by case from agent '%s': one person, one name",
                  (int)name_len, name, existing);
    return 1;
}

int agents_add(struct call *call, const char *name, size_t name_len, unsigned role, const char *queues,
               size_t queues_len, char token[AGENTS_TOKEN_HEX + 1]) {
    if (reserved_name(name, name_len))
        return call_fail(call, CALL_INVALID,
                         "agent name '%.*s' is reserved: the host writes it as the actor of its own work "
                         "(reserved: customer decisions figures http intake nodes redress replay retention rules "
                         "search stats timer, plugin:*, executor:*, and the rule set's refund_automation actor)",
                         (int)name_len, name);
    if (name_taken(call, name, name_len) != 0) return -1;
    if (check_queues(call, queues, queues_len) != 0) return -1;
    if (new_token(token) != 0) return call_fail(call, CALL_ERR, "no random bytes for a token");
    int status = insert_agent(name, name_len, role, queues, queues_len, token);
    if (status < 0) return call_store_error(call);
    if (status > 0) return call_fail(call, CALL_CONFLICT, "agent '%.*s' exists", (int)name_len, name);
    /* Told as a change: every node then knows its token's hash, and sees a
     * rotation it did not hear of (recheck_access). */
    return agents_access_changed(call, name, name_len, 0);
}

long long agents_list(struct call *call, void (*visit)(void *context, const struct agent_row *row), void *context) {
    static const char sql[] =
        "SELECT name, role, queues, disabled, created_at, presence, coalesce(CAST(capacity AS TEXT), ''), load, skills"
        " FROM agents ORDER BY name";
    struct store_stmt *statement = store_statement(sql);
    long long count = 0;
    int row;
    while ((row = call_row(call, statement)) == 1) {
        const struct agent_row agent = {
            (const char *)store_column_text(statement, 0), (const char *)store_column_text(statement, 1),
            (const char *)store_column_text(statement, 2), (const char *)store_column_text(statement, 3),
            (const char *)store_column_text(statement, 4), (const char *)store_column_text(statement, 5),
            (const char *)store_column_text(statement, 6), (const char *)store_column_text(statement, 7),
            (const char *)store_column_text(statement, 8),
        };
        visit(context, &agent);
        count++;
    }
    return row < 0 ? -1 : count;
}



/* After commit: whoever listens (the connections) hears of it. */
static void disabled_after_commit(void *argument, int committed) {
    char *name = argument;
    if (committed) agents_tell_disabled(name);
    free(name);
}


/* After a write that may have taken away name's admin rights (a role
 * change, a disable): CONFLICT if no enabled admin is left -- only an admin
 * may add, enable or promote agents, and only an empty store makes one
 * (agents_bootstrap), so nothing could ever bring one back.  The caller
 * fails and its savepoint takes the write back.  The count is read after
 * the write: on PostgreSQL the write took the agents' turn (migration 31's
 * trigger), held to COMMIT, and a statement's snapshot starts after it, so
 * two nodes demoting the last two admins at once see each other's write. */
static int keep_an_admin(struct call *call, const char *verb, const char *name, size_t name_len) {
    static const char sql[] = "SELECT count(*) FROM agents WHERE role = 'admin' AND disabled = 0";
    struct store_stmt *statement = store_statement(sql);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    if (found == 0) return call_fail(call, CALL_ERR, "store: no count of admins");
    long long admins = store_column_int64(statement, 0);
    store_reset(statement);
    if (admins > 0) return 0;
    return call_fail(call, CALL_CONFLICT, "cannot %s the last enabled admin '%.*s'", verb,
                     (int)(name_len > NAME_SHOWN ? NAME_SHOWN : name_len), name);
}

int agents_disable(struct call *call, const char *name, size_t name_len) {
    /* The role as committed (under the agents' turn): only an admin's
     * disable can leave no admin. */
    if (agents_take_turn(call) != 0) return -1;
    static const char role_sql[] = "SELECT role FROM agents WHERE name = ?1 AND disabled = 0";
    struct store_stmt *read = store_statement(role_sql);
    if (read) store_bind_text(read, 1, name, (int)name_len, STORE_STATIC);
    int found = call_row(call, read);
    if (found < 0) return -1;
    unsigned old_role = 0;
    if (found > 0) {
        old_role = agents_column_role(read, 0);
        store_reset(read);
    }
    static const char sql[] = "UPDATE agents SET disabled = 1 WHERE name = ?1 AND disabled = 0";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_text(statement, 1, name, (int)name_len, STORE_STATIC);
    if (call_step(call, statement) != 0) return -1;
    if (store_changes() == 0)
        return call_fail(call, CALL_NOTFOUND, "no enabled agent '%.*s'", (int)(name_len > NAME_SHOWN ? NAME_SHOWN : name_len),
                         name);
    if (old_role == ROLE_ADMIN && keep_an_admin(call, "disable", name, name_len) != 0) return -1;
    if (agents_access_changed(call, name, name_len, 1) != 0) return -1;
    char *copy = strndup(name, name_len);
    if (copy == NULL || store_after_command(disabled_after_commit, copy) != 0) {
        free(copy);
        return call_fail(call, CALL_ERR, "out of memory");
    }
    return agents_roster_changed(call);
}

/* ------------------------------------------------ enable, rotate, set */

static int not_found(struct call *call, const char *adjective, const char *name, size_t name_len) {
    return call_fail(call, CALL_NOTFOUND, "no %sagent '%.*s'", adjective,
                     (int)(name_len > NAME_SHOWN ? NAME_SHOWN : name_len), name);
}

int agents_enable(struct call *call, const char *name, size_t name_len) {
    static const char sql[] = "UPDATE agents SET disabled = 0 WHERE name = ?1 AND disabled = 1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_text(statement, 1, name, (int)name_len, STORE_STATIC);
    if (call_step(call, statement) != 0) return -1;
    if (store_changes() == 0) return not_found(call, "disabled ", name, name_len);
    return agents_roster_changed(call);
}

int agents_rotate(struct call *call, const char *name, size_t name_len, char token[AGENTS_TOKEN_HEX + 1]) {
    unsigned char hash[HASH_BYTES];
    if (new_token(token) != 0 || sha256(token, strlen(token), hash) != 0)
        return call_fail(call, CALL_ERR, "no random bytes for a token");
    static const char sql[] = "UPDATE agents SET token_hash = ?2 WHERE name = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_text(statement, 1, name, (int)name_len, STORE_STATIC);
        store_bind_blob(statement, 2, hash, sizeof hash, STORE_TRANSIENT);
    }
    if (call_step(call, statement) != 0) return -1;
    if (store_changes() == 0) return not_found(call, "", name, name_len);
    /* The old token stops at once: whoever authenticated with it is a
     * stranger again once the new hash is on disk. */
    if (agents_access_changed(call, name, name_len, 1) != 0) return -1;
    char *copy = strndup(name, name_len);
    if (copy == NULL || store_after_command(disabled_after_commit, copy) != 0) {
        free(copy);
        return call_fail(call, CALL_ERR, "out of memory");
    }
    return 0;
}

int agents_reset_admin(const char *data_directory) {
    struct call call = {.who = {.internal = 1}, .actor = "redress"};
    char token[AGENTS_TOKEN_HEX + 1], path[TOKEN_PATH_BYTES], error[256];
    unsigned char hash[HASH_BYTES];
    if (new_token(token) != 0 || sha256(token, strlen(token), hash) != 0) {
        log_error("cannot make the admin token: no random bytes", NULL);
        return -1;
    }
    /* The agent named admin, whatever was done to it since (its token
     * rotated, the agent disabled or given another role): an enabled
     * admin again, with a token only this file holds. */
    static const char sql[] = "UPDATE agents SET token_hash = ?1, role = 'admin', disabled = 0 WHERE name = 'admin'";
    /* One command of a batch, as a client's: the note to the other nodes
     * goes out just before its COMMIT. */
    if (store_command_begin() != 0) {
        log_error("cannot reset the admin token", "error=\"%s\"", LOG_ESC(store_error()));
        return -1;
    }
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_blob(statement, 1, hash, sizeof hash, STORE_TRANSIENT);
    int status = call_step(&call, statement);
    if (status == 0 && store_changes() == 0 && insert_agent("admin", 5, ROLE_ADMIN, "", 0, token) != 0)
        status = call_fail(&call, CALL_ERR, "%s", store_error());
    /* Its connections and sessions elsewhere (other nodes of the database)
     * end: the reset is for a token that is lost, maybe to someone else. */
    if (status == 0) status = agents_access_changed(&call, "admin", 5, 1);
    if (store_command_end(status == 0) != 0 && status == 0) status = call_fail(&call, CALL_ERR, "%s", store_error());
    if (status != 0) {
        log_error("cannot reset the admin token", "error=\"%s\"", LOG_ESC(call.message));
        return -1;
    }
    if (store_batch_commit(error, sizeof error) != 0) {
        log_error("cannot reset the admin token", "error=\"%s\"", LOG_ESC(error));
        return -1;
    }
    /* After the commit: the file never names a token the store lacks. */
    if (write_token_file(data_directory, token, path) != 0) return -1;
    log_info("admin token reset: agent admin is an enabled admin, its new token is in the data directory",
             "path=%s", LOG_VALUE(path));
    return 0;
}


/* After commit: the agent's connections act with the new role and queues.
 * "name\0role\0queues\0" after the role number. */
struct agent_change {
    unsigned role;
    size_t queues_at;
    char text[];
};

static void changed_after_commit(void *argument, int committed) {
    struct agent_change *change = argument;
    if (committed) agents_tell_changed(change->text, change->role, change->text + change->queues_at);
    free(change);
}

/* Each a name (lib/names), at most AGENTS_SKILLS_BYTES in all. */
static int check_skills(struct call *call, const char *skills, size_t skills_len) {
    if (skills_len >= AGENTS_SKILLS_BYTES)
        return call_fail(call, CALL_INVALID, "SKILLS is too long (at most %d bytes)", AGENTS_SKILLS_BYTES - 1);
    for (size_t start = 0, end; skills_len > 0 && start <= skills_len; start = end + 1) {
        for (end = start; end < skills_len && skills[end] != ','; end++) continue;
        if (!names_valid(skills + start, end - start))
            return call_fail(call, CALL_INVALID, "SKILLS is a comma-separated list of names (1 to %d of A-Z a-z 0-9 "
                             "_ - . : @): '%.*s' is not one", NAMES_MAX, (int)(end - start > 64 ? 64 : end - start),
                             skills + start);
    }
    return 0;
}

int agents_set(struct call *call, const char *name, size_t name_len, unsigned role, const char *queues,
               size_t queues_len, const char *skills, size_t skills_len) {
    if (queues && check_queues(call, queues, queues_len) != 0) return -1;
    if (skills && check_skills(call, skills, skills_len) != 0) return -1;
    /* The row is read under the agents' turn: another node's change of it,
     * or of another admin, is committed before this one decides. */
    if (agents_take_turn(call) != 0) return -1;
    static const char read_sql[] = "SELECT role, queues, skills FROM agents WHERE name = ?1";
    struct store_stmt *statement = store_statement(read_sql);
    if (statement) store_bind_text(statement, 1, name, (int)name_len, STORE_STATIC);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    if (found == 0) return not_found(call, "", name, name_len);
    const char *current = (const char *)store_column_text(statement, 1);
    unsigned old_role = agents_column_role(statement, 0);
    const char *current_skills = (const char *)store_column_text(statement, 2);
    char old_queues[AGENTS_QUEUES_BYTES], old_skills[AGENTS_SKILLS_BYTES];
    snprintf(old_queues, sizeof old_queues, "%s", current ? current : "");
    snprintf(old_skills, sizeof old_skills, "%s", current_skills ? current_skills : "");
    store_reset(statement);
    unsigned new_role = role ? role : old_role;
    if (queues == NULL) {
        queues = old_queues;
        queues_len = strlen(old_queues);
    }
    if (skills == NULL) {
        skills = old_skills;
        skills_len = strlen(old_skills);
    }
    if (new_role == old_role && strlen(old_queues) == queues_len && memcmp(old_queues, queues, queues_len) == 0 &&
        strlen(old_skills) == skills_len && memcmp(old_skills, skills, skills_len) == 0)
        return 1; /* unchanged: nothing written */
    static const char sql[] = "UPDATE agents SET role = ?2, queues = ?3, skills = ?4 WHERE name = ?1";
    statement = store_statement(sql);
    if (statement) {
        store_bind_text(statement, 1, name, (int)name_len, STORE_STATIC);
        store_bind_text(statement, 2, agents_role_name(new_role), -1, STORE_STATIC);
        store_bind_text(statement, 3, queues, (int)queues_len, STORE_TRANSIENT);
        store_bind_text(statement, 4, skills, (int)skills_len, STORE_TRANSIENT);
    }
    if (call_step(call, statement) != 0) return -1;
    if (old_role == ROLE_ADMIN && new_role != ROLE_ADMIN && keep_an_admin(call, "demote", name, name_len) != 0)
        return -1;
    if (agents_roster_changed(call) != 0 || agents_access_changed(call, name, name_len, 0) != 0) return -1;
    struct agent_change *change = malloc(sizeof *change + name_len + queues_len + 2);
    if (change == NULL) return call_fail(call, CALL_ERR, "out of memory");
    change->role = new_role;
    change->queues_at = name_len + 1;
    memcpy(change->text, name, name_len);
    change->text[name_len] = '\0';
    memcpy(change->text + change->queues_at, queues, queues_len);
    change->text[change->queues_at + queues_len] = '\0';
    if (store_after_command(changed_after_commit, change) != 0) {
        free(change);
        return call_fail(call, CALL_ERR, "out of memory");
    }
    return 0;
}


/* ------------------------------------------------------- the admin log */

#define AUDIT_TEXT_MAX 1400   /* who, what, target and detail, quoted */

static void audit_after_commit(void *argument, int committed) {
    char *line = argument;
    if (committed) log_info("admin action", "%s", line);
    free(line);
}

int agents_audit(struct call *call, const char *what, const char *target, size_t target_len, const char *detail) {
    char who[160], shown[300], line[AUDIT_TEXT_MAX];
    char target_text[CASE_NAME_SHOWN_MAX];
    snprintf(target_text, sizeof target_text, "%.*s", (int)(target_len > NAME_SHOWN ? NAME_SHOWN : target_len),
             target);
    log_quote(call->who.agent ? call->who.agent : call->actor ? call->actor : "redress", who, sizeof who);
    log_quote(target_text, shown, sizeof shown);
    snprintf(line, sizeof line, "who=%s what=%s target=%s%s%s", who, what, shown, detail && detail[0] ? " " : "",
             detail ? detail : "");
    char *copy = strdup(line);
    if (copy == NULL || store_after_command(audit_after_commit, copy) != 0) {
        free(copy);
        return call_fail(call, CALL_ERR, "out of memory");
    }
    return 0;
}
