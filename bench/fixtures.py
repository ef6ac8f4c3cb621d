"""Synthetic stored points for the benchmarks' experiments (Django set up first): what a finished
run leaves in the database, without training it."""
from __future__ import annotations

import numpy as np


def store_synthetic_points(run, steps: int, epochs: int, rng, seq: int = 0) -> None:
    """A falling, noisy per-step loss over `steps` steps and every per-epoch metric (uniform
    random) over `epochs` epochs, each point as carried by live flush `seq`."""
    from dashboard.models import MetricPoint
    from trainer.kinds.records import EPOCH_METRICS

    x = np.arange(1, steps + 1)
    loss = 2 * np.exp(-x / (steps / 4)) + 0.2 * rng.random(steps)
    points = [MetricPoint(run=run, name="loss", step=int(s), value=float(v), seq=seq) for s, v in zip(x, loss)]
    points += [MetricPoint(run=run, name=name, step=e, value=float(rng.random()), seq=seq)
               for name in EPOCH_METRICS for e in range(1, epochs + 1)]
    MetricPoint.objects.bulk_create(points, batch_size=5000)
