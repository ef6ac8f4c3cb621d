"""Publishing from outside a consumer (Celery workers, views) to an experiment's group.

Every message carries "type" (the consumer method it calls) and "run". Publishing never
raises: a lost live message is recovered by the page over HTTP, a lost run is not.
"""
from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def group_name(experiment_id: int) -> str:
    return f"experiment-{experiment_id}"


def publish(experiment_id: int, message: dict) -> bool:
    try:
        async_to_sync(get_channel_layer().group_send)(group_name(experiment_id), message)
        return True
    except Exception:  # the broker being down must not end a training run
        log.warning("could not publish %s to experiment %s", message.get("type"), experiment_id, exc_info=True)
        return False


def publish_run_status(run) -> bool:
    """The run's status, progress and ETA (after a claim, a finish, a cancel)."""
    return publish(run.experiment_id, {"type": "run.status", "run": run.pk, "status": run.status,
                                       "progress": run.progress, "eta_seconds": run.eta_seconds,
                                       "final_metrics": run.final_metrics, "error": run.error[:500]})


def publish_runs_added(experiment_id: int, run_ids: list[int]) -> bool:
    """Runs created after the experiment started (a design's dependent runs): pages add them."""
    return publish(experiment_id, {"type": "experiment.runs", "runs": list(run_ids)})
