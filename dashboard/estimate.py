"""What a preset will run, and a rough estimate of how long it takes on one CPU worker.

The cost model is steps x (per-step overhead + batch x per-sample cost) plus a full-set
evaluation per epoch, with per-sample costs measured for the MNIST-1D MLP on the 2-core
development machine (2.8 ms per step at batch 32, 11 ms at 400, 100 ms at 4000, one
thread) and scaled by each network's arithmetic for the others. A sharpness solve is
about 15 loss-and-gradient passes over the training set per box size (10 L-BFGS-B
iterations). It is an estimate: GPU workers are much faster on the paper's networks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from dashboard.designs import Design, count_analyses, plan_runs, warm_start_epochs

STEP_OVERHEAD_S = 2.0e-3  # optimizer step, callbacks, batch slicing
RUN_OVERHEAD_S = 3.0  # task start, data, model, database flushes
# seconds per training sample (forward + backward) on this machine's CPU, one thread
PER_SAMPLE_S = {"mlp": 2.44e-5, "cnn1d": 5e-5, "F1": 1.3e-4, "F2": 2e-4, "C1": 3e-3, "C3": 3e-3,
                "C2": 3e-2, "C4": 3e-2}
SHARPNESS_PASSES = 15  # loss-and-gradient passes over the training set per box size
SUBSPACE_FACTOR = 2.0  # the p = 100 solve also projects through A


@dataclass(frozen=True)
class Plan:
    runs: int
    analyses: int
    seconds: float

    def describe(self) -> str:
        return f"{self.runs} runs, {self.analyses} analyses, about {_duration(self.seconds)} on one CPU worker"


def _duration(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    return f"{max(1, round(s / 60))} min" if s >= 90 else f"{math.ceil(s)} s"


def _run_seconds(net: str, n_train: int, n_test: int, batch: int, epochs: int) -> float:
    per_sample = PER_SAMPLE_S.get(net, 1e-3)
    steps = epochs * max(1, n_train // batch)
    evaluation = epochs * (n_train + n_test) * per_sample / 3  # forward only
    return RUN_OVERHEAD_S + steps * (STEP_OVERHEAD_S + batch * per_sample) + evaluation


def plan(spec, design: Design) -> Plan:
    from trainer.data import DATASETS

    info = DATASETS[spec.dataset]
    n_train = spec.subset or info.n_train
    runs = plan_runs(spec, design)
    configs = [p.config for p in runs]
    if design.kind == "warmstart":  # the LB runs it adds when SB finishes
        lb = spec.train_config("LB", 0).replace(epochs=design.lb_epochs)
        configs += [lb] * len(warm_start_epochs(spec.epochs, design.every))
    seconds = sum(_run_seconds(spec.net, n_train, info.n_test, c.resolved_batch_size(n_train), c.epochs)
                  for c in configs)
    analyses = count_analyses(spec, design, len(runs))
    solve = SHARPNESS_PASSES * n_train * PER_SAMPLE_S.get(spec.net, 1e-3)
    per_analysis = {"sharpness": 2 * solve * (1 + SUBSPACE_FACTOR) / 2, "sweep": 2 * solve,
                    "warmstart": 2 * solve, "trajectory": 2 * solve, "remedies": solve,
                    "parametric": 25 * (n_train + info.n_test) * PER_SAMPLE_S.get(spec.net, 1e-3)}
    seconds += analyses * per_analysis.get(design.kind, 0.0)
    return Plan(len(configs), analyses, seconds)
