"""What the live benchmarks share: Redis (REDIS_URL, or the embedded server), the benchmark's own
`--setup` run in a fresh process (its last stdout line, JSON), and the lab's web server (one or
more Daphne processes on one port, as dashboard/launch/web.py starts them) on a free port."""
from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECT = "from dashboard.launch.staticfiles import collect_if_changed; collect_if_changed()"


def raise_fd_limit() -> None:
    """Hundreds of streams need as many descriptors in the server and in the clients (inherited)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@contextlib.contextmanager
def redis_and_setup(script: str, name: str):
    """Yields what `script --setup` printed, with REDIS_URL set (the embedded server when unset)."""
    os.environ.setdefault("LBLAB_VAR_DIR", tempfile.mkdtemp(prefix=f"{name}-"))
    redis_server = None
    if not os.environ.get("REDIS_URL"):
        from dashboard.launch import embedded_redis

        redis_server = embedded_redis.start(Path(os.environ["LBLAB_VAR_DIR"]) / "redis", persistent=False)
        os.environ["REDIS_URL"] = redis_server.url
    os.environ.setdefault("LBLAB_QUEUE_PREFIX", "bench-")
    try:
        made = json.loads(subprocess.run([sys.executable, script, "--setup"], cwd=ROOT, env=dict(os.environ),
                                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        # the pages name their static files from collectstatic's manifest, as runlab collects it
        subprocess.run([sys.executable, "manage.py", "shell", "-c", COLLECT], cwd=ROOT, env=dict(os.environ), check=True)
        yield made
    finally:
        if redis_server:
            redis_server.stop()


@contextlib.contextmanager
def web_servers(count: int):
    """Yields (the server processes, their port): `count` Daphne processes sharing one port."""
    from dashboard.launch.embedded_redis import free_port
    from dashboard.launch.web import listening_sockets, server_command

    raise_fd_limit()
    port = free_port()
    sockets = listening_sockets("127.0.0.1", port, count)
    servers = [subprocess.Popen(server_command(sock), pass_fds=[sock.fileno()], cwd=ROOT, env=dict(os.environ),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for sock in sockets]
    try:
        answered = 0
        for _ in range(200):  # each connection lands on one process: ask until every one has had time
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=10).close()
                answered += 1
                if answered >= 10 * count:
                    break
            except OSError:
                time.sleep(0.2)
        yield servers, port
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(10)
        for sock in sockets:
            sock.close()


@contextlib.contextmanager
def daphne_lab(script: str, name: str, servers: int = 1):
    """Yields (the server processes, their port, what `script --setup` printed)."""
    with redis_and_setup(script, name) as made, web_servers(servers) as (processes, port):
        yield processes, port, made


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
