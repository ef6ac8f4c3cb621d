"""Cold load of a finished experiment page in headless Chromium: a fresh browser context (no
cache, no connection) each time, against the real lab (`runlab`: Daphne, WhiteNoise).

    .venv/bin/python bench/bench_cold_load.py [--loads 7] [--root OTHER_CHECKOUT ...]

The experiment: the sharpness preset's shape (3 SB runs of 12,500 steps, 3 LB runs of 1,000
steps, 100 epochs of per-epoch metrics), its points written straight to the database. The
server answers the page once before the loads (its first request builds the figure's
skeleton), so the figures are the browser's: bytes received, time to the load event, and
time until BokehJS has embedded the plots. Each load is timed on localhost as it is, and
again over an emulated link (--mbit, --rtt-ms: a lab reached over a network).

--root: the labs of the checkouts given (e.g. an export of an older commit: `git archive
<commit> | tar -x -C /tmp/old`), with this checkout's Python, all up at once and their loads
taken in turn, so they share the machine's noise; default: this checkout's alone.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]

# Run by the lab's `manage.py shell` in its checkout (--root): that checkout's own code makes the
# experiment; this checkout's bench/fixtures.py (appended to sys.path) writes the points.
MAKE_EXPERIMENT = f"import sys\nsys.path.append({str(ROOT)!r})\n" + r"""
import numpy as np
from django.contrib.auth import get_user_model
from bench.fixtures import store_synthetic_points
from dashboard import executor
from dashboard.models import Status
from trainer.kinds import KINDS
from trainer.kinds.spec import ExperimentSpec

rng = np.random.default_rng(0)
exp = executor.create(get_user_model().objects.get(username="admin"), "cold load", KINDS["gap"],
                      ExperimentSpec(epochs=100, seeds=3))
for run in executor.create_runs(exp):
    store_synthetic_points(run, 12500 if run.role == "SB" else 1000, 100, rng, seq=1)
    run.finish(Status.DONE, {"train_acc": 1.0, "test_acc": 0.7, "train_loss": 0.01, "test_loss": 1.2})
print("EXPERIMENT", exp.pk)
"""

# Bytes as received (headers and bodies, compressed or not) over the page and everything it loaded.
RECEIVED = """() => {
  const entries = [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")];
  const nav = performance.getEntriesByType("navigation")[0];
  return {bytes: entries.reduce((sum, e) => sum + e.transferSize, 0), html: nav.responseEnd,
          ready: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
          scripts: entries.filter((e) => e.name.endsWith(".js"))
                          .map((e) => [e.name.split("/").pop(), e.transferSize, e.decodedBodySize])};
}"""


class Lab:
    """`manage.py runlab` of a checkout on a free port, with its own var dir."""

    def __init__(self, root: Path, port: int):
        self.root, self.url = root, f"http://127.0.0.1:{port}"
        self.var = Path(tempfile.mkdtemp(prefix="bench-cold-load-"))
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        self.env = dict(env, LBLAB_VAR_DIR=str(self.var / "var"), PYTHONUNBUFFERED="1", LBLAB_WORKERS="1")
        self.log = self.var / "lab.log"
        with open(self.log, "w") as out:
            self.process = subprocess.Popen([sys.executable, "manage.py", "runlab", "--port", str(port)], cwd=root,
                                            env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while "Press Ctrl-C" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the lab did not start:\n" + self.log.read_text())
            time.sleep(0.3)

    def password(self) -> str:
        return re.search(r"Log in as admin with password (\S+)", self.log.read_text()).group(1)

    def shell(self, code: str) -> str:
        redis_url = re.search(r"embedded Redis on (\S+)", self.log.read_text()).group(1)
        done = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=self.root, check=True,
                              env=dict(self.env, LBLAB_EMBEDDED_REDIS_URL=redis_url), capture_output=True, text=True)
        return done.stdout

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(120)
        shutil.rmtree(self.var, ignore_errors=True)


def one_load(browser, url: str, cookies: list, link: tuple[float, float] | None) -> dict:
    context = browser.new_context()  # a new profile: empty HTTP cache, no open connection
    context.add_cookies(cookies)
    page = context.new_page()
    if link:
        mbit, rtt_ms = link
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        rate = mbit * 1e6 / 8  # bytes per second
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": rtt_ms,
                                                      "downloadThroughput": rate, "uploadThroughput": rate})
    page.goto(url, wait_until="load")
    plots = page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && performance.now()",
                                   polling="raf").json_value()
    result = dict(page.evaluate(RECEIVED), plots=plots)
    context.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=7, help="cold loads per lab and link (the median is shown)")
    parser.add_argument("--root", action="append", type=Path, help="a checkout to start the lab from (repeatable)")
    parser.add_argument("--mbit", type=float, default=20.0)
    parser.add_argument("--rtt-ms", type=float, default=40.0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from dashboard.launch.embedded_redis import free_port
    from playwright.sync_api import sync_playwright

    links = {"localhost": None, f"{args.mbit:g} Mbit/s, {args.rtt_ms:g} ms RTT": (args.mbit, args.rtt_ms)}
    labs = []
    try:
        for root in args.root or [ROOT]:  # every lab up at once, their loads interleaved: the same noise
            labs.append(Lab(root.resolve(), free_port()))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            pages = [open_experiment(browser, lab) for lab in labs]
            loads = {(i, link): [] for i in range(len(labs)) for link in links}
            for _ in range(args.loads):
                for i, (url, cookies) in enumerate(pages):
                    for link, conditions in links.items():
                        loads[i, link].append(one_load(browser, url, cookies, conditions))
            browser.close()
        for i, lab in enumerate(labs):
            print(f"== {lab.root}")
            for link in links:
                runs = loads[i, link]
                r = {key: statistics.median(run[key] for run in runs) for key in ("bytes", "html", "ready", "load", "plots")}
                print(f"{link}: received {r['bytes'] / 1024:.0f} KB; page received {r['html']:.0f} ms, "
                      f"DOMContentLoaded {r['ready']:.0f} ms, load event {r['load']:.0f} ms, "
                      f"plots embedded {r['plots']:.0f} ms (medians of {args.loads} cold loads)")
            scripts = loads[i, "localhost"][-1]["scripts"]
            for script, sent, size in scripts:
                print(f"  {script}: {sent} B received, {size} B")
            bokeh = next(name for name, _, _ in scripts if name.startswith("bokeh"))
            request = urllib.request.Request(f"{lab.url}/static/bokeh/js/{bokeh}", headers={"Accept-Encoding": "gzip"})
            with urllib.request.urlopen(request) as response:
                print(f"  {bokeh} asked with Accept-Encoding gzip: " + ", ".join(
                    f"{k}: {response.headers.get(k)}" for k in ("Content-Encoding", "Content-Length", "Cache-Control")))
    finally:
        for lab in labs:
            lab.stop()


def open_experiment(browser, lab: Lab) -> tuple[str, list]:
    """The experiment made in the lab, requested once (not timed), and a logged-in session's cookies."""
    experiment = int(lab.shell(MAKE_EXPERIMENT).split("EXPERIMENT ")[-1])
    url = f"{lab.url}/experiments/{experiment}/"
    login = browser.new_context()
    page = login.new_page()
    page.goto(lab.url + "/accounts/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", lab.password())
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    page.goto(url)  # the server's first answer of this page: not timed
    cookies = login.cookies()
    login.close()
    return url, cookies


if __name__ == "__main__":
    main()
