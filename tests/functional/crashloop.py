"""crashloop.py -- rounds of kill -9 under pipelined mixed load (used by
test_crash_loop.py for a few rounds, and by tests/bench/crashloop.py for 100).

Each round starts the daemon on the same data directory, runs clients that
pipeline windows of mixed writes -- CASE.OPEN with an external_id,
REFUND.REQUEST with an idempotency KEY, CASE.NOTE with a unique text -- kills
the daemon with SIGKILL once enough replies came back, restarts it, and
checks:
  - PRAGMA integrity_check is ok (on SQLite: PostgreSQL has no such check);
  - every acknowledged write is there exactly once (one case per external_id,
    one refund per key, one note per text); a write never acknowledged is
    there at most once;
  - resending every unacknowledged idempotent write (as a client would after
    a lost connection) creates no duplicate: the case and refund come back
    with the ids of the first (or are created now, once).

The database is read through the harness (store_rows), on the store the run
is on: a few grouped reads a check, matched here key by key.
"""
import signal
import threading

from harness import STORE, ConnectionClosed, Daemon, RespError, as_map, store_rows, store_value

WINDOW = 16


class Round:
    def __init__(self, number, clients):
        self.number = number
        self.clients = clients
        self.acked = {"case": {}, "refund": {}, "note": set()}    # key -> id (notes: their texts)
        self.sent = {"case": set(), "refund": set(), "note": set()}
        self.lock = threading.Lock()
        self.replies = 0


