"""Metric series read for display: per-step curves reduced in the database to M4 (Jugel et
al. 2014): of each of DISPLAY_POINTS/4 step buckets of the run's length, its first and last
point and its minimum and maximum, each at the step where it happened (400 buckets: about a
pixel each in a plot of the page's two columns at 1440 px, so the drawn line is the full
curve's and a spike is drawn where it was). Per-epoch curves whole. Exports and the JSON API
keep every point.
"""
from __future__ import annotations

import math
import pathlib

import numpy as np
from django.core.cache import caches
from django.db import connection
from django.db.models import Max

from dashboard.figures import code_version
from dashboard.models import MetricPoint
from trainer.kinds.records import CLOCK, FINISHED, STEP_METRICS

DISPLAY_POINTS = 1600
CLOCK_POINTS = 400  # a run's clock, at most: wall time between two of them is interpolated by step

SERIES_VERSION = code_version(pathlib.Path(__file__))  # a change of the reduction reduces every run anew
RUNNING_TIMEOUT_S = 60  # a running run's reduction is read again by its viewers until its next flush only

Series = dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]  # (run id, metric) -> (x int32, y float32)


def load_series(run_ids: list[int], names, versions: dict[int, str] | None = None) -> Series:
    """Each run's curves, reduced for display. versions: {run id: a text that changes whenever the
    run's points may have changed} (series_version) for the runs whose reduction may be read from,
    and kept in, the figures cache; the others are read from the database. A finished run's stays
    in the cache; a running run's expires after RUNNING_TIMEOUT_S (its next flush names a new one)."""
    names = tuple(names)
    cache, versions = caches["figures"], versions or {}
    keys = {pk: f"series:{SERIES_VERSION}:{pk}:{versions[pk]}:{','.join(names)}" for pk in run_ids if versions.get(pk)}
    cached = cache.get_many(list(keys.values())) if keys else {}
    series: Series = {}
    for pk, key in keys.items():
        series.update(cached.get(key, {}))
    missing = [pk for pk in run_ids if keys.get(pk) not in cached]
    if missing:
        fresh = _read(missing, names)
        series.update(fresh)
        for pk in missing:
            if pk in keys:
                timeout = None if versions[pk].rsplit("-", 1)[-1] in FINISHED else RUNNING_TIMEOUT_S
                cache.set(keys[pk], {k: v for k, v in fresh.items() if k[0] == pk}, timeout)
    return series


def series_version(run) -> str | None:
    """What names a run's stored points: the worker stores each flush's points and the run's last
    sequence number in one transaction (dashboard/worker/training.py), and a resumed run flushes
    past it; a finished run's points no longer change. None for an unfinished run that has flushed
    nothing (points written some other way, e.g. a script's own, are read from the database every
    time)."""
    if run.last_seq <= 0 and not run.is_finished:
        return None
    return f"{run.created.timestamp():.6f}-{run.last_seq}-{run.status}"


def _read(run_ids, names) -> Series:
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


# M4 in two passes over the index (run, name, step): each bucket's first and last step and its
# extreme values, then, within each bucket's step range, the first step holding each extreme and
# the values at the bucket's ends. (Four window-function rankings instead sort every point four
# times: 7 to 10 times slower on SQLite and PostgreSQL.)
M4_SQL = """
WITH b AS (
  SELECT run_id, step / %s AS bucket, MIN(step) AS first, MAX(step) AS last, MIN(value) AS low, MAX(value) AS high
  FROM {table} WHERE name = %s AND run_id IN ({ids}) GROUP BY run_id, bucket
)
SELECT b.run_id, b.first, MAX(CASE WHEN m.step = b.first THEN m.value END),
       MIN(CASE WHEN m.value = b.low THEN m.step END), b.low,
       MIN(CASE WHEN m.value = b.high THEN m.step END), b.high,
       b.last, MAX(CASE WHEN m.step = b.last THEN m.value END)
FROM b JOIN {table} m ON m.run_id = b.run_id AND m.name = %s AND m.step BETWEEN b.first AND b.last
GROUP BY b.run_id, b.bucket, b.first, b.last, b.low, b.high
"""


def _bucketed(run_ids, name: str, buckets: int) -> Series:
    """Per run, its steps cut into `buckets` equal buckets of its own length."""
    lasts = dict(MetricPoint.objects.filter(run_id__in=run_ids, name=name).values("run_id")
                 .annotate(last=Max("step")).values_list("run_id", "last"))
    by_width: dict[int, list[int]] = {}
    for pk, last in lasts.items():
        by_width.setdefault(max(1, math.ceil((last + 1) / buckets)), []).append(pk)
    series: Series = {}
    for width, pks in by_width.items():
        series.update(_whole(pks, [name]) if width == 1 else _m4(pks, name, width))
    return series


def _m4(run_ids, name: str, width: int) -> Series:
    sql = M4_SQL.format(table=MetricPoint._meta.db_table, ids=", ".join(["%s"] * len(run_ids)))
    with connection.cursor() as cursor:
        cursor.execute(sql, [width, name, *run_ids, name])
        rows = cursor.fetchall()
    points: dict[int, dict[int, float]] = {}
    for run_id, *corners in rows:
        kept = points.setdefault(run_id, {})
        for step, value in zip(corners[0::2], corners[1::2]):
            if step is not None:
                kept[step] = value  # a step that is two corners (a bucket's first point its minimum) once
    return _group((run_id, name, step, kept[step]) for run_id, kept in points.items() for step in sorted(kept))


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
