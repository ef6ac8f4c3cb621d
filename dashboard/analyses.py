"""Analyses of finished runs requested from the page: validation, deduplication, execution.

request_analysis (web side) validates the params, fills in every default, and identifies
the input weights by the sha256 of the checkpoint or snapshot file(s). The same (kind,
params, weights) is answered with the row already there, done or in progress: the same
analysis of the same checkpoint is served from the database. Otherwise it creates the row
and enqueues run_analysis once the transaction commits.

execute_analysis (worker side) rebuilds the model(s) from the run's config, loads the
weights, calls the trainer.analysis function with a throttled progress callback (stored on
the row and published as "analysis.status"), and stores the result's to_dict().
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import time
import traceback
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils import timezone

from dashboard.models import Analysis, Run, Status
from dashboard.publisher import publish

log = logging.getLogger(__name__)

KINDS = ("sharpness", "interpolation", "hessian", "landscape")
PROGRESS_INTERVAL_S = 0.25  # at most four progress writes and messages a second
LANDSCAPE_RESOLUTIONS = (2, 51)  # smallest and largest grid per axis


# -- params -----------------------------------------------------------------------------

def _int(name: str, value, low: int | None = None, high: int | None = None, optional: bool = False):
    if optional and value in (None, ""):
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = value if isinstance(value, int) else int(str(value).strip())
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if low is not None and number < low or high is not None and number > high:
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {bounds}, got {number}")
    return number


def _float(name: str, value, positive: bool = False) -> float:
    try:
        number = float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number) or (positive and number <= 0):
        raise ValueError(f"{name} must be a {'positive ' if positive else ''}finite number, got {value!r}")
    return number


def _bool(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "on", "yes"):
        return True
    if text in ("0", "false", "off", "no", ""):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def _choice(name: str, value, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _epsilons(value) -> list[float]:
    items = [v for v in str(value).replace(";", ",").split(",") if v.strip()] if isinstance(value, str) else value
    try:
        items = list(items)
    except TypeError:
        raise ValueError(f"epsilons must be a list of box sizes, e.g. 1e-3, 5e-4; got {value!r}") from None
    if not items:
        raise ValueError("epsilons is empty: give at least one box size, e.g. 1e-3, 5e-4")
    return [_float("each of epsilons", v, positive=True) for v in items]


# kind -> {param: (default, coerce(name, value))}
SCHEMAS = {
    "sharpness": {
        "epsilons": ([1e-3, 5e-4], lambda n, v: _epsilons(v)),
        "subspace_dim": (None, lambda n, v: _int(n, v, 1, optional=True)),
        "max_iter": (10, lambda n, v: _int(n, v, 1, 1000)),
        "restarts": (0, lambda n, v: _int(n, v, 0, 100)),
    },
    "interpolation": {
        "path": ("linear", lambda n, v: _choice(n, v, ("linear", "curved"))),
        "bn": ("recompute", lambda n, v: _choice(n, v, ("recompute", "batch"))),
        "points": (25, lambda n, v: _int(n, v, 2, 401)),
        "alpha_min": (-1.0, _float),
        "alpha_max": (2.0, _float),
    },
    "hessian": {
        "k": (3, lambda n, v: _int(n, v, 1, 20)),
        "trace": (True, _bool),
        "density": (True, _bool),
        "n_samples": (1000, lambda n, v: _int(n, v, 1)),
    },
    "landscape": {
        "resolution": (21, lambda n, v: _int(n, v, *LANDSCAPE_RESOLUTIONS)),
        "span": (1.0, lambda n, v: _float(n, v, positive=True)),
        "n_samples": (None, lambda n, v: _int(n, v, 1, optional=True)),
    },
}


def validate_params(kind: str, params: dict | None) -> dict:
    """Every param of the kind, coerced (form strings are accepted) and defaulted; ValueError names the field."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    params = dict(params or {})
    schema = SCHEMAS[kind]
    unknown = sorted(set(params) - set(schema))
    if unknown:
        raise ValueError(f"unknown parameter {unknown[0]!r} for {kind}; expected some of {', '.join(schema)}")
    clean = {name: coerce(name, params[name]) if name in params else default
             for name, (default, coerce) in schema.items()}
    if kind == "interpolation" and not clean["alpha_min"] < clean["alpha_max"]:
        raise ValueError(f"alpha_min must be below alpha_max, got {clean['alpha_min']} and {clean['alpha_max']}")
    return clean


# -- input weights ------------------------------------------------------------------------

def weights_path(run: Run, epoch: int | None) -> Path:
    """The run's final checkpoint, or its snapshot of that epoch (trainer.experiments.snapshot_path)."""
    from trainer.experiments import snapshot_path  # no torch work: a path helper

    checkpoint = Path(run.checkpoint_path or run.default_checkpoint_path())
    return checkpoint if epoch is None else snapshot_path(checkpoint.parent, epoch)


@functools.lru_cache(maxsize=256)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_identity(run: Run, epoch: int | None) -> str:
    if run.status != Status.DONE:
        raise ValueError(f"run {run.pk} ({run.role} seed {run.seed}) is {run.status}: analyse a finished run")
    path = weights_path(run, epoch)
    if not path.is_file():
        raise ValueError(f"run: run {run.pk} has no checkpoint file at {path}" if epoch is None
                         else f"epoch: run {run.pk} has no snapshot of epoch {epoch} at {path}")
    stat = path.stat()
    return _file_sha256(str(path), stat.st_mtime_ns, stat.st_size)


ARCHITECTURE = ("net", "dataset", "width", "depth")  # the TrainConfig fields that fix the parameters' shapes


