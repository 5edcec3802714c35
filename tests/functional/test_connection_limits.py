"""Connections before AUTH: their own limit, a deadline, the unix socket's
reserve; failed AUTHs delayed per connection (pipelined too) and counted per
source address across connections."""
import re
import select
import socket
import time

from harness import Client, Daemon, RespError, connect_from, info, nothing_more, open_case

REFUSED = b"-LIMIT too many unauthenticated connections"


def failed_auth_lines(d, count):
    """The log's "failed AUTH" lines, once there are `count` of them (the log
    is read by another thread: poll it, with a deadline)."""
    deadline = time.monotonic() + 20
    while True:
        lines = [line for line in list(d.log_lines) if 'msg="failed AUTH"' in line]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.01)


def first_answered(clients):
    """The client among `clients` that gets an answer first (real I/O: waits
    for it, with a deadline)."""
    readable, _, _ = select.select([c.sock for c in clients], [], [], 20)
    assert readable, "no answer at all"
    return next(c for c in clients if c.sock is readable[0])


def test_strangers_have_their_own_limit_and_admins_keep_working():
    with Daemon(config="max_unauthenticated_clients = 20\n") as d:
        token = d.client().call("AGENT.ADD", "alice", "agent", "QUEUES", "support")
        alice = Client(d.port)
        assert alice.call("AUTH", "alice", token) == "OK"
        # 300 idle connections that never authenticate.
        idle = [socket.create_connection(("127.0.0.1", d.port), timeout=20) for _ in range(300)]
        # The first 20 are let in; every later one is told why and closed.
        for s in idle[20:]:
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                assert chunk, "closed without a reason"
                data += chunk
            assert data.startswith(REFUSED), data
            assert s.recv(4096) == b""
        # A new TCP connection is a stranger too: refused while the strangers' slots are full.
        late = Client(d.port)
        assert late.read_reply().startswith("LIMIT too many unauthenticated connections")
        # The admin over the unix socket and the agent already in keep working.
        admin = d.unix_client()
        assert isinstance(open_case(admin), int)
        assert isinstance(open_case(alice), int)
        numbers = info(admin)
        assert numbers["unauthenticated_clients"] == "20" and numbers["max_unauthenticated_clients"] == "20"
        assert int(numbers["rejected_unauthenticated"]) == 281
        # A stranger already in may still authenticate: it leaves the strangers' count.
        first = Client.__new__(Client)
        first.sock, first.buf = idle[0], b""
        assert first.call("AUTH", "admin", d.token) == "OK"
        assert info(admin)["unauthenticated_clients"] == "19"
        # At the deadline (auth_timeout, 10 s of daemon clock) the others are closed ...
        admin.call("DEBUG.CLOCK", "ADVANCE", 9)
        assert info(admin)["unauthenticated_clients"] == "19"
        admin.call("DEBUG.CLOCK", "ADVANCE", 1)
        for s in idle[1:20]:
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            assert data.startswith(b"-NOAUTH no AUTH within auth_timeout"), data
        numbers = info(admin)
        assert numbers["unauthenticated_clients"] == "0" and numbers["auth_timeouts"] == "19"
        # ... the one that authenticated is not, and TCP strangers are let in again.
        assert first.call("PING") == "PONG" and alice.call("PING") == "PONG"
        assert d.client().call("PING") == "PONG"
        for s in idle:
            s.close()


def test_one_address_cannot_hold_every_strangers_slot():
    """max_unauthenticated_clients was one pool for every source: one address holding it (re-opening its idle
    connections each auth_timeout) kept every other address from even sending AUTH. A newcomer from an address
    holding at least two strangers fewer than the address holding the most now takes the oldest of those."""
    with Daemon(config="max_unauthenticated_clients = 3\n") as d:
        hog = [connect_from(d, "127.0.0.3") for _ in range(3)]
        assert all(h.call("PING") == "PONG" for h in hog)
        r = connect_from(d, "127.0.0.3").read_reply()           # the hog's fourth: refused, as before
        assert isinstance(r, RespError) and r.code == "LIMIT", r
        other = connect_from(d, "127.0.0.2")                   # another address gets in ...
        assert other.call("AUTH", "admin", d.token) == "OK"
        r = hog[0].read_reply()                                  # ... in the place of the hog's oldest
        assert isinstance(r, RespError) and r.code == "LIMIT" and "127.0.0.3" not in r, r
        assert hog[0].sock.recv(10) == b""
        assert hog[1].call("PING") == "PONG" and hog[2].call("PING") == "PONG"
        fourth = connect_from(d, "127.0.0.4")                  # a free slot (other left the strangers)
        assert fourth.call("PING") == "PONG"
        fifth = connect_from(d, "127.0.0.5")                   # the hog holds 2, two more than this address
        assert fifth.call("PING") == "PONG" and hog[1].sock.recv(100).startswith(b"-LIMIT")
        r = connect_from(d, "127.0.0.6").read_reply()          # one each now: nobody's place is taken
        assert isinstance(r, RespError) and r.code == "LIMIT", r
        assert hog[2].call("PING") == "PONG" and fourth.call("PING") == "PONG"
        assert info(other)["rejected_unauthenticated"] == "4"


