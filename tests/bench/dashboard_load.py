"""dashboard_load.py HTTP_PORT TOKEN -- the dashboard's first load in headless Chromium: from navigation
to the first page of open cases painted (every request the page makes at load included), after logging
in; best and median of 5 loads.  Run by tests/bench/http.sh with the system python3 (Debian's selenium)."""
import statistics
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait


def main():
    port, token = sys.argv[1:3]
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1100"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        wait = WebDriverWait(browser, 60)
        base = "http://127.0.0.1:%s/" % port
        browser.get(base)
        wait.until(ec.visibility_of_element_located((By.ID, "login-view")))
        browser.find_element(By.ID, "token").send_keys(token)
        browser.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#open-cases tr[data-case]"))
        times = []
        for _ in range(5):
            started = time.monotonic()
            browser.get(base)
            wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#open-cases tr[data-case]")
                       and b.find_element(By.ID, "sla").text.strip() != "")
            times.append(time.monotonic() - started)
        print("%-34s %9.0f ms best, %.0f ms median of 5 (target < 1000 ms)"
              % ("dashboard first load", min(times) * 1000, statistics.median(times) * 1000))
    finally:
        browser.quit()


if __name__ == "__main__":
    main()
