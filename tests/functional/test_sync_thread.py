"""The WAL's fsync on the store's sync thread (sync = full, sync_thread = yes).

A batch's COMMIT writes its WAL frames on the loop; a thread of the store
fsyncs them while the loop goes on with the next batch.  Nothing the world
hears of may run ahead of that fsync: the writer's reply, a read on another
connection that would show the write, the event pushed to a subscriber.  A
failed fsync stops the daemon before any reply of its batch leaves.
DEBUG.STORE SYNC HOLD keeps the thread's next fsync back, so each test sees
the moment between the commit and the fsync without timing anything.
"""
import os
import select
import sqlite3
import signal

from harness import ConnectionClosed, Daemon, RespError, as_map, parse_info

STORES = ("sqlite",)
STORES_REASON = "the SQLite store's WAL: its fsync and checkpoint threads (DEBUG.STORE SYNC, CHECKPOINT-FRAMES)"

SYNC_FAILED_EXIT = 75   # STORE_SYNC_FAILED_EXIT


def store_info(client):
    return parse_info(client.call("INFO", "Store"))


def wait_for_commit(client):
    """Polls DEBUG.STORE SYNC PENDING (real I/O, no sleep; it reads no table,
    so it is never held) until a commit waits for its fsync: the batch's
    replies, if any were to leave early, left in that same turn of the loop."""
    for _ in range(100000):
        if client.call("DEBUG.STORE", "SYNC", "PENDING") > 0:
            return
    raise AssertionError("the batch never committed")


def readable(client):
    return bool(select.select([client.sock], [], [], 0)[0])


def test_a_write_is_answered_only_after_its_fsync():
    with Daemon() as d:
        watcher, writer = d.client(), d.client()
        assert store_info(watcher)["sync_thread"] == "yes"
        assert watcher.call("DEBUG.STORE", "SYNC", "HOLD") == "OK"
        writer.send("CASE.OPEN", "customer", "C-1", "subject", "held by the fsync")
        wait_for_commit(watcher)
        assert watcher.call("PING") == "PONG"          # the loop is free meanwhile
        assert not readable(writer), "the reply left before its fsync"
        assert watcher.call("DEBUG.STORE", "SYNC", "RELEASE") == "OK"
        case_id = writer.read_reply()
        assert isinstance(case_id, int), case_id
        assert as_map(watcher.call("CASE.GET", case_id))["subject"] == "held by the fsync"
        info = store_info(watcher)
        assert int(info["syncs_off_loop"]) >= 1 and float(info["average_sync_ms"]) > 0


def test_a_read_that_would_show_the_write_waits_for_the_fsync_too():
    with Daemon() as d:
        watcher, writer, reader = d.client(), d.client(), d.client()
        assert isinstance(writer.call("CASE.OPEN", "customer", "C-0", "subject", "before"), int)
        watcher.call("DEBUG.STORE", "SYNC", "HOLD")
        writer.send("CASE.OPEN", "customer", "C-1", "subject", "not yet on disk")
        wait_for_commit(watcher)
        reader.send("CASE.GET", "2")
        assert watcher.call("PING") == "PONG"
        assert not readable(reader), "a read showed a write whose fsync had not come"
        watcher.call("DEBUG.STORE", "SYNC", "RELEASE")
        assert writer.read_reply() == 2
        assert as_map(reader.read_reply())["subject"] == "not yet on disk"


def test_subscribers_hear_of_an_event_only_after_its_fsync():
    with Daemon() as d:
        watcher, writer, subscriber = d.client(), d.client(), d.client()
        assert subscriber.call("EVENTS.SUBSCRIBE") == ["subscribe", "*", 1]
        watcher.call("DEBUG.STORE", "SYNC", "HOLD")
        writer.send("CASE.OPEN", "customer", "C-1", "subject", "pushed after the fsync")
        wait_for_commit(watcher)
        assert watcher.call("PING") == "PONG"
        assert not readable(subscriber), "an event was pushed before its fsync"
        watcher.call("DEBUG.STORE", "SYNC", "RELEASE")
        assert writer.read_reply() == 1
        pushed = subscriber.read_reply()
        assert pushed[0] == "message" and "opened" in pushed[2], pushed


