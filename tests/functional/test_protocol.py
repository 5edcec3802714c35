"""Protocol: RESP2 and inline framing, pipelining, limits, bad frames, backpressure."""
import socket

from harness import TRANSPORT_ONLY, Client, Daemon, RespError, as_map, open_case

STORES, STORES_REASON = ("sqlite",), TRANSPORT_ONLY


def test_ping_hello_info_quit():
    with Daemon() as d:
        c = d.client()
        assert c.call("PING") == "PONG"
        assert c.call("PING", "hello world") == "hello world"
        hello = as_map(c.call("HELLO"))
        assert hello["server"] == "redress" and hello["proto"] == 2
        assert c.call("HELLO", "2")[0] == "server"
        assert c.call("HELLO", "4").code == "NOPROTO"  # 3 is RESP3: tests/functional/test_resp3.py
        info = c.call("INFO")
        assert "redress_version:" in info and "connected_clients:" in info and "commits:" in info
        store = c.call("INFO", "store")
        assert store.startswith("# Store") and "commits:" in store and "connected_clients" not in store
        assert c.call("INFO", "CLIENTS").startswith("# Clients")
        assert c.call("INFO", "nonsense") == ""
        assert c.call("QUIT") == "OK"
        assert c.is_closed()


def test_inline_commands_and_quotes():
    with Daemon() as d:
        c = d.client()
        c.send_raw("PING\r\n")
        assert c.read_reply() == "PONG"
        c.send_raw("ping\n")  # LF alone, lower case
        assert c.read_reply() == "PONG"
        c.send_raw('PING "two words\\n\\x41"\r\n')
        assert c.read_reply() == "two words\nA"
        c.send_raw("PING 'it''s'\r\n")  # closing quote followed by a quote: unbalanced
        r = c.read_reply()
        assert isinstance(r, RespError) and "unbalanced quotes" in r
        assert c.is_closed()
        c = d.client()
        c.send_raw('CASE.OPEN customer C-9 subject "画面 broken" amount 10.50\r\n')
        cid = c.read_reply()
        assert as_map(c.call("CASE.GET", cid))["subject"] == "画面 broken"
        c.send_raw("\r\n   \r\nPING\r\n")  # empty lines are skipped
        assert c.read_reply() == "PONG"


def test_pipelined_mixed_frames_in_order():
    with Daemon() as d:
        c = d.client()
        c.send_raw(b"PING\r\n" + Client.encode("PING", "a") + b"PING b\r\n" +
                   Client.encode("CASE.OPEN", "customer", "C", "subject", "s") + b"*0\r\n" +
                   Client.encode("CASE.GET", "1") + b"PING c\r\n")
        assert c.read_reply() == "PONG"
        assert c.read_reply() == "a"
        assert c.read_reply() == "b"
        assert c.read_reply() == 1
        assert as_map(c.read_reply())["id"] == "1"
        assert c.read_reply() == "c"


def test_byte_at_a_time():
    with Daemon() as d:
        c = d.client()
        frame = Client.encode("PING", "x\r\ny") + b"PING\r\n"
        for i in range(len(frame)):
            c.send_raw(frame[i:i + 1])
        assert c.read_reply() == "x\r\ny"
        assert c.read_reply() == "PONG"


def expect_error_and_close(d, payload, code, text):
    c = d.client()
    c.send_raw(payload)
    r = c.read_reply()
    assert isinstance(r, RespError), r
    assert r.code == code and text in r, r
    assert c.is_closed()
    # The daemon keeps serving others.
    other = d.client()
    assert other.call("PING") == "PONG"


def test_malformed_frames_get_an_error_and_close():
    with Daemon() as d:
        expect_error_and_close(d, b"*abc\r\n", "ERR", "invalid multibulk length")
        expect_error_and_close(d, b"*1\r\n+PING\r\n", "ERR", "expected '$'")
        expect_error_and_close(d, b"*1\r\n$x\r\n", "ERR", "invalid bulk length")
        expect_error_and_close(d, b"*1\r\n$-5\r\n", "ERR", "invalid bulk length")
        expect_error_and_close(d, b"*1\r\n$4\r\nPINGxx", "ERR", "CRLF")
        expect_error_and_close(d, b'PING "unterminated\r\n', "ERR", "unbalanced quotes")
        expect_error_and_close(d, b"\x00\xff\x13garbage \"\x01\r\n", "ERR", "unbalanced")


