"""RULES.PROMOTE survives a restart: the promoted folder is recorded in the data directory
(DATA/rules.promoted) and loaded at start instead of the configured one, saying so; promoting the
configured folder goes back to it; a promoted folder that does not load at start, or a damaged record,
is an error in the log and the configured folder loads instead."""
import os
import shutil
import signal
import tempfile
import time

from harness import ROOT, Cluster, Daemon, as_map, info, only_on

SHIPPED = os.path.join(ROOT, "rules")


def copy_shipped(change=None):
    """A copy of the shipped set; with change, a comment appended to one file (a new version, the same
    decisions and tests)."""
    target = tempfile.mkdtemp(prefix="redress-rules-")
    shutil.rmtree(target)
    shutil.copytree(SHIPPED, target)
    if change:
        with open(os.path.join(target, "95_macros.lua"), "a") as f:
            f.write("\n-- %s\n" % change)
    return os.path.realpath(target)


def record_path(d):
    return os.path.join(d.data, "rules.promoted")


def live(c):
    info = as_map(c.call("RULES.INFO"))
    return info["version"], info["directory"]


def promote(c, folder):
    version = c.call("RULES.STAGE", folder)
    assert isinstance(version, str) and len(version) == 64, version
    assert c.call("RULES.PROMOTE") == version
    return version


def test_promoted_set_stays_live_across_restarts_until_the_configured_folder_is_promoted():
    configured, promoted = copy_shipped(), copy_shipped("promoted change")
    try:
        with Daemon(rules=configured) as d:
            c = d.client()
            before, folder = live(c)
            assert folder == configured
            version = promote(c, promoted)
            assert version != before
            d.wait_log('msg="rule set promoted: reloads and restarts read its folder until another set is promoted"'
                       ' dir=%s' % promoted)
            with open(record_path(d)) as f:
                assert f.read() == "dir=%s\nversion=%s\nconfigured=%s\n" % (promoted, version, configured)
            # SIGHUP names the folder it reads: the promoted one.
            d.proc.send_signal(signal.SIGHUP)
            d.wait_log('msg="SIGHUP: reloading rules" dir=%s from=promoted' % promoted)
            assert live(c) == (version, promoted)
            # A restart (a crash, a reboot, systemd's Restart=) keeps the promoted set, and says why.
            d.restart()
            c = d.client()
            assert live(c) == (version, promoted)
            text = d.log()
            assert 'msg="rule set loaded at start from the promoted folder, not the configured one" dir=%s ' \
                   'version=%s configured=%s' % (promoted, version[:16], configured) in text, text[-3000:]
            assert c.call("RULES.RELOAD") == version          # reloads still read the promoted folder
            # Back to the configured folder: promote it. The record goes; a restart loads that folder.
            assert promote(c, configured) == before
            d.wait_log('msg="rule set promoted: the configured folder is live again, reloads and restarts read it"')
            assert not os.path.exists(record_path(d))
            d.proc.send_signal(signal.SIGHUP)
            d.wait_log('msg="SIGHUP: reloading rules" dir=%s from=configured' % configured)
            d.restart()
            c = d.client()
            assert live(c) == (before, configured)
            assert "promoted folder" not in d.log()
    finally:
        shutil.rmtree(configured)
        shutil.rmtree(promoted)


