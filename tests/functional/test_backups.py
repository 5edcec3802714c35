"""ADMIN.BACKUP's outcome and the file it copies: a database file replaced under the running daemon (a
restore into it) refuses writes and backups instead of acknowledging writes nobody will read; the last
backup's outcome is in INFO ("# Backup") and METRICS, a failure after the reply included; unnamed
backups in one second get names of their own; `redressd --restore` puts a backup in place offline, the old
database's WAL set aside in a folder of its own (two restores in one second included), refuses a running
daemon's directory or a copy that does not check out, and puts back what it moved when a move fails."""
import os
import re
import shutil
import sqlite3
import subprocess
import time
import unittest

from harness import REDRESSD, Daemon, as_map, info, only_on, open_case


def wait_written(d, count):
    """The log once it says "backup written" count times (the steps run on a real-time timer)."""
    return d.wait_log(lambda text: text.count('msg="backup written"') >= count, timeout=60)


@only_on("sqlite", reason="a restore puts another SQLite file at DATA/redress.db; PostgreSQL has no such file")
def test_a_database_replaced_under_the_running_daemon_refuses_writes_and_backups():
    with Daemon() as d:
        c = d.client()
        before = [open_case(c, subject="kettle %d" % i) for i in range(30)]
        backup = c.call("ADMIN.BACKUP", "early")
        wait_written(d, 1)
        later = [open_case(c, subject="toaster %d" % i) for i in range(30)]
        assert info(c, "store")["database_replaced"] == "0"
        # The README's restore step run without stopping the daemon: a new file at the path.
        database = os.path.join(d.data, "redress.db")
        shutil.copy(backup, database + ".new")
        os.replace(database + ".new", database)
        # Writes are refused (not acknowledged into the file that is no longer DATA/redress.db).
        refused = c.call("CASE.OPEN", "customer", "C-late", "subject", "lost?")
        assert "replaced or removed under the running daemon" in refused and database in refused, refused
        assert info(c, "store")["database_replaced"] == "1"
        assert "DATABASE FILE REPLACED OR REMOVED" in d.log()
        # No backup of a mix of the new file and the old WAL.
        mixed = c.call("ADMIN.BACKUP", "after")
        assert mixed.code == "ERR" and "replaced" in mixed, mixed
        assert not os.path.exists(os.path.join(d.data, "backups", "after.db"))
        assert info(c, "backup")["backup_last_status"] == "failed"
        # Reads go on from the file the daemon opened.
        assert as_map(c.call("CASE.GET", later[-1]))["subject"] == "toaster 29"
        assert d.stop() == 0
        # SQLite leaves the WAL of a moved file: the daemon's own is set aside, not replayed onto the copy.
        assert 'msg="the replaced database\'s file set aside' in d.log(), d.log()[-3000:]
        assert not os.path.exists(database + "-wal")
        assert any(n.startswith("redress.db-wal.replaced-") for n in os.listdir(d.data)), os.listdir(d.data)
        # The next start is the restored copy, whole: the old WAL is not replayed onto it.
        d.log_lines = []
        d.start()
        c = d.client()
        assert info(c, "store")["database_replaced"] == "0"
        assert info(c)["cases"] == str(len(before)), info(c)
        assert c.call("CASE.GET", later[0]).code == "NOTFOUND"
        copy = sqlite3.connect(database)
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        copy.close()
        assert isinstance(open_case(c, subject="after the restore"), int)


