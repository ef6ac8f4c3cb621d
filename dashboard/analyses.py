"""Analyses of finished runs, requested from the page or by an experiment's plan: validation,
the weights' identity, deduplication.

request_analysis validates the params (trainer.analysis.by_name: every default filled in)
and identifies the input weights by the sha256 of the checkpoint or snapshot file(s). The
same (kind, params, weights) is answered with the row already there, done or in progress:
the same analysis of the same checkpoint is served from the database. Otherwise it creates
the row and queues it once the transaction commits (dashboard.worker.analysis runs it).
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from django.db import IntegrityError, transaction

from dashboard import limits
from dashboard.models import Analysis, Experiment, Run, Status
from trainer.analysis.by_name import validate_params, whole_number
from trainer.snapshots import snapshot_path


# -- input weights ------------------------------------------------------------------------

def weights_path(run: Run, epoch: int | None) -> Path:
    """The run's final checkpoint, or its snapshot of that epoch (trainer.snapshots)."""
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
    limits.check_analysis(clean)
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
        epoch = whole_number("epoch", epoch, 0)
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
            analysis.enqueue()
        analysis.created_now = True  # the view says "queued" rather than "served from the database"
    except IntegrityError:  # a concurrent request created it first
        return _live(experiment, key)
    return analysis


def _live(experiment, key: str) -> Analysis | None:
    return Analysis.objects.filter(experiment=experiment, key=key).exclude(status=Status.FAILED).first()
