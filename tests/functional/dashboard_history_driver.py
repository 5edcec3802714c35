"""dashboard_history_driver.py -- the dashboard's history chart and a case's "Explain", in headless
Chromium (Debian chromium, chromium-driver, python3-selenium).  Run by test_dashboard_history.py with the
system python3, never collected as a test itself:

    /usr/bin/python3 dashboard_history_driver.py HTTP_PORT RESP_PORT ADMIN_TOKEN SUPERVISOR_TOKEN OUTPUT_DIR

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


def totals(browser):
    section = browser.find_element(By.ID, "history")
    return {k: int(section.get_attribute("data-" + k) or -1) for k in ("opened", "resolved", "breached")}


def main():
    http_port, resp_port, admin_token, supervisor_token, out = sys.argv[1:6]
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
        wait.until(ec.visibility_of_element_located((By.ID, "login-view")))
        browser.find_element(By.ID, "token").send_keys(supervisor_token)
        browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
        wait.until(ec.visibility_of_element_located((By.ID, "app")))
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
        errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"
                  and not ("/api/session" in e["message"] and "401" in e["message"])]
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
