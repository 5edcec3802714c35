"""EVENTS.SUBSCRIBE: pushed after commit, filtered by queue, readable by redis-cli, slow subscribers cut off."""
import socket
import subprocess

from harness import Daemon, RespError, as_map, open_case

T0 = 1795167000


def test_subscribers_get_committed_events_of_their_queues():
    with Daemon(rules="shipped") as d:
        everything, logistics = d.client(), d.client()
        assert everything.call("EVENTS.SUBSCRIBE") == ["subscribe", "*", 1]
        assert logistics.call("EVENTS.SUBSCRIBE", "logistics") == ["subscribe", "logistics", 1]
        r = logistics.call("CASE.GET", 1)
        assert isinstance(r, RespError) and "allowed while subscribed" in r
        assert logistics.call("PING") == "PONG"
        agent = d.client()
        agent.call("DEBUG.CLOCK", "SET", T0)
        agent.call("AGENT.ADD", "alice", "agent", "QUEUES", "logistics")
        parcel = open_case(agent, subject="parcel late")          # logistics
        broken = open_case(agent, subject="screen broken")        # support
        agent.call("CASE.ASSIGN", parcel, "alice")
        kind, queue, payload = logistics.read_reply()
        assert (kind, queue) == ("message", "logistics") and "event=opened case=%d" % parcel in payload
        kind, queue, payload = logistics.read_reply()
        assert "event=assigned case=%d" % parcel in payload and "to=alice" in payload
        seen = [everything.read_reply()[2] for _ in range(3)]
        assert "event=opened case=%d" % parcel in seen[0]
        assert "event=opened case=%d queue=support" % broken in seen[1]
        assert "event=assigned" in seen[2]
        # Deadlines: the P3 parcel case warns at 75 % of 4 business hours:
        # 30 min on Friday, 2 h 30 min on Saturday from 10:00 -> 12:30 China time.
        agent.call("DEBUG.CLOCK", "SET", 1795235400)
        pushed = [logistics.read_reply()[2] for _ in range(3)]
        assert "event=deadline_warning case=%d" % parcel in pushed[0] and "actor=timer" in pushed[0], pushed
        assert "event=notification" in pushed[1] and "notify=assignee" in pushed[1], pushed
        assert "event=escalated" in pushed[2] and "event=warning" in pushed[2]
        # Two days later the warning is long past and the breach fires alone.
        agent.call("DEBUG.CLOCK", "ADVANCE", 2 * 86400)
        pushed = [logistics.read_reply()[2] for _ in range(3)]
        assert "event=deadline_breached case=%d" % parcel in pushed[0], pushed
        assert "event=notification" in pushed[1] and "notify=supervisors" in pushed[1], pushed
        assert "event=breach" in pushed[2] and "priority=P3->P2" in pushed[2]
        assert logistics.call("EVENTS.UNSUBSCRIBE") == ["unsubscribe", "*", 0]
        assert as_map(logistics.call("CASE.GET", parcel))["id"] == str(parcel)


def test_failed_commit_publishes_nothing():
    with Daemon() as d:
        watcher = d.client(timeout=1)
        watcher.call("EVENTS.SUBSCRIBE")
        agent = d.client()
        agent.call("DEBUG.STORE", "FAIL-COMMITS", 1)
        assert isinstance(open_case(agent, subject="lost"), RespError)
        kept = open_case(agent, subject="kept")
        message = watcher.read_reply()
        assert "event=opened case=%d" % kept in message[2] and "lost" not in message[2]


def test_redis_cli_subscribe():
    with Daemon() as d:
        proc = subprocess.Popen(d.cli() + ["SUBSCRIBE", "support"], stdout=subprocess.PIPE, text=True)
        first = [proc.stdout.readline().strip() for _ in range(3)]
        assert first == ["subscribe", "support", "1"], first
        cid = open_case(d.client())
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        proc.kill()
        proc.wait()
        assert lines[0] == "message" and lines[1] == "support" and "event=opened case=%d" % cid in lines[2]


def test_slow_subscriber_is_cut_off_without_slowing_others():
    with Daemon(config="subscriber_output_limit = 4096\n") as d:
        slow = d.client(timeout=30)  # a deadline for real I/O: the close arrives after the data the kernel holds
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.call("EVENTS.SUBSCRIBE")
        fast = d.client()
        fast.call("EVENTS.SUBSCRIBE")
        agent = d.client()
        customer = "C" * 128
        # Enough events to fill the kernel's socket buffers and then 4 KiB more.
        for batch in range(100):
            agent.pipeline([["CASE.OPEN", "customer", customer, "subject", "s"]] * 200)
            for _ in range(200):
                assert "event=opened" in fast.read_reply()[2]
            if "subscriber_disconnects:1" in agent.call("INFO"):
                break
        info = agent.call("INFO")
        assert "subscriber_disconnects:1" in info, info
        # The daemon closed it: only fast and agent are left.  (Reading slow
        # to its end proves nothing more and can stall for seconds: with a
        # 4 KiB window under the loopback MSS, the sender waits on its
        # persist timer, which backs off.)
        assert "connected_clients:2\r\n" in info, info
