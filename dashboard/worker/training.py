"""The adapter between a Run row and trainer.train.Trainer, used by the train_run task (which
imports it, and torch with it, only in the worker).

A LiveRecorder buffers metric points and, at most every LBLAB_FLUSH_INTERVAL_S and at
every epoch end and run end, writes them (ignoring points already stored: a resumed run
replays steps after its last checkpoint) and publishes the same batch with the next
sequence number of the run.
"""
from __future__ import annotations

import logging
import math
import signal
import threading
import time

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from dashboard.executor import advance
from dashboard.figures.series import keep_finished
from dashboard.live.publisher import publish, publish_experiment_summary, publish_run_status
from dashboard.models import MetricPoint, Run, Status
from dashboard.worker.failures import explain
from trainer.config import TrainConfig
from trainer.kinds.records import CLOCK, CURVATURE_METRICS, EPOCH_METRICS, json_safe
from trainer.snapshots import keep_snapshots
from trainer.train import Trainer

log = logging.getLogger(__name__)
CANCEL_CHECK_INTERVAL_S = 1.0
SUMMARY_INTERVAL_S = 2.0  # the experiments list's progress: at most every this many seconds per run


class LiveRecorder:
    def __init__(self, run: Run, interval: float):
        self.run = run
        self.interval = interval
        self.seq = run.last_seq
        self.buffer: dict[str, list[list[float]]] = {}
        self.last_flush = time.monotonic()
        self.last_cancel_check = time.monotonic()
        self.last_summary = 0.0
        self.session_start = time.monotonic()
        self.session_first_step: int | None = None
        self.step = 0  # the trainer's global step at the last callback
        self.clock_step = run.points.filter(name=CLOCK).aggregate(s=Max("step"))["s"] or -1
        # the clock goes on from where an earlier session of this run (before a restart) left it
        self.clock_offset = run.points.filter(name=CLOCK).aggregate(t=Max("value"))["t"] or 0.0
        self.progress, self.eta = run.progress, run.eta_seconds

    def add(self, name: str, step: int, value: float) -> None:
        if math.isfinite(value):  # a diverged loss is not a point (SQLite stores NaN as NULL)
            self.buffer.setdefault(name, []).append([int(step), float(value)])

    # -- trainer callbacks ----------------------------------------------------------------
    def on_step(self, trainer, m: dict) -> None:
        self.add("loss", m["step"], m["loss"])
        self.add("acc", m["step"], m["acc"])
        for name in CURVATURE_METRICS:
            if name in m:
                self.add(name, m["step"], m[name])
        self._track_progress(trainer)
        now = time.monotonic()
        if now - self.last_cancel_check >= CANCEL_CHECK_INTERVAL_S:
            self.last_cancel_check = now
            if self.run.cancel_is_requested():
                trainer.request_stop()
        if now - self.last_flush >= self.interval:
            self.flush()

    def on_epoch(self, trainer, m: dict) -> None:
        self._track_progress(trainer)
        self.record_epoch(m["epoch"], m)

    def record_epoch(self, epoch: int, m: dict) -> None:
        for name in EPOCH_METRICS:
            if name in m:
                self.add(name, epoch, m[name])
        self.flush()

    def _track_progress(self, trainer) -> None:
        self.step = trainer.step
        if self.session_first_step is None:
            self.session_first_step = trainer.step - 1
        self.progress = min(1.0, trainer.step / max(trainer.total_steps, 1))
        done = trainer.step - self.session_first_step
        spent = time.monotonic() - self.session_start
        self.eta = spent / done * (trainer.total_steps - trainer.step) if done > 0 else None

    # -- output ---------------------------------------------------------------------------
    def flush(self) -> None:
        """Store and publish the buffered points (and progress, as a heartbeat) in one go."""
        self.last_flush = time.monotonic()
        if self.buffer and self.step > self.clock_step:  # when the run reached its latest step (once a step)
            self.clock_step = self.step
            self.buffer[CLOCK] = [[self.step, self.clock_offset + self.last_flush - self.session_start]]
        points, self.buffer = self.buffer, {}
        seq = self.seq + 1 if points else self.seq
        with transaction.atomic():
            MetricPoint.objects.bulk_create(
                [MetricPoint(run_id=self.run.pk, name=name, step=step, value=value, seq=seq)
                 for name, pairs in points.items() for step, value in pairs],
                ignore_conflicts=True, batch_size=500)
            Run.objects.filter(pk=self.run.pk).update(
                last_seq=seq, progress=self.progress, eta_seconds=self.eta, heartbeat=timezone.now())
        self.seq = seq
        message = {"type": "run.metrics", "run": self.run.pk, "seq": seq,
                   "progress": self.progress, "eta_seconds": self.eta, "points": points}
        if points:
            publish(self.run.experiment_id, message)
        else:  # a heartbeat with no new points keeps the sequence as it is
            publish(self.run.experiment_id, dict(message, type="run.progress"))
        if self.last_flush - self.last_summary >= SUMMARY_INTERVAL_S:
            self.last_summary = self.last_flush
            experiment = self.run.experiment
            experiment.refresh_from_db(fields=["status"])
            publish_experiment_summary(experiment)