def test_the_unix_socket_keeps_room_when_tcp_fills_max_clients():
    with Daemon(config="max_clients = 4\nunix_reserved_clients = 2\nmax_unauthenticated_clients = 3\n") as d:
        tcp = [d.client() for _ in range(4)]
        r = Client(d.port).read_reply()
        assert isinstance(r, RespError) and r.code == "LIMIT" and "max number of clients" in r
        # TCP took every one of max_clients: the unix socket still has its own slots ...
        local = [d.unix_client(), d.unix_client()]
        assert all(u.call("PING") == "PONG" for u in local)
        # ... and only those: the reserve is bounded too.
        extra = Client(path=d.unix_path)
        r = extra.read_reply()
        assert isinstance(r, RespError) and "max number of clients" in r
        assert all(c.call("PING") == "PONG" for c in tcp)


def test_slow_and_idle_strangers_are_closed_at_the_auth_deadline():
    with Daemon() as d:
        clock = d.client()
        idle = d.client(auth=False)
        slow = d.client(auth=False)
        pinger = d.client(auth=False)
        late_login = d.client(auth=False)
        token = clock.call("AGENT.ADD", "bob", "agent", "QUEUES", "support")
        bob = Client(d.port)
        assert bob.call("AUTH", "bob", token) == "OK"
        clock.call("DEBUG.CLOCK", "ADVANCE", 5)
        bob_session = d.client(auth=False)
        assert bob_session.call("AUTH", "bob", token) == "OK"
        for _ in range(4):  # a slowloris: one byte a second; a pinger: complete commands
            slow.send_raw(b"A")
            assert pinger.call("PING") == "PONG"
            clock.call("DEBUG.CLOCK", "ADVANCE", 1)
        # 9 s after accept: still there; nothing they sent moved their deadline.
        assert nothing_more(idle) and nothing_more(slow) and pinger.call("PING") == "PONG"
        assert late_login.call("AUTH", "admin", d.token) == "OK"  # in time: stays
        slow.send_raw(b"U")
        # An agent disabled now is a stranger again: its deadline starts now.
        assert clock.call("AGENT.DISABLE", "bob") == "OK"
        clock.call("DEBUG.CLOCK", "ADVANCE", 1)
        for stranger in (idle, slow, pinger):
            r = stranger.read_reply()
            assert isinstance(r, RespError) and r.code == "NOAUTH" and "auth_timeout" in r, r
            assert stranger.is_closed()
        assert late_login.call("PING") == "PONG"
        assert bob.call("PING") == "PONG"  # lost its rights, not its connection (yet)
        clock.call("DEBUG.CLOCK", "ADVANCE", 8)
        assert bob.call("PING") == "PONG"
        clock.call("DEBUG.CLOCK", "ADVANCE", 1)
        assert bob.read_reply().code == "NOAUTH" and bob.is_closed()
        assert bob_session.is_closed()
        assert info(clock)["auth_timeouts"] == "5"


def test_auth_off_trusts_every_connection():
    # With auth = no there is no stranger: no strangers' limit, no AUTH deadline.
    with Daemon(config="auth = no\nmax_unauthenticated_clients = 1\n") as d:
        clients = [d.client(auth=False) for _ in range(5)]
        assert all(c.call("PING") == "PONG" for c in clients)
        clients[0].call("DEBUG.CLOCK", "ADVANCE", 3600)
        assert all(c.call("PING") == "PONG" for c in clients)
        assert info(clients[0])["unauthenticated_clients"] == "0"


def test_pipelined_wrong_auths_are_answered_one_per_delay():
    with Daemon(config="auth_timeout = 60\n") as d:
        clock = d.client()
        guesser = d.client(auth=False)
        guesser.send_raw(b"".join(Client.encode("AUTH", "admin", "guess-%d" % i) for i in range(1000))
                         + Client.encode("PING"))
        # Two failures are free; the 3rd costs 100 ms, and the delay holds
        # everything pipelined behind it, not only the next AUTH.
        replies = [guesser.read_reply() for _ in range(3)]
        assert all(r.code == "NOAUTH" for r in replies)
        assert nothing_more(guesser)
        answered = 3
        for delay_ms in (100, 200, 400, 800, 1600, 2000):
            clock.call("DEBUG.CLOCK", "ADVANCE", 2)   # past the delay: exactly one more answer
            assert guesser.read_reply().code == "NOAUTH"
            answered += 1
            assert nothing_more(guesser), "more than one answer per delay"
        # The 10th failure closes the connection; the rest of the pipeline never ran.
        clock.call("DEBUG.CLOCK", "ADVANCE", 2)
        assert guesser.read_reply().code == "NOAUTH"
        assert guesser.is_closed()
        numbers = info(clock)
        assert numbers["auth_failures"] == "10" and numbers["auth_top_sources"] == "127.0.0.1=10"
        assert int(numbers["total_commands_processed"]) < 100
        # Each failure is logged with the agent it named and where it came from.
        lines = failed_auth_lines(d, 10)
        assert len(lines) == 10, lines
        last = lines[-1]
        assert "agent=admin" in last and re.search(r"address=127\.0\.0\.1:\d+ source=127\.0\.0\.1 ", last), last
        assert "connection_failures=10 source_failures=10" in last, last


