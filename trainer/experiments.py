"""Many independent runs at once, and the SB vs LB gap (paper Table 2).

Independent runs use the cores as one single-threaded process each: on a 2-core CPU two
small MLP runs side by side take about as long as one, and a fixed thread count keeps
every run's float reduction order, hence its trajectory, reproducible.
"""
from __future__ import annotations

import dataclasses
import math
import multiprocessing as mp
import os
import queue
import statistics
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable

from trainer.config import TrainConfig

Progress = Callable[[int, int], None]  # (units done, units total)


@dataclass(frozen=True)
class Job:
    """One training run and the analyses to run on its final weights."""

    name: str
    config: TrainConfig
    role: str = ""
    analyses: tuple[tuple[str, dict], ...] = ()


@dataclass
class JobResult:
    name: str
    role: str
    seed: int
    config: dict[str, Any]
    final: dict[str, float]
    history: list[dict[str, float]]
    analyses: dict[str, Any]
    wall_time: float
    environment: dict[str, Any]


def _run_job(job: Job, events: "queue.Queue | None") -> JobResult:
    from trainer.train import Trainer  # imported in the worker process

    t0 = time.perf_counter()
    trainer = Trainer(job.config)
    if events is not None:
        trainer.add_callback("on_epoch", lambda t, m: events.put(1))
    result = trainer.run()
    analyses = {}
    for kind, options in job.analyses:
        analyses[kind] = ANALYSES[kind](trainer, **options)
    return JobResult(job.name, job.role, job.config.seed, job.config.to_dict(), result.final, result.history,
                     analyses, time.perf_counter() - t0, result.environment)


def _sharpness(trainer, **options) -> dict[str, Any]:
    from trainer.analysis import keskar_sharpness

    options.setdefault("bn_mode", trainer.config.bn_eval)
    return keskar_sharpness(trainer.model, trainer.data.x_train, trainer.data.y_train, **options).to_dict()


ANALYSES: dict[str, Callable[..., dict[str, Any]]] = {"sharpness": _sharpness}


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def run_jobs(jobs: list[Job], *, workers: int | None = None, progress: Progress | None = None) -> list[JobResult]:
    """Run jobs in `workers` spawned processes (1: in this process, one after another).

    Results come back in the order of `jobs`. `progress(done, total)` counts epochs.
    """
    workers = workers or default_workers()
    total = sum(job.config.epochs if not job.config.regime_batch_size else _epochs(job) for job in jobs)
    done = 0

    def tick(n=1):
        nonlocal done
        done += n
        if progress:
            progress(done, total)

    if workers == 1 or len(jobs) == 1:
        results = []
        for job in jobs:
            events: queue.Queue = queue.Queue()
            results.append(_run_job(job, events))
            tick(events.qsize())
        return results

    ctx = mp.get_context("spawn")  # never fork a process that may hold CUDA or OpenMP state
    with ctx.Manager() as manager, ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx) as pool:
        events = manager.Queue()
        futures = {pool.submit(_run_job, job, events): i for i, job in enumerate(jobs)}
        results: list[JobResult | None] = [None] * len(jobs)
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            n = 0
            while True:
                try:
                    n += events.get_nowait()
                except queue.Empty:
                    break
            if n:
                tick(n)
            for fut in finished:
                results[futures[fut]] = fut.result()
        return results  # type: ignore[return-value]