class _StopOnSigterm:
    """While training in a worker's main thread, SIGTERM stops at the next step with a checkpoint."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.received = False
        self.previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        self.received = True
        self.trainer.request_stop()

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def execute_run(run_id: int, task_id: str, worker: str = "") -> str:
    """Train the run if this task can claim it. Returns the run's final status, or "skipped"/"deleted"."""
    run = Run.objects.filter(pk=run_id).select_related("experiment").first()
    if run is None or not run.claim(task_id, worker):
        return "skipped"
    publish_run_status(run)
    recorder = LiveRecorder(run, settings.LBLAB_FLUSH_INTERVAL_S)
    sigterm = None
    try:
        config = worker_config(TrainConfig.from_dict(run.config))
        if config.to_dict() != run.config:
            Run.objects.filter(pk=run.pk).update(config=config.to_dict())
        trainer = Trainer(config, checkpoint_path=run.checkpoint_path)
        trainer.add_callback("on_step", recorder.on_step)
        trainer.add_callback("on_epoch", recorder.on_epoch)
        _keep_snapshots(run, trainer, recorder)
        with _StopOnSigterm(trainer) as sigterm:
            result = trainer.run()
        recorder.flush()
    except Exception as e:
        if not Run.objects.filter(pk=run_id).exists():
            return _deleted(run)
        if not run.is_held_by(task_id):
            return "superseded"
        log.exception("run %s failed", run_id)
        try:
            recorder.flush()
        except Exception:
            log.exception("could not store the last points of run %s", run_id)
        run.finish(Status.FAILED, error=explain(e))
    else:
        if not Run.objects.filter(pk=run_id).exists():
            return _deleted(run)
        if not run.is_held_by(task_id):
            return "superseded"  # queued again as lost while it trained: the other task carries on
        if not result.stopped:
            run.finish(Status.DONE, final_metrics=_final(result))
            _advance(run)
        elif sigterm.received and not run.cancel_is_requested():
            # the worker is shutting down: hand the run back to the queue; it resumes from the checkpoint
            Run.objects.filter(pk=run.pk).update(status=Status.QUEUED)
            run.refresh_from_db()
            run.enqueue()
        else:
            run.finish(Status.CANCELLED, final_metrics=_final(result))
    publish_run_status(run)
    try:
        keep_finished(run)
    except Exception:  # the run is stored and announced: its first view reduces it instead
        log.exception("could not keep the reduced curves of run %s", run_id)
    return run.status


def worker_config(config: TrainConfig) -> TrainConfig:
    """The run's config as this worker runs it: its device (LBLAB_DEVICE, when set) and its torch
    threads (LBLAB_THREADS_PER_RUN) win, as a checkpoint resumes on any of them; the run's stored
    config is then updated to say what ran."""
    if settings.LBLAB_DEVICE:
        config = config.replace(device=settings.LBLAB_DEVICE)
    return config.replace(threads=settings.LBLAB_THREADS_PER_RUN)


def _final(result) -> dict:
    """The trainer's final metrics and the torch threads the run computed with, as torch reports them."""
    return json_safe({**result.final, "threads": result.environment["threads"]})


def _keep_snapshots(run: Run, trainer, recorder: LiveRecorder) -> None:
    """Weights every `snapshot_every` epochs for the kinds that read them (warm starts, trajectories);
    the initial weights' evaluation is recorded as epoch 0, like every epoch's."""
    every = int(run.tags.get("snapshot_every") or 0)
    if every:
        initial = keep_snapshots(trainer, run.run_dir, every)
        if initial is not None:
            recorder.record_epoch(0, initial)


def _advance(run: Run) -> None:
    """What the finished run unlocks in its experiment's plan (dependent runs, analyses)."""
    try:
        advance(run)
    except Exception:  # the run itself is done and stays so; the page shows what is missing
        log.exception("run %s: scheduling what it unlocks failed", run.pk)


def _deleted(run: Run) -> str:
    """The run was deleted while it trained (its experiment was): leave no files behind."""
    run.remove_files()
    return "deleted"
