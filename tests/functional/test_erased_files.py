"""Attachment files whose rows an erase emptied go wherever they are kept:

  - a crash between an erase's commit and its unlinks (the fsync held, then kill -9) leaves the
    files; the next start removes them and their emptied folder (a start looks only at the folders
    still there, not at every erased row ever written), and keeps another customer's;
  - several nodes on one database each keep the files they received in their own data
    directory: an erase run on another node removes this node's files once its events are
    heard (before, they stayed until someone removed them by hand).

Waits: the fsync is held with DEBUG.STORE SYNC HOLD and polled with SYNC PENDING; the other
node's erase is waited for in this node's log (real I/O, no sleep).
"""
import os

from harness import Cluster, Daemon, as_map, only_on, open_case
from test_sync_thread import wait_for_commit

T0 = 1795138200


def attach(c, cid, name, data):
    assert c.call("CASE.MESSAGE", cid, "see attached", "ATTACH", name, "image/jpeg", data) is not None


def files(daemon, cid):
    folder = os.path.join(daemon.data, "attachments", str(cid))
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


@only_on("sqlite", reason="holds the SQLite store's WAL fsync (DEBUG.STORE SYNC)")
def test_files_a_crash_kept_after_an_erase_go_at_the_next_start():
    with Daemon() as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        mine = open_case(c, customer="zoe@example.com", subject="broken")
        attach(c, mine, "photo.jpg", b"JPEG-zoe")
        attach(c, mine, "more.jpg", b"JPEG-zoe-2")
        other = open_case(c, customer="amy@example.com", subject="other")
        attach(c, other, "amy.jpg", b"JPEG-amy")
        assert len(files(d, mine)) == 2 and len(files(d, other)) == 1
        watcher, eraser = d.client(), d.client()
        assert watcher.call("DEBUG.STORE", "SYNC", "HOLD") == "OK"
        eraser.send("CUSTOMER.ERASE", "zoe@example.com")
        wait_for_commit(watcher)              # committed, its fsync (and so its unlinks) held
        assert len(files(d, mine)) == 2
        d.kill()
        d.log_lines = []
        d.start()
        assert files(d, mine) == [], "the erased rows' files outlived the restart"
        assert not os.path.isdir(os.path.join(d.data, "attachments", str(mine)))   # its emptied folder too
        assert len(files(d, other)) == 1      # another customer's stay
        assert any('msg="erased attachments\' files removed" files=2' in line for line in d.log_lines)
        c = d.client()
        assert as_map(c.call("CASE.GET", mine))["subject"] == "[erased]"


@only_on("postgresql", reason="several daemons on one database")
def test_an_erase_on_another_node_removes_this_nodes_files():
    with Cluster(2) as nodes:
        a, b = nodes[0].client(), nodes[1].client()
        for c in (a, b):
            c.call("DEBUG.CLOCK", "SET", T0)
        mine = open_case(a, customer="zoe@example.com", subject="broken")
        attach(a, mine, "photo.jpg", b"JPEG-zoe")               # the file is node a's
        other = open_case(a, customer="amy@example.com", subject="other")
        attach(a, other, "amy.jpg", b"JPEG-amy")
        assert len(files(nodes[0], mine)) == 1 and files(nodes[1], mine) == []
        assert b.call("CUSTOMER.ERASE", "zoe@example.com") == 1  # run on node b
        nodes[0].wait_log('msg="erased attachments\' files removed" files=1')
        assert files(nodes[0], mine) == []
        assert len(files(nodes[0], other)) == 1
