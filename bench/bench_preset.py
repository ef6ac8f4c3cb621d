"""A preset from submit to complete page, as a user meets it: the real lab (`runlab`: web
server, embedded Redis, a Celery worker per core) in headless Chromium.

    .venv/bin/python bench/bench_preset.py [--preset sharpness] [--epochs 100] [--away] [--cli]

Prints the wall time from clicking Start to the result section reporting complete, the
gap and sharpness rows of the finished page, and the time to load the finished page
(localhost HTTP, median of 5: server time plus a negligible transfer).

With --away, the page is left as soon as the experiment starts (the user comes back to the
finished page; completion is polled over HTTP every 2 s) instead of streaming the live curves in
this machine's Chromium. Prints the CPU seconds each part used meanwhile (workers, web server,
Redis, the browser).

With --cli, it then runs the page's own "reproduce" command for the whole design (the CLI,
`python -m trainer ...`) on the same machine, and prints the lab's time over the CLI's.
"""
from __future__ import annotations

import argparse
import gzip
import re
import shlex
import statistics
import subprocess
import threading
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

from tests.dashboard.labprocess import launch, log_in, start_lab  # noqa: E402

PARTS = (("worker", "celery"), ("web server", "daphne"), ("Redis", "redis-server"), ("browser", "chrom"))


class CpuUse:
    """CPU seconds (user + system) of this process's descendants by part, sampled every second (a
    process's last sample counts after it exits)."""

    def __init__(self):
        self.seen: dict[int, tuple[str, float]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.stop.wait(1.0):
            for child in psutil.Process().children(recursive=True):
                try:
                    line = " ".join(child.cmdline())
                    times = child.cpu_times()
                except psutil.Error:
                    continue
                part = next((name for name, word in PARTS if word in line), "other")
                self.seen[child.pid] = (part, times.user + times.system)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    def summary(self, wall: float) -> str:
        totals: dict[str, float] = {}
        for part, seconds in self.seen.values():
            totals[part] = totals.get(part, 0.0) + seconds
        return ", ".join(f"{part} {seconds:.0f} s ({seconds / wall:.2f} core)" for part, seconds in
                         sorted(totals.items(), key=lambda item: -item[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="sharpness")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs")
    parser.add_argument("--away", action="store_true", help="leave the page while it runs; come back when done")
    parser.add_argument("--cli", action="store_true", help="then time the page's CLI command for the design")
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
            with CpuUse() as cpu:
                t0 = time.perf_counter()
                page.click("#experiment-form button[type=submit]")
                page.wait_for_url(re.compile(r"/experiments/\d+/$"))
                if args.away:
                    url = page.url
                    page.goto("about:blank")
                    while 'data-complete="1"' not in fetch(page, url):
                        time.sleep(2)
                    page.goto(url)
                page.wait_for_selector('#design-results[data-complete="1"]', timeout=30 * 60 * 1000, state="attached")
                wall = time.perf_counter() - t0
            page.reload()
            print(f"preset {args.preset}, {epochs} epochs{', page left while it ran' if args.away else ''}: "
                  f"submit to complete page {wall:.1f} s")
            print(f"CPU meanwhile: {cpu.summary(wall)}")
            for table in page.locator("#design-results table").all()[:2]:
                print(table.inner_text())
            times = []
            for _ in range(5):
                start = time.perf_counter()
                fetch(page, page.url)
                times.append(time.perf_counter() - start)
            print(f"finished page load: median {1000 * statistics.median(times):.0f} ms, max {1000 * max(times):.0f} ms")
            command = page.locator("#reproduce-design").inner_text().strip()
            browser.close()
    finally:
        lab.stop()
    if args.cli:
        cli(command, wall)


def fetch(page, url: str) -> str:
    """The page at url as the browser's session gets it (gzip accepted, not decoded)."""
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    request = urllib.request.Request(url, headers={"Cookie": cookies, "Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request) as response:
        body = response.read()
    return gzip.decompress(body).decode() if response.headers.get("Content-Encoding") == "gzip" else body.decode()


def cli(command: str, lab_wall: float) -> None:
    """The design's CLI command, alone on the machine after the lab has stopped, timed as the lab was."""
    argv = shlex.split(command)
    if Path(argv[0]).name.startswith("python"):
        argv[0] = sys.executable
    argv.append("--quiet")
    print("CLI:", shlex.join(argv[1:]))
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
    took = time.perf_counter() - start
    if result.returncode:
        sys.exit(f"the CLI failed ({result.returncode}):\n{result.stderr[-2000:]}")
    print(result.stdout.strip())
    print(f"CLI {took:.1f} s; lab / CLI = {lab_wall / took:.2f}")


if __name__ == "__main__":
    main()
