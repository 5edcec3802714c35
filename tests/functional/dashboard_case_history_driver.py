"""dashboard_case_history_driver.py -- a case's long history in the dashboard, in headless Chromium (Debian
chromium, chromium-driver, python3-selenium): the case view shows the newest page of events and says older
ones are left; "show older events" prepends the page before, until none is left.  Run by
test_dashboard_history.py with the system python3, never collected as a test itself:

    /usr/bin/python3 dashboard_case_history_driver.py HTTP_PORT RESP_PORT ADMIN_TOKEN SUPERVISOR_TOKEN OUTPUT_DIR

Prints one JSON line of what it saw; exits non-zero on a failure.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashboard_browser  # noqa: E402

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402


def shown(browser):
    """The event ids in the case view's history, top to bottom, read at once (a live event redraws the list)."""
    return [int(i) for i in browser.execute_script(
        "return [...document.querySelectorAll('#case-history li')].map((li) => li.dataset.id)")]


def drive(browser, wait, base, admin, supervisor_token, out):
    """A case with 250 notes, opened in the dashboard and paged back to its first event (dashboard_browser.run
    calls it); returns what it saw."""
    seen = {}
    dashboard_browser.log_in(browser, wait, base, supervisor_token)
    cid = admin.call("CASE.OPEN", "customer", "C-long", "subject", "the screen is cracked")
    assert isinstance(cid, int), cid
    assert admin.pipeline([("CASE.NOTE", cid, "note %d" % i) for i in range(250)]) == ["OK"] * 250
    seen["case"] = cid
    browser.execute_script("showCase(arguments[0])", cid)
    wait.until(lambda b: b.find_element(By.ID, "case-id").text == str(cid) and len(shown(b)) > 0)
    button = browser.find_element(By.ID, "older-load")
    seen["first_page"] = shown(browser)
    seen["control_first"] = button.is_displayed()
    seen["note_first"] = browser.find_element(By.ID, "older-note").text
    # The note and the button in Chinese too, and back.
    browser.find_element(By.ID, "lang").click()
    wait.until(lambda b: b.find_element(By.ID, "older-load").text == "显示更早的事件")
    seen["note_zh"] = browser.find_element(By.ID, "older-note").text
    browser.find_element(By.ID, "lang").click()
    wait.until(lambda b: b.find_element(By.ID, "older-load").text == "Show older events")
    # One page older with the mouse...
    button.click()
    wait.until(lambda b: len(shown(b)) > len(seen["first_page"]))
    seen["second_page"] = shown(browser)
    seen["control_second"] = button.is_displayed()
    seen["note_second"] = browser.find_element(By.ID, "older-note").text
    browser.save_screenshot(os.path.join(out, "case-history.png"))
    # ...and the last one from the keyboard (Enter on the focused button).
    button.send_keys(Keys.ENTER)
    wait.until(lambda b: not b.find_element(By.ID, "older").is_displayed())
    seen["all"] = shown(browser)
    seen["control_last"] = button.is_displayed()
    seen["focused"] = browser.execute_script("return document.activeElement.dataset.id || ''")
    seen["console_errors"] = dashboard_browser.console_errors(browser)
    return seen


if __name__ == "__main__":
    dashboard_browser.run(drive)