def architecture_mismatch(run: Run, other: Run) -> str:
    """Why the two runs' weights cannot be mixed ("" when they can)."""
    differ = [name for name in ARCHITECTURE if run.config.get(name) != other.config.get(name)]
    if not differ:
        return ""
    def describe(r: Run) -> str:
        return ", ".join(f"{n} {'default' if r.config.get(n) is None else r.config.get(n)}" for n in differ)
    return f"run #{other.pk} has {describe(other)} but run #{run.pk} has {describe(run)}"


def partner_runs(experiment, user, limit: int = 200) -> list[Run]:
    """Finished runs of the user's other experiments whose weights mix with this experiment's
    (same network and data): the far ends interpolation may take beyond this experiment."""
    from dashboard.models import Experiment

    config = experiment.config
    others = (Run.objects.filter(experiment__in=Experiment.objects.visible_to(user), status=Status.DONE,
                                 config__net=config.get("net"), config__dataset=config.get("dataset"))
              .exclude(experiment=experiment).select_related("experiment").order_by("-experiment_id", "seed", "role"))
    mine = experiment.runs.first()
    return [run for run in others[:limit] if mine is None or not architecture_mismatch(mine, run)]


# -- requesting ---------------------------------------------------------------------------

def request_analysis(experiment, kind: str, params: dict, run, run_b=None, *, epoch: int | None = None,
                     user=None) -> Analysis:
    """The existing row for (kind, params, weights), done or in progress, or a new one, queued on commit."""
    clean = validate_params(kind, params)
    if run is None or run.experiment_id != experiment.pk:
        raise ValueError("run: choose a run of this experiment")
    if kind == "interpolation":
        if run_b is None:
            raise ValueError("run_b: interpolation needs a second run (the large-batch end), of this experiment "
                             "or another of yours")
        if run_b.pk == run.pk:
            raise ValueError("run_b: choose a run other than run; the path between a model and itself is a point")
        mismatch = architecture_mismatch(run, run_b)
        if mismatch:
            raise ValueError(f"run_b: {mismatch}; interpolation needs two runs of the same network on the same data")
    elif run_b is not None:
        raise ValueError(f"run_b: only interpolation takes a second run, not {kind}")
    if epoch is not None:
        epoch = _int("epoch", epoch, 0)
    weights = weights_identity(run, epoch)
    if run_b is not None:
        weights = f"{weights}+{weights_identity(run_b, epoch)}"
    canonical = json.dumps({"kind": kind, "params": clean, "weights": weights}, sort_keys=True)
    key = hashlib.sha256(canonical.encode()).hexdigest()
    existing = _live(experiment, key)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            analysis = Analysis.objects.create(experiment=experiment, run=run, run_b=run_b, epoch=epoch, kind=kind,
                                               params=clean, weights=weights, key=key, requested_by=user)
            analysis_id = analysis.pk
            transaction.on_commit(lambda: _enqueue(analysis_id))
        analysis.created_now = True  # the view says "queued" rather than "served from the database"
    except IntegrityError:  # a concurrent request created it first
        return _live(experiment, key)
    return analysis


def _live(experiment, key: str) -> Analysis | None:
    return Analysis.objects.filter(experiment=experiment, key=key).exclude(status=Status.FAILED).first()


def _enqueue(analysis_id: int) -> None:
    from dashboard.tasks import run_analysis

    run_analysis.apply_async(args=[analysis_id])


# -- executing ----------------------------------------------------------------------------

class _Progress:
    """The trainer's progress(fraction) callback for one stage of the analysis (throttled)."""

    def __init__(self, analysis: Analysis):
        self.analysis = analysis
        self.last = 0.0
        self.offset, self.width = 0.0, 1.0

    def stage(self, index: int, count: int) -> "_Progress":
        self.offset, self.width = index / count, 1 / count
        return self

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL_S:
            return
        self.last = now
        progress = min(1.0, self.offset + self.width * float(fraction))
        Analysis.objects.filter(pk=self.analysis.pk).update(progress=progress)
        self.analysis.progress = progress
        publish_status(self.analysis)


def publish_status(analysis: Analysis) -> bool:
    return publish(analysis.experiment_id, {"type": "analysis.status", "analysis": analysis.pk,
                                            "kind": analysis.kind, "status": analysis.status,
                                            "progress": analysis.progress, "error": analysis.error[:500]})


def _json_safe(value):
    """NaN and infinities become None (PostgreSQL's jsonb and strict JSON refuse them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def execute_analysis(analysis_id: int) -> str:
    """Claim the queued row, compute, store. Returns the final status, or "skipped" when not ours to run."""
    now = timezone.now()
    if not Analysis.objects.filter(pk=analysis_id, status=Status.QUEUED).update(status=Status.RUNNING, started=now):
        return "skipped"
    analysis = Analysis.objects.select_related("run", "run_b").get(pk=analysis_id)
    publish_status(analysis)
    try:
        from dashboard.analysis_runner import compute

        result = compute(analysis, _Progress(analysis))
    except Exception:
        log.exception("analysis %s failed", analysis_id)
        fields = dict(status=Status.FAILED, error=traceback.format_exc()[-5000:])
    else:
        fields = dict(status=Status.DONE, progress=1.0, result=_json_safe(result), error="")
    if not Analysis.objects.filter(pk=analysis_id).update(finished=timezone.now(), **fields):
        return "deleted"  # its experiment was deleted meanwhile
    analysis.refresh_from_db()
    publish_status(analysis)
    return analysis.status
