"""Flatness measures side by side, and the reparametrization that tells them apart.

flatness_measures(model, x, y) computes, on the same fixed examples of the training set:

- Keskar's sharpness (Metric 2.1) at eps 1e-3 and 5e-4, in full space and in a random 100-dim
  subspace;
- λ_max, the top Hessian eigenvalue (Lanczos), and the Hessian trace (Hutchinson, stopped on
  its relative standard error);
- adaptive sharpness (Kwon et al. 2021; Andriushchenko et al. 2023): the largest rise of the
  loss over perturbations with |δ_i| <= ρ |w_i|, by projected sign-gradient ascent. Scaling a
  weight scales its box, so it is invariant to the rescalings below; Keskar's box
  eps (|w_i| + 1) is not, because of its +1;
- a PAC-Bayes flatness (Jiang et al. 2019's σ'): the largest σ for which isotropic Gaussian
  noise N(0, σ²) on the weights raises the mean loss by at most `target`, by bisection on
  log σ with fixed noise draws;
- |w - w0| when the initial weights are given.

rescaled(model, alpha, layer) is Dinh et al.'s (2017) reparametrization of a ReLU network:
the `layer`-th Linear's weights and bias times alpha, the next Linear's weights over alpha.
ReLU(alpha z) = alpha ReLU(z), so the function is the same, while curvature measured in the
weights changes: with S = diag(1/alpha on the scaled layer, alpha on the next one's weights,
1 elsewhere), the Hessian becomes S H S.
"""
from __future__ import annotations

import contextlib
import copy
import math
from typing import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from trainer.analysis._common import (
    FlatWriter, JsonRecord, LossFn, Progress, cross_entropy_loss, mean_loss, on_device, report, trainable_parameters,
)
from trainer.analysis.by_name import MEASURE_DESCRIPTIONS
from trainer.analysis.hessian import hessian_eigenvalues, hessian_trace
from trainer.analysis.sharpness import keskar_sharpness
from trainer.config import EVAL_BATCH_SIZE
from trainer.evaluate import eval_mode, preserved_state

MEASURES = tuple(MEASURE_DESCRIPTIONS)  # keskar_full, keskar_p100, lambda_max, trace, adaptive, pac_bayes_sigma, dist_init
def _linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def rescaled(model: nn.Module, alpha: float, layer: int = 0) -> nn.Module:
    """A copy of model with Linear `layer` (weights and bias) times alpha and the next Linear's weights
    over alpha: the same function for a ReLU network without BatchNorm between them."""
    linears = _linears(model)
    if not 0 <= layer < len(linears) - 1:
        raise ValueError(f"layer must index a Linear followed by another (0 to {len(linears) - 2}), got {layer}")
    copied = copy.deepcopy(model)
    first, second = _linears(copied)[layer], _linears(copied)[layer + 1]
    with torch.no_grad():
        first.weight.mul_(alpha)
        if first.bias is not None:
            first.bias.mul_(alpha)
        second.weight.div_(alpha)
    return copied


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


class _Loss:
    """The mean loss at w + δ for flat perturbations δ of the trainable weights w (and its gradient)."""

    def __init__(self, model, x, y, loss_fn, batch_size):
        self.model, self.x, self.y, self.loss_fn, self.batch_size = model, x, y, loss_fn, batch_size
        self.params = trainable_parameters(model)
        self.writer = FlatWriter(self.params)
        self.w = self.writer.read().clone()
        self.base = self(None)[0]

    def __call__(self, delta: torch.Tensor | None, grad: bool = False):
        self.writer.write(self.w if delta is None else self.w + delta)
        value, grads = mean_loss(self.model, self.x, self.y, self.loss_fn, self.batch_size,
                                 self.params if grad else None)
        return value, (torch.cat([g.reshape(-1) for g in grads]) if grad else None)


@contextlib.contextmanager
def _perturbed(model, x, y, loss_fn, batch_size, bn_mode) -> Iterator[_Loss]:
    """A _Loss of model on (x, y) in eval mode; the weights are written back and every state restored after."""
    x, y = on_device(model, x, y)
    with preserved_state(model), eval_mode(model, bn_mode):
        f = _Loss(model, x, y, loss_fn or cross_entropy_loss, batch_size)
        try:
            yield f
        finally:
            f.writer.write(f.w)


def adaptive_sharpness(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, rho: float = 0.05, steps: int = 20,
                       loss_fn: LossFn | None = None, batch_size: int = EVAL_BATCH_SIZE, bn_mode: str = "running") -> float:
    """max over |δ_i| <= rho |w_i| of L(w + δ) - L(w), by `steps` of projected sign-gradient ascent
    from δ = 0 (step rho/4 of each box, the best point kept). Done in u = δ / |w|, where the
    problem is the same for any rescaling of the weights."""
    with _perturbed(model, x, y, loss_fn, batch_size, bn_mode) as f:
        scale = f.w.abs()
        u = torch.zeros_like(f.w)
        best = 0.0
        for _ in range(steps):
            value, grad = f(scale * u, grad=True)
            best = max(best, value - f.base)
            u = (u + rho / 4 * torch.sign(grad * scale)).clamp(-rho, rho)  # grad * scale: d/du
        return max(best, f(scale * u)[0] - f.base)


