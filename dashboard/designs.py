"""Experiment kinds (the paper's designs) in the web app: which runs an experiment starts
with, and what it schedules when one of them finishes (dependent runs, analyses).

The trainer's designs (trainer.designs) run everything in one process; here each run is
a Run row trained by a worker, and each analysis an Analysis row (dashboard.analyses).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import transaction

from dashboard.publisher import publish_runs_added
from trainer.config import ConfigError, TrainConfig, check_known
from trainer.designs import REMEDIES, RemediesDesign
from trainer.experiments import snapshot_path

if TYPE_CHECKING:  # presets imports this module for Design
    from dashboard.presets import ExperimentSpec

log = logging.getLogger(__name__)

KINDS = {
    "gap": "SB vs LB over seeds (Table 2)",
    "sharpness": "the gap plus sharpness of every final model (Tables 3 and 4)",
    "parametric": "one SB and one LB run, then linear and curved interpolation (Fig. 3)",
    "sweep": "batch sizes x seeds, with sharpness (Fig. 4)",
    "warmstart": "LB runs warm-started from SB snapshots (Fig. 5)",
    "trajectory": "sharpness of SB and LB snapshots against training loss (Fig. 6)",
    "remedies": "SB, LB and LB with each remedy, with sharpness (Tables 6 and 7, SAM, ghost BN, lr rules)",
}
# analysis params, as dashboard.analyses.request_analysis takes them
SHARPNESS_FULL = {"epsilons": [1e-3, 5e-4], "subspace_dim": None, "max_iter": 10, "restarts": 0}
SHARPNESS_1E3 = {"epsilons": [1e-3], "subspace_dim": None, "max_iter": 10, "restarts": 0}
INTERPOLATIONS = [{"path": path, "bn": "recompute", "points": 25, "alpha_min": -1, "alpha_max": 2}
                  for path in ("linear", "curved")]


@dataclass(frozen=True)
class Design:
    """The kind of an experiment and its kind-specific settings (the rest is ExperimentSpec)."""

    kind: str = "gap"
    batch_sizes: tuple[float, ...] = (16, 32, 64, 128, 256, 400, 1000, 2000, 4000)  # sweep
    every: int = 10  # warmstart, trajectory: keep the weights every k epochs (and at epoch 0)
    lb_epochs: int = 30  # warmstart: epochs of each warm-started LB run
    remedies: tuple[str, ...] = tuple(REMEDIES)  # remedies
    subspace_dim: int = 100  # sharpness: the paper's p for Table 4

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError("kind", f"unknown experiment kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.every < 1:
            raise ConfigError("every", f"must be at least 1 (got {self.every})")
        if self.lb_epochs < 1:
            raise ConfigError("lb_epochs", f"must be at least 1 (got {self.lb_epochs})")
        if not self.batch_sizes:
            raise ConfigError("batch_sizes", "give at least one batch size")
        unknown = sorted(set(self.remedies) - set(REMEDIES))
        if unknown:
            raise ConfigError("remedies", f"unknown remedy {unknown[0]!r}; known: {', '.join(REMEDIES)}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Design":
        check_known(cls, d, "design setting")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass(frozen=True)
class PlannedRun:
    role: str
    seed: int
    config: TrainConfig
    tags: dict[str, Any] = field(default_factory=dict)


def plan_runs(spec: ExperimentSpec, design: Design, data_dir: str | None = None) -> list[PlannedRun]:
    """The runs an experiment of this design starts with."""
    kind = design.kind
    if kind in ("gap", "sharpness"):
        return [PlannedRun(role, seed, cfg, {"batch": cfg.batch_size}) for role, seed, cfg in spec.train_configs(data_dir)]
    if kind == "parametric":  # one pair sharing its initial weights (same seed)
        return [PlannedRun(role, 0, spec.train_config(role, 0, data_dir), {}) for role in ("SB", "LB")]
    if kind == "sweep":
        return [PlannedRun(f"B={batch:g}", seed, spec.train_config("SB", seed, data_dir).replace(batch_size=batch),
                           {"batch": batch})
                for batch in design.batch_sizes for seed in range(spec.seeds)]
    if kind == "warmstart":
        return [PlannedRun("SB", 0, spec.train_config("SB", 0, data_dir), {"snapshot_every": design.every})]
    if kind == "trajectory":
        return [PlannedRun(role, 0, spec.train_config(role, 0, data_dir), {"snapshot_every": design.every})
                for role in ("SB", "LB")]
    # remedies: the trainer's own variants (SB, LB, LB + each remedy; SB + augmentation too)
    from trainer import data

    names = design.remedies
    if len(data.DATASETS[spec.dataset].input_shape) != 3:
        names = tuple(n for n in names if n != "augmentation")  # augmentation needs images
    variants = RemediesDesign(spec.train_config("SB", 0, data_dir), spec.sb_batch, spec.lb_batch,
                              remedies=names).variants()
    return [PlannedRun(name, seed, cfg.replace(seed=seed), {"variant": name})
            for name, cfg in variants for seed in range(spec.seeds)]


def warm_start_epochs(sb_epochs: int, every: int) -> list[int]:
    return list(range(0, sb_epochs + 1, every))


def trajectory_epochs(epochs: int, every: int) -> list[int]:
    return list(range(every, epochs + 1, every))


def planned_analyses(experiment) -> int:
    """How many analyses the design will request once every run has finished."""
    spec, design = experiment.spec, experiment.design_options
    return count_analyses(spec, design, len(plan_runs(spec, design)))


def count_analyses(spec: ExperimentSpec, design: Design, n_runs: int) -> int:
    per_run = {"gap": 0, "sharpness": 2, "sweep": 1, "remedies": 1}
    if design.kind in per_run:
        return per_run[design.kind] * n_runs
    if design.kind == "parametric":
        return len(INTERPOLATIONS)
    if design.kind == "warmstart":
        return len(warm_start_epochs(spec.epochs, design.every))
    return 2 * len(trajectory_epochs(spec.epochs, design.every))


# -- what happens when a run finishes ------------------------------------------------------

def on_run_finished(run) -> None:
    """Schedule what the finished (DONE) run unlocks; every request is idempotent."""
    from dashboard.analyses import request_analysis

    experiment = run.experiment
    design = experiment.design_options
    kind = design.kind
    with transaction.atomic():
        if kind == "sharpness":
            request_analysis(experiment, "sharpness", SHARPNESS_FULL, run)
            request_analysis(experiment, "sharpness", {**SHARPNESS_FULL, "subspace_dim": design.subspace_dim}, run)
        elif kind == "sweep":
            request_analysis(experiment, "sharpness", SHARPNESS_FULL, run)
        elif kind == "remedies":
            request_analysis(experiment, "sharpness", SHARPNESS_1E3, run)
        elif kind == "parametric":
            _interpolate_when_pair_done(experiment)
        elif kind == "warmstart":
            if run.tags.get("snapshot_every"):
                _start_warm_lb_runs(experiment, design, run)
            else:
                request_analysis(experiment, "sharpness", SHARPNESS_FULL, run)
        elif kind == "trajectory":
            for epoch in trajectory_epochs(run.config["epochs"], run.tags["snapshot_every"]):
                request_analysis(experiment, "sharpness", SHARPNESS_FULL, run, epoch=epoch)


def _interpolate_when_pair_done(experiment) -> None:
    from dashboard.analyses import request_analysis

    # Each run checks after its own DONE is committed, so the later of the two sees both done.
    pair = {r.role: r for r in experiment.runs.filter(role__in=("SB", "LB"), seed=0, status="done")}
    if len(pair) == 2:
        for params in INTERPOLATIONS:
            request_analysis(experiment, "interpolation", params, pair["SB"], pair["LB"])


def _start_warm_lb_runs(experiment, design: Design, sb_run) -> list:
    """One LB run from each kept SB snapshot; idempotent (a redelivered hook adds nothing)."""
    from dashboard.models import Run

    if experiment.runs.filter(tags__depends_on=sb_run.pk).exists():
        return []
    spec = experiment.spec
    base = TrainConfig.from_dict(sb_run.config)
    lb = spec.train_config("LB", base.seed, data_dir=base.data_dir)
    runs = []
    for epoch in warm_start_epochs(base.epochs, design.every):
        path = snapshot_path(sb_run.run_dir, epoch)
        if not path.exists():
            log.warning("warm start: no SB snapshot at %s; skipping epoch %s", path, epoch)
            continue
        config = lb.replace(epochs=design.lb_epochs, init_from=str(path), device=base.device)
        run = Run.objects.create(experiment=experiment, role="LB", seed=base.seed, config=config.to_dict(),
                                 tags={"sb_epoch": epoch, "depends_on": sb_run.pk})
        run.enqueue()
        runs.append(run)
    experiment.refresh_status()
    ids = [run.pk for run in runs]
    transaction.on_commit(lambda: publish_runs_added(experiment.pk, ids))
    return runs
