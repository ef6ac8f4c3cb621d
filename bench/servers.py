"""What the live benchmarks share: Redis (REDIS_URL, or the embedded server), the benchmark's own
`--setup` run in a fresh process (its last stdout line, JSON), and Daphne on a free port."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECT = "from dashboard.launch.staticfiles import collect_if_changed; collect_if_changed()"


@contextlib.contextmanager
def daphne_lab(script: str, name: str):
    """Yields (Daphne's process, its port, what `script --setup` printed)."""
    os.environ.setdefault("LBLAB_VAR_DIR", tempfile.mkdtemp(prefix=f"{name}-"))
    redis_server = None
    if not os.environ.get("REDIS_URL"):
        from dashboard.launch import embedded_redis

        redis_server = embedded_redis.start(Path(os.environ["LBLAB_VAR_DIR"]) / "redis", persistent=False)
        os.environ["REDIS_URL"] = redis_server.url
    os.environ.setdefault("LBLAB_QUEUE_PREFIX", "bench-")
    from dashboard.launch.embedded_redis import free_port

    made = json.loads(subprocess.run([sys.executable, script, "--setup"], cwd=ROOT, env=dict(os.environ),
                                     check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    # the pages name their static files from collectstatic's manifest, as runlab collects it
    subprocess.run([sys.executable, "manage.py", "shell", "-c", COLLECT], cwd=ROOT, env=dict(os.environ), check=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                               "dashboard.asgi:application"], cwd=ROOT, env=dict(os.environ),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield server, port, made
    finally:
        server.terminate()
        server.wait(10)
        if redis_server:
            redis_server.stop()
