"""What runs and analyses share as rows that Celery messages work on: their status choices, and
how a row is queued, claimed by one message, and found again when its worker is gone."""
from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from dashboard.celery import app as celery_app
from trainer.kinds.records import STATUSES

# queued, running, done, failed, cancelled: the records' statuses (Status.DONE == "done")
Status = models.TextChoices("Status", [(status.upper(), status) for status in STATUSES])


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


class Dispatched(models.Model):
    """A row that one Celery message works on at a time (a run or an analysis).

    Each enqueue gives the row a new task id, and only the message with that id may claim
    it, so a message that comes back after its row was queued again is skipped. The worker
    that receives the message writes its name and the time (dashboard.worker.signals), and
    the claim writes them too, so work held by a worker that died is found: by its stale
    heartbeat, by a receipt that was never claimed, or by the same worker starting again.
    """

    TASK = ""
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    task_id = models.CharField(max_length=64, blank=True)  # the one Celery message that may take the row
    worker = models.CharField(max_length=200, blank=True)  # the worker that received or holds that message
    received = models.DateTimeField(null=True, blank=True)  # when that worker received it
    heartbeat = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def queue_name(self) -> str | None:
        return None

    def enqueue(self) -> None:
        """Give the row a new task id and send that task once the current transaction commits."""
        task_id = uuid.uuid4().hex
        type(self).objects.filter(pk=self.pk).update(task_id=task_id, worker="", received=None)
        self.task_id, self.worker, self.received = task_id, "", None
        pk, queue, name = self.pk, self.queue_name(), self.TASK
        transaction.on_commit(lambda: celery_app.send_task(name, args=[pk], task_id=task_id, queue=queue))

    @classmethod
    def mark_received(cls, task_id: str, worker: str) -> None:
        cls.objects.filter(task_id=task_id, status=Status.QUEUED).update(worker=worker, received=timezone.now())

    @classmethod
    def lost(cls, worker: str | None = None):
        """Rows whose message no live worker holds: running with a stale heartbeat, received and not
        claimed within LBLAB_CLAIM_TIMEOUT_S, or held by `worker`, a worker that is starting again."""
        lost = (Q(status=Status.RUNNING, heartbeat__lt=ago(settings.LBLAB_STALE_AFTER_S))
                | Q(status=Status.QUEUED, received__lt=ago(settings.LBLAB_CLAIM_TIMEOUT_S)))
        if worker:
            lost |= Q(status__in=[Status.QUEUED, Status.RUNNING], worker=worker) & ~Q(task_id="")
        return cls.objects.filter(lost)

    def requeue_if_unchanged(self) -> bool:
        """Queue the row again with a new task id, unless it changed since it was read as lost."""
        with transaction.atomic():
            if not type(self).objects.filter(pk=self.pk, status=self.status, task_id=self.task_id,
                                             heartbeat=self.heartbeat, received=self.received).update(
                    status=Status.QUEUED):
                return False
            self.status = Status.QUEUED
            self.enqueue()
        return True
