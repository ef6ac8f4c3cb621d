"""The web server's memory over rounds of mixed load: does Daphne's RSS keep growing?

    .venv/bin/python bench/bench_memory.py [--rounds 5] [--seconds 60] [--ws 50] [--http 20] [--servers 2]
                                           [--think 0] [--train]

Each round opens `--ws` WebSocket clients on one experiment's stream (a share token) while a
separate process publishes flush-sized messages at 20 per second, and `--http` threads
request the shared page, its sections and a run's metrics in a loop, back to back (the
server saturated: the latency is then the queue) or `--think` seconds apart (a user reading
between clicks); then every client closes. With `--train`, a network trains meanwhile in
another process on one thread, as a run does in a worker on this machine. After each round (and a 2 s pause) it prints the Daphne processes' RSS (summed), the
requests served with their p50/p95 time, the server errors and the messages received. Redis and the database as in
bench_live.py (REDIS_URL or the embedded server; a fresh SQLite file or DATABASE_URL).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# a run as a worker trains it here: MNIST-1D, one thread, until stopped
TRAIN = [sys.executable, "-m", "trainer", "train", "--dataset", "mnist1d", "--net", "mlp", "--epochs", "100000",
         "--threads", "1", "--quiet"]


def setup_main() -> None:
    """An experiment with two finished runs of 2,000 loss points each, and a share link; as JSON."""
    import django

    django.setup()
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from bench.fixtures import store_synthetic_points
    from dashboard import executor
    from dashboard.models import Experiment, ShareLink, Status
    from trainer.kinds import KINDS
    from trainer.kinds.spec import ExperimentSpec

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench-memory")
    Experiment.objects.filter(owner=user).delete()
    exp = executor.create(user, "bench-memory", KINDS["gap"], ExperimentSpec(epochs=20, seeds=1))
    runs = executor.create_runs(exp)
    rng = np.random.default_rng(0)
    for run in runs:
        store_synthetic_points(run, 2000, 0, rng, seq=1)
        run.claim("bench")
        run.finish(Status.DONE, final_metrics={"test_acc": 0.7})
    print(json.dumps({"experiment": exp.pk, "run": runs[0].pk,
                      "token": ShareLink.objects.create(experiment=exp).token}))


def http_load(urls: list[str], stop: threading.Event, counts: dict, lock: threading.Lock, think: float) -> None:
    i = 0
    rng = random.Random(threading.get_ident())
    if think:
        stop.wait(rng.uniform(0, think))  # the clients out of step
    while not stop.is_set():
        url = urls[i % len(urls)]
        i += 1
        began = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                response.read()
            key = "ok"
        except urllib.error.HTTPError as e:
            key = "5xx" if e.code >= 500 else "4xx"
        except OSError:
            key = "failed"
        with lock:
            counts[key] = counts.get(key, 0) + 1
            counts.setdefault("ms", {}).setdefault(url, []).append(1000 * (time.monotonic() - began))
        if think:
            stop.wait(rng.expovariate(1 / think))


def percentile(ordered: list[float], q: float) -> float:
    return ordered[int(q * (len(ordered) - 1))]


async def ws_round(url: str, origin: str, clients: int, seconds: float, publisher_cmd: list[str], env: dict) -> int:
    from autobahn.asyncio.websocket import WebSocketClientFactory, WebSocketClientProtocol

    received = [0]

    class Client(WebSocketClientProtocol):
        def onMessage(self, payload, is_binary):
            received[0] += 1

    loop = asyncio.get_running_loop()
    host, port = url.split("//")[1].split("/")[0].split(":")
    transports = []
    for _ in range(clients):
        factory = WebSocketClientFactory(url, origin=origin)
        factory.protocol = Client
        transport, _ = await loop.create_connection(factory, host, int(port))
        transports.append(transport)
    publisher = await asyncio.create_subprocess_exec(*publisher_cmd, env=env, cwd=ROOT)
    await asyncio.sleep(seconds)
    publisher.terminate()
    await publisher.wait()
    for transport in transports:
        transport.close()
    return received[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--ws", type=int, default=50)
    p.add_argument("--http", type=int, default=20)
    p.add_argument("--servers", type=int, default=2, help="Daphne processes sharing the port")
    p.add_argument("--think", type=float, default=0.0,
                   help="mean seconds each HTTP client waits between requests (0: back to back)")
    p.add_argument("--train", action="store_true", help="a network trains meanwhile, on one thread")
    p.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    if args.setup:
        return setup_main()

    from bench.servers import daphne_lab, rss_mib

    with daphne_lab(__file__, "bench-memory", args.servers) as (servers, port, made):
        base = f"http://127.0.0.1:{port}"
        token, exp, run = made["token"], made["experiment"], made["run"]
        urls = [f"{base}/share/{token}/", f"{base}/experiments/{exp}/sections/?token={token}",
                f"{base}/api/runs/{run}/metrics/?token={token}", f"{base}/api/experiments/{exp}/?token={token}"]
        ws_url = f"ws://127.0.0.1:{port}/ws/experiments/{exp}/?token={token}"
        publisher = [sys.executable, str(ROOT / "bench" / "bench_live.py"), "--publish", str(exp),
                     "--messages", str(int(args.seconds * 20) + 100), "--rates", "20"]
        start = sum(rss_mib(s.pid) for s in servers)
        pace = f"{args.think:g} s apart" if args.think else "back to back"
        print(f"{args.servers} Daphne processes, RSS at start {start:.0f} MiB; rounds of {args.ws} WebSocket + {args.http} HTTP clients "
              f"({pace}) for {args.seconds:.0f} s{', a network training' if args.train else ''}", flush=True)
        for r in range(1, args.rounds + 1):
            stop, counts, lock = threading.Event(), {}, threading.Lock()
            trainer = subprocess.Popen(TRAIN, cwd=ROOT, stdout=subprocess.DEVNULL) if args.train else None
            threads = [threading.Thread(target=http_load, args=(urls, stop, counts, lock, args.think))
                       for _ in range(args.http)]
            for t in threads:
                t.start()
            received = asyncio.run(ws_round(ws_url, base, args.ws, args.seconds, publisher, dict(os.environ)))
            stop.set()
            if trainer:
                trainer.terminate()
                trainer.wait()
            for t in threads:
                t.join(60)
            time.sleep(2)
            by_url = counts.pop("ms", {})
            ms = sorted(t for times in by_url.values() for t in times) or [float("nan")]
            print(f"round {r}: RSS {sum(rss_mib(s.pid) for s in servers):6.0f} MiB  requests {sum(counts.values()):6d} "
                  f"({sum(counts.values()) / args.seconds:.0f}/s)  "
                  f"p50 {percentile(ms, 0.5):6.0f} ms  p95 {percentile(ms, 0.95):6.0f} ms  "
                  f"server errors {counts.get('5xx', 0)}  failed {counts.get('failed', 0)}  "
                  f"stream messages {received}", flush=True)
            for url, times in by_url.items():
                times.sort()
                print(f"    {url.split(str(port))[1].split('?')[0]:32s} {len(times):6d}  p50 {percentile(times, 0.5):6.0f} ms  "
                      f"p95 {percentile(times, 0.95):6.0f} ms", flush=True)


if __name__ == "__main__":
    main()
