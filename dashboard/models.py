"""Experiments, their runs and metric points, analyses and share links.

Behaviour lives here (claiming, cancelling, resuming, revoking); views and tasks call
these methods and stay short; how runs and analyses are queued and recovered is
dashboard/dispatched.py. What an experiment runs is its kind's plan (trainer.kinds),
followed by dashboard.executor. Rows queue their Celery tasks by name, so nothing here
imports the worker side.
"""
from __future__ import annotations

import re
import secrets
import shutil
from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from dashboard.celery import ANALYSIS_TASK, TRAIN_TASK
from dashboard.dispatched import Dispatched, Status, ago
from dashboard.eta import experiment_eta, run_state
from dashboard.live.publisher import publish
from trainer.kinds import get_kind
from trainer.kinds.records import FINISHED, experiment_status
from trainer.kinds.spec import ExperimentSpec




class ExperimentQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ExperimentQuerySet":
        if not user.is_authenticated:
            return self.none()
        return self if user.is_superuser else self.filter(owner=user)


class Experiment(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=200)
    preset = models.CharField(max_length=40, default="custom")
    config = models.JSONField(default=dict)  # ExperimentSpec.to_dict()
    kind = models.CharField(max_length=20, default="gap")  # a name in trainer.kinds.KINDS
    design = models.JSONField(default=dict, blank=True)  # the kind's Options, as JSON
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # the form's submission key (or an Idempotency-Key header): one experiment per key and owner
    submission = models.CharField(max_length=64, blank=True)
    # the owner's labels, stored ",a,b," so that one label is found with tags__icontains=",a,"
    tags = models.CharField(max_length=1000, blank=True)
    notes = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = ExperimentQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["owner", "submission"], condition=~Q(submission=""),
                                               name="one_experiment_per_submission")]

    def __str__(self):
        return self.name

    @property
    def spec(self) -> ExperimentSpec:
        return ExperimentSpec.from_dict(self.config)

    @property
    def tag_list(self) -> list[str]:
        return [tag for tag in self.tags.split(",") if tag]

    def set_tags(self, tags) -> None:
        self.tags = f",{','.join(tags)}," if tags else ""

    @property
    def planner(self):
        """The experiment's kind (trainer.kinds): its plan, tables and texts."""
        return get_kind(self.kind)

    @property
    def options(self):
        """The kind's own settings."""
        return self.planner.options(self.design)

    def can_view(self, user, token: str | None = None) -> bool:
        if user.is_authenticated and (user.pk == self.owner_id or user.is_superuser):
            return True
        return is_token_shaped(token) and self.share_links.active().filter(token=token).exists()

    def remove(self) -> None:
        """Delete the experiment with its runs, points and analyses. Training runs are asked to
        stop (their worker removes their files); locking the run rows first keeps a worker's
        in-flight flush from adding points between the delete's collection and its commit."""
        with transaction.atomic():
            for run in self.runs.select_for_update():
                run.request_cancel()
                if run.status != Status.RUNNING:
                    run.remove_files()
            self.delete()

    def can_edit(self, user) -> bool:
        return user.is_authenticated and (user.pk == self.owner_id or user.is_superuser)

    def refresh_status(self) -> str:
        """The experiment's status from its runs': running while any runs, then the worst outcome."""
        status = experiment_status(self.runs.values_list("status", flat=True))
        if status != self.status:
            Experiment.objects.filter(pk=self.pk).update(status=status, updated=timezone.now())
            self.status = status
        return status

    def progress_and_eta(self) -> tuple[float, float | None]:
        """Mean run progress, and seconds left: the running runs' own ETAs (from their measured
        step times) plus the queued runs' modelled cost, scaled by how far the model was off on
        the runs measured so far (trainer.kinds.estimate.remaining_seconds)."""
        runs = list(self.runs.all())  # uses prefetch_related("runs") when the caller did
        if not runs:
            return 0.0, None
        progress = sum(r.progress for r in runs) / len(runs)
        if self.status in (Status.FAILED, Status.CANCELLED):
            return progress, 0.0  # what a failed run would unlock never comes
        return progress, experiment_eta(self, runs)

    def to_dict(self) -> dict:
        progress, eta = self.progress_and_eta()
        return {"id": self.pk, "name": self.name, "owner": self.owner.get_username(), "preset": self.preset,
                "kind": self.kind, "design": self.design, "config": self.config, "status": self.status, "progress": progress, "eta_seconds": eta,
                "created": self.created.isoformat(), "updated": self.updated.isoformat(),
                "runs": [run.to_dict() for run in self.runs.all()]}


