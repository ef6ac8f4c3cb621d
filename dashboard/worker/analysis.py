"""The adapter between an Analysis row and trainer.analysis.by_name, used by the run_analysis task.

It claims the queued row, rebuilds the model(s) from the run's config on this worker's
device with the analysed weights loaded (so the data are the run's, the same subset and
seed, and BatchNorm is evaluated in the run's mode), computes with a throttled progress
callback (stored on the row and published as "analysis.status"), and stores the result.
"""
from __future__ import annotations

import logging
import time
import traceback

from django.conf import settings
from django.utils import timezone

from dashboard.analyses import weights_path
from dashboard.live.publisher import publish_analysis_status
from dashboard.models import Analysis, Status
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
    return trainer_for(TrainConfig.from_dict(run.config), weights_path(run, epoch), settings.LBLAB_DEVICE)


def compute(analysis: Analysis, progress) -> dict:
    trainer = _trainer(analysis.run, analysis.epoch)
    trainer_b = None
    if analysis.kind == "interpolation":
        if analysis.run_b is None:
            raise ValueError("run_b: the far end's run was deleted before the interpolation ran")
        trainer_b = _trainer(analysis.run_b, analysis.epoch)
    return run_analysis(analysis.kind, analysis.params, trainer, trainer_b, progress)


def execute_analysis(analysis_id: int) -> str:
    """Claim the queued row, compute, store. Returns the final status, or "skipped" when not ours to run."""
    now = timezone.now()
    if not Analysis.objects.filter(pk=analysis_id, status=Status.QUEUED).update(status=Status.RUNNING, started=now):
        return "skipped"
    analysis = Analysis.objects.select_related("run", "run_b").get(pk=analysis_id)
    publish_analysis_status(analysis)
    try:
        result = compute(analysis, ProgressWriter(analysis))
    except Exception:
        log.exception("analysis %s failed", analysis_id)
        fields = dict(status=Status.FAILED, error=traceback.format_exc()[-5000:])
    else:
        fields = dict(status=Status.DONE, progress=1.0, result=json_safe(result), error="")
    if not Analysis.objects.filter(pk=analysis_id).update(finished=timezone.now(), **fields):
        return "deleted"  # its experiment was deleted meanwhile
    analysis.refresh_from_db()
    publish_analysis_status(analysis)
    return analysis.status
