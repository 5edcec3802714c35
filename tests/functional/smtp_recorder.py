"""A local SMTP server (Debian's python3-aiosmtpd) that records what it receives, for test_mail.py's outbound
tests and tests/bench/mail.py.  Run with the system python3 (where Debian's aiosmtpd is), never collected as a
test itself:

    /usr/bin/python3 smtp_recorder.py DIRECTORY

It prints its port on the first line of stdout, then saves each accepted message as DIRECTORY/N.eml (the
envelope in DIRECTORY/N.env: sender, then recipients).  Before each DATA reply it takes the first line of
DIRECTORY/refuse, if any, and answers with it instead ("451 4.3.0 try later"): a refusal, in order.  It stops
when its stdin closes."""
import os
import socket
import sys

from aiosmtpd.controller import Controller


class Recorder:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        refuse = os.path.join(self.directory, "refuse")
        if os.path.exists(refuse):
            with open(refuse) as f:
                lines = f.read().splitlines()
            if lines:
                with open(refuse, "w") as f:
                    f.write("".join(line + "\n" for line in lines[1:]))
                return lines[0]
        self.count += 1
        base = os.path.join(self.directory, "%d" % self.count)
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(base + ".env", "w") as f:
            f.write("\n".join([envelope.mail_from] + list(envelope.rcpt_tos)) + "\n")
        os.rename(base + ".tmp", base + ".eml")
        return "250 2.0.0 queued"


def main():
    directory = sys.argv[1]
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Recorder(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print(port, flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
