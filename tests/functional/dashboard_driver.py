"""dashboard_driver.py -- drives the dashboard in headless Chromium (Debian chromium, chromium-driver,
python3-selenium), the way a supervisor uses it.  Run by test_http.py's dashboard test with the system
python3 (where Debian's selenium is), never collected as a test itself:

    /usr/bin/python3 dashboard_driver.py HTTP_PORT RESP_PORT ADMIN_TOKEN SUPERVISOR_TOKEN OUTPUT_DIR

Prints one JSON line: what it saw (load time, ids) for the test to assert on; exits non-zero on a failure.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashboard_browser  # noqa: E402
from harness import as_map  # noqa: E402

from selenium.webdriver.common.by import By  # noqa: E402


def drive(browser, wait, base, admin, supervisor_token, out):
    """What a supervisor does, step by step (dashboard_browser.run calls it); returns what it saw."""
    seen = {}
    dashboard_browser.log_in(browser, wait, base, supervisor_token)
    wait.until(lambda b: "sam" in b.find_element(By.ID, "who").text)
    cookies = browser.get_cookies()
    seen["cookie_http_only"] = all(c["httpOnly"] for c in cookies if c["name"] == "redress_session")
    seen["token_in_storage"] = browser.execute_script(
        "return JSON.stringify(localStorage).includes(arguments[0]) || "
        "JSON.stringify(sessionStorage).includes(arguments[0])", supervisor_token)
    # A case opened over RESP appears live: in the feed and in the open cases.
    case = admin.call("CASE.OPEN", "customer", "C-1", "subject", "the screen is cracked", "order", "O-1",
                      "amount", "100.00")
    assert isinstance(case, int), case
    seen["case"] = case
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#feed li.opened[data-case='%d']" % case))
    row = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#open-cases tr[data-case='%d']" % case))
    # Open it, see its history, reassign it.
    row[0].click()
    wait.until(lambda b: b.find_element(By.ID, "case-id").text == str(case))
    wait.until(lambda b: "opened" in b.find_element(By.ID, "case-history").text)
    browser.find_element(By.ID, "assign-agent").send_keys("ann")
    browser.find_element(By.CSS_SELECTOR, "#assign-form button[type=submit]").click()
    wait.until(lambda b: b.find_element(By.ID, "action-result").text == "Done")
    seen["assignee"] = as_map(admin.call("CASE.GET", case))["assignee"]
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#feed li.assigned[data-case='%d']" % case))
    # A breach on the test clock appears as it happens.
    admin.call("DEBUG.CLOCK", "ADVANCE", str(4 * 86400))
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#feed li.deadline_breached[data-case='%d']" % case))
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#breached-cases tr[data-case='%d']" % case))
    seen["breached_shown"] = True
    time.sleep(0.5)  # let the debounced refresh paint before the picture (a screenshot, not a wait for state)
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(os.path.join(out, "dashboard.png"))
    # Chinese, from the same page.
    browser.find_element(By.ID, "lang").click()
    wait.until(lambda b: "各队列积压" in b.page_source)
    browser.save_screenshot(os.path.join(out, "dashboard-zh.png"))
    seen["zh"] = True
    # First load time of the page with its data (navigation start to the first refresh painted).
    started = time.monotonic()
    browser.get(base + "/")
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#open-cases tr[data-case]")
               or b.find_elements(By.CSS_SELECTOR, "#breached-cases tr[data-case]"))
    seen["load_seconds"] = time.monotonic() - started
    seen["console_errors"] = dashboard_browser.console_errors(browser)
    return seen


if __name__ == "__main__":
    dashboard_browser.run(drive)
