"""kill -9 under pipelined mixed load, a few rounds (tests/bench/crashloop.py runs 100):
every acknowledged write exactly once, no duplicate on resend, integrity_check ok (on SQLite)."""
import crashloop

TIMEOUT = 600


def test_kill_9_rounds_keep_every_acknowledged_write_once():
    crashloop.run(rounds=5)