def _epochs(job: Job) -> int:
    from trainer import data

    n = job.config.subset or data.DATASETS[job.config.dataset].n_train
    batch = job.config.resolved_batch_size(n)
    return math.ceil(job.config.total_steps(n) / (n // batch))


# -- the gap: SB vs LB over seeds -------------------------------------------------------

@dataclass(frozen=True)
class GapConfig:
    base: TrainConfig = field(default_factory=TrainConfig)
    sb_batch: float = 32
    lb_batch: float = 0.1
    seeds: tuple[int, ...] = (0, 1, 2)
    sharpness: dict[str, Any] | None = None  # options for keskar_sharpness, None: no sharpness

    def jobs(self) -> list[Job]:
        analyses = (("sharpness", dict(self.sharpness)),) if self.sharpness is not None else ()
        return [
            Job(f"{role}-seed{seed}", self.base.replace(batch_size=batch, seed=seed), role, analyses)
            for role, batch in (("SB", self.sb_batch), ("LB", self.lb_batch))
            for seed in self.seeds
        ]


PRESETS: dict[str, GapConfig] = {
    # paper.md section 7: the gap at CPU scale. SB 32 of 4000 keeps SB/N near 256/50000.
    "mnist1d": GapConfig(TrainConfig(dataset="mnist1d", net="mlp", epochs=100)),
    "digits": GapConfig(TrainConfig(dataset="digits", net="mlp", epochs=100), sb_batch=16),
    # Paper scale (GPU workers; the data must be in the data directory).
    "F1": GapConfig(TrainConfig(dataset="mnist", net="F1", epochs=100), sb_batch=256, lb_batch=0.1, seeds=(0, 1, 2, 3, 4)),
    "C1": GapConfig(TrainConfig(dataset="cifar10", net="C1", epochs=100), sb_batch=256, lb_batch=5000, seeds=(0, 1, 2, 3, 4)),
    "C2": GapConfig(TrainConfig(dataset="cifar10", net="C2", epochs=100), sb_batch=256, lb_batch=5000, seeds=(0, 1, 2, 3, 4)),
    "C3": GapConfig(TrainConfig(dataset="cifar100", net="C3", epochs=100), sb_batch=256, lb_batch=5000, seeds=(0, 1, 2, 3, 4)),
    "C4": GapConfig(TrainConfig(dataset="cifar100", net="C4", epochs=100), sb_batch=256, lb_batch=5000, seeds=(0, 1, 2, 3, 4)),
    "F2": GapConfig(TrainConfig(dataset="timit", net="F2", epochs=100), sb_batch=256, lb_batch=0.1, seeds=(0, 1, 2, 3, 4)),
}


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1); std is 0 for a single value."""
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


@dataclass
class GapResult:
    config: GapConfig
    runs: list[JobResult]
    wall_time: float
    workers: int

    def table(self) -> dict[str, dict[str, tuple[float, float]]]:
        """{role: {metric: (mean, std)}}: accuracies in percent, as paper Table 2."""
        out: dict[str, dict[str, tuple[float, float]]] = {}
        for role in ("SB", "LB"):
            runs = [r for r in self.runs if r.role == role]
            row = {
                "train_acc": mean_std([100 * r.final["train_acc"] for r in runs]),
                "test_acc": mean_std([100 * r.final["test_acc"] for r in runs]),
                "train_loss": mean_std([r.final["train_loss"] for r in runs]),
                "dist_init": mean_std([r.final["dist_init"] for r in runs]),
            }
            for eps_key, values in _sharpness_values(runs).items():
                row[eps_key] = mean_std(values)
            out[role] = row
        return out

    @property
    def speedup(self) -> float:
        """Sum of the runs' own wall times over the whole wall time."""
        return sum(r.wall_time for r in self.runs) / self.wall_time

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": {**dataclasses.asdict(self.config), "base": self.config.base.to_dict()},
            "table": {role: {k: list(v) for k, v in row.items()} for role, row in self.table().items()},
            "runs": [dataclasses.asdict(r) for r in self.runs],
            "wall_time": self.wall_time, "workers": self.workers, "speedup": self.speedup,
        }


def _sharpness_values(runs: list[JobResult]) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for r in runs:
        sharp = r.analyses.get("sharpness")
        if not sharp:
            continue
        space = "full" if not sharp["options"].get("subspace_dim") else f"sub{sharp['options']['subspace_dim']}"
        for entry in sharp["results"]:
            values.setdefault(f"sharpness_{space}_{entry['epsilon']:g}", []).append(entry["value"])
    return values


def run_gap(config: GapConfig, *, workers: int | None = None, progress: Progress | None = None) -> GapResult:
    workers = workers or default_workers()
    t0 = time.perf_counter()
    runs = run_jobs(config.jobs(), workers=workers, progress=progress)
    return GapResult(config, runs, time.perf_counter() - t0, workers)
