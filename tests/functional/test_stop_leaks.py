"""Stopping the daemon frees everything it holds, whatever the loop was doing at that moment:
a TLS connection whose answer arrives in the daemon's last turn of the loop is freed too
(LeakSanitizer, in the ASan/UBSan build, fails the test through the harness otherwise)."""
import os
import shutil
import signal
import tempfile

from harness import Daemon, open_case
from receiver import Receiver, make_certificate, wait_for


def process_state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_stop_as_an_https_answer_arrives_frees_the_connection():
    folder = tempfile.mkdtemp(prefix="redress-tls-")
    try:
        good = make_certificate(folder)
        with Receiver(tls=good, hold=True) as held:
            config = ("plugins = webhook\nwebhook.url = %s\nwebhook.timeout_ms = 20000\nwebhook.ca_file = %s\n"
                      % (held.url, good[0]))
            d = Daemon(config=config).start()
            c = d.client()
            open_case(c)
            c.close()   # no client left: the stop signal ends the loop at once
            wait_for(lambda: held.requests, what="an https request in flight")
            pid = d.proc.pid
            # Frozen, the daemon gets the answer and the stop signal in one turn of its loop: the TLS
            # stream reads the answer and queues its deferred callback, then the stop breaks the loop
            # before that callback runs -- the connection is freed with the callback still queued.
            os.kill(pid, signal.SIGSTOP)
            wait_for(lambda: process_state(pid) == "T", what="the daemon stopped")
            held.release()
            wait_for(lambda: not held.connections, what="the answer written and the connection closed")
            os.kill(pid, signal.SIGTERM)         # pending until the daemon runs again
            status = d.stop(signal.SIGCONT)      # one SIGTERM only; fails on a sanitizer report
            log = d.log()
            assert status == 0 and 'msg="stopped"' in log, (status, log[-4000:])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
