"""A preset from submit to complete page, as a user meets it: the real lab (`runlab`: web
server, embedded Redis, one Celery worker) in headless Chromium.

    .venv/bin/python bench/bench_preset.py [--preset sharpness] [--epochs 100]

Prints the wall time from clicking Start to the result section reporting complete, the
gap and sharpness rows of the finished page, and the time to load the finished page
(localhost HTTP, median of 5: server time plus a negligible transfer).
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.dashboard.labprocess import launch, log_in, start_lab  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="sharpness")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    lab = start_lab(Path(tempfile.mkdtemp(prefix="bench-preset-")), timeout=180)
    try:
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page()
            log_in(page, lab)
            page.goto(lab.url + "/experiments/new/")
            page.select_option("#id_preset", args.preset)
            if args.epochs:
                page.fill("#id_epochs", str(args.epochs))
            epochs = page.input_value("#id_epochs")
            t0 = time.perf_counter()
            page.click("#experiment-form button[type=submit]")
            page.wait_for_url(re.compile(r"/experiments/\d+/$"))
            page.wait_for_selector('#design-results[data-complete="1"]', timeout=30 * 60 * 1000, state="attached")
            wall = time.perf_counter() - t0
            page.reload()
            print(f"preset {args.preset}, {epochs} epochs: submit to complete page {wall:.1f} s")
            for table in page.locator("#design-results table").all()[:2]:
                print(table.inner_text())
            cookies = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
            times = []
            for _ in range(5):
                request = urllib.request.Request(page.url, headers={"Cookie": cookies, "Accept-Encoding": "gzip"})
                start = time.perf_counter()
                with urllib.request.urlopen(request) as response:
                    response.read()
                times.append(time.perf_counter() - start)
            print(f"finished page load: median {1000 * statistics.median(times):.0f} ms, max {1000 * max(times):.0f} ms")
            browser.close()
    finally:
        lab.stop()


if __name__ == "__main__":
    main()
