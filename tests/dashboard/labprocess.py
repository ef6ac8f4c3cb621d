"""`manage.py runlab` as a subprocess on a free port with its own var dir, and /proc helpers."""
import contextlib
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass

import pytest

from dashboard.launch.embedded_redis import free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]


@dataclass
class LabProcess:
    process: subprocess.Popen
    url: str
    log: pathlib.Path
    login_status: int
    var_dir: pathlib.Path  # its database, embedded Redis and run folders

    def output(self) -> str:
        return self.log.read_text()

    def admin_password(self) -> str:
        return re.search(r"Log in as admin with password (\S+)", self.output()).group(1)

    def stop(self, timeout: float = 90) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout)


def start_lab(tmp_path: pathlib.Path, timeout: float = 120, **env_changes) -> LabProcess:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "LBLAB_EMBEDDED_REDIS_URL")}
    env.update(LBLAB_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1", **env_changes)
    log = tmp_path / "lab.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "manage.py", "runlab", "--port", str(port)], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("the lab exited:\n" + log.read_text())
        try:
            with urllib.request.urlopen(url + "/accounts/login/", timeout=2) as response:
                if "Press Ctrl-C" in log.read_text():
                    return LabProcess(process, url, log, response.status, tmp_path / "var")
        except OSError:
            pass
        time.sleep(0.3)
    process.kill()
    raise AssertionError("the lab did not come up:\n" + log.read_text())


def descendants(pid: int) -> set[int]:
    """Every live descendant of pid, from /proc."""
    parents = {}
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its exit status is left


def command_line(pid: int) -> str:
    try:
        return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# -- the browser ---------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)


@contextlib.contextmanager
def browsing(lab: LabProcess):
    """Headless Chromium with a page logged in to the lab as admin: yields (browser, page, errors),
    errors collecting the page's uncaught script errors (a test adds its other pages' with on)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            log_in(page, lab)
            page.wait_for_load_state()
            yield browser, page, errors
        finally:
            browser.close()


def open_shared(page, lab: LabProcess, browser, errors: list[str]):
    """Create a share link on the experiment `page` shows; open it logged out, in a new context: that page."""
    page.click("#create-share")
    page.wait_for_load_state()
    share_url = lab.url + page.get_attribute("a.share-link", "href")
    anonymous = browser.new_context().new_page()
    anonymous.on("pageerror", lambda e: errors.append(str(e)))
    anonymous.goto(share_url)
    return anonymous


def log_in(page, lab: LabProcess) -> None:
    page.goto(lab.url + "/accounts/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", lab.admin_password())
    page.click("main button[type=submit]")
