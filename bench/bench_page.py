"""Experiment page size and server time: 10 runs, each with 20,000 per-step loss points and
its per-epoch metrics (the issue's targets: at most 100 KB as sent, 300 ms for the first request
of a fresh server process, 150 ms warm).

    .venv/bin/python bench/bench_page.py [--runs 10] [--steps 20000] [--epochs 160] [--repeats 20]

Uses DATABASE_URL when set (else a fresh SQLite file in a temporary var dir). Server time is the
Django request as the test client runs it (middleware, views, template, gzip), without the
network. Each measurement is a fresh process that starts as the web server does (dashboard.asgi:
settings, the URLs and their views imported) and then requests the page: "first" is its first
request, "warm" the median of the next ones. Three servers in a row, in one run:

- "new shape": the figures cache is empty (a shape of experiment no server has drawn: the Bokeh
  skeleton is built on the request);
- "restarted": the same page again in a new process (the skeleton, and the finished runs'
  reduced curves, read from the figures cache the first server filled);
- "kept": another experiment of groups never drawn, whose runs' reduced curves were kept as
  each run finished (dashboard.figures.series.keep_finished, as the worker does): the skeleton is
  built on the request, the curves read from the cache;
- "running": the same data with the runs still running, each request after a flush of every run
  (40 more steps each, the next sequence number): every run's kept reduction is extended by the
  points of the flushes since it was made (the first request reduces each run in the database).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def serve(experiment_id: int, repeats: int, flush: bool) -> None:
    """A fresh server process: start as Daphne would, then request the page."""
    start = time.perf_counter()
    import dashboard.asgi  # noqa: F401  settings, URLs and views, as the server loads them
    started = time.perf_counter() - start
    from django.contrib.auth import get_user_model
    from django.db.models import F, Max
    from django.test import Client

    from dashboard.models import MetricPoint, Run

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-page"))
    times, size = [], 0
    for _ in range(repeats + 1):
        if flush:  # as a worker's flush leaves each run: its next 40 steps, a new last sequence number
            for run in Run.objects.filter(experiment_id=experiment_id):
                last = run.points.filter(name="loss").aggregate(last=Max("step"))["last"] or 0
                MetricPoint.objects.bulk_create([MetricPoint(run=run, name="loss", step=last + i, value=0.2,
                                                             seq=run.last_seq + 1) for i in range(1, 41)])
                Run.objects.filter(pk=run.pk).update(last_seq=F("last_seq") + 1)
        tick = time.perf_counter()
        response = client.get(f"/experiments/{experiment_id}/", HTTP_ACCEPT_ENCODING="gzip")
        times.append(time.perf_counter() - tick)
        assert response.status_code == 200 and response["Content-Encoding"] == "gzip"
        size = len(response.content)
    print(json.dumps({"start": started, "first": times[0], "warm": statistics.median(times[1:]),
                      "warm_max": max(times[1:]), "size": size}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=160)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    p.add_argument("--flush", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    os.environ.setdefault("LBLAB_VAR_DIR", tempfile.mkdtemp(prefix="bench-page-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    if args.serve:
        return serve(args.serve, args.repeats, args.flush)
    import django

    django.setup()
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from bench.fixtures import store_synthetic_points
    from dashboard import executor
    from dashboard.figures.series import keep_finished
    from dashboard.launch.staticfiles import collect_if_changed
    from dashboard.models import Experiment, Run, Status
    from trainer.kinds import KINDS
    from trainer.kinds.records import EPOCH_METRICS
    from trainer.kinds.spec import ExperimentSpec

    call_command("migrate", verbosity=0)
    collect_if_changed()  # the pages name their static files from collectstatic's manifest, as runlab does
    user, _ = get_user_model().objects.get_or_create(username="bench-page")
    Experiment.objects.filter(owner=user).delete()
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    def experiment(as_its_worker_ends: bool = False) -> Experiment:
        """Runs of groups no other experiment has (the figures cache may be shared with a lab in this
        var dir), stored and finished; as_its_worker_ends: each run's curves then kept as its worker
        keeps them."""
        stamp = time.time()
        exp = executor.create(user, f"bench {stamp}", KINDS["gap"], ExperimentSpec(seeds=args.runs // 2))
        for i, run in enumerate(executor.create_runs(exp)):
            run.role = f"bench {stamp} {i % 2}"  # two groups, as SB and LB
            run.save(update_fields=["role"])
            store_synthetic_points(run, args.steps, args.epochs, rng)
            run.claim("bench")
            run.finish(Status.DONE, {"steps": args.steps, "epochs": args.epochs, "batch_size": 32})
            if as_its_worker_ends:
                keep_finished(run)
        return exp

    exp = experiment()
    print(f"database: {connection.vendor}; stored {exp.runs.count()} runs x ({args.steps} steps + "
          f"{args.epochs} epochs x {len(EPOCH_METRICS)} metrics) in {time.perf_counter() - t0:.1f}s")

    def server(label: str, *extra, shown=None) -> None:
        out = subprocess.run([sys.executable, __file__, "--serve", str((shown or exp).pk), "--repeats", str(args.repeats),
                              *extra],
                             env=os.environ, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"{label:<12} start {1000 * r['start']:5.0f} ms  first request {1000 * r['first']:5.0f} ms  "
              f"warm median {1000 * r['warm']:4.0f} ms (max {1000 * r['warm_max']:.0f})  page {r['size'] / 1024:.0f} KB gzip")

    server("new shape")
    server("restarted")
    kept = experiment(as_its_worker_ends=True)
    server("kept", shown=kept)
    kept.delete()
    Run.objects.filter(experiment=exp).update(status=Status.RUNNING, finished=None)
    server("running", "--flush")
    exp.delete()


if __name__ == "__main__":
    main()
