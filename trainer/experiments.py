"""Many independent jobs at once: training runs, weight snapshots, analyses of them.

Independent runs use the cores as one single-threaded process each: on a 2-core CPU two
small MLP runs side by side take about as long as one, and a fixed thread count keeps
every run's float reduction order, hence its trajectory, reproducible.
"""
from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import queue
import statistics
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from trainer.config import TrainConfig

Progress = Callable[[int, int], None]  # (units done, units total); a unit is an epoch or an analysis


@dataclass(frozen=True)
class Job:
    """One training run (or, with train=False, the weights of config.init_from) and the
    analyses to run on the final weights.

    snapshot_dir: keep the weights after every `snapshot_every`-th epoch (and the initial
    ones as epoch 0) as `epoch-NNNN.pt` state dicts. A directory that already holds the
    complete set for the same config is reused, not retrained.
    """

    name: str
    config: TrainConfig
    role: str = ""
    analyses: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()  # (kind, options as items)
    train: bool = True
    snapshot_dir: str | None = None
    snapshot_every: int = 1
    tags: tuple[tuple[str, Any], ...] = ()

    @property
    def units(self) -> int:
        return (epochs_of(self.config) if self.train else 0) + len(self.analyses)


@dataclass
class JobResult:
    name: str
    role: str
    seed: int
    config: dict[str, Any]
    final: dict[str, float]
    history: list[dict[str, float]]
    analyses: list[dict[str, Any]]  # {"kind", "options", "result"}
    wall_time: float
    environment: dict[str, Any]
    tags: dict[str, Any] = field(default_factory=dict)

    def analysis(self, kind: str, index: int = 0) -> dict[str, Any]:
        return [a["result"] for a in self.analyses if a["kind"] == kind][index]


def epochs_of(config: TrainConfig) -> int:
    from trainer import data

    n = config.subset or data.DATASETS[config.dataset].n_train
    steps_per_epoch = max(1, n // config.resolved_batch_size(n))
    return math.ceil(config.total_steps(n) / steps_per_epoch)


def snapshot_path(directory: str | Path, epoch: int) -> Path:
    return Path(directory) / f"epoch-{epoch:04d}.pt"


def snapshots_complete(job: Job) -> bool:
    marker = Path(job.snapshot_dir) / "complete.json"
    return marker.exists() and json.loads(marker.read_text()) == job.config.to_dict()


def _run_job(job: Job, events: "queue.Queue | None") -> JobResult:
    # Imported here: this runs in a freshly spawned worker process.
    from trainer.checkpoint import load_checkpoint, save_checkpoint
    from trainer.train import Trainer, environment

    t0 = time.perf_counter()
    tick = (lambda: events.put(1)) if events is not None else (lambda: None)
    trainer = Trainer(job.config)
    final: dict[str, float] = {}
    history: list[dict[str, float]] = []
    if job.train and job.snapshot_dir and snapshots_complete(job):
        summary = load_checkpoint(Path(job.snapshot_dir) / "summary.pt")
        trainer.model.load_state_dict(load_checkpoint(snapshot_path(job.snapshot_dir, summary["final"]["epoch"])))
        final, history = summary["final"], summary["history"]
        for _ in range(epochs_of(job.config)):
            tick()
    elif job.train:
        if job.snapshot_dir:
            directory = Path(job.snapshot_dir)
            save_checkpoint(trainer.model.state_dict(), snapshot_path(directory, 0))

            def snapshot(t, m):
                if t.epoch % job.snapshot_every == 0 or t.finished:
                    save_checkpoint(t.model.state_dict(), snapshot_path(directory, t.epoch))
            trainer.add_callback("on_epoch", snapshot)
        trainer.add_callback("on_epoch", lambda t, m: tick())
        result = trainer.run()
        final, history = result.final, result.history
        if job.snapshot_dir:
            save_checkpoint({"final": final, "history": history}, Path(job.snapshot_dir) / "summary.pt")
            (Path(job.snapshot_dir) / "complete.json").write_text(json.dumps(job.config.to_dict()))
    analyses = []
    for kind, options in job.analyses:
        options = dict(options)
        analyses.append({"kind": kind, "options": options, "result": ANALYSES[kind](trainer, **options)})
        tick()
    return JobResult(job.name, job.role, job.config.seed, job.config.to_dict(), final, history, analyses,
                     time.perf_counter() - t0, environment(), dict(job.tags))


# -- analyses a job can run on its final weights ---------------------------------------

def _sharpness(trainer, **options) -> dict[str, Any]:
    from trainer.analysis import keskar_sharpness

    options.setdefault("bn_mode", trainer.config.bn_eval)
    options.setdefault("batch_size", trainer.config.eval_batch_size)
    return keskar_sharpness(trainer.model, trainer.data.x_train, trainer.data.y_train, **options).to_dict()


def _evaluation(trainer, **options) -> dict[str, Any]:
    from trainer.evaluate import evaluate

    cfg, d = trainer.config, trainer.data
    train_loss, train_acc = evaluate(trainer.model, d.x_train, d.y_train, bn_mode=cfg.bn_eval,
                                     batch_size=cfg.eval_batch_size)
    test_loss, test_acc = evaluate(trainer.model, d.x_test, d.y_test, bn_mode=cfg.bn_eval,
                                   batch_size=cfg.eval_batch_size)
    return {"train_loss": train_loss, "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc}


ANALYSES: dict[str, Callable[..., dict[str, Any]]] = {"sharpness": _sharpness, "evaluation": _evaluation}


def default_workers() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)


def run_jobs(jobs: list[Job], *, workers: int | None = None, progress: Progress | None = None) -> list[JobResult]:
    """Run jobs in `workers` spawned processes (1: here, one after another).

    Results come back in the order of `jobs`; `progress(done, total)` counts units.
    """
    workers = workers or default_workers()
    total = sum(job.units for job in jobs)
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress and n:
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
            tick(n)
            for fut in finished:
                results[futures[fut]] = fut.result()
        return results  # type: ignore[return-value]


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1); std is 0 for a single value."""
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def sharpness_values(result: dict[str, Any]) -> dict[str, float]:
    """{"full 0.001": value, "p100 0.0005": value, ...} from a sharpness result dict."""
    p = result["options"].get("subspace_dim")
    space = f"p{p}" if p else "full"
    return {f"{space} {entry['epsilon']:g}": entry["value"] for entry in result["entries"]}
