"""A day of simulated time: 240 cases opened through a Friday and Saturday in China,
P1 (around the clock) and P3 (business hours), some answered (and some of those
resolved), some waiting on the customer.  Every warning, breach, pause and
automation (follow-up survey, reminders, auto-close) must happen at the instant
computed here, independently of the daemon (Python's zoneinfo, minute by minute)."""
import datetime
import random
import zoneinfo

from harness import Daemon, as_map

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
START = 1795132800  # Friday 2026-11-20 08:00 China time (00:00Z)
WEEK = {0: [(9, 18)], 1: [(9, 18)], 2: [(9, 18)], 3: [(9, 18)], 4: [(9, 18)], 5: [(10, 16)], 6: []}  # Monday = 0


def working(instant):
    local = datetime.datetime.fromtimestamp(instant, SHANGHAI)
    return any(start <= local.hour < end for start, end in WEEK[local.weekday()])


def business_add(start, seconds, always):
    """The instant after `seconds` of working time from `start`, second by second in minutes."""
    if always:
        return start + seconds
    t = start
    while seconds > 0:
        if working(t):
            step = min(seconds, 60 - t % 60)
            seconds -= step
            t += step
        else:
            t += 60 - t % 60
    return t


P3_SUBJECTS = ["parcel late", "wrong item", "price drop", "app crash"]


def test_a_simulated_day():
    rng = random.Random(20261120)
    plans, now = [], START
    for i in range(240):
        now += rng.randint(60, 400)
        urgent = i % 3 == 0
        plan = {"index": i, "opened": now, "always": urgent, "target": 900 if urgent else 4 * 3600, "stop": None}
        choice = rng.random()
        if choice < 0.3:
            plan["stop"], plan["action"] = now + rng.randint(60, 2 * plan["target"]), "reply"
            if i % 2 == 0:
                plan["resolve"] = plan["stop"] + rng.randint(60, 3600)
        elif choice < 0.45:
            plan["stop"], plan["action"] = now + rng.randint(30, plan["target"] // 2), "wait"
        # Computed here, independently: when the first-response clock must warn and breach.
        plan["warn"] = business_add(now, plan["target"] * 75 // 100, urgent)
        plan["due"] = business_add(now, plan["target"], urgent)
        plans.append(plan)
    # One timeline: openings, agent actions, and the expected firing instants
    # themselves, so the clock stops exactly there.
    timeline = [(p["opened"], 0, "open", p) for p in plans]
    timeline += [(p["stop"], 1, p["action"], p) for p in plans if p["stop"]]
    timeline += [(p["resolve"], 1, "resolve", p) for p in plans if p.get("resolve")]
    timeline += [(p[k], 2, "tick", p) for p in plans for k in ("warn", "due")]
    # Automations of the shipped rules: survey 1 day and close 7 days after
    # resolution; reminders every 2 days while waiting, closed after 8.
    day = 86400
    for p in plans:
        if p.get("resolve"):
            p["survey_at"], p["close_at"] = p["resolve"] + day, p["resolve"] + 7 * day
        elif p["stop"] and p["action"] == "wait":
            p["reminders"] = [p["stop"] + 2 * day, p["stop"] + 4 * day, p["stop"] + 6 * day]
            p["close_at"] = p["stop"] + 8 * day
        for instant in [p.get("survey_at"), p.get("close_at")] + p.get("reminders", []):
            if instant:
                timeline.append((instant, 2, "tick", p))
    timeline.sort(key=lambda e: (e[0], e[1], e[3]["index"]))
    with Daemon(rules="shipped") as d:
        c = d.client()
        for at, _, what, p in timeline:
            c.call("DEBUG.CLOCK", "SET", at)
            if what == "open":
                # P3 subjects rotate over four categories, so that no category
                # reaches the shipped rules' spike threshold (10 an hour).
                subject = "充电器冒烟了" if p["always"] else P3_SUBJECTS[p["index"] % 4]
                p["id"] = c.call("CASE.OPEN", "customer", "C-%d" % p["index"], "subject", subject)
                assert isinstance(p["id"], int)
            elif what == "reply":
                assert c.call("CASE.REPLY", p["id"], "on it") == "OK"
            elif what == "wait":
                assert c.call("CASE.WAIT", p["id"], "CUSTOMER") == "OK"
            elif what == "resolve":
                assert c.call("CASE.RESOLVE", p["id"], "done") == "OK"
        checked = 0
        for p in plans:
            history = [as_map(e) for e in c.call("CASE.HISTORY", p["id"])]
            fired = {e["kind"]: int(e["at"]) for e in history
                     if e["kind"] in ("deadline_warning", "deadline_breached")
                     and e["detail"].startswith("deadline=first_response")}
            stopped = p["stop"]
            expect_warning = p["warn"] if stopped is None or p["warn"] < stopped else None
            expect_breach = p["due"] if stopped is None or p["due"] < stopped else None
            if expect_warning == expect_breach:
                expect_warning = None  # both at once: the breach fires alone
            assert fired.get("deadline_warning") == expect_warning, (p, fired)
            assert fired.get("deadline_breached") == expect_breach, (p, fired)
            checked += (expect_warning is not None) + (expect_breach is not None)
            # A clock stopped by waiting on the customer is paused, not met: the
            # case was closed later by the automation, which cancels it.
            at = lambda kind: [int(e["at"]) for e in history if e["kind"] == kind]
            if p["stop"] and p["action"] == "wait" and p["stop"] < p["due"]:
                assert any(e["kind"] == "deadline_paused" and int(e["at"]) == p["stop"] for e in history), p
            if p.get("survey_at"):
                assert at("survey_requested") == [p["survey_at"]], (p, at("survey_requested"))
                checked += 1
            if p.get("reminders"):
                assert at("reminder") == p["reminders"], (p, at("reminder"))
                checked += 3
            if p.get("close_at"):
                assert at("closed") == [p["close_at"]], (p, at("closed"))
                checked += 1
            elif not p.get("resolve"):
                assert at("closed") == [], p
        assert checked > 250, checked
