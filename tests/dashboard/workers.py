"""Real Celery workers for the tests: in this process (a thread) or as a separate process."""
import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.db import connection

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    """The test database as a DATABASE_URL, for worker processes started by a test."""
    d = connection.settings_dict
    if d["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{d['NAME']}"
    auth = d["USER"] + (f":{d['PASSWORD']}" if d["PASSWORD"] else "")
    return f"postgres://{auth}@{d['HOST'] or '127.0.0.1'}:{d['PORT'] or 5432}/{d['NAME']}"


CELERY = [sys.executable, "-m", "celery", "-A", "dashboard", "worker"]
CRASHING_ON_RECEIPT = [sys.executable, "-m", "tests.dashboard.crash_on_receipt"]  # dies as a task arrives


@contextlib.contextmanager
def worker_process(lab_settings, log_path, program=CELERY, queues=("train_queue",), hostname=None, **env_changes):
    """`celery worker` as the launcher starts it (prefork, one child), on the test queues and database."""
    env = dict(os.environ, DATABASE_URL=test_database_url(), REDIS_URL=lab_settings["redis_url"],
               LBLAB_QUEUE_PREFIX=lab_settings["queue_prefix"], LBLAB_RUNS_DIR=str(settings.LBLAB_RUNS_DIR),
               LBLAB_FLUSH_INTERVAL_S="0.05", **env_changes)
    args = [*program, "-Q", ",".join(lab_settings[q] for q in queues),
            "--concurrency", "1", "--pool", "prefork", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
            "--hostname", hostname or f"test-{time.monotonic_ns()}@%h"]
    with open(log_path, "a") as log:
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        yield process
    finally:
        kill_group(process)


def kill_group(process, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    process.wait(30)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
