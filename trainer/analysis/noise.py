"""Noise scales of (stochastic) gradient descent.

- Smith & Le 2018: the SGD noise scale g = lr * N / B.
- McCandlish et al. 2018: the simple gradient noise scale B_simple = tr(Sigma) / |G|^2, G the
  full-batch gradient and Sigma the per-example gradient covariance. With B examples drawn
  i.i.d., E|G_B|^2 = |G|^2 + tr(Sigma) / B, so two batch sizes give unbiased estimates

      |G|^2     ~ (B_big |G_big|^2 - B_small |G_small|^2) / (B_big - B_small)
      tr(Sigma) ~ (|G_small|^2 - |G_big|^2) / (1 / B_small - 1 / B_big)

  Both are averaged over pairs before dividing (the ratio of noisy estimates is biased).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from trainer.analysis._common import (
    JsonRecord, LossFn, Progress, check_data, check_positive, cross_entropy_loss, mean_loss, on_device, report,
    trainable_parameters,
)
from trainer.evaluate import BN_MODES, eval_mode, preserved_state


def sgd_noise_scale(lr: float, n_train: int, batch_size: int) -> float:
    """Smith & Le's g = lr * N / B."""
    check_positive("batch_size", batch_size)
    return lr * n_train / batch_size


def two_batch_estimates(g2_small: float, g2_big: float, small_batch: int, big_batch: int) -> tuple[float, float]:
    """(|G|^2, tr(Sigma)) from squared gradient norms at two batch sizes (unbiased)."""
    if not 0 < small_batch < big_batch:
        raise ValueError(f"need 0 < small_batch < big_batch, got {small_batch} and {big_batch}")
    g2 = (big_batch * g2_big - small_batch * g2_small) / (big_batch - small_batch)
    trace = (g2_small - g2_big) / (1.0 / small_batch - 1.0 / big_batch)
    return g2, trace


@dataclass(frozen=True)
class NoiseScaleOptions(JsonRecord):
    small_batch: int
    big_batch: int
    n_pairs: int
    seed: int
    sampling: str  # "with replacement": batches drawn i.i.d. from the given examples
    bn_mode: str
    loss: str
    n_examples: int


@dataclass(frozen=True)
class NoiseScaleResult(JsonRecord):
    b_simple: float  # trace_sigma / g2 (inf when g2 <= 0)
    g2: float  # estimate of |G|^2, averaged over pairs
    trace_sigma: float  # estimate of tr(Sigma), averaged over pairs
    g2_small: tuple[float, ...]  # per pair |G_small|^2
    g2_big: tuple[float, ...]  # per pair |G_big|^2
    options: NoiseScaleOptions


def gradient_noise_scale(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    small_batch: int,
    big_batch: int,
    n_pairs: int = 10,
    seed: int = 0,
    bn_mode: str = "running",
    loss_fn: LossFn | None = None,
    progress: Progress | None = None,
) -> NoiseScaleResult:
    """B_simple from n_pairs of (small, big) batches drawn with replacement, model unchanged.

    Eval mode (dropout off, BatchNorm per bn_mode): with "running" the batch gradient is the
    mean of per-example gradients, as the estimator assumes; "batch" couples the examples of
    a batch through its statistics, as in training.
    """
    check_data(x, y)
    if n_pairs < 1:
        raise ValueError(f"n_pairs must be >= 1, got {n_pairs}")
    if bn_mode not in BN_MODES:
        raise ValueError(f"bn_mode must be one of {BN_MODES}, got {bn_mode!r}")
    two_batch_estimates(0.0, 0.0, small_batch, big_batch)
    loss_fn = loss_fn or cross_entropy_loss
    options = NoiseScaleOptions(small_batch=small_batch, big_batch=big_batch, n_pairs=n_pairs, seed=seed,
                                sampling="with replacement", bn_mode=bn_mode,
                                loss=getattr(loss_fn, "__name__", type(loss_fn).__name__), n_examples=len(x))
    x, y = on_device(model, x, y)
    gen = torch.Generator().manual_seed(seed)
    g2_small, g2_big = [], []
    with preserved_state(model), eval_mode(model, bn_mode):
        params = trainable_parameters(model)

        def squared_norm(size: int) -> float:
            idx = torch.randint(0, len(x), (size,), generator=gen).to(x.device)
            # One chunk: the batch is a single forward, as in a training step.
            grads = mean_loss(model, x[idx], y[idx], loss_fn, size, params)[1]
            return float(sum((g.double() ** 2).sum() for g in grads))

        for i in range(n_pairs):
            g2_small.append(squared_norm(small_batch))
            g2_big.append(squared_norm(big_batch))
            report(progress, (i + 1) / n_pairs)
    g2, trace = two_batch_estimates(float(np.mean(g2_small)), float(np.mean(g2_big)), small_batch, big_batch)
    b_simple = trace / g2 if g2 > 0 else math.inf
    return NoiseScaleResult(b_simple=b_simple, g2=g2, trace_sigma=trace, g2_small=tuple(g2_small),
                            g2_big=tuple(g2_big), options=options)
