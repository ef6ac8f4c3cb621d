"""An experiment's ETA from its rows: each run as trainer.kinds.estimate.RunState, and the
modelled cost of the plan's analyses still to come (the plan is simulated once per design)."""
from __future__ import annotations

import functools
import json

from django.conf import settings
from django.utils import timezone

from trainer.catalog import dataset_info
from trainer.config import TrainConfig
from trainer.kinds import get_kind
from trainer.kinds.estimate import RunState, planned_analysis_seconds, remaining_seconds
from trainer.kinds.records import FINISHED
from trainer.kinds.spec import ExperimentSpec


def run_state(run) -> RunState | None:
    """A run as the experiment's ETA sees it; None for a config this version cannot read."""
    try:
        config = TrainConfig.from_dict(run.config)
        info = dataset_info(config.dataset)
    except Exception:
        return None
    n_train = config.subset or info.n_train
    end = run.finished if run.status == "done" and run.finished else timezone.now()
    elapsed = (end - run.started).total_seconds() if run.started else None
    return RunState(run.status, run.progress, elapsed, run.eta_seconds, config.net, n_train, info.n_test,
                    config.resolved_batch_size(n_train), config.total_steps(n_train))


def experiment_eta(experiment, runs) -> float | None:
    """Seconds until the experiment's runs and the plan's analyses are done; None before anything
    was measured."""
    states = [state for state in map(run_state, runs) if state is not None]
    if not states:
        return None
    return remaining_seconds(states, settings.LBLAB_TRAIN_SLOTS, _analyses_left_s(experiment))


def _analyses_left_s(experiment) -> float:
    """The modelled cost of the plan's analyses not finished yet (each as the mean planned one)."""
    costs = _planned_costs(experiment.kind, json.dumps(experiment.config, sort_keys=True),
                           json.dumps(experiment.design, sort_keys=True))
    if not costs:
        return 0.0
    finished = experiment.analyses.filter(status__in=FINISHED).count()
    return max(0, len(costs) - finished) * sum(costs) / len(costs)


@functools.lru_cache(maxsize=256)
def _planned_costs(kind_name: str, config: str, design: str) -> tuple[float, ...]:
    try:
        kind = get_kind(kind_name)
        return tuple(planned_analysis_seconds(kind, ExperimentSpec.from_dict(json.loads(config)),
                                              kind.options(json.loads(design))))
    except Exception:  # a stored design this version cannot plan
        return ()
