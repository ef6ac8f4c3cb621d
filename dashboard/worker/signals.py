"""Worker start-up: look for runs lost by a worker that died, before taking new work."""
import logging

from celery.signals import worker_ready

log = logging.getLogger(__name__)


@worker_ready.connect
def recover_on_start(sender=None, **kwargs):
    from dashboard.worker.tasks import recover_stale_runs

    try:
        recovered = recover_stale_runs()
    except Exception:  # a worker must start even if the database is briefly unreachable
        log.exception("stale-run recovery at start-up failed")
        return
    if recovered:
        log.warning("re-queued runs with a stale heartbeat: %s", recovered)
