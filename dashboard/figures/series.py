"""Metric series read for display: per-step curves reduced in the database to M4 (Jugel et
al. 2014): of each of DISPLAY_POINTS/4 step buckets, its first and last point and its minimum
and maximum, each at the step where it happened (at a plot's width a bucket is about a pixel,
so the drawn line is the full curve's; a spike is drawn where it was). Per-epoch curves whole.
Exports and the JSON API keep every point.
"""
from __future__ import annotations

import math

import numpy as np
from django.db.models import F, Max, Q, Window
from django.db.models.functions import RowNumber

from dashboard.models import MetricPoint
from trainer.kinds.records import CLOCK, STEP_METRICS

DISPLAY_POINTS = 2000
CLOCK_POINTS = 400  # a run's clock, at most: wall time between two of them is interpolated by step

Series = dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]  # (run id, metric) -> (x int32, y float32)


def load_series(run_ids: list[int], names) -> Series:
    step_names = [n for n in names if n in STEP_METRICS]
    other_names = [n for n in names if n not in STEP_METRICS]
    series: Series = {}
    if other_names:
        series.update(_whole(run_ids, other_names))
    for name in step_names:
        series.update(_bucketed(run_ids, name, DISPLAY_POINTS // 4))
    return series


def _group(rows) -> Series:
    grouped: dict[tuple[int, str], list] = {}
    for run_id, name, step, value in rows:
        grouped.setdefault((run_id, name), []).append((step, value))
    return {key: (np.fromiter((s for s, _ in pts), np.int32, len(pts)),
                  np.fromiter((v for _, v in pts), np.float32, len(pts)))
            for key, pts in grouped.items()}


def _whole(run_ids, names) -> Series:
    return _group(MetricPoint.objects.filter(run_id__in=run_ids, name__in=names)
                  .order_by("run_id", "name", "step").values_list("run_id", "name", "step", "value"))


def _bucketed(run_ids, name: str, buckets: int) -> Series:
    points = MetricPoint.objects.filter(run_id__in=run_ids, name=name)
    last = points.aggregate(last=Max("step"))["last"]
    if last is None:
        return {}
    width = max(1, math.ceil((last + 1) / buckets))
    if width == 1:
        return _whole(run_ids, [name])
    bucket = [F("run_id"), F("step") / width]  # integer division in SQLite and PostgreSQL alike

    def rank(*order):  # 1 for the bucket's first point in that order
        return Window(RowNumber(), partition_by=bucket, order_by=order)

    # ties of the minimum (maximum) go to their first step; a bucket of one point is one row
    rows = (points.annotate(first=rank(F("step").asc()), end=rank(F("step").desc()),
                            low=rank(F("value").asc(), F("step").asc()), high=rank(F("value").desc(), F("step").asc()))
            .filter(Q(first=1) | Q(end=1) | Q(low=1) | Q(high=1))
            .order_by("run_id", "step").values_list("run_id", "step", "value"))
    return _group((run_id, name, step, value) for run_id, step, value in rows)


def load_clocks(run_ids: list[int]) -> dict[int, list[list[float]]]:
    """{run id: [[step, seconds], ...]}: when each run reached some of its steps (every live flush
    records one), thinned evenly to CLOCK_POINTS, first and last kept."""
    clocks: dict[int, list[list[float]]] = {}
    rows = (MetricPoint.objects.filter(run_id__in=run_ids, name=CLOCK).order_by("run_id", "step")
            .values_list("run_id", "step", "value"))
    for run_id, step, value in rows:
        clocks.setdefault(run_id, []).append([step, round(value, 3)])
    for run_id, pairs in clocks.items():
        if len(pairs) > CLOCK_POINTS:
            keep = np.unique(np.linspace(0, len(pairs) - 1, CLOCK_POINTS).round().astype(int))
            clocks[run_id] = [pairs[i] for i in keep]
    return clocks