def test_promoted_folder_that_does_not_load_at_start_is_an_error_and_the_configured_one_loads():
    configured, promoted = copy_shipped(), copy_shipped("promoted change")
    try:
        with Daemon(rules=configured) as d:
            c = d.client()
            before, _ = live(c)
            version = promote(c, promoted)
            assert d.stop() == 0
            path = os.path.join(promoted, "40_sla.lua")
            good = open(path).read()
            with open(path, "a") as f:
                f.write("\nfunction sla(case\n")
            d.log_lines = []
            d.start()
            c = d.client()
            assert live(c) == (before, configured)
            text = d.log()
            line = [l for l in text.splitlines() if "PROMOTED RULE SET NOT LOADED" in l]
            assert len(line) == 1, text[-3000:]
            assert "dir=%s version=%s configured=%s" % (promoted, version[:16], configured) in line[0], line
            assert "40_sla.lua:" in line[0], line
            # Nothing ran yet: no line says a running set stays.
            assert "the running one stays" not in text, text[-3000:]
            assert 'msg="rule set not loaded (none was running)"' in text, text[-3000:]
            assert os.path.exists(record_path(d))              # the next start tries the promoted folder again
            # Mended: a restart loads it again.
            with open(path, "w") as f:
                f.write(good)
            d.restart()
            c = d.client()
            assert live(c) == (version, promoted)
            # Broken again, then a RULES.RELOAD of the configured folder makes that one live for good.
            with open(path, "a") as f:
                f.write("\nfunction sla(case\n")
            d.restart()
            c = d.client()
            assert live(c)[0] == before
            assert c.call("RULES.RELOAD") == before
            d.wait_log('msg="the configured rule folder is live: the promotion record is removed" dir=%s' % configured)
            assert not os.path.exists(record_path(d))
            with open(path, "w") as f:
                f.write(good)
            d.restart()
            c = d.client()
            assert live(c) == (before, configured)
    finally:
        shutil.rmtree(configured)
        shutil.rmtree(promoted)


def test_damaged_record_is_an_error_naming_the_file_and_the_configured_folder_loads():
    configured = copy_shipped()
    try:
        with Daemon(rules=configured) as d:
            c = d.client()
            before, _ = live(c)
            assert d.stop() == 0
            with open(record_path(d), "w") as f:
                f.write("dir=/somewhere\nversi")
            d.log_lines = []
            d.start()
            c = d.client()
            assert live(c) == (before, configured)
            text = d.log()
            assert 'msg="PROMOTED RULE SET NOT LOADED: its record is damaged' in text, text[-3000:]
            assert "rules.promoted: line 2 is not version=..." in text, text[-3000:]
    finally:
        shutil.rmtree(configured)


def test_a_record_that_is_not_a_regular_file_is_an_error_and_the_configured_folder_loads():
    # A FIFO under the record's name held the start in open() for ever, waiting for a writer.
    configured = copy_shipped()
    try:
        with Daemon(rules=configured) as d:
            c = d.client()
            before, _ = live(c)
            assert d.stop() == 0
            os.mkfifo(record_path(d))
            d.log_lines = []
            d.start()
            c = d.client()
            assert live(c) == (before, configured)
            text = d.log()
            assert 'msg="PROMOTED RULE SET NOT LOADED: its record is damaged' in text, text[-3000:]
            assert "rules.promoted: not a regular file" in text, text[-3000:]
    finally:
        shutil.rmtree(configured)


def test_a_configured_folder_changed_after_the_promotion_loads_and_drops_the_record():
    configured, promoted, other = copy_shipped(), copy_shipped("promoted change"), copy_shipped("other folder")
    try:
        with Daemon(rules=configured) as d:
            c = d.client()
            version = promote(c, promoted)
            assert d.stop() == 0
            d.rules = other                                     # the admin points `rules =` elsewhere
            d.log_lines = []
            d.start()
            c = d.client()
            now, folder = live(c)
            assert folder == other and now != version
            assert 'msg="the configured rule folder changed since the last RULES.PROMOTE: it loads, not the ' \
                   'promoted one" dir=%s promoted=%s' % (other, promoted) in d.log()
            assert not os.path.exists(record_path(d))
    finally:
        for folder in (configured, promoted, other):
            shutil.rmtree(folder)


