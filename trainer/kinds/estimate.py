"""About how long an experiment takes on one CPU worker: every run and analysis its plan makes
(trainer.kinds.base.simulate), each costed by a per-sample model.

A run costs steps x (per-step overhead + batch x per-sample cost) plus a full-set evaluation
per epoch, with per-sample costs measured for the MNIST-1D MLP on the 2-core development
machine (2.8 ms per step at batch 32, 11 ms at 400, 100 ms at 4000, one thread) and scaled
by each network's arithmetic for the others. A sharpness solve is about 15 loss-and-gradient
passes over the training set per box size (10 L-BFGS-B iterations). GPU workers are much
faster on the paper's networks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from trainer.catalog import DATASETS, MLP_DEPTH, MLP_WIDTH
from trainer.analysis.by_name import CONVERGED_SHARPNESS
from trainer.kinds.base import Kind, PlannedAnalysis, simulate

STEP_OVERHEAD_S = 2.0e-3  # optimizer step, callbacks, batch slicing
RUN_OVERHEAD_S = 3.0  # task start, data, model, database flushes
# seconds per training sample (forward + backward) on this machine's CPU, one thread
PER_SAMPLE_S = {"mlp": 2.44e-5, "relu-mlp": 2.44e-5, "cnn1d": 5e-5, "F1": 1.3e-4, "F2": 2e-4, "C1": 3e-3, "C3": 3e-3,
                "C2": 3e-2, "C4": 3e-2}
EPOCH_OVERHEAD_S = 2.0e-3  # the per-epoch evaluation's fixed part (|w - w0|, metrics, callbacks)
CURVATURE_PASSES = 2.5  # loss-and-gradient passes per Lanczos step of a live λ_max (a double backward)
SHARPNESS_PASSES = 15  # loss-and-gradient passes over the training set per box size
SUBSPACE_FACTOR = 2.0  # the p = 100 solve also projects through A
HESSIAN_PASSES = 300  # Hessian-vector products for eigenvalues, trace and density together
MEASURES_PASSES = 500  # loss-and-gradient passes of every flatness measure together (two sharpness solves,
                       # Lanczos, Hutchinson, 20 ascent steps, the PAC-Bayes bisection)


@dataclass(frozen=True)
class Estimate:
    runs: int
    analyses: int
    seconds: float

    def describe(self) -> str:
        return f"{self.runs} runs, {self.analyses} analyses, about {duration(self.seconds)} on one CPU worker"


def duration(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    return f"{max(1, round(s / 60))} min" if s >= 90 else f"{math.ceil(s)} s"


def _run_seconds(net: str, n_train: int, n_test: int, batch: int, steps: int, epochs: int,
                 per_sample: float | None = None) -> float:
    per_sample = per_sample or PER_SAMPLE_S.get(net, 1e-3)
    evaluation = epochs * (EPOCH_OVERHEAD_S + (n_train + n_test) * per_sample / 3)  # forward only
    return RUN_OVERHEAD_S + steps * (STEP_OVERHEAD_S + batch * per_sample) + evaluation


def _mlp_parameters(inputs: int, width: int, depth: int, classes: int) -> int:
    return inputs * width + (depth - 1) * width * width + width * classes


def _per_sample(config, info) -> float:
    """The net's per-sample cost; an MLP of another width or depth scales it by its parameter count."""
    base = PER_SAMPLE_S.get(config.net, 1e-3)
    if config.net in ("mlp", "relu-mlp") and (config.width or config.depth):
        inputs = math.prod(info.input_shape)
        default = _mlp_parameters(inputs, MLP_WIDTH, MLP_DEPTH, info.num_classes)
        return base * _mlp_parameters(inputs, config.width or MLP_WIDTH, config.depth or MLP_DEPTH,
                                      info.num_classes) / default
    return base


def _curvature_seconds(config, n_train: int, steps: int, per_sample: float) -> float:
    """Live λ_max every curvature_every steps: up to curvature_steps Hessian-vector products on its
    subset each (twice for Adam, which also measures the preconditioned one)."""
    if not config.curvature_every:
        return 0.0
    measurements = steps // config.curvature_every
    each = config.curvature_steps * CURVATURE_PASSES * min(config.curvature_samples, n_train) * per_sample
    return measurements * each * (2 if config.optimizer == "adam" else 1)


