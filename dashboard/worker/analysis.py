"""The adapter between an Analysis row and trainer.analysis.by_name, used by the run_analysis task.

It claims the queued row, rebuilds the model(s) from the run's config on this worker's
device with the analysed weights loaded (so the data are the run's, the same subset and
seed, and BatchNorm is evaluated in the run's mode), computes with a throttled progress
callback (stored on the row and published as "analysis.status"), and stores the result.
"""
from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.utils import timezone

from dashboard.analyses import weights_path
from dashboard.live.publisher import publish_analysis_status
from dashboard.models import Analysis, Status
from dashboard.worker.failures import explain
from dashboard.worker.training import worker_config
from trainer.analysis.by_name import run_analysis, trainer_for
from trainer.config import TrainConfig
from trainer.kinds.records import json_safe

log = logging.getLogger(__name__)
PROGRESS_INTERVAL_S = 0.25  # at most four progress writes and messages a second


class ProgressWriter:
    """The analysis's progress(fraction) callback: stored on the row and published, throttled."""

    def __init__(self, analysis: Analysis):
        self.analysis = analysis
        self.last = 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL_S:
            return
        self.last = now
        progress = min(1.0, float(fraction))
        Analysis.objects.filter(pk=self.analysis.pk).update(progress=progress)
        self.analysis.progress = progress
        publish_analysis_status(self.analysis)


def _trainer(run, epoch: int | None):
    """The run's model and data on this worker: its device and torch threads (worker_config)."""
    return trainer_for(worker_config(TrainConfig.from_dict(run.config)), weights_path(run, epoch))


def compute(analysis: Analysis, progress) -> dict:
    trainer = _trainer(analysis.run, analysis.epoch)
    trainer_b = None
    if analysis.kind == "interpolation":
        if analysis.run_b is None:
            raise ValueError("run_b: the far end's run was deleted before the interpolation ran")
        trainer_b = _trainer(analysis.run_b, analysis.epoch)
    return run_analysis(analysis.kind, analysis.params, trainer, trainer_b, progress)


class Heartbeat:
    """While an analysis computes, its row's heartbeat is renewed from a thread: a computation may
    go minutes between progress calls, and a worker that dies leaves the heartbeat to go stale."""

    def __init__(self, analysis: Analysis):
        self.analysis = analysis
        self.interval = min(30.0, settings.LBLAB_STALE_AFTER_S / 4)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat-{analysis.pk}")

    def _beat(self) -> None:
        from django.db import connection

        try:
            while not self.done.wait(self.interval):
                Analysis.objects.filter(pk=self.analysis.pk, task_id=self.analysis.task_id).update(
                    heartbeat=timezone.now())
        finally:
            connection.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()


def execute_analysis(analysis_id: int, task_id: str = "", worker: str = "") -> str:
    """Claim the queued row, compute, store. Returns the final status, or "skipped" when not ours to run."""
    analysis = Analysis.objects.filter(pk=analysis_id).first()
    if analysis is None or not analysis.claim(task_id, worker):
        return "skipped"
    analysis = Analysis.objects.select_related("run", "run_b").get(pk=analysis_id)
    publish_analysis_status(analysis)
    try:
        with Heartbeat(analysis):
            result = compute(analysis, ProgressWriter(analysis))
    except Exception as e:
        log.exception("analysis %s failed", analysis_id)
        fields = dict(status=Status.FAILED, error=explain(e))
    else:
        fields = dict(status=Status.DONE, progress=1.0, result=json_safe(result), error="")
    if not Analysis.objects.filter(pk=analysis_id, task_id=task_id).update(finished=timezone.now(), **fields):
        return "deleted"  # its experiment was deleted meanwhile, or the row was queued again
    analysis.refresh_from_db()
    publish_analysis_status(analysis)
    return analysis.status
