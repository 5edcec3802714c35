"""kill -9 under pipelined mixed load, a few rounds (tests/bench/crashloop.py runs 100):
every acknowledged write exactly once, no duplicate on resend, integrity_check ok."""
import crashloop

STORES = ("sqlite",)
STORES_REASON = ("crashloop.py reads redress.db itself, row by row and with PRAGMA integrity_check; "
                 "not yet ported to the harness's store_rows")

TIMEOUT = 600


def test_kill_9_rounds_keep_every_acknowledged_write_once():
    crashloop.run(rounds=5)
