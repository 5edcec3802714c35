"""dashboard_incidents_driver.py -- the dashboard's incidents panel in headless Chromium (Debian
chromium, chromium-driver, python3-selenium).  Run by test_http_more.py with the system python3, never
collected as a test itself:

    /usr/bin/python3 dashboard_incidents_driver.py HTTP_PORT RESP_PORT ADMIN_TOKEN SUPERVISOR_TOKEN AGENT_TOKEN OUT

Logs in as the supervisor, opens a spike over RESP and waits for its incident to appear (the "opened"
events of the stream refresh the panel), switches to Chinese, then logs in as the support agent.
Prints one JSON line of what it saw; exits non-zero on a failure.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Client  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WAIT = 30  # seconds: real I/O (the browser)


def keys(browser):
    """The panel's incident keys, read in one script: the panel re-renders as events arrive, and rows
    found first and read after could be gone by then (a stale element)."""
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('#incidents tbody tr[data-key]')).map(r => r.dataset.key)")


def login(browser, wait, token):
    wait.until(ec.visibility_of_element_located((By.ID, "login-view")))
    field = browser.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token)
    # a log-in after a log-out: the mark of the previous stream must not count for this one
    browser.execute_script("delete document.getElementById('who').dataset.live")
    browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
    wait.until(ec.visibility_of_element_located((By.ID, "app")))
    # the spike's "opened" events refresh the panel: act only once the page's event stream is connected
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, '#who[data-live="1"]'))


def main():
    http_port, resp_port, admin_token, supervisor_token, agent_token, out = sys.argv[1:7]
    os.makedirs(out, exist_ok=True)
    admin = Client(int(resp_port), token=admin_token)
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1900", "--lang=en-US", "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    seen = {}
    try:
        wait = WebDriverWait(browser, WAIT)
        browser.get("http://127.0.0.1:%s/" % http_port)
        login(browser, wait, supervisor_token)
        wait.until(lambda b: keys(b))
        seen["before"] = keys(browser)
        # A spike over RESP, one case a minute: its incident appears without a reload.
        for i in range(3):
            admin.call("DEBUG.CLOCK", "ADVANCE", 60)
            cid = admin.call("CASE.OPEN", "customer", "O-%d" % i, "subject", "app outage: cannot log in",
                             "channel", "web")
            assert isinstance(cid, int), cid
        wait.until(lambda b: "tag:app" in keys(b) and
                   b.find_element(By.CSS_SELECTOR, "#incidents tr[data-key='tag:app'] td:nth-child(4)").text == "3")
        seen["live"] = keys(browser)
        seen["app_cases"] = browser.find_element(By.CSS_SELECTOR,
                                                 "#incidents tr[data-key='tag:app'] td:nth-child(4)").text
        browser.execute_script("document.getElementById('incidents').scrollIntoView()")
        browser.save_screenshot(os.path.join(out, "incidents.png"))
        browser.find_element(By.ID, "lang").click()
        wait.until(lambda b: "突发事件（激增）" in b.find_element(By.CSS_SELECTOR, "body").text)
        seen["zh"] = True
        browser.find_element(By.ID, "lang").click()
        # The support agent sees the support incident only.
        browser.find_element(By.ID, "logout").click()
        login(browser, wait, agent_token)
        # The panel keeps the supervisor's rows until the agent's list replaces them: wait for the
        # tech incident to go (if it never does, the wait fails and the test with it).
        try:
            wait.until(lambda b: keys(b) and "tag:scanner" not in keys(b))
        except Exception:
            pass
        seen["agent"] = keys(browser)
        errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"
                  and not ("/api/session" in e["message"] and "401" in e["message"])
                  and not ("/api/stats" in e["message"] and "403" in e["message"])
                  and not ("/api/history" in e["message"] and "403" in e["message"])]
        seen["console_errors"] = [e["message"] for e in errors]
    except Exception:
        browser.save_screenshot(os.path.join(out, "failure.png"))
        with open(os.path.join(out, "failure.html"), "w") as f:
            f.write(browser.page_source)
        raise
    finally:
        browser.quit()
        admin.close()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
