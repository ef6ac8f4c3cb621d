"""Celery tasks: thin adapters that take ids, re-read rows and call the worker's adapters.

The adapters (and torch with them) are imported inside the task, so a process that only
queues never loads them, and a worker parent never touches CUDA before forking.
"""
from celery import shared_task
from django.db import transaction

from dashboard.celery import ANALYSIS_TASK, RECOVER_TASK, TRAIN_TASK
from dashboard.models import Run, Status


@shared_task(bind=True, name=TRAIN_TASK)
def train_run(self, run_id: int) -> str:
    from dashboard.worker.training import execute_run

    return execute_run(run_id, task_id=self.request.id or "")


@shared_task(name=ANALYSIS_TASK)
def run_analysis(analysis_id: int) -> str:
    """Routed to the analysis queue (settings.CELERY_TASK_ROUTES)."""
    from dashboard.worker.analysis import execute_analysis

    return execute_analysis(analysis_id)


@shared_task(name=RECOVER_TASK)
def recover_stale_runs() -> list[int]:
    """Queue again every running run whose worker stopped heartbeating; it resumes from its checkpoint."""
    recovered = []
    for run in Run.stale():
        with transaction.atomic():
            if Run.objects.filter(pk=run.pk, status=Status.RUNNING, heartbeat=run.heartbeat).update(
                    status=Status.QUEUED, task_id=""):
                run.refresh_from_db()
                run.enqueue()
                recovered.append(run.pk)
    return recovered