def test_reconnecting_keeps_the_count_and_other_addresses_are_not_held():
    # The clock moves 11 s below: a longer auth_timeout keeps the waiting
    # connections clear of their AUTH deadline, however early they were accepted.
    with Daemon(config="auth_timeout = 60\n") as d:
        clock = d.client()
        first = d.client(auth=False)
        assert [first.call("AUTH", "admin", "guess-%d" % i).code for i in range(3)] == ["NOAUTH"] * 3
        first.close()
        # A fresh connection from the same address does not start from zero:
        # its AUTH waits for the address's turn.
        second = d.client(auth=False)
        second.send("AUTH", "admin", "guess-3")
        assert nothing_more(second)
        assert info(clock)["auth_top_sources"] == "127.0.0.1=3"
        # Meanwhile another address authenticates at once, and its typos are its own.
        other = connect_from(d, "127.0.0.2")
        assert other.call("AUTH", "admin", "typo").code == "NOAUTH"
        assert other.call("AUTH", "admin", d.token) == "OK"
        assert nothing_more(second)
        clock.call("DEBUG.CLOCK", "ADVANCE", 1)
        assert second.read_reply().code == "NOAUTH"
        assert info(clock)["auth_top_sources"] == "127.0.0.1=4,127.0.0.2=1"
        lines = failed_auth_lines(d, 5)      # 3 + the other address's typo + 1
        assert len(lines) == 5, lines
        last = lines[-1]
        assert re.search(r"source=127\.0\.0\.1 client=\d+ connection_failures=1 source_failures=4 ", last), last
        # Many connections at once get no more turns than one: one AUTH per delay.
        many = [d.client(auth=False) for _ in range(5)]
        for c in many:
            c.send("AUTH", "admin", "guess")
        for _ in range(5):
            clock.call("DEBUG.CLOCK", "ADVANCE", 2)
            answered = first_answered(many)
            assert answered.read_reply().code == "NOAUTH"
            many.remove(answered)
            assert all(nothing_more(c) for c in many), "two answers in one turn"
        # The right token from the held address is delayed, never refused.
        rightful = d.client(auth=False)
        rightful.send("AUTH", "admin", d.token)
        assert nothing_more(rightful)
        clock.call("DEBUG.CLOCK", "ADVANCE", 2)
        assert rightful.read_reply() == "OK"
        assert info(clock)["auth_top_sources"] == "127.0.0.1=9,127.0.0.2=1"
        # Time forgets: one failure a minute.
        clock.call("DEBUG.CLOCK", "ADVANCE", 3600)
        assert info(clock)["auth_top_sources"] == ""


def test_local_peers_count_as_one_source():
    with Daemon() as d:
        u = Client(path=d.unix_path)
        assert u.call("AUTH", "admin", "wrong").code == "NOAUTH"
        assert Client(path=d.unix_path).call("AUTH", "nobody", "wrong").code == "NOAUTH"
        assert info(d.unix_client())["auth_top_sources"] == "unix=2"


def test_a_stranger_that_never_reads_is_cut_off_at_a_small_output_buffer():
    # Before AUTH a connection gets PONGs and errors only; one that pipelines big PINGs and never
    # reads is disconnected once 64 KiB wait for it, not at the 16 MiB an agent may hold.
    with Daemon() as d:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", d.port))
        s.setblocking(False)
        payload = b"x" * 8000
        frame = b"*2\r\n$4\r\nPING\r\n$%d\r\n%s\r\n" % (len(payload), payload)
        sent, deadline = 0, time.monotonic() + 20
        while sent < 4 * 1024 * 1024 and time.monotonic() < deadline:
            try:
                sent += s.send(frame)
            except BlockingIOError:
                if "client output over limit" in d.log():
                    break
                select.select([], [s], [], 0.05)
            except (ConnectionResetError, BrokenPipeError):
                break
        while "client output over limit" not in d.log() and time.monotonic() < deadline:
            select.select([], [], [], 0.05)
        line = [l for l in d.log().splitlines() if "client output over limit" in l]
        assert line, "the stranger was never cut off (sent %d bytes)" % sent
        held = int(re.search(r"bytes=(\d+)", line[0]).group(1))
        assert held <= 64 * 1024 + len(payload) + 64, line[0]
        s.close()
        assert d.client().call("PING") == "PONG"
