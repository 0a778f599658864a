"""Take a screenshot of a running City IOC page in headless Chromium (for the README and reviews).

    python scripts/screenshot.py http://127.0.0.1:8050/ docs/screenshot.png [--lang en] [--click-division CODE]
"""

from __future__ import annotations

import argparse
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait


def browser(width: int, height: int) -> webdriver.Chrome:
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                f"--window-size={width},{height}", "--lang=zh-CN"):
        opts.add_argument(arg)
    opts.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(options=opts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("out")
    ap.add_argument("--lang", choices=["zh-CN", "en"])
    ap.add_argument("--size", default="1600x900")
    ap.add_argument("--wait-for", default=".division-label", help="CSS selector that must appear first")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    driver = browser(width, height)
    try:
        driver.get(args.url)
        if args.lang:
            driver.execute_script("localStorage.setItem('lang', JSON.stringify(arguments[0]));", args.lang)
            driver.get(args.url)
        try:
            WebDriverWait(driver, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, args.wait_for)))
        except TimeoutException:
            print(f"warning: {args.wait_for} never appeared", file=sys.stderr)
        time.sleep(1.5)  # let tiles, labels and fonts settle before the picture; not a test
        driver.save_screenshot(args.out)
        print(f"saved {args.out}")
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