class Run(Dispatched):
    TASK = TRAIN_TASK
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="runs")
    role = models.CharField(max_length=40)  # "SB", "LB", "B=128", "LB + SAM", ...
    seed = models.IntegerField(default=0)
    config = models.JSONField(default=dict)  # TrainConfig.to_dict() snapshot
    # the design's labels: {"batch": 128}, {"snapshot_every": 10}, {"sb_epoch": 20, "depends_on": 7}
    tags = models.JSONField(default=dict, blank=True)
    queue = models.CharField(max_length=40, blank=True, help_text="Celery queue; blank: the shared train queue")
    progress = models.FloatField(default=0.0)
    eta_seconds = models.FloatField(null=True, blank=True)
    checkpoint_path = models.CharField(max_length=500, blank=True)
    final_metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    last_seq = models.BigIntegerField(default=0)  # the last live flush's sequence number
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["experiment", "seed", "-role"]

    def __str__(self):
        return f"{self.experiment} {self.role} seed {self.seed}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    def default_checkpoint_path(self) -> str:
        return str(Path(settings.LBLAB_RUNS_DIR) / f"run-{self.pk}" / "checkpoint.pt")

    @property
    def run_dir(self) -> Path:
        """The run's own folder: its checkpoint and its weight snapshots (epoch-NNNN.pt)."""
        return Path(self.checkpoint_path or self.default_checkpoint_path()).parent

    def queue_name(self) -> str | None:
        return self.queue or None

    def claim(self, task_id: str, worker: str = "") -> bool:
        """Atomically take the run for this task: queued for this message (or for any, when it was
        queued without an id), or running on a worker that stopped heartbeating."""
        stale = ago(settings.LBLAB_STALE_AFTER_S)
        takeable = (Q(status=Status.QUEUED) & (Q(task_id=task_id) | Q(task_id=""))) | (
            Q(status=Status.RUNNING) & (Q(heartbeat__lt=stale) | Q(heartbeat__isnull=True)))
        now = timezone.now()
        taken = Run.objects.filter(takeable, pk=self.pk, cancel_requested=False).update(
            status=Status.RUNNING, task_id=task_id, worker=worker, heartbeat=now, error="",
            checkpoint_path=self.checkpoint_path or self.default_checkpoint_path())
        if taken:
            if Run.objects.filter(pk=self.pk, started__isnull=True).update(started=now):
                # a first start: whatever its folder holds is left from another database's run of this id
                self.remove_files()
            self.refresh_from_db()
            self.experiment.refresh_status()
        return bool(taken)

    def eta_state(self):
        """This run as the experiment's ETA sees it (dashboard/eta.py)."""
        return run_state(self)

    def report_progress(self, progress: float, eta_seconds: float | None) -> None:
        Run.objects.filter(pk=self.pk).update(progress=progress, eta_seconds=eta_seconds, heartbeat=timezone.now())
        self.progress, self.eta_seconds = progress, eta_seconds

    def cancel_is_requested(self) -> bool:
        """True when cancelling was asked for, or the run was deleted or given to another task meanwhile."""
        return not Run.objects.filter(pk=self.pk, cancel_requested=False, task_id=self.task_id).exists()

    def is_held_by(self, task_id: str) -> bool:
        """Whether this task still holds the run (it was not queued again as lost while it trained)."""
        return Run.objects.filter(pk=self.pk, task_id=task_id).exists()

    def remove_files(self) -> None:
        """Delete the run's checkpoint folder (only if it is the run's own folder under LBLAB_RUNS_DIR)."""
        folder = Path(self.checkpoint_path or self.default_checkpoint_path()).parent
        if folder.name == f"run-{self.pk}" and Path(settings.LBLAB_RUNS_DIR).resolve() in folder.resolve().parents:
            shutil.rmtree(folder, ignore_errors=True)

    def request_cancel(self) -> None:
        """Cooperative: a queued run is cancelled now, a running one stops at its next step."""
        Run.objects.filter(pk=self.pk, status__in=[Status.QUEUED, Status.RUNNING]).update(cancel_requested=True)
        Run.objects.filter(pk=self.pk, status=Status.QUEUED).update(
            status=Status.CANCELLED, finished=timezone.now())
        self.refresh_from_db()
        self.experiment.refresh_status()

    def resume(self) -> bool:
        """Queue a cancelled or failed run again; it continues from its checkpoint."""
        with transaction.atomic():
            n = Run.objects.filter(pk=self.pk, status__in=[Status.CANCELLED, Status.FAILED]).update(
                status=Status.QUEUED, cancel_requested=False, error="", finished=None, eta_seconds=None)
            if n:
                self.refresh_from_db()
                self.enqueue()
                self.experiment.refresh_status()
        return bool(n)

    def finish(self, status: str, final_metrics: dict | None = None, error: str = "") -> None:
        fields = dict(status=status, finished=timezone.now(), heartbeat=timezone.now(), error=error[-5000:],
                      eta_seconds=0.0 if status == Status.DONE else None)
        if status == Status.DONE:
            fields["progress"] = 1.0
        if final_metrics is not None:
            fields["final_metrics"] = final_metrics
        Run.objects.filter(pk=self.pk).update(**fields)
        self.refresh_from_db()
        self.experiment.refresh_status()

    def to_dict(self) -> dict:
        return {"id": self.pk, "experiment": self.experiment_id, "role": self.role, "seed": self.seed,
                "status": self.status, "progress": self.progress, "eta_seconds": self.eta_seconds,
                "heartbeat": self.heartbeat and self.heartbeat.isoformat(),
                "started": self.started and self.started.isoformat(),
                "finished": self.finished and self.finished.isoformat(),
                "final_metrics": self.final_metrics, "tags": self.tags, "error": self.error, "last_seq": self.last_seq,
                "cancel_requested": self.cancel_requested, "config": self.config}