@only_on("sqlite", reason="ADMIN.BACKUP copies the SQLite file in steps")
def test_the_last_backup_outcome_is_in_info_and_metrics_a_failure_after_the_reply_too():
    with Daemon() as d:
        c = d.client()
        fields = info(c, "backup")
        assert fields["backup_last_status"] == "none" and fields["backup_in_progress"] == "0", fields
        assert "redress_backup_last_success_timestamp_seconds 0\n" in c.call("METRICS")
        c.pipeline([("CASE.OPEN", "customer", "C-%d" % i, "subject", "cracked", "body", "x" * 4000)
                    for i in range(1500)])                  # some MB: the copy takes many steps
        now = c.call("DEBUG.CLOCK", "GET")
        path = c.call("ADMIN.BACKUP", "nightly")
        wait_written(d, 1)
        fields = info(c, "backup")
        assert fields["backup_last_status"] == "ok" and fields["backup_last_path"] == path, fields
        assert fields["backup_last_success_at"] == str(now) and fields["backup_last_finished_at"] == str(now)
        assert fields["backup_last_error"] == "" and fields["backup_failures"] == "0", fields
        metrics = c.call("METRICS")
        assert "redress_backup_last_success_timestamp_seconds %d\n" % now in metrics, metrics
        assert "redress_backup_last_failed 0\n" in metrics and "redress_backup_in_progress 0\n" in metrics
        copy = sqlite3.connect(path)
        assert copy.execute("SELECT count(*) FROM cases").fetchone()[0] == 1500
        copy.close()
        # A failure after the reply (the name taken while the copy ran: its rename fails).
        taken = c.call("ADMIN.BACKUP", "taken")
        assert info(c, "backup")["backup_in_progress"] == "1"
        os.makedirs(os.path.join(taken, "in-the-way"))
        d.wait_log('msg="backup failed"', timeout=60)
        fields = info(c, "backup")
        assert fields["backup_last_status"] == "failed" and fields["backup_last_path"] == taken, fields
        assert "rename" in fields["backup_last_error"] and fields["backup_failures"] == "1", fields
        assert fields["backup_last_success_at"] == str(now), fields
        assert not os.path.exists(taken + ".part")
        metrics = c.call("METRICS")
        assert "redress_backup_last_failed 1\n" in metrics and "redress_backup_failures_total 1\n" in metrics


@only_on("sqlite", reason="ADMIN.BACKUP copies the SQLite file in steps")
def test_unnamed_backups_in_one_second_get_names_of_their_own():
    with Daemon() as d:
        c = d.client()
        open_case(c)
        now = c.call("DEBUG.CLOCK", "GET")                  # the test clock stands still: one second
        first = c.call("ADMIN.BACKUP")
        wait_written(d, 1)
        second = c.call("ADMIN.BACKUP")
        wait_written(d, 2)
        third = c.call("ADMIN.BACKUP")
        wait_written(d, 3)
        folder = os.path.join(d.data, "backups")
        assert [first, second, third] == [os.path.join(folder, "redress-%d%s.db" % (now, tail))
                                          for tail in ("", "-2", "-3")], (first, second, third)
        assert all(os.path.exists(p) for p in (first, second, third))
        assert re.search(r'msg="backup written" path=\S+redress-%d-3\.db' % now, d.log())


@only_on("sqlite", reason="ADMIN.BACKUP copies the SQLite file")
def test_a_backup_leaves_only_its_file_in_the_backups_folder():
    """The check of the copy opened it read-only in WAL mode (its header's), which made NAME.db.part-wal and
    NAME.db.part-shm and could not remove them: two stray files per backup, carried along with the folder."""
    with Daemon() as d:
        c = d.client()
        open_case(c)
        path = c.call("ADMIN.BACKUP", "nightly")
        wait_written(d, 1)
        folder = os.path.join(d.data, "backups")
        assert sorted(os.listdir(folder)) == ["nightly.db"], os.listdir(folder)
        # and the copy still opens as a database of its own
        assert sqlite3.connect("file:%s?immutable=1" % path, uri=True).execute("SELECT count(*) FROM cases").fetchone() == (1,)


