"""A local SMTP server (Debian's python3-aiosmtpd) that records what it receives, for test_mail.py's outbound
tests and tests/bench/mail.py.  Run with the system python3 (where Debian's aiosmtpd is), never collected as a
test itself:

    /usr/bin/python3 smtp_recorder.py DIRECTORY [--tls CERT KEY] [--auth USER PASSWORD] [--auth-in-plain]

It prints its port on the first line of stdout, then saves each accepted message as DIRECTORY/N.eml (the
envelope in DIRECTORY/N.env: sender, then recipients; how it came in DIRECTORY/N.session: "tls=0|1" and
"auth=LOGIN" or "auth=").  Before each DATA reply it takes the first line of DIRECTORY/refuse, if any, and
answers with it instead ("451 4.3.0 try later"): a refusal, in order.  It stops when its stdin closes.

--tls offers STARTTLS with that certificate and requires it before MAIL.  --auth offers AUTH (PLAIN, LOGIN)
and requires it before MAIL, only after STARTTLS unless --auth-in-plain; every AUTH attempt is appended to
DIRECTORY/auth.log as "MECHANISM LOGIN ok|bad tls=0|1"."""
import os
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


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
        with open(base + ".session", "w") as f:
            login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else ""
            f.write("tls=%d\nauth=%s\n" % (session.ssl is not None, login))
        os.rename(base + ".tmp", base + ".eml")
        return "250 2.0.0 queued"


class Authenticator:
    def __init__(self, directory, user, password):
        self.directory, self.user, self.password = directory, user.encode(), password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == self.user and \
            auth_data.password == self.password
        login = auth_data.login.decode(errors="replace") if isinstance(auth_data, LoginPassword) else "?"
        with open(os.path.join(self.directory, "auth.log"), "a") as f:
            f.write("%s %s %s tls=%d\n" % (mechanism, login, "ok" if ok else "bad", session.ssl is not None))
        # handled=False: aiosmtpd answers a failure 535 itself (handled=True would leave it unanswered)
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


class BoundController(Controller):
    """aiosmtpd's Controller on a socket already bound (its own binds host:port itself)."""

    def __init__(self, handler, bound, **parameters):
        self.bound = bound
        super().__init__(handler, hostname="127.0.0.1", port=bound.getsockname()[1], **parameters)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self.bound, ssl=self.ssl_context)


def main():
    directory = sys.argv[1]
    options, args = {}, sys.argv[2:]
    while args:
        if args[0] == "--tls":
            options["tls"], args = args[1:3], args[3:]
        elif args[0] == "--auth":
            options["auth"], args = args[1:3], args[3:]
        elif args[0] == "--auth-in-plain":
            options["auth_in_plain"], args = True, args[1:]
        else:
            sys.exit("unknown option %s" % args[0])
    parameters = {}
    if "tls" in options:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*options["tls"])
        parameters.update(tls_context=context, require_starttls=True)
    if "auth" in options:
        parameters.update(authenticator=Authenticator(directory, *options["auth"]), auth_required=True,
                          auth_require_tls=not options.get("auth_in_plain", False))
    # bound once and listened on as it is: a port probed, closed and bound again could be given to another
    # process in between
    bound = socket.socket()
    bound.bind(("127.0.0.1", 0))
    controller = BoundController(Recorder(directory), bound, **parameters)
    controller.start()
    print(controller.port, flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
