"""The web's executor of an experiment kind's plan (trainer.kinds): Run and Analysis rows,
trained and analysed by Celery workers.

`start` creates the experiment with the runs its kind starts with and queues them once
committed. When a worker finishes a run as done it calls `advance`, which asks the kind
what the run unlocks and creates it: dependent runs (once per parent) and analyses
(deduplicated by the weights they read, dashboard.analyses). The CLI's executor
(trainer.executor) follows the same plan in a process pool.
"""
from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from dashboard.analyses import request_analysis
from dashboard.live.publisher import publish_runs_added
from dashboard.models import Experiment, Run
from dashboard.results import records_of
from trainer.config import TrainConfig
from trainer.kinds.base import Kind, PlannedRun
from trainer.kinds.estimate import longest_first
from trainer.kinds.spec import ExperimentSpec
from trainer.snapshots import snapshot_path

log = logging.getLogger(__name__)


def start(owner, name: str, kind: Kind, spec: ExperimentSpec, options=None, preset: str = "custom",
          submission: str = "") -> Experiment:
    """Create the experiment and the runs its kind starts with; queue them once the rows are committed.
    A submission key already used by this owner returns that experiment instead (sent twice, made once)."""
    if submission:
        earlier = Experiment.objects.filter(owner=owner, submission=submission).first()
        if earlier is not None:
            return earlier
    try:
        with transaction.atomic():
            experiment = create(owner, name, kind, spec, options, preset, submission)
            for run in longest_first(create_runs(experiment), _config):
                run.enqueue()
    except IntegrityError:  # the same submission, committed by a parallel request meanwhile
        earlier = Experiment.objects.filter(owner=owner, submission=submission).first() if submission else None
        if earlier is None:
            raise
        return earlier
    return experiment


def create(owner, name: str, kind: Kind, spec: ExperimentSpec, options=None, preset: str = "custom",
           submission: str = "") -> Experiment:
    options = options if options is not None else kind.Options()
    return Experiment.objects.create(owner=owner, name=name, preset=preset, config=spec.to_dict(), kind=kind.name,
                                     design=kind.options_dict(options), submission=submission)


def create_runs(experiment: Experiment) -> list[Run]:
    """The rows of the runs the experiment's kind starts with, not queued."""
    # data_dir stays empty: the worker reads its own LBLAB_DATA_DIR, which may differ from the web host's
    planned = experiment.planner.runs(experiment.spec, experiment.options)
    return [run for run in (_create_run(experiment, p) for p in planned) if run is not None]


def _config(run: Run) -> TrainConfig:
    return TrainConfig.from_dict(run.config)


def _create_run(experiment: Experiment, planned: PlannedRun) -> Run | None:
    config = planned.config
    if planned.start_from is not None:
        parent = Run.objects.get(pk=planned.start_from.run)
        path = snapshot_path(parent.run_dir, planned.start_from.epoch)
        if not path.exists():
            log.warning("run %s has no snapshot of epoch %s at %s; not starting a run from it",
                        parent.pk, planned.start_from.epoch, path)
            return None
        config = config.replace(init_from=str(path))
    # one by one: bulk_create returns no ids on every backend
    return Run.objects.create(experiment=experiment, role=planned.role, seed=planned.seed, config=config.to_dict(),
                              tags=planned.tags)


def advance(run: Run) -> None:
    """Create what the finished (done) run unlocks in its experiment's plan; a second call adds nothing."""
    experiment = run.experiment
    kind, spec, options = experiment.planner, experiment.spec, experiment.options
    with transaction.atomic():
        records = records_of(experiment)
        unlocked = kind.unlocked(spec, options, records.run(run.pk), records)
        added = []
        if unlocked.runs and not experiment.runs.filter(tags__depends_on=run.pk).exists():
            children = [child for child in (_create_run(experiment, p) for p in unlocked.runs) if child is not None]
            for child in longest_first(children, _config):
                child.enqueue()
            added = [child.pk for child in children]
            experiment.refresh_status()
        runs = {r.pk: r for r in experiment.runs.all()}
        for a in unlocked.analyses:
            request_analysis(experiment, a.kind, a.params, runs[a.run], runs.get(a.run_b), epoch=a.epoch)
        if added:
            transaction.on_commit(lambda: publish_runs_added(experiment.pk, added))