@only_on("sqlite", reason="--restore installs an ADMIN.BACKUP SQLite file")
def test_restore_puts_a_backup_in_place_with_the_old_wal_set_aside_and_refuses_a_running_daemon():
    with Daemon() as d:
        c = d.client()
        kept = [open_case(c, subject="kettle %d" % i) for i in range(20)]
        backup = c.call("ADMIN.BACKUP", "bk")
        wait_written(d, 1)
        lost = [open_case(c, subject="toaster %d" % i) for i in range(20)]
        database = os.path.join(d.data, "redress.db")

        def restore(path):
            return subprocess.run([REDRESSD, "--data", d.data, "--restore", path], capture_output=True, text=True,
                                  timeout=60)
        # A running daemon holds DATA/redress.lock: refused, nothing touched.
        running = restore(backup)
        assert running.returncode == 1 and "in use" in running.stderr, running
        assert info(c)["cases"] == str(len(kept) + len(lost))
        d.kill()                                            # a crash: the WAL stays beside the database
        assert os.path.getsize(database + "-wal") > 0
        # A copy that does not check out is refused before anything moves.
        broken = os.path.join(d.data, "backups", "broken.db")
        with open(backup, "rb") as whole, open(broken, "wb") as half:
            half.write(whole.read(8192))
        refused = restore(broken)
        assert refused.returncode == 1 and "does not check out" in refused.stderr, refused
        assert os.path.exists(database + "-wal") and not any(n.startswith("replaced-") for n in os.listdir(d.data))
        done = restore(backup)
        assert done.returncode == 0 and "restored" in done.stdout, done
        aside = [n for n in os.listdir(d.data) if n.startswith("replaced-")]
        assert len(aside) == 1 and not os.path.exists(database + "-wal"), os.listdir(d.data)
        assert sorted(os.listdir(os.path.join(d.data, aside[0])))[:3] == ["redress.db", "redress.db-shm",
                                                                          "redress.db-wal"]
        assert os.stat(database).st_mode & 0o777 == 0o600
        d.log_lines = []
        d.start()
        c = d.client()
        assert info(c)["cases"] == str(len(kept)), info(c)
        assert as_map(c.call("CASE.GET", kept[-1]))["subject"] == "kettle 19"
        assert c.call("CASE.GET", lost[0]).code == "NOTFOUND"


@only_on("sqlite", reason="ADMIN.BACKUP copies the SQLite file in steps")
def test_a_copy_that_does_not_read_back_whole_is_not_reported_written():
    with Daemon() as d:
        c = d.client()
        c.pipeline([("CASE.OPEN", "customer", "C-%d" % i, "subject", "cracked", "body", "x" * 4000)
                    for i in range(3000)])                  # ~15 MB: the copy takes 60 steps or more, 2 ms apart
        path = c.call("ADMIN.BACKUP", "damaged")
        part = path + ".part"
        # Pages the copy has written are damaged under it (a failing disk, a stray write): the pages
        # after them still come, and the copy ends with no error of its own.
        while not (os.path.exists(part) and os.path.getsize(part) >= 2 * 1024 * 1024):
            assert info(c, "backup")["backup_in_progress"] == "1", "the copy ended before it could be damaged"
        with open(part, "r+b") as f:
            f.seek(8 * 4096)
            f.write(b"\xa5" * (64 * 4096))
        text = d.wait_log('msg="backup failed"', timeout=60)
        assert 'msg="backup written"' not in text
        assert "does not check out (quick_check)" in text, text[-2000:]
        assert not os.path.exists(path) and not os.path.exists(part)
        fields = info(c, "backup")
        assert fields["backup_last_status"] == "failed" and "quick_check" in fields["backup_last_error"], fields


