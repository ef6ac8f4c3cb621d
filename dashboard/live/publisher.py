"""Publishing from outside a consumer (Celery workers, views) to the Channels groups pages watch.

An experiment page joins its experiment's group; the experiments list joins its user's
group (and a superuser's list the staff group). Every message carries "type" (the
consumer method it calls). Publishing never raises: a lost live message is recovered by
the page over HTTP, a lost run is not.
"""
from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)
STAFF_GROUP = "experiments-staff"


def group_name(experiment_id: int) -> str:
    return f"experiment-{experiment_id}"


def owner_group(user_id: int) -> str:
    return f"experiments-of-{user_id}"


def _send(group: str, message: dict) -> bool:
    try:
        async_to_sync(get_channel_layer().group_send)(group, message)
        return True
    except Exception:  # the broker being down must not end a training run
        log.warning("could not publish %s to %s", message.get("type"), group, exc_info=True)
        return False


def publish(experiment_id: int, message: dict) -> bool:
    return _send(group_name(experiment_id), message)


def publish_run_status(run) -> bool:
    """The run's status, progress and ETA (after a claim, a finish, a cancel), with its experiment's status."""
    experiment = run.experiment
    sent = publish(run.experiment_id, {"type": "run.status", "run": run.pk, "status": run.status,
                                       "progress": run.progress, "eta_seconds": run.eta_seconds,
                                       "final_metrics": run.final_metrics, "error": run.error[:500],
                                       "experiment_status": experiment.status})
    publish_experiment_summary(experiment)
    return sent


def publish_analysis_status(analysis) -> bool:
    return publish(analysis.experiment_id, {"type": "analysis.status", "analysis": analysis.pk,
                                            "kind": analysis.kind, "status": analysis.status,
                                            "progress": analysis.progress, "error": analysis.error[:500]})


def publish_runs_added(experiment_id: int, run_ids: list[int]) -> bool:
    """Runs created after the experiment started (a plan's dependent runs): pages add them."""
    return publish(experiment_id, {"type": "experiment.runs", "runs": list(run_ids)})


def publish_experiment_summary(experiment) -> bool:
    """The experiment's status, mean progress and ETA: to its owner's lists (its row) and to its
    own page (the header)."""
    progress, eta = experiment.progress_and_eta()
    message = {"type": "experiment.summary", "experiment": experiment.pk, "status": experiment.status,
               "progress": progress, "eta_seconds": eta}
    return (_send(owner_group(experiment.owner_id), message) & _send(STAFF_GROUP, message)
            & _send(group_name(experiment.pk), message))
