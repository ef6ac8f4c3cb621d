"""The web server: LBLAB_WEB_PROCESSES Daphne processes on one port.

Daphne runs one event loop in one process; past a few hundred streams (or with page requests
beside them) that one core is the limit. Here each process gets a listening socket of its own,
all bound to the same address with SO_REUSEPORT, so the kernel spreads the connections over
them. The parent binds them and keeps them open: under runlab, a process that is restarted finds
its socket with the connections that came meanwhile waiting in it; here (the container), the
parent stops when any server process dies, and the container is restarted.

    python -m dashboard.launch.web --host 0.0.0.0 --port 8000    # the container's web server

runlab (dashboard/launch/launcher.py) starts the same processes as its children "web 1", "web 2", ...
"""
from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import time

from dashboard.env import env_int, env_str


def processes() -> int:
    return env_int("LBLAB_WEB_PROCESSES", 2, minimum=1)


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets listening on (host, port), each to be adopted by one server process.

    SO_REUSEPORT would let a second lab share a port in use (the kernel splitting the users
    between two labs), so the port is first bound without it: that fails where anything holds it."""
    if ":" in host:  # Daphne adopts a socket as IPv4 only (Twisted's fd endpoint)
        raise RuntimeError(f"the web server's host must be an IPv4 address or name, not {host}")
    sockets = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(1024)
            sock.set_inheritable(True)
    except OSError as e:
        for sock in sockets:
            sock.close()
        raise RuntimeError(f"cannot listen on {host}:{port} ({e.strerror}): is another server using the port? "
                           f"Choose another with --port") from None
    return sockets


def server_command(sock: socket.socket) -> list[str]:
    """Daphne serving the lab on an inherited listening socket (pass it with pass_fds)."""
    return [sys.executable, "-m", "daphne", "--fd", str(sock.fileno()), "dashboard.asgi:application"]


def main() -> int:
    """Serve until SIGTERM (exit 0); exits with a dead server process's code (the container is restarted)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default=env_str("HOST", "0.0.0.0"))
    p.add_argument("--port", type=int, default=env_int("PORT", 8000, minimum=1))
    args = p.parse_args()
    try:
        sockets = listening_sockets(args.host, args.port, processes())
    except RuntimeError as e:
        sys.exit(f"error: {e}")
    servers = [subprocess.Popen(server_command(sock), pass_fds=[sock.fileno()]) for sock in sockets]
    stopping = []

    def stop(signum, frame):
        stopping.append(signum)
        for server in servers:
            server.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while all(server.poll() is None for server in servers):
        time.sleep(0.5)
    code = next(server.returncode for server in servers if server.returncode is not None)
    requested = bool(stopping)
    stop(None, None)
    for server in servers:
        server.wait()
    return 0 if requested else code


if __name__ == "__main__":
    sys.exit(main())