def _analysis_seconds(a: PlannedAnalysis, net: str, n_train: int, n_test: int) -> float:
    per_sample = PER_SAMPLE_S.get(net, 1e-3)
    p = a.params
    if a.kind == "sharpness":
        solve = SHARPNESS_PASSES * n_train * per_sample * len(p["epsilons"]) * (p["restarts"] + 1)
        if p.get("converged"):  # at most max_iter / 10 times the passes, from each of its starts
            solve *= 1 + p["converged_iter"] / 10 * (CONVERGED_SHARPNESS["restarts"] + 1) / (p["restarts"] + 1)
        return solve * (SUBSPACE_FACTOR if p["subspace_dim"] else 1.0)
    if a.kind == "interpolation":
        return p["points"] * (n_train + n_test) * per_sample
    if a.kind == "hessian":
        return HESSIAN_PASSES * 2 * min(p["n_samples"], n_train) * per_sample
    if a.kind == "measures":
        return MEASURES_PASSES * min(p["n_samples"], n_train) * per_sample
    grid = p["resolution"] ** 2
    return grid * 2 * (p["n_samples"] or n_train + n_test) * per_sample / 3


def run_seconds(config) -> float:
    """The modelled seconds of one run of this TrainConfig: its steps, evaluations and live curvature."""
    info = DATASETS[config.dataset]
    n_train = config.subset or info.n_train
    batch = config.resolved_batch_size(n_train)
    steps = config.total_steps(n_train)
    epochs = math.ceil(steps / max(1, n_train // batch))
    per_sample = _per_sample(config, info)
    return (_run_seconds(config.net, n_train, info.n_test, batch, steps, epochs, per_sample)
            + _curvature_seconds(config, n_train, steps, per_sample))


def longest_first(items, config_of=lambda planned: planned.config) -> list:
    """Runs to queue side by side, the longest (modelled) first, ties in plan order: N workers then
    end together, where plan order can leave the last long run (an SB run) starting when the others
    are done. What a run computes does not depend on when it starts."""
    return sorted(items, key=lambda item: -run_seconds(config_of(item)))


def estimate(kind: Kind, spec, options) -> Estimate:
    info = DATASETS[spec.dataset]
    n_train = spec.subset or info.n_train
    runs, analyses = simulate(kind, spec, options)
    seconds = sum(run_seconds(planned.config) for planned in runs)
    seconds += sum(_analysis_seconds(a, spec.net, n_train, info.n_test) for a in analyses)
    return Estimate(len(runs), len(analyses), seconds)


@dataclass(frozen=True)
class RunState:
    """What an experiment's ETA needs of one run: where it stands and what it costs."""
    status: str  # "queued", "running", "done", ...
    progress: float  # fraction of its steps done
    elapsed_s: float | None  # seconds since it started (None: not started)
    eta_s: float | None  # its own ETA, from its measured step times (running runs)
    net: str
    n_train: int
    n_test: int
    batch: int
    steps: int

    @property
    def modelled_s(self) -> float:
        epochs = math.ceil(self.steps / max(1, self.n_train // max(1, self.batch)))
        return _run_seconds(self.net, self.n_train, self.n_test, self.batch, self.steps, epochs)


def planned_analysis_seconds(kind: Kind, spec, options) -> list[float]:
    """The modelled cost of each analysis the plan makes (the sharpness of every final model, ...)."""
    info = DATASETS[spec.dataset]
    n_train = spec.subset or info.n_train
    _, analyses = simulate(kind, spec, options)
    return [_analysis_seconds(a, spec.net, n_train, info.n_test) for a in analyses]


def remaining_seconds(runs: list[RunState], workers: int = 1, analyses_modelled_s: float = 0.0) -> float | None:
    """Seconds until every run is done, on `workers` training slots.

    A running run has its own ETA from its measured step times. A queued run costs what the
    cost model says, scaled by how far the model was off on the runs measured so far (done,
    or far enough along): a busy or a faster machine scales every queued run alike, and a
    batch size's own cost per step stays the model's. The plan's analyses still to come
    (analyses_modelled_s, as the model costs them) are scaled alike. None before anything
    was measured (nothing started), 0 once everything is finished."""
    pending = [r for r in runs if r.status in ("queued", "running")]
    if not pending and analyses_modelled_s <= 0:
        return 0.0
    ratios = []
    for r in runs:
        if r.elapsed_s and r.modelled_s > 0:
            if r.status == "done":
                ratios.append(r.elapsed_s / r.modelled_s)
            elif r.status == "running" and r.progress >= 0.05:
                ratios.append(r.elapsed_s / r.progress / r.modelled_s)
    if not ratios:
        return None
    scale = sorted(ratios)[len(ratios) // 2]
    left = 0.0
    for r in pending:
        if r.status == "running" and r.eta_s is not None:
            left += r.eta_s
        else:
            left += scale * r.modelled_s * (1 - min(r.progress, 1.0))
    return (left + scale * analyses_modelled_s) / max(1, workers)
