"""Celery tasks: thin adapters that take ids, re-read rows and call the worker's adapters.

The adapters (and torch with them) are imported inside the task, so a process that only
queues never loads them, and a worker parent never touches CUDA before forking.
"""
from celery import shared_task

from dashboard.celery import ANALYSIS_TASK, RECOVER_TASK, TRAIN_TASK
from dashboard.models import Analysis, Run


@shared_task(bind=True, name=TRAIN_TASK)
def train_run(self, run_id: int) -> str:
    from dashboard.worker.training import execute_run

    return execute_run(run_id, task_id=self.request.id or "", worker=self.request.hostname or "")


@shared_task(bind=True, name=ANALYSIS_TASK)
def run_analysis(self, analysis_id: int) -> str:
    """Routed to the analysis queue (settings.CELERY_TASK_ROUTES)."""
    from dashboard.worker.analysis import execute_analysis

    return execute_analysis(analysis_id, task_id=self.request.id or "", worker=self.request.hostname or "")


def recover_lost_work(worker: str | None = None) -> dict[str, list[int]]:
    """Queue again every run and analysis whose message no live worker holds (Dispatched.lost), with a
    new task id: a run resumes from its checkpoint, an analysis starts over. `worker`: the name of
    a worker that is starting, so whatever it held before is lost."""
    return {model.__name__.lower(): [row.pk for row in model.lost(worker) if row.requeue_if_unchanged()]
            for model in (Run, Analysis)}


@shared_task(name=RECOVER_TASK)
def recover_stale_runs() -> dict[str, list[int]]:
    """Beat's periodic check, on the control queue: it never waits behind training."""
    return recover_lost_work()
