"""One optimisation step on a batch, with the remedies as step variants.

A step object is called with a batch and returns (mean loss, correct count) at the
weights the step started from, as detached tensors: the loop converts them to floats
only when someone listens.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from trainer.config import TrainConfig


@contextlib.contextmanager
def frozen_bn_statistics(model: nn.Module):
    """BatchNorm still normalises with batch statistics but updates no running buffer."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    for bn in bns:
        bn.track_running_stats = False
    try:
        yield
    finally:
        for bn in bns:
            bn.track_running_stats = True


@dataclass
class LossAndGrad:
    """Forward + backward on a batch, accumulating into .grad (call zero_grad first).

    micro_batch: split the batch and accumulate; each micro-batch's BatchNorm sees only
    its own statistics, so accumulation is exact for the gradient of the mean loss only
    for networks without BatchNorm.
    fgsm_eps / adv_weight: loss = (1 - w) * CE(x) + w * CE(x + eps * sign(grad_x CE(x))).
    """

    model: nn.Module
    micro_batch: int | None = None
    fgsm_eps: float = 0.0
    adv_weight: float = 0.5

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(x)
        chunk = self.micro_batch or n
        if chunk >= n and not self.fgsm_eps:  # the common case, without bookkeeping ops
            logits = self.model(x)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            return loss.detach(), (logits.detach().argmax(1) == y).sum()
        total_loss = torch.zeros((), device=x.device)
        correct = torch.zeros((), dtype=torch.int64, device=x.device)
        for start in range(0, n, chunk):
            xc, yc = x[start:start + chunk], y[start:start + chunk]
            weight = len(xc) / n
            if self.fgsm_eps > 0:
                loss, logits = self._adversarial_loss(xc, yc)
            else:
                logits = self.model(xc)
                loss = F.cross_entropy(logits, yc)
            (loss * weight).backward()
            total_loss += loss.detach() * weight
            correct += (logits.detach().argmax(1) == yc).sum()
        return total_loss, correct

    def _adversarial_loss(self, x, y):
        x = x.detach().requires_grad_(True)
        logits = self.model(x)
        clean = F.cross_entropy(logits, y)
        (grad_x,) = torch.autograd.grad(clean, x, retain_graph=True)
        x_adv = (x + self.fgsm_eps * grad_x.sign()).detach()
        adv = F.cross_entropy(self.model(x_adv), y)
        return (1 - self.adv_weight) * clean + self.adv_weight * adv, logits


class PlainStep:
    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_and_grad: LossAndGrad):
        self.model, self.optimizer, self.loss_and_grad = model, optimizer, loss_and_grad

    def __call__(self, x, y):
        self.optimizer.zero_grad(set_to_none=True)
        out = self.loss_and_grad(x, y)
        self.optimizer.step()
        return out


class SAMStep(PlainStep):
    """Sharpness-Aware Minimization (Foret et al. 2021), and ASAM (Kwon et al. 2021).

    Ascend to w + e(w), e = rho * T^2 g / ||T g|| (T = |w| for ASAM, identity for SAM),
    take the gradient there with BatchNorm statistics frozen, step from w with it.
    """

    def __init__(self, model, optimizer, loss_and_grad, rho: float, adaptive: bool = False):
        super().__init__(model, optimizer, loss_and_grad)
        self.rho, self.adaptive = rho, adaptive

    def __call__(self, x, y):
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer.zero_grad(set_to_none=True)
        out = self.loss_and_grad(x, y)
        with torch.no_grad():
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
            scaled = [g * p.abs() if self.adaptive else g for g, p in zip(grads, params)]
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(s) for s in scaled]))
            scale = self.rho / (norm + 1e-12)
            shifts = [(p * p if self.adaptive else 1.0) * g * scale for g, p in zip(grads, params)]
            for p, e in zip(params, shifts):
                p.add_(e)
        self.optimizer.zero_grad(set_to_none=True)
        with frozen_bn_statistics(self.model):
            self.loss_and_grad(x, y)
        with torch.no_grad():
            for p, e in zip(params, shifts):
                p.sub_(e)
        self.optimizer.step()
        return out


class ConservativeStep(PlainStep):
    """Conservative training (paper appendix E): per batch B_k,
    x_{k+1} = argmin_x f_B(x) + lambda/2 ||x - x_k||^2, solved inexactly by `steps`
    optimizer iterations with the centre x_k fixed."""

    def __init__(self, model, optimizer, loss_and_grad, lam: float, steps: int):
        super().__init__(model, optimizer, loss_and_grad)
        self.lam, self.steps = lam, steps

    def __call__(self, x, y):
        params = [p for p in self.model.parameters() if p.requires_grad]
        centre = [p.detach().clone() for p in params]
        out = None
        for _ in range(self.steps):
            self.optimizer.zero_grad(set_to_none=True)
            result = self.loss_and_grad(x, y)
            if out is None:
                out = result
            with torch.no_grad():
                for p, c in zip(params, centre):
                    p.grad.add_(p - c, alpha=self.lam)  # gradient of lambda/2 ||x - x_k||^2
            self.optimizer.step()
        return out


def make_optimizer(config: TrainConfig, model: nn.Module, lr: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(config.betas), eps=config.adam_eps,
                                weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=config.weight_decay)


def make_step(config: TrainConfig, model: nn.Module, optimizer: torch.optim.Optimizer) -> PlainStep:
    lag = LossAndGrad(model, config.micro_batch_size, config.fgsm_eps, config.adv_weight)
    if config.sam_rho > 0:
        return SAMStep(model, optimizer, lag, config.sam_rho, config.sam_adaptive)
    if config.conservative_lambda > 0:
        return ConservativeStep(model, optimizer, lag, config.conservative_lambda, config.conservative_steps)
    return PlainStep(model, optimizer, lag)
