"""CASE.SEARCH never holds the loop to catch the search index up: within one step of the event
log (500 events) it takes that step and answers; further behind it answers -LOADING naming how far
behind, INFO shows the lag, and the tick's steps (DEBUG.SEARCH STEP runs one by hand, PAUSE holds
them so that a test builds a lag without racing the tick) bring it back."""
import re

from harness import Daemon, RespError, as_map

STEP = 500   # SEARCH_CATCH_UP_EVENTS: the events one step takes in


def ids(reply):
    return [int(as_map(r)["id"]) for r in reply]


def info_behind(c):
    text = c.call("INFO", "cases")
    m = re.search(r"search_index_behind:(\d+)", text)
    assert m, text
    return int(m.group(1))


def test_a_search_within_one_step_catches_up_and_answers():
    with Daemon() as d:
        c = d.client()
        assert c.call("DEBUG.SEARCH", "PAUSE") >= 0
        first = c.call("CASE.OPEN", "customer", "C-1", "subject", "refund for a broken kettle")
        assert info_behind(c) >= 1                       # the tick took no step: the index lags
        # One step is all it takes: the search takes it and finds the case just opened.
        assert ids(c.call("CASE.SEARCH", "kettle")) == [first]
        assert info_behind(c) == 0
        # In one pipeline (one batch, not yet committed) too.
        replies = c.pipeline([("CASE.OPEN", "customer", "C-2", "subject", "kettle again"),
                              ("CASE.SEARCH", "kettle")])
        assert sorted(ids(replies[1])) == sorted([first, replies[0]])


def test_a_search_far_behind_answers_loading_until_the_tick_caught_up():
    with Daemon() as d:
        c = d.client()
        c.call("DEBUG.SEARCH", "PAUSE")
        baseline = c.call("CASE.OPEN", "customer", "C-0", "subject", "parcel aardvark")
        assert ids(c.call("CASE.SEARCH", "aardvark")) == [baseline]
        assert c.call("DEBUG.SEARCH", "STEP") == 0
        opened = c.pipeline([("CASE.OPEN", "customer", "C-%d" % i, "subject", "parcel number %d" % i)
                             for i in range(1, 650)])
        assert all(isinstance(r, int) for r in opened), opened[:3]
        last = c.call("CASE.OPEN", "customer", "C-9", "subject", "parcel zebra")
        behind = info_behind(c)
        assert behind >= 650, behind
        r = c.call("CASE.SEARCH", "zebra")
        assert isinstance(r, RespError) and r.code == "LOADING", r
        assert "search index is catching up: %d events behind" % behind in r, r
        # Nothing was indexed by the refused search; a search of what was indexed long ago waits too.
        assert info_behind(c) == behind
        r = c.call("CASE.SEARCH", "aardvark")
        assert isinstance(r, RespError) and r.code == "LOADING", r
        # The tick's step (run by hand): 500 events a step, then the search answers.
        after = c.call("DEBUG.SEARCH", "STEP")
        assert after == behind - STEP, (behind, after)
        assert info_behind(c) == after
        while after > STEP:
            after = c.call("DEBUG.SEARCH", "STEP")
        assert ids(c.call("CASE.SEARCH", "zebra")) == [last]
        assert info_behind(c) == 0
        assert ids(c.call("CASE.SEARCH", "aardvark")) == [baseline]
        assert len(c.call("CASE.SEARCH", "parcel", "LIMIT", 100)) == 100
        assert ids(c.call("CASE.SEARCH", "number 17")) == [opened[16]]


def test_debug_search_is_for_admins_on_the_test_clock():
    with Daemon() as d:
        c = d.client()
        r = c.call("DEBUG.SEARCH", "FASTER")
        assert isinstance(r, RespError) and r.code == "INVALID", r
        assert c.call("DEBUG.SEARCH", "RESUME") == 0
    with Daemon(test_clock=False) as d:
        r = d.client().call("DEBUG.SEARCH", "PAUSE")
        assert isinstance(r, RespError), r
