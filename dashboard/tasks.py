"""Celery tasks: thin adapters that take ids, re-read rows and call the trainer adapter.

The trainer (and torch) are imported inside the task, so the web process that only
enqueues never loads them, and a worker parent never touches CUDA before forking.
"""
from celery import shared_task
from django.db import transaction

from dashboard.models import Run, Status


@shared_task(bind=True, name="dashboard.tasks.train_run")
def train_run(self, run_id: int) -> str:
    from dashboard.training import execute_run

    return execute_run(run_id, task_id=self.request.id or "")


@shared_task(name="dashboard.tasks.run_analysis")
def run_analysis(analysis_id: int) -> str:
    """Routed to the analysis queue (settings.CELERY_TASK_ROUTES)."""
    from dashboard.analyses import execute_analysis

    return execute_analysis(analysis_id)


@shared_task(name="dashboard.tasks.recover_stale_runs")
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