def client_load(d, r, n, enough, limit):
    """One client: windows of CASE.OPEN / REFUND.REQUEST / CASE.NOTE until the daemon dies."""
    try:
        c = d.client(timeout=30)
    except OSError:
        return
    own = []          # (case id, external id) acknowledged to this client
    i = 0
    try:
        while i < limit:
            batch, what = [], []
            for _ in range(WINDOW):
                ext = "r%d-c%d-%d" % (r.number, n, i)
                kind = i % 3 if own else 0
                if kind == 0:
                    batch.append(["CASE.OPEN", "customer", "K-%d" % n, "subject", "crash load %s" % ext,
                                  "order", "O-" + ext, "amount", "10.00", "external_id", ext])
                    what.append(("case", ext))
                elif kind == 1:
                    case_id, case_ext = own[(i // 3) % len(own)]
                    key = "key-%s-%d" % (case_ext, i)
                    batch.append(["REFUND.REQUEST", case_id, "0.01", "refund_only", "KEY", key])
                    what.append(("refund", (key, case_id)))
                else:
                    case_id, _ = own[(i // 3) % len(own)]
                    text = "note %s end" % ext  # "end": no text is the start of another
                    batch.append(["CASE.NOTE", case_id, text])
                    what.append(("note", text))
                i += 1
            with r.lock:
                for kind, key in what:
                    r.sent[kind].add(key)
            c.sock.sendall(b"".join(c.encode(*cmd) for cmd in batch))
            for kind, key in what:
                reply = c.read_reply()
                with r.lock:
                    r.replies += 1
                    if isinstance(reply, RespError):
                        continue
                    if kind == "case":
                        r.acked["case"][key] = reply
                        own.append((reply, key))
                    elif kind == "refund":
                        r.acked["refund"][key] = int(as_map(reply)["id"])
                    else:
                        r.acked["note"].add(key)
                if r.replies >= r.clients * WINDOW * 4:
                    enough.set()
    except (ConnectionClosed, ConnectionResetError, BrokenPipeError, OSError):
        pass


def ids_by(d, sql):
    """key -> [(id,), ...] from rows of (key, id): what `SELECT id ... WHERE key = ?` gives, for every key."""
    found = {}
    for key, row_id in store_rows(d, sql):
        found.setdefault(key, []).append((row_id,))
    return found


def cases_by_external_id(d):
    return ids_by(d, "SELECT external_id, id FROM cases WHERE external_id IS NOT NULL ORDER BY id")


def refunds_by_key(d):
    return ids_by(d, "SELECT idempotency_key, id FROM refunds WHERE idempotency_key IS NOT NULL ORDER BY id")


def check(d, r):
    if STORE == "sqlite":
        assert store_value(d, "PRAGMA integrity_check") == "ok"
    cases, refunds = cases_by_external_id(d), refunds_by_key(d)
    # A note's text is in its event's detail (as SQLite's LIKE '%text%' matched it: ASCII case aside).
    notes = [detail.lower() for detail, in store_rows(d, "SELECT detail FROM events WHERE kind = 'note'")]
    for ext in r.sent["case"]:
        rows = cases.get(ext, [])
        if ext in r.acked["case"]:
            assert rows == [(r.acked["case"][ext],)], (ext, rows, r.acked["case"][ext])
        assert len(rows) <= 1, (ext, rows)
    for key, case_id in r.sent["refund"]:
        rows = refunds.get(key, [])
        if (key, case_id) in r.acked["refund"]:
            assert rows == [(r.acked["refund"][(key, case_id)],)], (key, rows)
        assert len(rows) <= 1, (key, rows)
    for text in r.sent["note"]:
        count = sum(1 for detail in notes if text.lower() in detail)
        assert count == 1 if text in r.acked["note"] else count <= 1, (text, count)


def resend(d, r):
    """The unacknowledged idempotent writes, again: each lands once, with the first's id if it was written.
    What was there before is read once for all: a resend writes only its own key's row."""
    c = d.client(timeout=30)
    cases, refunds = cases_by_external_id(d), refunds_by_key(d)
    try:
        for ext in sorted(r.sent["case"] - set(r.acked["case"])):
            before = cases.get(ext, [])
            n = ext.split("-")[1][1:]                     # "r<round>-c<client>-<i>": the same contact again
            got = c.call("CASE.OPEN", "customer", "K-%s" % n, "subject", "crash load %s" % ext, "order", "O-" + ext,
                         "amount", "10.00", "external_id", ext)
            assert isinstance(got, int), got
            assert before in ([], [(got,)]), (ext, before, got)
        for key, case_id in sorted(r.sent["refund"] - set(r.acked["refund"])):
            before = refunds.get(key, [])
            got = c.call("REFUND.REQUEST", case_id, "0.01", "refund_only", "KEY", key)
            if isinstance(got, RespError):
                # its case was never written (it was not acknowledged either)
                assert got.code == "NOTFOUND" and before == [], (key, got, before)
                continue
            assert before in ([], [(int(as_map(got)["id"]),)]), (key, before, got)
        cases = cases_by_external_id(d)
        for ext in r.sent["case"]:
            assert len(cases.get(ext, [])) == 1
    finally:
        c.close()


def run(binary=None, rounds=100, clients=4, log=None):
    """Runs the rounds on one data directory; raises AssertionError on the first violation."""
    d = Daemon(**({"binary": binary} if binary else {}))
    try:
        for number in range(rounds):
            d.log_lines = []
            d.start()
            r = Round(number, clients)
            enough = threading.Event()
            threads = [threading.Thread(target=client_load, args=(d, r, n, enough, 100000)) for n in range(clients)]
            for t in threads:
                t.start()
            enough.wait(60)
            d.proc.send_signal(signal.SIGKILL)
            for t in threads:
                t.join(60)
            d.proc.wait(timeout=60)
            d.reader.join(timeout=10)
            d.proc = None
            d.log_lines = []
            d.start()
            check(d, r)
            resend(d, r)
            d.stop()
            if log:
                log("round %d: %d cases, %d refunds, %d notes acknowledged (of %d, %d, %d sent)" % (
                    number + 1, len(r.acked["case"]), len(r.acked["refund"]), len(r.acked["note"]),
                    len(r.sent["case"]), len(r.sent["refund"]), len(r.sent["note"])))
    finally:
        d.__exit__(None, None, None)
