"""What one experiment or analysis may ask of the lab. Each bound is a setting (LBLAB_MAX_*,
settings.LIMITS); going past one is a ConfigError on the field at fault, so the form shows it
there. The trainer's own checks say what is valid; these say what this lab will queue."""
from __future__ import annotations

import dataclasses

from django.conf import settings

from trainer.fields import ConfigError
from trainer.kinds.base import Kind, simulate
from trainer.kinds.spec import ExperimentSpec


def _number(n: int) -> str:
    return str(n) if len(str(n)) <= 24 else f"a {len(str(n))}-digit number"


def _over(field: str, what: str, limit: str) -> ConfigError:
    bound = settings.LIMITS[limit]
    return ConfigError(field, f"{what}, more than this lab allows ({bound}; setting LBLAB_{limit.upper()})")


def _lists(options) -> dict[str, tuple]:
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options)
            if isinstance(getattr(options, f.name), tuple)}


def check_fields(spec: ExperimentSpec, options) -> None:
    """Each field alone: cheap, before the kind's own checks and its plan."""
    limits = settings.LIMITS
    if spec.epochs > limits["max_epochs"]:
        raise _over("epochs", f"epochs = {_number(spec.epochs)}", "max_epochs")
    if spec.seeds > limits["max_seeds"]:
        raise _over("seeds", f"seeds = {_number(spec.seeds)}", "max_seeds")
    for name, values in _lists(options).items():
        if len(values) > limits["max_list"]:
            raise _over(name, f"{len(values)} values", "max_list")


def check_plan(kind: Kind, spec: ExperimentSpec, options) -> None:
    """The runs and analyses the kind's plan makes, dependent ones included; the field at fault is the
    longest list the kind reads, or seeds."""
    limits, lists = settings.LIMITS, _lists(options)
    runs, analyses = simulate(kind, spec, options)
    longest = max(lists, key=lambda n: len(lists[n]), default=None)
    at_fault = longest if longest and len(lists[longest]) > spec.seeds else "seeds"
    if len(runs) > limits["max_runs"]:
        raise _over(at_fault, f"these settings make {len(runs)} runs", "max_runs")
    if len(analyses) > limits["max_analyses"]:
        raise _over(at_fault, f"these settings make {len(analyses)} analyses", "max_analyses")


ANALYSIS_SIZES = {"n_samples": "max_analysis_samples", "subspace_dim": "max_subspace_dim"}


def check_analysis(params: dict) -> None:
    for name, limit in ANALYSIS_SIZES.items():
        value = params.get(name)
        if value is not None and value > settings.LIMITS[limit]:
            raise _over(name, f"{name} = {_number(value)}", limit)
