"""The paper's experiment designs, built from jobs and analyses.

Each design is a frozen config with `jobs()` and a function that runs them and returns a
result with `to_dict()` (plain JSON) and `rows()` (the table as the paper prints it).

- GapDesign: SB vs LB over seeds: Table 2 (accuracy), Tables 3 and 4 (sharpness).
- SweepDesign: final test accuracy and sharpness against batch size (Fig. 4).
- WarmStartDesign: LB runs warm-started from SB epochs ("piggybacking", Fig. 5).
- TrajectoryDesign: sharpness of the iterates against their training loss (Fig. 6).
- RemediesDesign: LB with each remedy, next to SB and plain LB (Tables 6 and 7 and more).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.config import TrainConfig
from trainer.experiments import Job, JobResult, Progress, mean_std, run_jobs, sharpness_values

# Sharpness options of the paper: full space, both box sizes, 10 L-BFGS-B iterations.
FULL_SPACE = {"epsilons": (1e-3, 5e-4)}
SUBSPACE = {"epsilons": (1e-3, 5e-4), "subspace_dim": 100}


def _analyses(sharpness: tuple[dict[str, Any], ...]) -> tuple:
    return tuple(("sharpness", tuple(sorted(options.items()))) for options in sharpness)


def _sharpness_of(run: JobResult) -> dict[str, float]:
    values: dict[str, float] = {}
    for a in run.analyses:
        if a["kind"] == "sharpness":
            values.update(sharpness_values(a["result"]))
    return values


def summarize(runs: list[JobResult]) -> dict[str, tuple[float, float]]:
    """Mean and std over runs: accuracies in percent, losses, distance, sharpness."""
    row = {
        "train_acc": mean_std([100 * r.final["train_acc"] for r in runs]),
        "test_acc": mean_std([100 * r.final["test_acc"] for r in runs]),
        "train_loss": mean_std([r.final["train_loss"] for r in runs]),
        "test_loss": mean_std([r.final["test_loss"] for r in runs]),
        "dist_init": mean_std([r.final["dist_init"] for r in runs]),
    }
    keys = sorted({k for r in runs for k in _sharpness_of(r)})
    for key in keys:
        row[f"sharpness {key}"] = mean_std([_sharpness_of(r)[key] for r in runs if key in _sharpness_of(r)])
    return row


def _store(root: str | Path, config: TrainConfig, label: str) -> str:
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
    return str(Path(root) / f"{label}-{digest}")


@dataclass
class DesignResult:
    design: Any
    runs: list[JobResult]
    wall_time: float
    workers: int | None

    def to_dict(self) -> dict[str, Any]:
        design = {k: v for k, v in dataclasses.asdict(self.design).items() if k != "base"}
        return {
            "design": type(self.design).__name__, "config": {**design, "base": self.design.base.to_dict()},
            "rows": self.rows(), "runs": [dataclasses.asdict(r) for r in self.runs],
            "wall_time": self.wall_time, "workers": self.workers,
        }

    def rows(self) -> list[dict[str, Any]]:
        raise NotImplementedError


def _run(design, *, workers: int | None, progress: Progress | None, result_type) -> DesignResult:
    t0 = time.perf_counter()
    runs = run_jobs(design.jobs(), workers=workers, progress=progress)
    return result_type(design, runs, time.perf_counter() - t0, workers)


# -- the gap -------------------------------------------------------------------------------

@dataclass(frozen=True)
class GapDesign:
    base: TrainConfig = field(default_factory=TrainConfig)
    sb_batch: float = 32
    lb_batch: float = 0.1
    seeds: tuple[int, ...] = (0, 1, 2)
    sharpness: tuple[dict[str, Any], ...] = ()  # keskar_sharpness options, one entry per space

    def jobs(self) -> list[Job]:
        return [Job(f"{role}-seed{seed}", self.base.replace(batch_size=batch, seed=seed), role,
                    _analyses(self.sharpness))
                for role, batch in (("SB", self.sb_batch), ("LB", self.lb_batch)) for seed in self.seeds]


class GapResult(DesignResult):
    def table(self) -> dict[str, dict[str, tuple[float, float]]]:
        return {role: summarize([r for r in self.runs if r.role == role]) for role in ("SB", "LB")}

    def rows(self):
        return [{"role": role, "batch_size": next(r.final["batch_size"] for r in self.runs if r.role == role),
                 **{k: list(v) for k, v in row.items()}} for role, row in self.table().items()]

    @property
    def speedup(self) -> float:
        """Sum of the runs' own wall times over the whole wall time."""
        return sum(r.wall_time for r in self.runs) / self.wall_time


def run_gap(design: GapDesign, *, workers=None, progress=None) -> GapResult:
    return _run(design, workers=workers, progress=progress, result_type=GapResult)


# -- batch-size sweep -------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepDesign:
    base: TrainConfig = field(default_factory=TrainConfig)
    batch_sizes: tuple[float, ...] = (16, 32, 64, 128, 256, 400, 1000, 2000, 4000)
    seeds: tuple[int, ...] = (0,)
    sharpness: tuple[dict[str, Any], ...] = (FULL_SPACE,)

    def jobs(self) -> list[Job]:
        return [Job(f"B{batch:g}-seed{seed}", self.base.replace(batch_size=batch, seed=seed), f"B={batch:g}",
                    _analyses(self.sharpness), tags=(("batch", batch),))
                for batch in self.batch_sizes for seed in self.seeds]


