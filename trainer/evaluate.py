"""Evaluation helpers shared by training and the analyses.

Every helper here leaves the model as it found it: weights, buffers and the train/eval
mode of every submodule.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from trainer.config import BN_MODES, EVAL_BATCH_SIZE


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextlib.contextmanager
def preserved_modes(model: nn.Module) -> Iterator[nn.Module]:
    """Restore every submodule's train/eval flag on exit."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


@contextlib.contextmanager
def eval_mode(model: nn.Module, bn_mode: str = "running") -> Iterator[nn.Module]:
    """Deterministic evaluation: dropout off; BatchNorm per `bn_mode`.

    bn_mode="running": the PyTorch default, normalise with the running statistics.
    bn_mode="batch": normalise with the current batch's statistics and leave the running
    buffers (and `num_batches_tracked`) untouched.
    """
    if bn_mode not in BN_MODES:
        raise ValueError(f"bn_mode must be one of {BN_MODES}, got {bn_mode!r}")
    with preserved_modes(model):
        model.eval()
        if bn_mode == "batch":
            saved = []
            for bn in _batchnorms(model):
                saved.append((bn, bn.track_running_stats))
                # training=True with track_running_stats=False: batch statistics, no update.
                bn.training = True
                bn.track_running_stats = False
            try:
                yield model
            finally:
                for bn, track in saved:
                    bn.track_running_stats = track
        else:
            yield model


@contextlib.contextmanager
def preserved_state(model: nn.Module) -> Iterator[nn.Module]:
    """Snapshot parameters, buffers and modes; restore them exactly on exit."""
    saved = {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}
    with preserved_modes(model):
        try:
            yield model
        finally:
            with torch.no_grad():
                for k, v in model.state_dict(keep_vars=True).items():
                    v.copy_(saved[k])


def batches(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    bn_mode: str = "running",
    batch_size: int = EVAL_BATCH_SIZE,
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (in [0, 1]) over (x, y), in fixed order."""
    total_loss = torch.zeros((), dtype=torch.float64, device=x.device)
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    with eval_mode(model, bn_mode):
        for s in batches(len(x), batch_size):
            logits = model(x[s])
            total_loss += F.cross_entropy(logits, y[s], reduction="sum").double()
            correct += (logits.argmax(1) == y[s]).sum()
    n = max(len(x), 1)
    return total_loss.item() / n, correct.item() / n


def flat_parameters(model: nn.Module) -> torch.Tensor:
    """The trainable parameters as one detached vector (a copy)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])


def parameter_distance(model: nn.Module, reference: torch.Tensor) -> float:
    """Euclidean distance between the model's trainable parameters and a flat vector."""
    return (flat_parameters(model) - reference).norm().item()