@only_on("sqlite", reason="--restore installs an ADMIN.BACKUP SQLite file")
def test_two_restores_in_one_second_each_set_the_old_files_aside_in_a_folder_of_their_own():
    with Daemon() as d:
        c = d.client()
        for i in range(3):
            open_case(c, subject="kept %d" % i)
        backup = c.call("ADMIN.BACKUP", "three")
        wait_written(d, 1)
        for i in range(7):
            open_case(c, subject="later %d" % i)
        assert d.stop() == 0

        def restore():
            return subprocess.run([REDRESSD, "--data", d.data, "--restore", backup], capture_output=True, text=True,
                                  timeout=60)
        # The folder names hold the real second (an offline run has no test clock): every second the runs
        # may take already has its folder, as a run a moment before this one would have left it.
        first_second = int(time.time())
        for second in range(first_second, first_second + 60):
            os.mkdir(os.path.join(d.data, "replaced-%d" % second))
            with open(os.path.join(d.data, "replaced-%d" % second, "redress.db"), "w") as f:
                f.write("an earlier restore's set-aside database")
        first, second = restore(), restore()
        assert first.returncode == 0 and second.returncode == 0, (first, second)
        folders = [re.search(r"the old database's files are in (\S+)", run.stdout).group(1)
                   for run in (first, second)]
        assert folders[0] != folders[1], folders
        # Folders of their own: -2 (or -3 for the second run in the same second), none of those there before.
        assert all(re.search(r"/replaced-\d+-[23]$", folder) for folder in folders), folders

        def cases(path):
            db = sqlite3.connect(path)
            try:
                return db.execute("SELECT count(*) FROM cases").fetchone()[0]
            finally:
                db.close()
        # The original (10 cases) in the first run's folder, the first restored copy in the second's.
        assert cases(os.path.join(folders[0], "redress.db")) == 10
        assert cases(os.path.join(folders[1], "redress.db")) == 3
        for second in range(first_second, first_second + 60):
            with open(os.path.join(d.data, "replaced-%d" % second, "redress.db")) as f:
                assert f.read() == "an earlier restore's set-aside database"


def can_make_immutable(path):
    """chattr +i (root on a file system that has it): a rename of the file then fails with EPERM."""
    try:
        return subprocess.run(["chattr", "+i", path], capture_output=True).returncode == 0
    except OSError:
        return False


@only_on("sqlite", reason="--restore installs an ADMIN.BACKUP SQLite file")
def test_a_restore_whose_set_aside_fails_part_way_puts_the_moved_files_back():
    with Daemon() as d:
        c = d.client()
        kept = open_case(c, subject="kettle")
        backup = c.call("ADMIN.BACKUP", "bk")
        wait_written(d, 1)
        later = open_case(c, subject="toaster")
        d.kill()                                            # the WAL stays beside the database
        database = os.path.join(d.data, "redress.db")
        search = os.path.join(d.data, "search.db")
        assert os.path.exists(database + "-wal") and os.path.exists(search)
        before = {name: os.stat(os.path.join(d.data, name)).st_ino for name in os.listdir(d.data)
                  if name.startswith(("redress.db", "search.db"))}
        if not can_make_immutable(search):
            raise unittest.SkipTest("chattr +i is not available here (not root, or the file system has no such flag)")
        try:
            # redress.db and its -wal and -shm are moved aside before search.db, whose move then fails.
            refused = subprocess.run([REDRESSD, "--data", d.data, "--restore", backup], capture_output=True,
                                     text=True, timeout=60)
        finally:
            subprocess.run(["chattr", "-i", search])
        assert refused.returncode == 1 and "cannot move" in refused.stderr, refused
        assert "the directory is as it was" in refused.stderr, refused.stderr
        after = {name: os.stat(os.path.join(d.data, name)).st_ino for name in os.listdir(d.data)
                 if name.startswith(("redress.db", "search.db"))}
        assert after == before, (before, after)
        assert not any(n.startswith("replaced-") for n in os.listdir(d.data)), os.listdir(d.data)
        d.log_lines = []
        d.start()
        c = d.client()
        assert as_map(c.call("CASE.GET", later))["subject"] == "toaster"
        assert as_map(c.call("CASE.GET", kept))["subject"] == "kettle"


@only_on("sqlite", reason="ADMIN.BACKUP copies the SQLite file into DATA/backups")
def test_a_backups_folder_that_is_a_file_is_named_as_the_reason():
    """DATA/backups as a regular file was refused with SQLite's "unable to open database file" for NAME.db.part,
    which sends the operator looking at the database; the reply now says what is wrong with the folder."""
    with Daemon() as d:
        c = d.client()
        open_case(c)
        with open(os.path.join(d.data, "backups"), "w") as f:
            f.write("not a folder\n")
        r = c.call("ADMIN.BACKUP", "nightly")
        assert r.code == "ERR" and "backups" in r and "is not a directory" in r, r
        assert "unable to open database file" not in r, r
