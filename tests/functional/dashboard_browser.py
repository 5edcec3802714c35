"""dashboard_browser.py -- what the dashboard drivers (dashboard_driver.py, dashboard_history_driver.py)
share: their command line and JSON line (run), headless Chromium (Debian chromium, chromium-driver,
python3-selenium) set up the same way, a supervisor's login with a token, the console's errors, and what is
kept of a failure.  Imported by the drivers under the system python3 (where Debian's selenium is); never
collected as a test itself.
"""
import json
import os
import sys

from harness import Client
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1900",
         "--lang=en-US", "--no-first-run", "--disable-extensions")
WAIT = 30  # seconds: real I/O (the browser, the event stream)


def run(drive):
    """A driver's main: its command line is HTTP_PORT RESP_PORT ADMIN_TOKEN SUPERVISOR_TOKEN OUTPUT_DIR;
    drive(browser, wait, base, admin, supervisor_token, out) does the steps and returns what it saw, printed as
    one JSON line.  A failure keeps the page in OUTPUT_DIR and exits non-zero."""
    http_port, resp_port, admin_token, supervisor_token, out = sys.argv[1:6]
    os.makedirs(out, exist_ok=True)
    admin = Client(int(resp_port), token=admin_token)
    browser = start()
    try:
        seen = drive(browser, WebDriverWait(browser, WAIT), "http://127.0.0.1:%s" % http_port, admin,
                     supervisor_token, out)
    except Exception:
        keep_failure(browser, out)
        raise
    finally:
        browser.quit()
        admin.close()
    print(json.dumps(seen))


def start():
    """A headless Chromium, the same for every driver (window size and language fixed for the pictures)."""
    options = webdriver.ChromeOptions()
    for flag in FLAGS:
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def log_in(browser, wait, base, token):
    """Opens the dashboard at base and logs in with token, once; returns when the app is shown and its
    event stream is connected (see wait_live)."""
    browser.get(base + "/")
    wait.until(ec.visibility_of_element_located((By.ID, "login-view")))
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
    wait.until(ec.visibility_of_element_located((By.ID, "app")))
    wait_live(browser, wait)


def wait_live(browser, wait):
    """Waits for the page's event stream to be open (app.js sets #who[data-live="1"] in its onopen): a stream
    starts at "now", so an event committed before it connected never reaches the page -- a driver that
    acts over RESP before this would wait for an event that is never shown."""
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, '#who[data-live="1"]'))


def console_errors(browser):
    """The console's SEVERE messages, but the one 401 the page expects (it asks who it is before logging in)."""
    return [e["message"] for e in browser.get_log("browser") if e.get("level") == "SEVERE"
            and not ("/api/session" in e["message"] and "401" in e["message"])]


def keep_failure(browser, out):
    """The page's picture, source and console, kept in out when a driver fails."""
    browser.save_screenshot(os.path.join(out, "failure.png"))
    with open(os.path.join(out, "failure.html"), "w") as f:
        f.write(browser.page_source)
    with open(os.path.join(out, "failure-console.txt"), "w") as f:
        f.write(json.dumps(browser.get_log("browser"), indent=1))