class SweepResult(DesignResult):
    def rows(self):
        rows = []
        for batch in self.design.batch_sizes:
            runs = [r for r in self.runs if r.tags["batch"] == batch]
            rows.append({"batch_size": runs[0].final["batch_size"],
                         **{k: list(v) for k, v in summarize(runs).items()}})
        return rows


def run_sweep(design: SweepDesign, *, workers=None, progress=None) -> SweepResult:
    return _run(design, workers=workers, progress=progress, result_type=SweepResult)


# -- warm start ("piggybacking") ----------------------------------------------------------------

@dataclass(frozen=True)
class WarmStartDesign:
    """Train SB, keeping every `every`-th epoch's weights; from each, train LB for
    `lb_epochs` epochs with a fresh optimizer. SB snapshots are stored under `store` and
    reused by later runs of the same SB config."""

    base: TrainConfig = field(default_factory=TrainConfig)
    sb_batch: float = 32
    lb_batch: float = 0.1
    sb_epochs: int = 100
    lb_epochs: int = 100
    every: int = 10
    seed: int = 0
    sharpness: tuple[dict[str, Any], ...] = ({"epsilons": (1e-3,)},)
    store: str = "var/snapshots"

    def sb_job(self) -> Job:
        config = self.base.replace(batch_size=self.sb_batch, epochs=self.sb_epochs, seed=self.seed)
        return Job("SB", config, "SB", snapshot_dir=_store(self.store, config, "sb"), snapshot_every=self.every)

    def jobs(self) -> list[Job]:
        return [self.sb_job()]

    def lb_jobs(self) -> list[Job]:
        sb = self.sb_job()
        from trainer.experiments import snapshot_path

        jobs = []
        for epoch in range(0, self.sb_epochs + 1, self.every):
            start = str(snapshot_path(sb.snapshot_dir, epoch))
            lb = self.base.replace(batch_size=self.lb_batch, epochs=self.lb_epochs, seed=self.seed, init_from=start)
            jobs.append(Job(f"LB-from-{epoch}", lb, "LB", _analyses(self.sharpness), tags=(("sb_epoch", epoch),)))
            jobs.append(Job(f"SB-epoch-{epoch}", sb.config.replace(init_from=start), "SB iterate",
                            (("evaluation", ()),), train=False, tags=(("sb_epoch", epoch),)))
        return jobs


class WarmStartResult(DesignResult):
    def rows(self):
        rows = []
        for epoch in range(0, self.design.sb_epochs + 1, self.design.every):
            lb = next(r for r in self.runs if r.role == "LB" and r.tags["sb_epoch"] == epoch)
            sb = next(r for r in self.runs if r.role == "SB iterate" and r.tags["sb_epoch"] == epoch)
            sb_eval = sb.analysis("evaluation")
            rows.append({"sb_epoch": epoch, "sb_test_acc": 100 * sb_eval["test_acc"],
                         "sb_train_loss": sb_eval["train_loss"],
                         "lb_test_acc": 100 * lb.final["test_acc"], "lb_train_acc": 100 * lb.final["train_acc"],
                         **{f"lb sharpness {k}": v for k, v in _sharpness_of(lb).items()}})
        return rows


def _run_phases(phases: list[tuple[list[Job], int | None]], progress: Progress | None) -> list[JobResult]:
    """Run lists of jobs one list after another (a later list reads what an earlier one
    wrote), with one progress count over all of them."""
    total = sum(job.units for jobs, _ in phases for job in jobs)
    results: list[JobResult] = []
    offset = 0
    for jobs, workers in phases:
        relay = (lambda done, _total, base=offset: progress(base + done, total)) if progress else None
        results += run_jobs(jobs, workers=workers, progress=relay)
        offset += sum(job.units for job in jobs)
    return results


def run_warmstart(design: WarmStartDesign, *, workers=None, progress=None) -> WarmStartResult:
    t0 = time.perf_counter()
    runs = _run_phases([(design.jobs(), 1), (design.lb_jobs(), workers)], progress)
    return WarmStartResult(design, runs, time.perf_counter() - t0, workers)


# -- sharpness along the trajectory ------------------------------------------------------------

@dataclass(frozen=True)
class TrajectoryDesign:
    base: TrainConfig = field(default_factory=TrainConfig)
    sb_batch: float = 32
    lb_batch: float = 0.1
    every: int = 10
    seed: int = 0
    sharpness: tuple[dict[str, Any], ...] = (FULL_SPACE,)
    store: str = "var/snapshots"

    def jobs(self) -> list[Job]:
        jobs = []
        for role, batch in (("SB", self.sb_batch), ("LB", self.lb_batch)):
            config = self.base.replace(batch_size=batch, seed=self.seed)
            jobs.append(Job(role, config, role, snapshot_dir=_store(self.store, config, role.lower()),
                            snapshot_every=self.every))
        return jobs

    def iterate_jobs(self) -> list[Job]:
        from trainer.experiments import snapshot_path

        return [Job(f"{run.role}-epoch-{epoch}", run.config.replace(init_from=str(snapshot_path(run.snapshot_dir, epoch))),
                    run.role, (("evaluation", ()),) + _analyses(self.sharpness), train=False,
                    tags=(("epoch", epoch),))
                for run in self.jobs() for epoch in range(self.every, self.base.epochs + 1, self.every)]


