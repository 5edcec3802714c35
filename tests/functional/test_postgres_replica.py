"""The primary-and-replica fixture of postgres.py, checked with psql before redressd uses it.

issue 19's failover test runs redressd on a libpq multi-host URL over a
primary and its streaming replica, promotes the replica under load and
counts every acknowledged write afterwards.  That test can only be as good
as its fixture; these check the fixture on its own: a standby taken with
pg_basebackup -R streams what the primary commits; with synchronous
replication the primary reports it `sync`; after the primary crashes
(stop -m immediate) the promoted standby has every committed row and takes
writes; and a multi-host URL with target_session_attrs=read-write reaches
whichever server is the primary now, skipping a read-only standby listed
first.  Waits poll the servers' own state with a deadline (Postgres.wait_for).

ONCE: no daemon here, nothing that depends on the build under test.
"""
from postgres import Postgres, multi_host_url

ONCE = True
TIMEOUT = 240


def test_a_row_written_on_the_primary_is_read_on_the_streaming_replica():
    with Postgres(name="primary") as primary, primary.standby("replica1") as replica:
        assert replica.in_recovery() and not primary.in_recovery()
        primary.psql("CREATE TABLE t (id int PRIMARY KEY, word text)")
        primary.psql("INSERT INTO t VALUES (1, 'shipped')")
        # Asynchronous: the replica shows it once it replayed that far.
        replica.wait_for("SELECT word FROM t WHERE id = 1", "shipped", what="the row on the replica")
        # A standby is read-only: the write is refused, not lost somewhere.
        try:
            replica.psql("INSERT INTO t VALUES (2, 'nowhere')")
        except RuntimeError as e:
            assert "read-only transaction" in str(e), e
        else:
            raise AssertionError("a standby took a write")
        assert primary.psql("SELECT count(*) FROM t") == "1"


def test_promoted_synchronous_replica_keeps_every_commit_and_takes_writes():
    with Postgres(name="primary") as primary, primary.standby("replica1", synchronous=True) as replica:
        assert primary.psql("SHOW synchronous_standby_names", database="postgres") == "replica1"
        primary.psql("CREATE TABLE t (id int PRIMARY KEY)")
        # Each psql is one acknowledged COMMIT: with the standby synchronous, each is flushed there.
        for i in range(1, 51):
            primary.psql("INSERT INTO t VALUES (%d)" % i)
        primary.stop("immediate")  # a crash: no shutdown checkpoint, no last words to the standby
        replica.promote()
        assert not replica.in_recovery()
        assert replica.psql("SELECT count(*), min(id), max(id) FROM t") == "50|1|50"
        replica.psql("INSERT INTO t VALUES (51)")
        assert replica.psql("SELECT count(*) FROM t") == "51"
        # The old primary down, listed first: libpq goes on to the next host, the new primary.
        url = multi_host_url([primary, replica], database=primary.database)
        assert replica.psql("SELECT pg_is_in_recovery(), count(*) FROM t", url=url) == "f|51"
        assert replica.psql("SELECT current_setting('port')", url=url) == str(replica.port)


def test_a_multi_host_url_for_read_write_skips_a_standby_listed_first():
    with Postgres(name="primary") as primary, primary.standby("replica1") as replica:
        url = multi_host_url([replica, primary], database=primary.database)
        # Both servers are up and accept the connection: read-write picks the one out of recovery.
        assert primary.psql("SELECT current_setting('port'), pg_is_in_recovery()", url=url) == \
            "%d|f" % primary.port
        primary.psql("CREATE TABLE t (id int)", url=url)
        primary.psql("INSERT INTO t VALUES (7)", url=url)
        replica.wait_for("SELECT count(*) FROM t", "1", what="the write through the URL, replayed")
        # Without the attribute libpq keeps the first host that answers: the standby.
        plain = multi_host_url([replica, primary], database=primary.database, attrs="any")
        assert primary.psql("SELECT pg_is_in_recovery()", url=plain) == "t"
