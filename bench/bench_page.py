"""Experiment page size and server time: 10 runs, each with 20,000 per-step loss points and
its per-epoch metrics (the issue's target: at most 500 KB as sent, 300 ms of server time).

    .venv/bin/python bench/bench_page.py [--runs 10] [--steps 20000] [--epochs 160] [--repeats 20]

Uses DATABASE_URL when set (else a fresh SQLite file in a temporary var dir). Server time
is the Django request as the test client runs it (middleware, views, template, gzip),
without the network. "first" is the first request of the process (Bokeh models built and
cached); "warm" the median of the next ones.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=160)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    os.environ.setdefault("LBLAB_VAR_DIR", tempfile.mkdtemp(prefix="bench-page-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    import django

    django.setup()
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from dashboard import executor
    from dashboard.models import Experiment, MetricPoint
    from trainer.kinds import KINDS
    from trainer.kinds.records import EPOCH_METRICS
    from trainer.kinds.spec import ExperimentSpec

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench-page")
    Experiment.objects.filter(owner=user).delete()
    rng = np.random.default_rng(0)

    def make_experiment(name):
        exp = executor.create(user, name, KINDS["gap"], ExperimentSpec(seeds=args.runs // 2))
        for run in executor.create_runs(exp):
            steps = np.arange(1, args.steps + 1)
            loss = 2 * np.exp(-steps / (args.steps / 4)) + 0.2 * rng.random(args.steps)
            points = [MetricPoint(run=run, name="loss", step=int(s), value=float(v)) for s, v in zip(steps, loss)]
            points += [MetricPoint(run=run, name=name, step=e, value=float(rng.random()))
                       for name in EPOCH_METRICS for e in range(1, args.epochs + 1)]
            MetricPoint.objects.bulk_create(points, batch_size=5000)
        return exp

    t0 = time.perf_counter()
    exp = make_experiment("bench")
    print(f"database: {connection.vendor}; stored {exp.runs.count()} runs x ({args.steps} steps + "
          f"{args.epochs} epochs x {len(EPOCH_METRICS)} metrics) in {time.perf_counter() - t0:.1f}s")

    client = Client()
    client.force_login(user)
    url = f"/experiments/{exp.pk}/"
    times, size = [], None
    for _ in range(args.repeats + 1):
        start = time.perf_counter()
        response = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
        times.append(time.perf_counter() - start)
        assert response.status_code == 200 and response["Content-Encoding"] == "gzip"
        size = len(response.content)
    print(f"page as sent (gzip): {size / 1024:.0f} KB")
    print(f"server time: first {1000 * times[0]:.0f} ms, warm median {1000 * statistics.median(times[1:]):.0f} ms, "
          f"warm max {1000 * max(times[1:]):.0f} ms over {args.repeats} requests")
    # Figures are cached by the shape of the experiment (its runs' roles), not its id.
    other = make_experiment("bench 2")
    start = time.perf_counter()
    assert client.get(f"/experiments/{other.pk}/", HTTP_ACCEPT_ENCODING="gzip").status_code == 200
    print(f"first view of another experiment of the same shape: {1000 * (time.perf_counter() - start):.0f} ms")
    exp.delete()
    other.delete()


if __name__ == "__main__":
    main()
