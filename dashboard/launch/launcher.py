"""`manage.py runlab`: the whole lab in one command, and nothing left running after Ctrl-C.

Starts, in order: the embedded Redis (only when REDIS_URL is unset), migrations, the static
files (collected when their sources changed), a first account (when there is no user), the
workers (LBLAB_WORKERS processes on the train and analysis queues, one prefork child each),
the control worker (the control queue, with beat for the periodic lost-work check) and the
web server (LBLAB_WEB_PROCESSES Daphne processes on one port, dashboard/launch/web.py). Each
child gets its own process group, so stopping it also stops what it forked; a group that
does not stop within its grace period is killed.

A child that dies is restarted, after its whole group is killed (nothing it forked is left
behind). A worker that starts again under its name queues again what it held
(dashboard.worker.signals). A child that dies RESTART_LIMIT times within RESTART_WINDOW_S
stops the lab with its exit code.
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from dashboard.launch import embedded_redis, staticfiles, web


RESTART_LIMIT, RESTART_WINDOW_S = 5, 60.0


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict
    grace_s: float  # time allowed to stop after SIGTERM (a worker finishes its step and checkpoints)
    pass_fds: tuple[int, ...] = ()  # a web server's listening socket
    process: subprocess.Popen | None = None
    deaths: list[float] = field(default_factory=list)

    def spawn(self) -> None:
        self.process = subprocess.Popen(self.args, env=self.env, cwd=settings.BASE_DIR, stdin=subprocess.DEVNULL,
                                        pass_fds=self.pass_fds, start_new_session=True)  # own group: Ctrl-C reaches only the launcher


class Lab:
    def __init__(self, host: str, port: int, out=sys.stdout, worker_grace_s: float = 60.0):
        self.host, self.port, self.out = host, port, out
        self.worker_grace_s = worker_grace_s
        self.children: list[Child] = []
        self.sockets: list = []  # the web servers' listening sockets, kept across their restarts
        self.redis: embedded_redis.EmbeddedRedis | None = None
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # -- start ------------------------------------------------------------------------
    def start(self) -> None:
        # BLAS and OpenMP pools (numpy, SciPy, torch) sized as a run's torch threads: N workers
        # side by side never ask for more threads than there are cores
        env = {"OMP_NUM_THREADS": str(settings.LBLAB_THREADS_PER_RUN), **os.environ}
        if not os.environ.get("REDIS_URL"):
            self.redis = embedded_redis.start(settings.VAR_DIR / "redis")
            env["LBLAB_EMBEDDED_REDIS_URL"] = self.redis.url
            self.say(f"embedded Redis on {self.redis.url} (set REDIS_URL to use your own)")
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        staticfiles.collect_if_changed(self.say)  # before the web server indexes them
        login_hint = ensure_first_user()
        workers, threads = settings.LBLAB_WORKERS, settings.LBLAB_THREADS_PER_RUN
        self.say(f"{workers} worker process{'es' if workers > 1 else ''}, {threads} torch thread"
                 f"{'s' if threads > 1 else ''} each (LBLAB_WORKERS, LBLAB_THREADS_PER_RUN)")
        self.sockets = web.listening_sockets(self.host, self.port, web.processes())  # a port in use: before any worker
        for name, args, grace_s in self.commands():
            self._spawn(name, args, env, grace_s)
        for i, sock in enumerate(self.sockets, 1):  # Daphne processes sharing the port (dashboard/launch/web.py)
            self._spawn(f"web {i}", web.server_command(sock), env, 10.0, (sock.fileno(),))
        self._wait_for_http()
        self.say(f"\nThe lab is running at {self.url}\n{login_hint}\nPress Ctrl-C to stop everything.\n")

    def _spawn(self, name: str, args: list[str], env: dict, grace_s: float, pass_fds: tuple[int, ...] = ()) -> None:
        child = Child(name, args, env, grace_s, pass_fds)
        child.spawn()
        self.children.append(child)

    def commands(self) -> list[tuple[str, list[str], float]]:
        """The workers start() spawns before the web server, in order: (name, command line, grace
        period to stop).

        LBLAB_WORKERS worker processes of one prefork child each, every one on both the train and
        the analysis queue with prefetch 1: a free worker takes whichever is next (Redis serves
        the two queues in turn), so neither kind waits for the other while a worker is idle, and
        one worker that dies takes only its own run with it. Each has a name of its own that
        stays the same across restarts: a worker starting again knows what it held."""
        celery = [sys.executable, "-m", "celery", "-A", "dashboard", "--quiet", "worker", "--loglevel", "INFO",
                  "--without-gossip", "--without-mingle"]
        queues = f"{settings.TRAIN_QUEUE},{settings.ANALYSIS_QUEUE}"
        workers = [(f"worker {i}", celery + ["-Q", queues, "--concurrency", "1", "--prefetch-multiplier", "1",
                                             "--pool", "prefork", "--hostname", f"lab-{os.getpid()}-{i}@%h"],
                    self.worker_grace_s)
                   for i in range(1, settings.LBLAB_WORKERS + 1)]
        control = celery + ["-Q", settings.CONTROL_QUEUE, "--pool", "solo", "--beat",
                            "--schedule", str(settings.VAR_DIR / "celerybeat-schedule"),
                            "--hostname", f"control-{os.getpid()}@%h"]
        return workers + [("control worker", control, 10.0)]

    def _wait_for_http(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping.is_set():
            self._check_children()
            try:
                urllib.request.urlopen(self.url + "accounts/login/", timeout=2).close()
                return
            except urllib.error.HTTPError:
                return  # it answered
            except OSError:
                time.sleep(0.2)
        if not self.stopping.is_set():
            raise RuntimeError(f"the web server did not answer on {self.url} within {timeout:.0f}s")

    # -- run and stop -----------------------------------------------------------------
    def _check_children(self) -> None:
        """Restart a child that died (its group killed first); too many deaths in a row stop the lab."""
        for child in self.children:
            code = child.process.poll()
            if code is None or self.stopping.is_set():
                continue
            _kill_group(child.process.pid)  # what it forked (pool children, beat) goes with it
            now = time.monotonic()
            child.deaths = [t for t in child.deaths if now - t < RESTART_WINDOW_S] + [now]
            if len(child.deaths) >= RESTART_LIMIT:
                raise RuntimeError(f"the {child.name} process exited with code {code}, "
                                   f"{len(child.deaths)} times within {RESTART_WINDOW_S:.0f}s")
            self.say(f"the {child.name} process exited with code {code}; restarting it")
            child.spawn()

    def wait(self) -> None:
        while not self.stopping.wait(0.5):
            self._check_children()

    def stop(self) -> None:
        """Stop the web server first (no new work), then the control worker, then the workers all
        at once (each stops its run at the next step, with a checkpoint), then Redis."""
        workers = [child for child in self.children if child.name.startswith("worker")]
        for child in reversed(self.children):
            if child not in workers:
                _stop_group(child)
        for child in workers:
            _signal_group(child.process.pid, signal.SIGTERM)
        for child in workers:
            _stop_group(child, signalled=True)
        for sock in self.sockets:
            sock.close()
        if self.redis is not None:
            self.redis.stop()
        self.children.clear()


def _stop_group(child: Child, signalled: bool = False) -> None:
    pgid = child.process.pid  # start_new_session made it the group leader
    if not signalled:
        _signal_group(pgid, signal.SIGTERM)
    try:
        child.process.wait(child.grace_s)
    except subprocess.TimeoutExpired:
        _signal_group(pgid, signal.SIGKILL)
        child.process.wait()
    # what the leader forked may outlive it for a moment (pool children, beat)
    deadline = time.monotonic() + 5
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    _kill_group(pgid)


def _kill_group(pgid: int, timeout: float = 5.0) -> None:
    """SIGKILL every process of the group, and wait until none is left."""
    _signal_group(pgid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def ensure_first_user() -> str:
    """Create "admin" with a random password when there is no account; returns how to log in."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    if User.objects.exists():
        return "Log in with your account (`python manage.py createsuperuser` adds one)."
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser("admin", "", password)
    return f"Log in as admin with password {password} (shown once; change it in the admin)."


def run(host: str, port: int) -> int:
    lab = Lab(host, port)

    def on_signal(signum, frame):
        lab.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
    code = 0
    try:
        lab.start()
        lab.wait()
    except RuntimeError as e:
        lab.say(f"error: {e}")
        code = 1
    finally:
        lab.say("stopping the lab ...")
        lab.stop()
        lab.say("stopped.")
    return code