def poll(what, check, timeout=30):
    """what() once check(value) holds: what crosses nodes (a NOTIFY, a row refreshed every 2 s of real
    time) arrives on its own."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if check(value):
            return value
        assert time.monotonic() < deadline, "never held: %r" % (value,)
        time.sleep(0.02)


@only_on("postgresql", reason="several daemons on one database: only PostgreSQL serves more than one process")
def test_a_promotion_is_each_nodes_own_and_survives_that_nodes_restart():
    """Each node loads its own folder: a promote on node A is A's (recorded in A's data directory) and asks
    B to reload B's own live folder, as any reload does; promoting the same folder on B too ends the
    mismatch, and each keeps its promoted set across its restart."""
    promoted = copy_shipped("promoted on every node")
    try:
        with Cluster(2, rules="shipped") as nodes:
            a, b = nodes[0].client(), nodes[1].client()
            before = live(a)[0]
            version = promote(a, promoted)
            nodes[1].wait_log('msg="reload asked by another node done"')
            assert live(b)[0] == before                          # B read its own (configured) folder
            assert not os.path.exists(record_path(nodes[1]))
            assert poll(lambda: info(a)["rules_versions_mismatch"], lambda m: m == "1") == "1"
            assert promote(b, promoted) == version
            assert poll(lambda: info(a)["rules_versions_mismatch"], lambda m: m == "0") == "0"
            for i in (0, 1):
                nodes[i].restart()
                assert live(nodes[i].client()) == (version, promoted)
    finally:
        shutil.rmtree(promoted)


def test_a_promotion_that_cannot_be_recorded_is_refused_and_changes_nothing():
    configured, promoted = copy_shipped(), copy_shipped("promoted change")
    try:
        with Daemon(rules=configured) as d:
            c = d.client()
            before = live(c)
            os.mkdir(record_path(d) + ".part")                  # the record's new file cannot be made
            c.call("RULES.STAGE", promoted)
            r = c.call("RULES.PROMOTE")
            assert r.code == "ERR" and ("not promoted, the running rule set stays: the promotion cannot be "
                                        "recorded: %s.part: Is a directory" % record_path(d)) in r, r
            assert live(c) == before and not os.path.exists(record_path(d))
            os.rmdir(record_path(d) + ".part")
            version = c.call("RULES.PROMOTE")                   # still staged: promoted now
            assert live(c) == (version, promoted)
            d.restart()
            assert live(d.client()) == (version, promoted)
    finally:
        shutil.rmtree(configured)
        shutil.rmtree(promoted)


def promoted_field(c):
    return as_map(c.call("RULES.INFO"))["promoted"]


def test_rules_info_says_whether_the_live_set_is_a_recorded_promotion_and_its_folder():
    """RULES.INFO's directory named the live folder but not why: a set promoted (and loaded again at every start
    from DATA/rules.promoted) looked like a configured one."""
    configured, promoted = copy_shipped(), copy_shipped("promoted change")
    try:
        with Daemon(rules=configured) as d:
            c = d.client()
            assert promoted_field(c) == "no"
            c.call("RULES.STAGE", promoted)
            assert promoted_field(c) == "no"                     # staged is not live
            c.call("RULES.PROMOTE")
            assert promoted_field(c) == promoted
            d.restart()                                          # loaded from the record
            c = d.client()
            assert promoted_field(c) == promoted
            # The promoted folder does not load at start: the configured one is live, not a promotion.
            path = os.path.join(promoted, "40_sla.lua")
            good = open(path).read()
            with open(path, "a") as f:
                f.write("\nfunction sla(case\n")
            d.restart()
            c = d.client()
            assert os.path.exists(record_path(d)) and promoted_field(c) == "no"
            with open(path, "w") as f:
                f.write(good)
            d.restart()
            c = d.client()
            assert promoted_field(c) == promoted
            # Promoting the configured folder goes back to it: not a promotion any more.
            promote(c, configured)
            assert promoted_field(c) == "no"
            d.restart()
            assert promoted_field(d.client()) == "no"
    finally:
        shutil.rmtree(configured)
        shutil.rmtree(promoted)
