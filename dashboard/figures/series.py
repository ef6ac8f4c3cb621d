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
from trainer.kinds.records import CLOCK, CURVATURE_METRICS, EPOCH_METRICS, FINISHED, STEP_METRICS

PLOTTED = ("loss",) + CURVATURE_METRICS + EPOCH_METRICS  # what the run plots draw (runs.py)
DISPLAY_POINTS = 1600
CLOCK_POINTS = 400  # a run's clock, at most: wall time between two of them is interpolated by step

SERIES_VERSION = code_version(pathlib.Path(__file__))  # a change of the reduction reduces every run anew
RUNNING_TIMEOUT_S = 60  # a running run's reduction, unread for this long, is dropped (its run may have ended)

Series = dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]  # (run id, metric) -> (x int32, y float32)


def load_series(run_ids: list[int], names, versions: dict[int, str] | None = None) -> Series:
    """Each run's curves, reduced for display. versions: {run id: series_version(run)} for the runs
    whose reduction may be kept in the figures cache (every web process reads it); the others are
    read from the database. A finished run's reduction is kept for good. A running run's is kept
    with the flush it holds, and the next request after a flush adds only the points of the
    flushes since (by sequence number) and reduces the line again past 2 x DISPLAY_POINTS, as
    the page does with what it streams, instead of reducing the whole run in the database again."""
    names, versions = tuple(names), versions or {}
    finished = {pk: versions[pk] for pk in run_ids if versions.get(pk) and _status(versions[pk]) in FINISHED}
    running = {pk: versions[pk] for pk in run_ids if versions.get(pk) and pk not in finished}
    series = _finished_series(finished, names)
    series.update(_running_series(running, names))
    others = [pk for pk in run_ids if pk not in finished and pk not in running]
    if others:
        series.update(_read(others, names))
    return series


def keep_finished(run) -> None:
    """A run that has just finished: its plotted curves reduced into the figures cache, as the first
    view of its page would, so that view reads them instead of reducing the run in the database.
    Its worker calls this as the run ends (the cache is shared where the worker shares the web's
    var directory, as under runlab)."""
    version = series_version(run)
    if version and _status(version) in FINISHED:
        load_series([run.pk], PLOTTED, {run.pk: version})


def _parts(version: str) -> tuple[str, int, str]:
    """series_version's parts: the run's created time, its last sequence number, its status."""
    created, seq, status = version.split("-", 2)
    return created, int(seq), status


def _status(version: str) -> str:
    return _parts(version)[2]


def _finished_series(versions: dict[int, str], names: tuple[str, ...]) -> Series:
    cache = caches["figures"]
    keys = {pk: f"series:{SERIES_VERSION}:{pk}:{version}:{','.join(names)}" for pk, version in versions.items()}
    cached = cache.get_many(list(keys.values())) if keys else {}
    series: Series = {}
    for entry in cached.values():
        series.update(entry)
    missing = [pk for pk, key in keys.items() if key not in cached]
    if missing:
        fresh = _read(missing, names)
        series.update(fresh)
        cache.set_many({keys[pk]: _of(fresh, pk) for pk in missing}, None)
    return series


def _running_series(versions: dict[int, str], names: tuple[str, ...]) -> Series:
    cache = caches["figures"]
    # one entry per run (its created time tells a run apart from another row that reused its id)
    keys = {pk: f"running:{SERIES_VERSION}:{pk}:{_parts(version)[0]}:{','.join(names)}"
            for pk, version in versions.items()}
    cached = cache.get_many(list(keys.values())) if keys else {}
    series: Series = {}
    whole = []
    for pk, version in versions.items():
        seq, entry = _parts(version)[1], cached.get(keys[pk])
        if entry is None or entry["seq"] > seq:
            whole.append(pk)
            continue
        kept = entry["series"]
        if entry["seq"] < seq:
            kept = _extended(pk, kept, names, entry["seq"])
            cache.set(keys[pk], {"seq": seq, "series": kept}, RUNNING_TIMEOUT_S)
        series.update(kept)
    if whole:
        fresh = _read(whole, names)
        series.update(fresh)
        cache.set_many({keys[pk]: {"seq": _parts(versions[pk])[1], "series": _of(fresh, pk)}
                        for pk in whole}, RUNNING_TIMEOUT_S)
    return series


def _of(series: Series, pk: int) -> Series:
    return {key: value for key, value in series.items() if key[0] == pk}


def _extended(pk: int, kept: Series, names: tuple[str, ...], after_seq: int) -> Series:
    """The run's kept curves with the points of its flushes after `after_seq` added past each
    curve's end (points of a flush newer than the version read may come along: kept once), each
    per-step curve reduced again to M4 once it holds more than 2 x DISPLAY_POINTS."""
    rows = (MetricPoint.objects.filter(run_id=pk, seq__gt=after_seq, name__in=names)
            .order_by("name", "step").values_list("run_id", "name", "step", "value"))
    out = dict(kept)
    for key, (x, y) in _group(rows).items():
        old_x, old_y = out.get(key, (np.zeros(0, np.int32), np.zeros(0, np.float32)))
        new = x > old_x[-1] if len(old_x) else np.ones(len(x), bool)
        x, y = np.concatenate([old_x, x[new]]), np.concatenate([old_y, y[new]])
        if key[1] in STEP_METRICS and len(x) > 2 * DISPLAY_POINTS:
            x, y = m4(x, y, DISPLAY_POINTS // 4)
        out[key] = (x, y)
    return out


def m4(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """M4 of a curve held here (x ascending): of each of `buckets` equal buckets of its steps, the
    first and last point and the first minimum and maximum, as M4_SQL keeps them."""
    width = max(1, math.ceil((int(x[-1]) + 1) / buckets))
    bucket = x // width
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(x)]
    keep = [i for s, e in zip(starts, ends)
            for i in (s, s + int(np.argmin(y[s:e])), s + int(np.argmax(y[s:e])), e - 1)]
    kept = np.unique(keep)
    return x[kept], y[kept]


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
