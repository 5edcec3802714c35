"""What one CASE.OPEN writes: the triaged event carries the sla clocks (no deadline_set
event per clock at intake), the case row carries its next_due from the start, and later
clocks are still announced by their own deadline_set event."""

from harness import Daemon, as_map, open_case, store_value

T0 = 1795167000  # Friday 2026-11-20 17:30 China time (09:30Z)


def detail_pairs(detail):
    pairs = {}
    for part in detail.split():
        if "=" in part:
            key, value = part.split("=", 1)
            pairs[key] = value
    return pairs


def test_triaged_event_carries_the_clocks_of_a_new_case():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = open_case(c, subject="充电器冒烟了 smoke from the charger")
        history = [as_map(e) for e in c.call("CASE.HISTORY", cid)]
        assert [e["kind"] for e in history] == ["opened", "triaged"]
        triaged = detail_pairs(history[1]["detail"])
        case = as_map(c.call("CASE.GET", cid))
        first = dict(p.split("=", 1) for p in case["deadline:first_response"].split())
        resolution = dict(p.split("=", 1) for p in case["deadline:resolution"].split())
        assert triaged["first_response_target"] == first["target"] == "900"
        assert triaged["first_response_due"] == first["due_at"] == str(T0 + 900)
        assert triaged["resolution_target"] == resolution["target"]
        assert triaged["resolution_due"] == resolution["due_at"] == str(T0 + 14400)
        assert triaged["calendar"] == first["calendar"] == "always"
        # The row was written once, with the earliest due as next_due.
        next_due = store_value(d, "SELECT next_due FROM cases WHERE id = ?", (cid,))
        assert next_due == T0 + 900


def test_a_case_resolved_by_its_auto_reply_has_no_clocks_in_its_triage():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = open_case(c, subject="怎么开发票？")
        case = as_map(c.call("CASE.GET", cid))
        assert case["state"] == "resolved" and case["resolution_code"] == "auto_reply"
        history = [as_map(e) for e in c.call("CASE.HISTORY", cid)]
        triaged = detail_pairs(history[1]["detail"])
        assert "first_response_due" not in triaged and "calendar" not in triaged
        # No service-level clock; the follow-up and auto-close timers of any
        # resolved case are armed (issue 14: an auto-replied case is no exception).
        clocks = sorted(k for k in case if k.startswith("deadline:"))
        assert clocks == ["deadline:automation:follow_up_due", "deadline:automation:resolved_days"], clocks


def test_clocks_started_later_are_still_announced():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = open_case(c, subject="快递三天没动 parcel not moving")
        c.call("CASE.WAIT", cid, "CUSTOMER")
        c.call("DEBUG.CLOCK", "ADVANCE", 60)
        c.call("CASE.RESUME", cid)
        history = [as_map(e) for e in c.call("CASE.HISTORY", cid)]
        assert [e["kind"] for e in history[:2]] == ["opened", "triaged"]
        announced = [detail_pairs(e["detail"]) for e in history if e["kind"] == "deadline_set"]
        assert [a["deadline"] for a in announced] == ["next_response"]
        case = as_map(c.call("CASE.GET", cid))
        clock = dict(p.split("=", 1) for p in case["deadline:next_response"].split())
        assert announced[0]["due_at"] == clock["due_at"] and announced[0]["target"] == clock["target"]
