"""dashboard_history_driver.py -- the dashboard's history chart and a case's "Explain", in headless
Chromium (Debian chromium, chromium-driver, python3-selenium).  Run by test_dashboard_history.py with the
system python3, never collected as a test itself:

    /usr/bin/python3 dashboard_history_driver.py HTTP_PORT RESP_PORT ADMIN_TOKEN SUPERVISOR_TOKEN OUTPUT_DIR

Prints one JSON line of what it saw; exits non-zero on a failure.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashboard_browser  # noqa: E402

from selenium.webdriver.common.by import By  # noqa: E402


def totals(browser):
    section = browser.find_element(By.ID, "history")
    return {k: int(section.get_attribute("data-" + k) or -1) for k in ("opened", "resolved", "breached")}


def drive(browser, wait, base, admin, supervisor_token, out):
    """The history chart and Explain, step by step (dashboard_browser.run calls it); returns what it saw."""
    seen = {}
    dashboard_browser.log_in(browser, wait, base, supervisor_token)
    wait.until(lambda b: totals(b)["opened"] >= 0)
    seen["before"] = totals(browser)
    # Cases opened and one resolved over RESP show in the chart of the last 48 hours.
    ids = [admin.call("CASE.OPEN", "customer", "C-%d" % i, "subject", "the screen is cracked") for i in range(3)]
    assert all(isinstance(i, int) for i in ids), ids
    assert admin.call("CASE.RESOLVE", ids[0], "fixed") == "OK"
    hours = browser.find_element(By.CSS_SELECTOR, "#history button[data-range='48']")
    hours.click()
    wait.until(lambda b: totals(b)["opened"] == seen["before"]["opened"] + 3 and totals(b)["resolved"] ==
               seen["before"]["resolved"] + 1)
    seen["after_open"] = totals(browser)
    seen["bars_48h"] = len(browser.find_elements(By.CSS_SELECTOR, "#history-chart rect.opened"))
    # Deadlines breach on the test clock: the breaches appear, and the 14-day view sums the same days.
    admin.call("DEBUG.CLOCK", "ADVANCE", str(4 * 86400))
    admin.call("CASE.NOTE", ids[1], "after the clock")  # its reply waits for the breaches' commit
    browser.find_element(By.CSS_SELECTOR, "#history button[data-range='336']").click()
    wait.until(lambda b: totals(b)["breached"] > 0)
    seen["after_breach_14d"] = totals(browser)
    seen["bars_14d"] = len(browser.find_elements(By.CSS_SELECTOR, "#history-chart rect.opened"))
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(os.path.join(out, "history.png"))
    # A case's decisions, from its Explain button.
    browser.execute_script("showCase(arguments[0])", ids[1])
    wait.until(lambda b: b.find_element(By.ID, "case-id").text == str(ids[1]))
    browser.find_element(By.ID, "explain").click()
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#case-decisions tr[data-hook='classify']"))
    seen["hooks"] = [r.get_attribute("data-hook") for r in
                     browser.find_elements(By.CSS_SELECTOR, "#case-decisions tbody tr")]
    seen["classify_text"] = browser.find_element(By.CSS_SELECTOR,
                                                 "#case-decisions tr[data-hook='classify']").text
    browser.save_screenshot(os.path.join(out, "explain.png"))
    # In Chinese too.
    browser.find_element(By.ID, "lang").click()
    wait.until(lambda b: "新建、解决与超时" in b.page_source and "决策说明" in b.page_source)
    seen["zh"] = True
    seen["console_errors"] = dashboard_browser.console_errors(browser)
    return seen


if __name__ == "__main__":
    dashboard_browser.run(drive)