def test_limits_at_limit_and_over():
    config = "max_inline = 1024\nmax_bulk = 2048\nmax_args = 16\nmax_command = 8192\n"
    with Daemon(config=config) as d:
        c = d.client()
        # Inline: a line of exactly 1024 bytes is served; 1025 is refused.
        line = b"PING " + b"a" * (1024 - 5)
        c.send_raw(line + b"\r\n")
        assert c.read_reply() == "a" * 1019
        expect_error_and_close(d, b"PING " + b"a" * 1100, "LIMIT", "inline")
        c = d.client()
        assert c.call("PING", "b" * 2048) == "b" * 2048
        expect_error_and_close(d, Client.encode("PING", "b" * 2049), "LIMIT", "bulk")
        c = d.client()
        assert c.call("CASE.LIST", *(["LIMIT", "5"] * 7 + ["AFTER"])).code == "INVALID"  # 16 args ok
        expect_error_and_close(d, Client.encode(*(["PING"] * 17)), "LIMIT", "too many arguments")
        expect_error_and_close(d, b"PING" + b" x" * 17 + b"\r\n", "LIMIT", "too many arguments")
        expect_error_and_close(d, Client.encode("PING", "c" * 2000, *(["d" * 2000] * 4)), "LIMIT",
                               "command too large")


def test_ten_thousand_arguments_refused_with_defaults():
    with Daemon() as d:
        expect_error_and_close(d, Client.encode(*(["PING"] * 10000)), "LIMIT", "too many arguments")
        expect_error_and_close(d, b"*10000\r\n", "LIMIT", "too many arguments")


def test_oversize_bulk_with_defaults_closes_without_reading_it():
    with Daemon() as d:
        expect_error_and_close(d, b"*2\r\n$4\r\nPING\r\n$2000000\r\n", "LIMIT", "bulk")


def test_http_request_is_dropped_silently():
    with Daemon() as d:
        for first in (b"POST / HTTP/1.1\r\n", b"GET / HTTP/1.1\r\n", b"Host: example\r\n"):
            c = d.client(auth=False)
            c.send_raw(first + b"\r\n")
            assert c.is_closed() and c.buf == b""
        assert d.client().call("PING") == "PONG"


def test_client_that_never_reads_is_cut_off():
    with Daemon(config="output_limit = 65536\n") as d:
        slow = d.client(timeout=5)
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        big = Client.encode("PING", "z" * 60000)
        closed = False
        try:
            for _ in range(2000):
                slow.send_raw(big)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            closed = True
        other = d.client()
        assert other.call("PING") == "PONG"
        assert closed or slow.is_closed()
        assert "output_limit_disconnects:1" in other.call("INFO")


def test_idle_clients_are_closed_by_clock_time():
    with Daemon(config="idle_timeout = 60\n") as d:
        idle = d.client()
        assert idle.call("PING") == "PONG"
        driver = d.client()
        driver.call("DEBUG.CLOCK", "ADVANCE", 30)
        assert idle.call("PING") == "PONG"  # activity at +30 s
        driver.call("DEBUG.CLOCK", "ADVANCE", 61)
        assert idle.is_closed()


def test_max_clients():
    with Daemon(config="max_clients = 3\n") as d:
        keep = [d.client() for _ in range(3)]
        for k in keep:
            assert k.call("PING") == "PONG"
        extra = d.client(auth=False)
        r = extra.read_reply()
        assert isinstance(r, RespError) and r.code == "LIMIT" and "max number of clients" in r
        keep[0].call("QUIT")
        assert keep[0].is_closed()
        # A slot is free again (the close is processed before the next accept).
        for _ in range(50):
            c = d.client(auth=False)
            r = c.call("PING")
            if r == "PONG":
                break
        assert r == "PONG"


def test_unix_socket():
    with Daemon() as d:
        assert d.unix_path
        u = d.unix_client()
        assert u.call("PING") == "PONG"
        cid = open_case(u)
        assert as_map(d.client().call("CASE.GET", cid))["id"] == str(cid)


