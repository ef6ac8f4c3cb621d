"""Curvature during training: the top Hessian eigenvalue of the training loss, measured every few
steps as the edge-of-stability papers do (Cohen et al. 2021), and for Adam the top eigenvalue of
the preconditioned Hessian P^-1 H (Cohen et al. 2022), P = diag(sqrt(v_hat) + eps).

A CurvatureTracker holds a fixed evaluation subset of the training set and the last top
eigenvector: each measurement is a short Lanczos run started from it, so that after the first
one a few Hessian-vector products follow the slowly turning top direction. The model, its mode
and the optimizer are left as they were.

What each is compared with, the optimizer's stability threshold, is in trainer.stability.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from trainer.analysis._common import cross_entropy_loss, on_device
from trainer.analysis.hessian import HessianOperator, _lanczos
from trainer.config import EVAL_BATCH_SIZE
from trainer.evaluate import eval_mode, preserved_state
from trainer.stability import stability_threshold  # noqa: F401  (re-exported: the thresholds of what it measures)


@dataclass(frozen=True)
class Curvature:
    lambda_max: float
    steps: int  # Lanczos steps (Hessian-vector products) this measurement took
    converged: bool
    lambda_max_pre: float | None = None  # Adam: the top eigenvalue of P^-1 H
    steps_pre: int = 0


class _Scaled:
    """v -> D H D v: similar to P^-1 H when D = P^-1/2, so it has the same eigenvalues, and symmetric."""

    def __init__(self, hvp: HessianOperator, d: torch.Tensor):
        self.hvp, self.d, self.n, self.device = hvp, d, hvp.n, hvp.device

    def __call__(self, v):
        return self.d * self.hvp(self.d * v)


def _top(hvp, v0: torch.Tensor, steps: int, tol: float) -> tuple[float, torch.Tensor, int, bool]:
    """The largest eigenvalue by Lanczos from v0, its Ritz vector, the steps taken, and whether its
    residual bound |beta_j s_j| fell below tol relative."""
    state = {"ok": False}

    def converged(alphas, betas):
        if len(alphas) < 2:
            return False
        theta, s = np.linalg.eigh(np.diag(alphas) + np.diag(betas[:-1], 1) + np.diag(betas[:-1], -1))
        state["ok"] = bool(abs(betas[-1] * s[-1, -1]) <= tol * abs(theta[-1]))
        return state["ok"]

    alphas, betas, basis = _lanczos(hvp, v0, steps, converged)
    theta, s = np.linalg.eigh(np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1))
    vector = torch.stack(basis).T @ torch.as_tensor(s[:, -1], dtype=torch.float64, device=v0.device)
    return float(theta[-1]), vector, len(alphas), state["ok"] or len(alphas) == hvp.n


def fixed_subset(x: torch.Tensor, y: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n examples of (x, y) drawn once by seed: what every live measurement of a run is taken on."""
    pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:min(n, len(x))]
    return x[pick.to(x.device)], y[pick.to(y.device)]


class CurvatureTracker:
    """λ_max (and Adam's preconditioned λ_max) of the training loss on a fixed subset of (x, y)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, *, n_samples: int = 512, steps: int = 20, tol: float = 1e-3,
                 seed: int = 0, bn_mode: str = "running", batch_size: int = EVAL_BATCH_SIZE, loss_fn=None):
        self.x, self.y = fixed_subset(x, y, n_samples, seed)
        gen = torch.Generator().manual_seed(seed + 1)  # the first measurement's start vector
        self.steps, self.tol, self.bn_mode, self.batch_size = steps, tol, bn_mode, batch_size
        self.loss_fn = loss_fn or cross_entropy_loss
        self.gen = gen
        self.vector: torch.Tensor | None = None
        self.vector_pre: torch.Tensor | None = None

    def _start(self, previous, n, device) -> torch.Tensor:
        if previous is not None and previous.numel() == n:
            return previous
        return torch.randn(n, generator=self.gen, dtype=torch.float64).to(device)

    def measure(self, model: nn.Module, preconditioner: torch.Tensor | None = None) -> Curvature:
        """preconditioner: Adam's diagonal P (flat, one entry per trainable parameter), or None."""
        x, y = on_device(model, self.x, self.y)
        with preserved_state(model), eval_mode(model, self.bn_mode):
            hvp = HessianOperator(model, x, y, self.loss_fn, self.batch_size)
            lam, self.vector, steps, ok = _top(hvp, self._start(self.vector, hvp.n, hvp.device), self.steps, self.tol)
            if preconditioner is None:
                return Curvature(lam, steps, ok)
            d = preconditioner.to(torch.float64).rsqrt()
            pre, self.vector_pre, steps_pre, ok_pre = _top(
                _Scaled(hvp, d), self._start(self.vector_pre, hvp.n, hvp.device), self.steps, self.tol)
            return Curvature(lam, steps, ok and ok_pre, pre, steps_pre)


def adam_preconditioner(optimizer: torch.optim.Optimizer, params: list[nn.Parameter]) -> torch.Tensor | None:
    """P = sqrt(v_hat) + eps of torch's Adam, flat in the order of params (as its step divides by
    it); None before its first step."""
    by_param = {}
    for group in optimizer.param_groups:
        beta2, eps = group["betas"][1], group["eps"]
        for p in group["params"]:
            state = optimizer.state.get(p) or {}
            if "exp_avg_sq" in state:
                v_hat = state["exp_avg_sq"] / (1 - beta2 ** float(state["step"]))
                by_param[p] = (v_hat.sqrt() + eps).reshape(-1)
    if any(p not in by_param for p in params):
        return None
    return torch.cat([by_param[p] for p in params]).detach().double()