def test_replies_keep_their_order_across_batches_waiting_for_fsyncs():
    with Daemon() as d:
        watcher, writer = d.client(), d.client()
        watcher.call("DEBUG.STORE", "SYNC", "HOLD")
        # A write, a read of it, another write: three replies behind one held fsync, in order.
        writer.send("CASE.OPEN", "customer", "C-1", "subject", "first")
        writer.send("CASE.GET", "1")
        writer.send("CASE.OPEN", "customer", "C-2", "subject", "second")
        writer.send("PING")
        assert watcher.call("PING") == "PONG"
        assert watcher.call("DEBUG.STORE", "SYNC", "RELEASE") == "OK"
        assert writer.read_reply() == 1
        assert as_map(writer.read_reply())["subject"] == "first"
        assert writer.read_reply() == 2
        assert writer.read_reply() == "PONG"


def test_a_failed_fsync_stops_the_daemon_before_any_reply_of_its_batch():
    with Daemon() as d:
        watcher, writer = d.client(), d.client()
        assert isinstance(writer.call("CASE.OPEN", "customer", "C-0", "subject", "on disk"), int)
        assert watcher.call("DEBUG.STORE", "SYNC", "FAIL") == "OK"
        writer.send("CASE.OPEN", "customer", "C-1", "subject", "its fsync fails")
        try:
            reply = writer.read_reply()
        except (ConnectionClosed, OSError):
            reply = None
        assert reply is None, "a reply left although its fsync failed: %r" % (reply,)
        assert d.proc.wait(timeout=60) == SYNC_FAILED_EXIT
        d.wait_log("fsync of the WAL failed after its batch committed")
        # The next start serves, with everything acknowledged before.
        d.proc = None
        d.start()
        client = d.client()
        assert as_map(client.call("CASE.GET", "1"))["subject"] == "on disk"
        assert client.call("PING") == "PONG"


def test_without_the_sync_thread_the_commit_syncs_on_the_loop():
    with Daemon(config="sync_thread = no\n") as d:
        client = d.client()
        info = store_info(client)
        assert info["sync_thread"] == "no"
        reply = client.call("DEBUG.STORE", "SYNC", "HOLD")
        assert isinstance(reply, RespError) and reply.code == "BADSTATE", reply
        assert isinstance(client.call("CASE.OPEN", "customer", "C-1", "subject", "synced inline"), int)
        assert store_info(client)["syncs_off_loop"] == "0"


def test_a_stop_while_an_fsync_is_held_lets_it_finish_and_answers():
    with Daemon() as d:
        watcher, writer = d.client(), d.client()
        watcher.call("DEBUG.STORE", "SYNC", "HOLD")
        writer.send("CASE.OPEN", "customer", "C-1", "subject", "in flight at stop")
        wait_for_commit(watcher)
        watcher.close()
        d.proc.send_signal(signal.SIGTERM)
        assert writer.read_reply() == 1
        status = d.stop()
        assert status == 0, "exit %s: %s" % (status, d.log()[-3000:])
        d.start()
        assert as_map(d.client().call("CASE.GET", "1"))["subject"] == "in flight at stop"


def open_cases(client, count, subject):
    replies = client.pipeline([("CASE.OPEN", "customer", "C-%d" % (i * 7919 % 100003), "subject", subject,
                                "order", "O-%d" % (i * 104729 % 1000003)) for i in range(count)])
    assert all(isinstance(reply, int) for reply in replies), replies[:3]
    return replies


def checkpoints_off_loop(client):
    return int(store_info(client)["checkpoints_off_loop"])


