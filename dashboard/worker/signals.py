"""Worker-side signals: a received message is written on its row, and a starting worker queues
again what it, or any worker that died, held (dashboard.models.Dispatched)."""
import logging

from celery.signals import task_received, worker_ready

from dashboard.celery import ANALYSIS_TASK, TRAIN_TASK

log = logging.getLogger(__name__)


@task_received.connect
def note_receipt(sender=None, request=None, **kwargs):
    """In the worker's main process, as the message arrives: the row says who holds it."""
    from dashboard.models import Analysis, Run

    model = {TRAIN_TASK: Run, ANALYSIS_TASK: Analysis}.get(getattr(request, "name", None))
    if model is None:
        return
    try:
        model.mark_received(request.id, request.hostname or "")
    except Exception:  # the claim writes the same; a lost receipt only delays recovery
        log.exception("could not note the receipt of task %s", request.id)


@worker_ready.connect
def recover_on_start(sender=None, **kwargs):
    from dashboard.worker.tasks import recover_lost_work

    try:
        recovered = recover_lost_work(getattr(sender, "hostname", None))
    except Exception:  # a worker must start even if the database is briefly unreachable
        log.exception("lost-work recovery at start-up failed")
        return
    if any(recovered.values()):
        log.warning("queued again, their worker being gone: %s", recovered)
