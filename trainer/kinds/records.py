"""Plain records of an experiment's runs and analyses: what the result tables are built from.

The CLI's executor makes them from the runs it trained; the web app from its database
rows. Both then call the same table builders, so a table is computed once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

# What a run's metric series are called, and what their x is.
STEP_METRICS = ("loss", "acc")  # x: the global optimisation step
CURVATURE_METRICS = ("lambda_max", "lambda_max_pre")  # x: the step; every curvature_every steps
EPOCH_METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "dist_init", "lr", "sharpness",
                 "b_simple")  # x: the epoch
CLOCK = "wall"  # x: the global step; value: seconds spent training up to it (a wall-time axis maps steps by it)

STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")


@dataclass(frozen=True)
class RunRecord:
    id: int
    role: str
    seed: int
    config: dict[str, Any]  # TrainConfig.to_dict()
    tags: dict[str, Any] = field(default_factory=dict)  # {"batch": 128}, {"snapshot_every": 10}, {"sb_epoch": 20}
    status: str = "done"
    final: dict[str, Any] = field(default_factory=dict)  # the Trainer's final metrics
    history: dict[str, dict[int, float]] = field(default_factory=dict)  # per-epoch metric -> {epoch: value}

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def snapshot_every(self) -> int:
        return int(self.tags.get("snapshot_every") or 0)


@dataclass(frozen=True)
class AnalysisRecord:
    id: int
    kind: str  # "sharpness", "interpolation", ...
    run: int | None  # the analysed run's id (None: it was deleted)
    params: dict[str, Any]
    run_b: int | None = None  # interpolation's far end
    epoch: int | None = None  # a snapshot epoch; None: the final weights
    status: str = "done"
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def sharpness_values(result: dict[str, Any]) -> dict[tuple[str, float], float]:
    """{("full" | "p100", eps): value} of a sharpness result (trainer.analysis.SharpnessResult.to_dict())."""
    dim = (result.get("options") or {}).get("subspace_dim")
    space = f"p{dim}" if dim else "full"
    return {(space, float(e["epsilon"])): e["value"] for e in result.get("entries", [])}


class Records:
    """An experiment's runs and analyses, with the lookups the result tables make."""

    def __init__(self, runs: Iterable[RunRecord] = (), analyses: Iterable[AnalysisRecord] = ()):
        self.runs: list[RunRecord] = list(runs)
        self.analyses: list[AnalysisRecord] = list(analyses)

    def add(self, record: RunRecord | AnalysisRecord) -> None:
        (self.runs if isinstance(record, RunRecord) else self.analyses).append(record)

    @property
    def done(self) -> list[RunRecord]:
        return [r for r in self.runs if r.status == "done"]

    def run(self, run_id: int) -> RunRecord | None:
        return next((r for r in self.runs if r.id == run_id), None)

    def by(self, key: Callable[[RunRecord], Any]) -> dict[Any, list[RunRecord]]:
        """The finished (done) runs grouped by key, in run order."""
        groups: dict[Any, list[RunRecord]] = {}
        for run in self.done:
            groups.setdefault(key(run), []).append(run)
        return groups

    def n_train(self) -> int | None:
        """The fewest training samples any done run trained on (None when none reported it)."""
        sizes = {r.final.get("n_train") for r in self.done} - {None}
        return min(sizes) if sizes else None

    def sharpness(self, run: RunRecord, space: str, eps: float, epoch: int | None = None) -> float | None:
        """The value of a done sharpness analysis of the run's weights (final, or a snapshot's)."""
        for a in self.analyses:
            if a.kind == "sharpness" and a.status == "done" and a.run == run.id and a.epoch == epoch:
                value = sharpness_values(a.result).get((space, eps))
                if value is not None:
                    return value
        return None

    def metric(self, run: RunRecord, name: str, epoch: int) -> float | None:
        return run.history.get(name, {}).get(epoch)


def experiment_status(statuses: Iterable[str]) -> str:
    """An experiment's status from its runs': running while any runs, then the worst outcome."""
    statuses = set(statuses)
    if not statuses or statuses == {"queued"}:
        return "queued"
    if statuses & {"running", "queued"}:
        return "running"
    for outcome in ("failed", "cancelled"):
        if outcome in statuses:
            return outcome
    return "done"


def json_safe(value):
    """NaN and infinities become None (strict JSON and PostgreSQL's jsonb refuse them), at any depth."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