def test_checkpoints_run_on_their_own_thread_and_come_back_to_the_loop_with_a_fault():
    with Daemon() as d:
        client = d.client(timeout=120)
        database = os.path.join(d.data, "redress.db")
        info = store_info(client)
        assert info["checkpoint_thread"] == "yes" and info["checkpoints_off_loop"] == "0"
        before = os.path.getsize(database)
        # A checkpoint is asked for past 1,000 WAL frames: batches of cases
        # until the thread has run one (bounded; INFO is real I/O, no sleep).
        for _ in range(60):
            if checkpoints_off_loop(client) >= 1:
                break
            open_cases(client, 600, "copied into the database by the checkpoint thread")
        for _ in range(100000):
            if checkpoints_off_loop(client) >= 1:
                break
        assert checkpoints_off_loop(client) >= 1, "the checkpoint thread never ran"
        # The thread copied WAL pages into the database file: it grew.
        grown = os.path.getsize(database)
        assert grown > before, (before, grown)
        assert store_info(client)["checkpoint_failures"] == "0"
        # Arming any fault (here: disarming one) brings checkpoints back to
        # the loop, where the shim counts and fails their I/O.
        assert client.call("DEBUG.STORE", "NTH-READ", 0) == "OK"
        info = store_info(client)
        assert info["checkpoint_thread"] == "no", info
        assert int(info["checkpoints_off_loop"]) >= 1, info   # what the thread did still shows
        for _ in range(60):
            open_cases(client, 600, "copied into the database by the loop")
            client.call("PING")  # a checkpoint on the loop runs between batches
            if os.path.getsize(database) > grown:
                break
        assert os.path.getsize(database) > grown, "no checkpoint on the loop"


def test_another_process_reads_at_once_what_was_answered():
    """The WAL's writes are gathered and written at the commit's sync: a reader
    of the files (another process, its own connection) must find every answered
    case as the reply said, at once."""
    with Daemon() as d:
        client = d.client(timeout=120)
        reader = sqlite3.connect("file:%s?mode=ro" % os.path.join(d.data, "redress.db"), uri=True)
        try:
            for round_number in range(20):
                subject = "round %d" % round_number
                ids = open_cases(client, 40 + round_number * 7, subject)
                rows = reader.execute("SELECT id, subject FROM cases WHERE id >= ? ORDER BY id", (ids[0],)).fetchall()
                assert [row[0] for row in rows] == ids, (round_number, len(rows), len(ids))
                assert all(row[1] == subject for row in rows)
            assert reader.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        finally:
            reader.close()


def test_the_wal_rewinds_under_steady_intake_with_the_checkpoint_thread():
    """SQLite rewinds the WAL only when a batch begins with every frame
    copied; the thread's copy ends while the next batch runs, so past four
    times the checkpoint's frames the loop copies the rest itself and the WAL
    starts again from its beginning instead of growing without end."""
    with Daemon() as d:
        client = d.client(timeout=120)
        wal = os.path.join(d.data, "redress.db-wal")
        assert client.call("DEBUG.STORE", "CHECKPOINT-FRAMES", 20) == "OK"
        assert store_info(client)["checkpoint_thread"] == "yes"   # not a fault
        frame = 4096 + 24
        before = os.path.getsize(wal)
        open_cases(client, 100, "the first batch")
        batch_frames = (os.path.getsize(wal) - before) // frame
        assert batch_frames > 0
        for round_number in range(30):
            open_cases(client, 100, "batch %d" % round_number)
        settled = os.path.getsize(wal)
        for round_number in range(60):
            open_cases(client, 100, "batch %d" % round_number)
        client.call("PING")
        # Rewinding, the file stops growing (it is reused from its start;
        # a loop checkpoint turned away while the thread copies waits for
        # a later batch, so a few batches more may come first); without it,
        # it would hold sixty more batches of frames.
        grown = (os.path.getsize(wal) - settled) // frame
        assert grown <= 15 * batch_frames, (grown, batch_frames)
        assert int(store_info(client)["checkpoints_off_loop"]) >= 1
        assert store_info(client)["checkpoint_failures"] == "0"