def pac_bayes_sigma(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: float = 0.1, draws: int = 8,
                    seed: int = 0, low: float = 1e-5, high: float = 1.0, iterations: int = 14,
                    loss_fn: LossFn | None = None, batch_size: int = EVAL_BATCH_SIZE, bn_mode: str = "running") -> float:
    """The largest σ in [low, high] with mean over `draws` fixed noise directions of L(w + σ z) - L(w)
    <= target, z ~ N(0, I); bisection on log σ. Larger: flatter (noise-tolerant)."""
    with _perturbed(model, x, y, loss_fn, batch_size, bn_mode) as f:
        gen = torch.Generator().manual_seed(seed)
        noise = [torch.randn(f.w.numel(), generator=gen, dtype=f.w.dtype).to(f.w.device) for _ in range(draws)]

        def rise(sigma: float) -> float:
            return sum(f(sigma * z)[0] - f.base for z in noise) / draws

        if rise(high) <= target:
            return high
        lo, hi = math.log(low), math.log(high)
        for _ in range(iterations):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if rise(math.exp(mid)) <= target else (lo, mid)
        return math.exp(lo)


@dataclass(frozen=True)
class MeasuresResult(JsonRecord):
    values: dict  # measure -> value (None: not computed)
    alpha: float  # the reparametrization applied before measuring (1: none)
    layer: int
    output_change: float  # max |f_alpha(x) - f(x)| over the examples (0 when alpha = 1)
    loss: float  # the mean training loss on the examples
    accuracy: float
    n_examples: int
    batchnorm: bool  # True: the rescaling does not leave a BatchNorm net's function unchanged
    trace_std_error: float | None
    options: dict


def flatness_measures(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, x0: torch.Tensor | None = None,
                      alpha: float = 1.0, layer: int = 0, epsilons: tuple[float, float] = (1e-3, 5e-4),
                      subspace_dim: int = 100,
                      rho: float = 0.05, target: float = 0.1, seed: int = 0, bn_mode: str = "running",
                      batch_size: int = EVAL_BATCH_SIZE, which: tuple[str, ...] = MEASURES,
                      progress: Progress | None = None) -> MeasuresResult:
    """Every measure in `which` of model (rescaled by alpha at `layer` first) on (x, y); the model is unchanged."""
    unknown = sorted(set(which) - set(MEASURES))
    if unknown:
        raise ValueError(f"unknown measure {unknown[0]!r}; known: {', '.join(MEASURES)}")
    x, y = on_device(model, x, y)
    target_model = rescaled(model, alpha, layer) if alpha != 1 else model
    with torch.no_grad(), eval_mode(model, bn_mode), eval_mode(target_model, bn_mode):
        change = float((target_model(x) - model(x)).abs().max()) if alpha != 1 else 0.0
        logits = target_model(x)
        loss = float(cross_entropy_loss(target_model, x, y))
        accuracy = float((logits.argmax(1) == y).float().mean())
    common = dict(bn_mode=bn_mode, batch_size=batch_size)
    values: dict = {name: None for name in MEASURES}
    trace_se = None
    def keskar(space: str, **subspace):
        """Both box sizes in one solve each: "<space>" at the first, "<space>_small" at the second."""
        entries = keskar_sharpness(target_model, x, y, epsilons=tuple(epsilons), **subspace, **common).entries
        values[f"{space}_small"] = float(entries[1].value)
        return entries[0].value

    steps = {
        "keskar_full": lambda: keskar("keskar_full"),
        "keskar_p100": lambda: keskar("keskar_p100", subspace_dim=subspace_dim, subspace_seed=seed),
        "lambda_max": lambda: hessian_eigenvalues(target_model, x, y, k=1, method="lanczos", max_iter=40, tol=1e-4,
                                                  seed=seed, **common).eigenvalues[0],
        "adaptive": lambda: adaptive_sharpness(target_model, x, y, rho=rho, **common),
        "pac_bayes_sigma": lambda: pac_bayes_sigma(target_model, x, y, target=target, seed=seed, **common),
    }
    todo = [name for name in MEASURES if name in which and not name.endswith("_small")]  # with their large box
    for i, name in enumerate(todo):
        if name == "trace":
            result = hessian_trace(target_model, x, y, seed=seed, **common)
            values["trace"], trace_se = result.trace, result.std_error
        elif name == "dist_init":
            if x0 is not None:
                w = torch.cat([p.detach().reshape(-1) for p in trainable_parameters(target_model)])
                values["dist_init"] = float((w - x0.to(w)).norm())
        else:
            values[name] = float(steps[name]())
        report(progress, (i + 1) / len(todo))
    options = {"epsilons": list(epsilons), "subspace_dim": subspace_dim, "rho": rho, "target": target, "seed": seed,
               "bn_mode": bn_mode, "which": list(todo)}
    return MeasuresResult(values=values, alpha=float(alpha), layer=layer, output_change=change, loss=loss,
                          accuracy=accuracy, n_examples=len(x), batchnorm=has_batchnorm(model),
                          trace_std_error=trace_se, options=options)