class TrajectoryResult(DesignResult):
    def rows(self):
        return [{"role": r.role, "epoch": r.tags["epoch"], "train_loss": r.analysis("evaluation")["train_loss"],
                 "test_acc": 100 * r.analysis("evaluation")["test_acc"],
                 **{f"sharpness {k}": v for k, v in _sharpness_of(r).items()}}
                for r in self.runs if "epoch" in r.tags]


def run_trajectory(design: TrajectoryDesign, *, workers=None, progress=None) -> TrajectoryResult:
    t0 = time.perf_counter()
    runs = _run_phases([(design.jobs(), workers), (design.iterate_jobs(), workers)], progress)
    return TrajectoryResult(design, runs, time.perf_counter() - t0, workers)


# -- remedies -----------------------------------------------------------------------------------

REMEDIES: dict[str, dict[str, Any]] = {
    "augmentation": {"augment": True},                       # paper Table 6 (image data only)
    "conservative": {"conservative_lambda": 1e-3, "conservative_steps": 3},  # paper Table 7
    "adversarial": {"fgsm_eps": 0.01, "adv_weight": 0.5},
    "SAM": {"sam_rho": 0.05},
    "ASAM": {"sam_rho": 0.5, "sam_adaptive": True},
    "ghost BN": {"ghost_batch_size": 32},
    "linear lr + warmup": {"lr_scaling": "linear", "warmup_epochs": 5.0},
    "sqrt lr": {"lr_scaling": "sqrt"},
    "regime adaptation": {"regime_batch_size": 32},
}


@dataclass(frozen=True)
class RemediesDesign:
    base: TrainConfig = field(default_factory=TrainConfig)
    sb_batch: float = 32
    lb_batch: float = 0.1
    seeds: tuple[int, ...] = (0, 1, 2)
    remedies: tuple[str, ...] = tuple(REMEDIES)
    sharpness: tuple[dict[str, Any], ...] = ({"epsilons": (1e-3,)},)

    def variants(self) -> list[tuple[str, TrainConfig]]:
        out = [("SB", self.base.replace(batch_size=self.sb_batch)), ("LB", self.base.replace(batch_size=self.lb_batch))]
        for name in self.remedies:
            changes = dict(REMEDIES[name])
            if changes.get("lr_scaling"):
                changes.setdefault("lr_base_batch", int(self.sb_batch))
            if "regime_batch_size" in changes:
                changes["regime_batch_size"] = int(self.sb_batch)
            if changes.get("augment"):
                out.append((f"SB + {name}", self.base.replace(batch_size=self.sb_batch, **changes)))
            out.append((f"LB + {name}", self.base.replace(batch_size=self.lb_batch, **changes)))
        return out

    def jobs(self) -> list[Job]:
        return [Job(f"{name}-seed{seed}", config.replace(seed=seed), name, _analyses(self.sharpness))
                for name, config in self.variants() for seed in self.seeds]


class RemediesResult(DesignResult):
    def rows(self):
        return [{"variant": name, **{k: list(v) for k, v in summarize([r for r in self.runs if r.role == name]).items()}}
                for name, _ in self.design.variants()]


def run_remedies(design: RemediesDesign, *, workers=None, progress=None) -> RemediesResult:
    return _run(design, workers=workers, progress=progress, result_type=RemediesResult)


# -- presets ------------------------------------------------------------------------------------

MNIST1D = TrainConfig(dataset="mnist1d", net="mlp", epochs=100)
PAPER_SB = 256


def _paper(dataset: str, net: str, lb: float) -> GapDesign:
    return GapDesign(TrainConfig(dataset=dataset, net=net, epochs=100), sb_batch=PAPER_SB, lb_batch=lb,
                     seeds=(0, 1, 2, 3, 4), sharpness=(FULL_SPACE, SUBSPACE))


GAP_PRESETS: dict[str, GapDesign] = {
    # paper.md section 7: the gap at CPU scale. SB 32 of 4000 keeps SB/N near 256/50000.
    "mnist1d": GapDesign(MNIST1D),
    "digits": GapDesign(TrainConfig(dataset="digits", net="mlp", epochs=100), sb_batch=16),
    # Paper scale, for GPU workers (the data must be in the data directory).
    "F1": _paper("mnist", "F1", 0.1),
    "F2": _paper("timit", "F2", 0.1),
    "C1": _paper("cifar10", "C1", 5000),   # the authors' code uses 5000 for CIFAR
    "C2": _paper("cifar10", "C2", 5000),
    "C3": _paper("cifar100", "C3", 5000),
    "C4": _paper("cifar100", "C4", 5000),
}
