"""The local executor of an experiment kind's plan, for the CLI and notebooks: every run and
analysis in a pool of single-threaded spawned processes, one per core.

Runs the plan starts with are submitted at once; when a run finishes, what it unlocks
(dependent runs, analyses) is submitted next, as the web's workers would take it from
their queue. A run trains in its own folder: its final weights (`final.pt`) and, when its
kind keeps them, weight snapshots. Folders of runs that keep snapshots live under `store`
and are reused by a later run of the same config (a warm start's SB run is trained once
for every LB setting tried); the others in a temporary folder removed at the end.

On a 2-core CPU two small MLP runs side by side take about as long as one, and a fixed
thread count keeps every run's float reduction order, hence its trajectory, reproducible.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import math
import multiprocessing as mp
import os
import queue
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from trainer.catalog import DATASETS
from trainer.kinds.base import Kind, PlannedAnalysis, PlannedRun, simulate
from trainer.kinds.estimate import longest_first
from trainer.kinds.records import CURVATURE_METRICS, EPOCH_METRICS, AnalysisRecord, Records, RunRecord, json_safe
from trainer.snapshots import snapshot_path

ProgressCount = Callable[[int, int], None]  # (units done, units total); a unit is an epoch or an analysis
FINAL_WEIGHTS = "final.pt"


def default_workers() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)


def units_of(planned: PlannedRun) -> int:
    """The run's epochs, as its progress counts them."""
    config = planned.config
    n = config.subset or DATASETS[config.dataset].n_train
    return math.ceil(config.total_steps(n) / max(1, n // config.resolved_batch_size(n)))


@dataclass
class Outcome:
    """What an experiment produced: the plain records its tables are built from, and timings."""

    kind: Kind
    spec: Any
    options: Any
    records: Records
    wall_time: float
    workers: int
    job_seconds: float  # the jobs' own wall times, summed

    def tables(self):
        return self.kind.tables(self.spec, self.options, self.records)

    def summary(self) -> list[str]:
        return self.kind.summary(self.spec, self.options, self.records)

    @property
    def speedup(self) -> float:
        """Sum of the jobs' own wall times over the whole wall time."""
        return self.job_seconds / self.wall_time if self.wall_time > 0 else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.name, "spec": self.spec.to_dict(), "options": self.kind.options_dict(self.options),
                "tables": [t.to_dict() for t in self.tables()], "summary": self.summary(),
                "runs": [dataclasses.asdict(r) for r in self.records.runs],
                "analyses": [dataclasses.asdict(a) for a in self.records.analyses],
                "wall_time": self.wall_time, "workers": self.workers, "job_seconds": self.job_seconds}


# -- jobs (run in the pool's processes) ---------------------------------------------------

def _history(epochs: list[dict[str, float]], initial: dict[str, float] | None) -> dict[str, dict[int, float]]:
    names = EPOCH_METRICS + CURVATURE_METRICS
    history: dict[str, dict[int, float]] = {name: {} for name in names}
    for m in ([{"epoch": 0, **initial}] if initial else []) + epochs:
        for name in names:
            if name in m:
                history[name][int(m["epoch"])] = m[name]
    return {name: points for name, points in history.items() if points}


def _marker(planned: PlannedRun) -> dict:
    return {"config": planned.config.to_dict(), "snapshot_every": planned.snapshot_every}


def _train(planned: PlannedRun, folder: str, events) -> tuple[dict, dict, float]:
    """Train the run in `folder` (or read it back when the folder holds this config's complete
    run); returns its final metrics, its per-epoch history and its wall time."""
    from trainer.checkpoint import load_checkpoint, save_checkpoint
    from trainer.snapshots import keep_snapshots
    from trainer.train import Trainer

    t0 = time.perf_counter()
    folder_path = Path(folder)
    marker = folder_path / "complete.json"
    if planned.snapshot_every and marker.exists() and json.loads(marker.read_text()) == _marker(planned):
        summary = load_checkpoint(folder_path / "summary.pt")
        for _ in range(units_of(planned)):
            events.put(1)
        return summary["final"], summary["history"], time.perf_counter() - t0
    folder_path.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(planned.config)
    initial = keep_snapshots(trainer, folder_path, planned.snapshot_every) if planned.snapshot_every else None
    trainer.add_callback("on_epoch", lambda t, m: events.put(1))
    result = trainer.run()
    save_checkpoint(trainer.model.state_dict(), folder_path / FINAL_WEIGHTS)
    final, history = json_safe(result.final), _history(result.history, initial)
    if planned.snapshot_every:
        save_checkpoint({"final": final, "history": history}, folder_path / "summary.pt")
        marker.write_text(json.dumps(_marker(planned)))
    return final, history, time.perf_counter() - t0


def _analyse(planned: PlannedAnalysis, inputs: list[tuple[dict, str]], events) -> tuple[dict, float]:
    """The analysis on the weights of inputs [(config, weights file), ...]: the run, and interpolation's far end."""
    from trainer.analysis.by_name import run_analysis, trainer_for
    from trainer.config import TrainConfig

    t0 = time.perf_counter()
    trainers = [trainer_for(TrainConfig.from_dict(config), weights) for config, weights in inputs]
    result = run_analysis(planned.kind, planned.params, *trainers)
    events.put(1)
    return json_safe(result), time.perf_counter() - t0


# -- the executor ---------------------------------------------------------------------------

class _Here:
    """A pool of one: jobs run in this process, one after another, as they are submitted."""

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as e:  # noqa: BLE001 - handed to the caller like a pool's future
            future.set_exception(e)
        return future


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def run_experiment(kind: Kind, spec, options, *, workers: int | None = None, progress: ProgressCount | None = None,
                   store: str | Path = "var/snapshots") -> Outcome:
    """Follow the kind's plan to the end; runs and analyses in `workers` spawned processes (1: here)."""
    workers = workers or default_workers()
    planned_runs, planned_analyses = simulate(kind, spec, options)
    total = sum(units_of(p) for p in planned_runs) + len(planned_analyses)
    parallel = workers > 1 and len(planned_runs) + len(planned_analyses) > 1
    t0 = time.perf_counter()
    records = Records()
    folders: dict[int, Path] = {}
    done_units = 0
    job_seconds = 0.0
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lblab-")))
        if parallel:
            ctx = mp.get_context("spawn")  # never fork a process that may hold CUDA or OpenMP state
            manager = stack.enter_context(ctx.Manager())
            events = manager.Queue()
            pool = stack.enter_context(ProcessPoolExecutor(workers, mp_context=ctx))
        else:
            events, pool = queue.Queue(), _Here()
        jobs: dict[Future, tuple[str, int, Any]] = {}  # future -> ("run" | "analysis", id, the planned item)
        analysis_ids = itertools.count(1)

        def submit_runs(batch: list[PlannedRun]) -> None:
            """Numbered in plan order, queued longest first."""
            numbered = [(len(folders) + i, planned) for i, planned in enumerate(batch, 1)]
            for run_id, planned in longest_first(numbered, lambda item: item[1].config):
                submit_run(run_id, planned)

        def submit_run(run_id: int, planned: PlannedRun) -> None:
            if planned.start_from is not None:
                start = snapshot_path(folders[planned.start_from.run], planned.start_from.epoch)
                planned = dataclasses.replace(planned, config=planned.config.replace(init_from=str(start)))
            digest = hashlib.sha256(json.dumps(_marker(planned), sort_keys=True).encode()).hexdigest()[:12]
            root = Path(store) if planned.snapshot_every else scratch
            folders[run_id] = root / f"{_slug(planned.role)}-seed{planned.seed}-{digest}"
            jobs[pool.submit(_train, planned, str(folders[run_id]), events)] = ("run", run_id, planned)

        def weights(run_id: int, epoch: int | None) -> str:
            folder = folders[run_id]
            return str(folder / FINAL_WEIGHTS if epoch is None else snapshot_path(folder, epoch))

        def submit_analysis(planned: PlannedAnalysis) -> None:
            inputs = [(records.run(run_id).config, weights(run_id, planned.epoch))
                      for run_id in (planned.run, planned.run_b) if run_id is not None]
            jobs[pool.submit(_analyse, planned, inputs, events)] = ("analysis", next(analysis_ids), planned)

        def tick() -> None:
            nonlocal done_units
            n = 0
            while True:
                try:
                    n += events.get_nowait()
                except queue.Empty:
                    break
            done_units += n
            if progress and n:
                progress(done_units, total)

        submit_runs(list(kind.runs(spec, options)))
        while jobs:
            finished, _ = wait(list(jobs), timeout=0.2, return_when=FIRST_COMPLETED)
            tick()
            for future in sorted(finished, key=lambda f: jobs[f][:2]):  # runs by id, then analyses by id
                what, job_id, planned = jobs.pop(future)
                if what == "run":
                    final, history, seconds = future.result()
                    record = RunRecord(job_id, planned.role, planned.seed, planned.config.to_dict(),
                                       dict(planned.tags), "done", final, history)
                    records.add(record)
                    unlocked = kind.unlocked(spec, options, record, records)
                    submit_runs(list(unlocked.runs))
                    for a in unlocked.analyses:
                        submit_analysis(a)
                else:
                    result, seconds = future.result()
                    records.add(AnalysisRecord(job_id, planned.kind, planned.run, planned.params, planned.run_b,
                                               planned.epoch, "done", result))
                job_seconds += seconds
        tick()
    records.runs.sort(key=lambda r: r.id)
    records.analyses.sort(key=lambda a: a.id)
    return Outcome(kind, spec, options, records, time.perf_counter() - t0, workers if parallel else 1, job_seconds)