def test_test_clock_commands():
    with Daemon() as d:
        c = d.client()
        assert c.call("DEBUG.CLOCK", "SET", 1000) == 1000
        assert c.call("DEBUG.CLOCK", "ADVANCE", 86400) == 87400
        assert c.call("DEBUG.CLOCK", "GET") == 87400
        assert c.call("DEBUG.CLOCK", "ADVANCE", -1).code == "INVALID"
        assert c.call("DEBUG.CLOCK", "WARP", 1).code == "INVALID"
    with Daemon(test_clock=False) as d:
        r = d.client().call("DEBUG.CLOCK", "SET", 1000)
        assert r.code == "ERR" and "--test-clock" in r


def test_integer_arguments_are_digits_only_and_whole():
    """Every integer argument goes through one parser: digits only (a '-' first where a negative means
    something), at most 18 of them, the whole argument -- so '5\\0junk', ' +7' and '+1' are refused alike."""
    with Daemon() as d:
        c = d.client()
        for bad in [b"5\x00junk", b" +7", b"+7", b"7 ", b"", b"0x10", b"1" * 19, b"-3"]:
            r = c.call("AGENT.STATUS", "admin", "online", "CAPACITY", bad)
            assert isinstance(r, RespError) and r.code == "INVALID", (bad, r)
            for command in (["INCIDENT.LIST", "LIMIT"], ["CASE.LIST", "LIMIT"], ["REFUND.FIND", "LIMIT"],
                            ["CASE.SEARCH", "screen", "LIMIT"], ["STATS.HISTORY", "HOURS"]):
                r = c.call(*command, bad)
                assert isinstance(r, RespError) and r.code == "INVALID", (command, bad, r)
        assert isinstance(c.call("SELECT", b"0\x00junk"), RespError)
        assert isinstance(c.call("HELLO", b"2\x00"), RespError)
        assert c.call("SELECT", "0") == "OK"
        assert c.call("AGENT.STATUS", "admin", "online", "CAPACITY", "7") == "OK"
        assert c.call("AGENT.STATUS", "admin", "online", "CAPACITY", "007") == "OK"
        assert c.call("INCIDENT.LIST", "LIMIT", "5") == []
        assert c.call("DEBUG.CLOCK", "SET", 1767225600) == 1767225600
        for bad in [b"60\x00", b" 60", b"+60", b"-60"]:
            assert c.call("DEBUG.CLOCK", "ADVANCE", bad).code == "INVALID", bad
        assert c.call("DEBUG.CLOCK", "GET") == 1767225600


def test_errors_quote_what_was_sent_with_the_nul_escaped():
    with Daemon() as d:
        c = d.client()
        r = c.call(b"PI\x00NG")
        assert r.code == "ERR" and "unknown command 'PI\\x00NG'" in r, r
        cid = open_case(c)
        r = c.call("CASE.SET", cid, b"PRIORITY\x00junk", "P2")
        assert r.code == "INVALID" and "'PRIORITY\\x00junk'" in r, r
        r = c.call("CASE.LIST", b"STATE", b"open\x00junk")
        assert r.code == "INVALID" and "'open\\x00junk'" in r, r
        r = c.call("REFUND.FIND", b"LIM\x01IT", "5")
        assert r.code == "INVALID" and "'LIM\\x01IT'" in r, r
        assert c.call("PING") == "PONG"


def test_arguments_handed_on_as_c_strings_refuse_a_nul():
    """A hook, a field name, a rules directory, a CLIENT KILL address would be read up to a NUL: refused."""
    with Daemon(rules="shipped") as d:
        c = d.client()
        for args in (["RULES.EVAL", b"triage\x00junk"], ["RULES.EVAL", "classify", b"subject\x00x", "hi"],
                     ["RULES.STAGE", b"/tmp\x00junk"], ["CLIENT", "KILL", b"127.0.0.1:1\x00junk"],
                     ["CLIENT", "KILL", "ADDR", b"127.0.0.1:1\x00junk"]):
            r = c.call(*args)
            assert isinstance(r, RespError) and r.code == "INVALID" and "NUL" in r and "\\x00" in r, (args, r)
        r = c.call("AGENT.ADD", b"ann\x00junk", "agent")
        assert r.code == "INVALID" and "'ann\\x00junk'" in r, r
        assert c.call("PING") == "PONG"
