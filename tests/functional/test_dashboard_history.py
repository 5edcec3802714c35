"""The dashboard's history charts (STATS.HISTORY, GET /api/history: opened, resolved and breaches per
hour from the event log), a case's decisions (GET /api/cases/{id}/explain), over RESP, HTTP and in
headless Chromium, and the case view's long history paged back with "show older events" (history_before)."""
import os

from harness import as_map, browser_suite, open_case, store_rows
from test_http import HttpDaemon, people, run_dashboard_driver


def disk_hours(d, hours, now):
    """The same counts grouped from the event log (the hours ending with now's)."""
    last = now // 3600
    rows = {h: [0, 0, 0] for h in range(last - hours + 1, last + 1)}
    for at, kind in store_rows(d, "SELECT at, kind FROM events WHERE kind IN ('opened', 'resolved',"
                                  " 'deadline_breached')"):
        if at // 3600 in rows:
            rows[at // 3600][("opened", "resolved", "deadline_breached").index(kind)] += 1
    return [{"at": h * 3600, "opened": o, "resolved": r, "breached": b} for h, (o, r, b) in sorted(rows.items())]


def test_history_counts_follow_the_event_log_per_hour():
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        tokens = people(d, admin)
        first = [open_case(admin, subject="the screen is cracked", customer="C-%d" % i) for i in range(3)]
        assert admin.call("CASE.RESOLVE", first[0], "fixed") == "OK"
        status, _, body = d.get("/api/history?hours=3", token=tokens["sam"])
        assert status == 200 and body["complete"] == 1 and len(body["hours"]) == 3
        assert sum(h["opened"] for h in body["hours"]) == 3 and sum(h["resolved"] for h in body["hours"]) == 1
        # Two hours on, two more cases; days on, the deadlines breach.
        admin.call("DEBUG.CLOCK", "ADVANCE", 2 * 3600)
        later = [open_case(admin, subject="my parcel never arrived", customer="L-%d" % i) for i in range(2)]
        admin.call("DEBUG.CLOCK", "ADVANCE", 5 * 86400)
        assert admin.call("CASE.NOTE", later[0], "settle") == "OK"  # its reply waits for the breaches' commit
        now = int(admin.call("DEBUG.CLOCK", "GET"))
        status, _, body = d.get("/api/history?hours=336", token=tokens["fay"])
        assert status == 200 and body["complete"] == 1
        assert body["hours"] == disk_hours(d, 336, now)
        assert sum(h["breached"] for h in body["hours"]) > 0 and sum(h["opened"] for h in body["hours"]) == 5
        # Over RESP, the same figures; the default is 48 hours.
        reply = as_map(admin.call("STATS.HISTORY"))
        assert reply["complete"] == 1 and len(reply["hours"]) == 48
        assert [as_map(h) for h in reply["hours"]] == disk_hours(d, 48, now)
        # After a restart the counts are read back from the log.
        d.restart()
        admin = d.client()
        now = int(admin.call("DEBUG.CLOCK", "GET"))   # a restarted test clock starts again
        restarted = [as_map(h) for h in as_map(admin.call("STATS.HISTORY", "HOURS", 336))["hours"]]
        assert restarted == disk_hours(d, 336, now) and sum(h["opened"] for h in restarted) > 0
        # Figures across queues are for supervisors, finance and admins; bad input is refused.
        assert d.get("/api/history", token=tokens["ann"])[0] == 403
        assert d.get("/api/history?hours=0", token=tokens["sam"])[0] == 400
        assert d.get("/api/history?hours=337", token=tokens["sam"])[0] == 400
        assert d.get("/api/history?days=2", token=tokens["sam"])[0] == 400
        assert d.request("POST", "/api/history", token=tokens["sam"])[0] == 405
        assert admin.call("STATS.HISTORY", "HOURS").code == "INVALID"
        assert admin.call("STATS.HISTORY", "DAYS", 2).code == "INVALID"


def test_explain_gives_a_cases_decisions_to_those_who_may_see_it():
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        tokens = people(d, admin)
        support = open_case(admin, subject="the screen is cracked")
        status, _, body = d.get("/api/cases/%d/explain" % support, token=tokens["ann"])
        assert status == 200, body
        hooks = [row["hook"] for row in body["decisions"]]
        assert hooks[:3] == ["classify", "priority", "sla"], hooks
        assert "category=" in body["decisions"][0]["output"] and body["decisions"][0]["reason"]
        assert d.get("/api/cases/%d/explain" % support, token=tokens["leo"])[0] == 403   # another queue
        assert d.get("/api/cases/99999/explain", token=tokens["sam"])[0] == 404
        assert d.request("POST", "/api/cases/%d/explain" % support, token=tokens["sam"], body={})[0] == 405


@browser_suite
def test_dashboard_history_chart_and_explain_in_headless_chromium():
    with HttpDaemon("--http-session-seconds", "2592000", rules="shipped") as d:
        admin = d.client()
        tokens = people(d, admin)
        seen, out = run_dashboard_driver(d, "dashboard_history_driver.py",
                                         "test_dashboard_history_chart_and_explain_in_headless_chromium", tokens["sam"])
        assert seen["after_open"]["opened"] == seen["before"]["opened"] + 3
        assert seen["after_open"]["resolved"] == seen["before"]["resolved"] + 1
        assert seen["bars_48h"] == 48 and seen["bars_14d"] in (14, 15)
        assert seen["after_breach_14d"]["breached"] > 0
        assert seen["hooks"][:3] == ["classify", "priority", "sla"] and "category=" in seen["classify_text"]
        assert seen["zh"] and seen["console_errors"] == [], seen["console_errors"]
        assert os.path.getsize(os.path.join(out, "history.png")) > 10000


@browser_suite
def test_dashboard_case_view_pages_older_history_in_headless_chromium():
    with HttpDaemon("--http-session-seconds", "2592000", rules="shipped") as d:
        admin = d.client()
        tokens = people(d, admin)
        seen, out = run_dashboard_driver(d, "dashboard_case_history_driver.py",
                                         "test_dashboard_case_view_pages_older_history_in_headless_chromium",
                                         tokens["sam"])
        every = [int(as_map(e)["id"]) for e in admin.call("CASE.HISTORY", seen["case"])]
        assert len(every) > 250                                     # opened, triage, 250 notes
        # The newest 100, and a note and a button saying older ones are left.
        assert seen["first_page"] == every[-100:] and seen["control_first"]
        assert "100 newest" in seen["note_first"] and "100" in seen["note_zh"] and "更早" in seen["note_zh"]
        # Each press prepends the page before; the last leaves the whole history in order, no button.
        assert seen["second_page"] == every[-200:] and seen["control_second"] and "200 newest" in seen["note_second"]
        assert seen["all"] == every and not seen["control_last"]
        assert seen["focused"] == str(every[0])                    # the keyboard's place is the oldest event
        assert seen["console_errors"] == [], seen["console_errors"]
        assert os.path.getsize(os.path.join(out, "case-history.png")) > 10000
