"""Metric series read for display: per-step curves reduced in the database to the minimum
and maximum of each of about DISPLAY_POINTS/2 step buckets (min/max preserving, M4-like:
at a plot's width a bucket is under a pixel, so the drawn envelope is exact); per-epoch
curves whole. Exports and the JSON API keep every point.
"""
from __future__ import annotations

import math

import numpy as np
from django.db.models import F, Max, Min

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
        series.update(_bucketed(run_ids, name, DISPLAY_POINTS // 2))
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
    rows = (points.annotate(bucket=F("step") / width).values("run_id", "bucket")
            .annotate(first=Min("step"), end=Max("step"), low=Min("value"), high=Max("value"))
            .order_by("run_id", "bucket").values_list("run_id", "first", "end", "low", "high"))
    flat = []
    for run_id, first, end, low, high in rows:
        flat.append((run_id, name, first, low))
        if end != first:
            flat.append((run_id, name, end, high))
    return _group(flat)


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
