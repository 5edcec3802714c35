"""PostgreSQL's own failover under redressd (issue 19): a primary and its synchronous streaming
replica on localhost, the daemon on a libpq multi-host URL (target_session_attrs=read-write);
the primary crashes (stop -m immediate) and the replica is promoted while clients pipeline
CASE.OPEN.  The daemon reconnects to the new primary and writes flow again; every write it
acknowledged is on the new primary exactly once, with the id it answered; a write that failed
answered an error (never a dropped connection) and, sent again with its external_id, lands
once.  The servers are the test's own (postgres.py's standby fixture, checked on its own by
test_postgres_replica.py), not the run's.

STORES = ("postgresql",): it runs in the PostgreSQL pass of `make test` and in `make test-pg`.
Waits poll what the daemon answers, with a deadline.
"""
import threading
import time

from harness import Daemon, RespError
from postgres import Postgres, multi_host_url

STORES = ("postgresql",)
STORES_REASON = "redressd on a PostgreSQL primary and its replica"
TIMEOUT = 300
WINDOW = 16
# Acknowledged writes to see before the crash and again after the promotion.
BEFORE, AFTER = 300, 300
# The promotion, the daemon's reconnect with its backoff: seconds, not minutes.
RECOVER_S = 60


def writer(d, n, acked, failed, broken, stop):
    """Pipelines windows of CASE.OPEN, each with an external_id, until stop; records what came back
    (a connection the daemon dropped or left unanswered goes to broken, for the test to fail on)."""
    try:
        c = d.client(timeout=RECOVER_S)
        sent = 0
        while not stop.is_set():
            batch = [("CASE.OPEN", "customer", "C-%d" % n, "subject", "failover %d/%d" % (n, sent + i),
                      "external_id", "fo-%d-%d" % (n, sent + i)) for i in range(WINDOW)]
            for i, reply in enumerate(c.pipeline(batch)):
                ext = "fo-%d-%d" % (n, sent + i)
                if isinstance(reply, int):
                    acked[ext] = reply
                else:
                    failed[ext] = reply
            sent += WINDOW
        c.close()
    except Exception as e:  # ConnectionClosed, a timeout: the test says so below
        broken.append("writer %d: %r" % (n, e))


def wait_until(condition, what):
    deadline = time.monotonic() + RECOVER_S
    while not condition():
        assert time.monotonic() < deadline, "%s: not within %d s" % (what, RECOVER_S)
        time.sleep(0.02)


def test_promoting_the_synchronous_replica_under_load_keeps_every_acknowledged_write():
    with Postgres(name="primary", max_connections=50) as primary, \
            primary.standby("replica1", synchronous=True) as replica:
        url = multi_host_url([primary, replica], database=primary.database)
        with Daemon(postgresql_url=url) as d:
            acked, failed, broken, stop = {}, {}, [], threading.Event()
            threads = [threading.Thread(target=writer, args=(d, n, acked, failed, broken, stop)) for n in range(3)]
            for t in threads:
                t.start()
            try:
                wait_until(lambda: len(acked) >= BEFORE or broken, "writes before the crash")
                assert not broken, broken
                primary.stop("immediate")
                replica.promote()
                after = len(acked)
                wait_until(lambda: len(acked) >= after + AFTER or broken, "writes on the promoted replica")
            finally:
                stop.set()
                for t in threads:
                    t.join()
            assert not broken, "the daemon dropped or stalled a client through the failover: %s" % broken
            # Every failure was an answer with its reason, not silence.
            for ext, reply in failed.items():
                assert isinstance(reply, RespError) and reply.code, (ext, reply)
            rows = replica.psql("SELECT external_id, id FROM cases WHERE external_id LIKE 'fo-%'")
            on_disk = {}
            for line in rows.splitlines():
                ext, cid = line.split("|")
                assert ext not in on_disk, "%s twice" % ext
                on_disk[ext] = int(cid)
            lost = [ext for ext in acked if on_disk.get(ext) != acked[ext]]
            assert not lost, "%d of %d acknowledged writes missing or with another id: %s" % (
                len(lost), len(acked), [(e, acked[e], on_disk.get(e)) for e in lost[:5]])
            # A write that failed is there at most once; sent again, it lands once, with the first's id.
            c = d.client()
            for ext in sorted(failed):
                n, k = ext.split("-")[1:]
                again = c.call("CASE.OPEN", "customer", "C-%s" % n, "subject", "failover %s/%s" % (n, k),
                               "external_id", ext)
                assert isinstance(again, int), (ext, again)
                assert on_disk.get(ext) in (None, again), (ext, on_disk.get(ext), again)
            assert replica.psql("SELECT count(*) FROM cases WHERE external_id LIKE 'fo-%'") == \
                str(len(set(acked) | set(failed)))