class MetricPoint(models.Model):
    """One value of one metric at one x: the global step for per-step metrics, the epoch for per-epoch ones."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="points")
    name = models.CharField(max_length=40)
    step = models.IntegerField()
    value = models.FloatField()
    seq = models.BigIntegerField(default=0)  # the live flush that carried it

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "name", "step"], name="unique_point_per_step")]
        indexes = [models.Index(fields=["run", "seq"], name="point_run_seq")]

    def __str__(self):
        return f"{self.run_id} {self.name}[{self.step}]={self.value:.4g}"


class Analysis(Dispatched):
    """One analysis of one run's weights (or a pair's, for interpolation); see dashboard/analyses.py.

    key identifies (kind, canonical params, sha256 of the input weight files): at most one
    row per key that has not failed, so the same analysis of the same checkpoint is served
    from the database instead of being computed again.
    """

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="analyses")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, null=True, blank=True, related_name="analyses")
    # interpolation's far end, possibly another experiment's run: deleting that one keeps the result
    run_b = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="analyses_as_b")
    epoch = models.IntegerField(null=True, blank=True)  # a snapshot epoch; None: the final checkpoint
    kind = models.CharField(max_length=40)  # "sharpness", "interpolation", "hessian", "landscape"
    params = models.JSONField(default=dict, blank=True)  # validated, every default filled in
    weights = models.CharField(max_length=200, blank=True)  # sha256 of the input file(s)
    key = models.CharField(max_length=64, blank=True, db_index=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    progress = models.FloatField(default=0.0)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name_plural = "analyses"
        constraints = [models.UniqueConstraint(fields=["experiment", "key"], condition=~Q(status="failed"),
                                               name="one_live_analysis_per_key")]

    def __str__(self):
        return f"{self.kind} of {self.run or self.experiment}"

    TASK = ANALYSIS_TASK

    def claim(self, task_id: str, worker: str = "") -> bool:
        """Atomically take the queued row for this message (or for any, when it was queued without an id;
        no task_id: a direct call, as from a shell, takes it whatever its message)."""
        now = timezone.now()
        mine = (Q(task_id=task_id) | Q(task_id="")) if task_id else Q()
        return bool(Analysis.objects.filter(mine, pk=self.pk, status=Status.QUEUED)
                    .update(status=Status.RUNNING, task_id=task_id, worker=worker, started=now, heartbeat=now))

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    def far_end_visible_to(self, user) -> bool:
        """Whether `user` may see interpolation's far end: a run of another experiment is shown only to
        those who may view that experiment itself (a share token opens its own experiment alone)."""
        run_b = self.run_b
        return run_b is None or run_b.experiment_id == self.experiment_id or run_b.experiment.can_view(user)

    def to_dict(self, result: bool = True, far_end: bool = True) -> dict:
        """far_end False: nothing of the far end's run (its id, its weights' hash) is in the dict."""
        run_b, weights = (self.run_b_id, self.weights) if far_end else (None, self.weights.split("+")[0])
        d = {"id": self.pk, "experiment": self.experiment_id, "run": self.run_id, "run_b": run_b,
             "epoch": self.epoch, "kind": self.kind, "params": self.params, "weights": weights,
             "status": self.status, "progress": self.progress, "error": self.error,
             "created": self.created.isoformat(), "finished": self.finished and self.finished.isoformat()}
        if result:
            d["result"] = self.result
        return d


def new_share_token() -> str:
    return secrets.token_urlsafe(32)


TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what token_urlsafe makes; anything else opens nothing


def is_token_shaped(token) -> bool:
    return isinstance(token, str) and TOKEN_SHAPE.fullmatch(token) is not None


class ShareLinkQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ShareLink(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="share_links")
    token = models.CharField(max_length=64, unique=True, default=new_share_token, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ShareLinkQuerySet.as_manager()

    def __str__(self):
        return f"share of {self.experiment} ({'revoked' if self.revoked_at else 'active'})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        """From now on the token opens nothing; streams already open on it are closed."""
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])
            experiment_id, token = self.experiment_id, self.token
            transaction.on_commit(lambda: publish(experiment_id, {"type": "share.revoked", "token": token}))

    @classmethod
    def experiment_for(cls, token: str | None) -> Experiment | None:
        """The experiment an active token opens, or None."""
        if not is_token_shaped(token):
            return None
        link = cls.objects.active().select_related("experiment").filter(token=token).first()
        return link.experiment if link else None
