"""Parametric plots (Keskar et al. Fig. 3): loss and accuracy along a path between two models.

linear: theta(a) = a * theta_b + (1 - a) * theta_a   (paper: model_a = SB, model_b = LB)
curved: theta(a) = sin(a pi/2) * theta_b + cos(a pi/2) * theta_a

Only trainable parameters are interpolated. BatchNorm buffers are never mixed: with
bn="recompute" the interpolated model's running statistics are recomputed from the
training data (cumulative average over fixed batches, train-mode BatchNorm, dropout off),
then it is evaluated with them; with bn="batch" it is evaluated with batch statistics on
fixed batches and the buffers are not used. num_batches_tracked is model_a's (or the
recompute's count), never an interpolation. The inputs are left unchanged: the work happens
on a copy of model_a.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from trainer.analysis._common import JsonRecord, Progress, check_data, check_positive, on_device, report
from trainer.config import EVAL_BATCH_SIZE
from trainer.evaluate import batches, evaluate

PATHS = ("linear", "curved")
BN_OPTIONS = ("recompute", "batch")


@dataclass(frozen=True)
class InterpolationOptions(JsonRecord):
    path: str
    bn: str
    bn_recompute_batches: int | None  # leading training batches used to recompute; None = all
    batch_size: int
    n_train: int
    n_test: int

    def __post_init__(self):
        if self.path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {self.path!r}")
        if self.bn not in BN_OPTIONS:
            raise ValueError(f"bn must be one of {BN_OPTIONS}, got {self.bn!r}")
        if self.bn_recompute_batches is not None and self.bn_recompute_batches < 1:
            raise ValueError(f"bn_recompute_batches must be None (all) or >= 1, got {self.bn_recompute_batches}")
        check_positive("batch_size", self.batch_size)


@dataclass(frozen=True)
class InterpolationResult(JsonRecord):
    alphas: tuple[float, ...]
    train_loss: tuple[float, ...]
    train_acc: tuple[float, ...]  # in [0, 1]
    test_loss: tuple[float, ...]
    test_acc: tuple[float, ...]
    options: InterpolationOptions


def path_coefficients(alpha: float, path: str) -> tuple[float, float]:
    """(weight of theta_a, weight of theta_b) at alpha."""
    if path == "linear":
        return 1.0 - alpha, alpha
    if path == "curved":
        # cos(pi/2) is 6e-17 in floating point, not 0: snap so a = 1 gives theta_b exactly.
        ca, cb = math.cos(alpha * math.pi / 2), math.sin(alpha * math.pi / 2)
        return (0.0 if abs(ca) < 1e-15 else ca), (0.0 if abs(cb) < 1e-15 else cb)
    raise ValueError(f"path must be one of {PATHS}, got {path!r}")


def _trainable_pairs(model_a: nn.Module, model_b: nn.Module) -> list[tuple[str, nn.Parameter, nn.Parameter]]:
    named_a, named_b = dict(model_a.named_parameters()), dict(model_b.named_parameters())
    if named_a.keys() != named_b.keys():
        raise ValueError("model_a and model_b have different parameters: interpolate models of one architecture")
    pairs = []
    for name, pa in named_a.items():
        pb = named_b[name]
        if pa.shape != pb.shape:
            raise ValueError(f"parameter {name!r} has shape {tuple(pa.shape)} in model_a, {tuple(pb.shape)} in model_b")
        if pa.requires_grad:
            pairs.append((name, pa, pb))
    return pairs


def interpolated_model(model_a: nn.Module, model_b: nn.Module, alpha: float, *, path: str = "linear") -> nn.Module:
    """A new model: model_a's copy with trainable parameters on the path at alpha.

    Buffers (BatchNorm running statistics, num_batches_tracked) stay model_a's.
    """
    scratch = copy.deepcopy(model_a)
    _set_on_path(scratch, model_a, model_b, alpha, path)
    return scratch


@torch.no_grad()
def _set_on_path(scratch: nn.Module, model_a: nn.Module, model_b: nn.Module, alpha: float, path: str) -> None:
    ca, cb = path_coefficients(alpha, path)
    target = dict(scratch.named_parameters())
    for name, pa, pb in _trainable_pairs(model_a, model_b):
        torch.add(pa.detach() * ca, pb.detach().to(pa.device) * cb, out=target[name].data)


@torch.no_grad()
def recompute_bn_statistics(
    model: nn.Module, x: torch.Tensor, *, batch_size: int = EVAL_BATCH_SIZE, max_batches: int | None = None,
) -> None:
    """Reset every BatchNorm's running statistics and recompute them from x, in place.

    Cumulative average (momentum=None) over the leading max_batches fixed batches of x (all
    when None); BatchNorm in train mode, every other module (dropout) in eval mode. The
    model's modes and momenta are restored; its weights are not touched.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved_modes = [(m, m.training) for m in model.modules()]
    saved_momenta = [(bn, bn.momentum) for bn in bns]
    try:
        model.eval()
        for bn in bns:
            if not bn.track_running_stats:
                raise ValueError("a BatchNorm layer has track_running_stats=False: it has no statistics to recompute")
            bn.reset_running_stats()
            bn.momentum = None
            bn.train()
        for i, s in enumerate(batches(len(x), batch_size)):
            if max_batches is not None and i >= max_batches:
                break
            model(x[s])
    finally:
        for m, training in saved_modes:
            m.training = training
        for bn, momentum in saved_momenta:
            bn.momentum = momentum


def interpolate(
    model_a: nn.Module,
    model_b: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    alphas: Sequence[float] | torch.Tensor | None = None,
    path: str = "linear",
    bn: str = "recompute",
    bn_recompute_batches: int | None = None,
    batch_size: int = EVAL_BATCH_SIZE,
    progress: Progress | None = None,
) -> InterpolationResult:
    """Mean cross-entropy and accuracy on train and test sets at each alpha of the path."""
    check_data(x_train, y_train, "x_train")
    check_data(x_test, y_test, "x_test")
    options = InterpolationOptions(path=path, bn=bn, bn_recompute_batches=bn_recompute_batches,
                                   batch_size=batch_size, n_train=len(x_train), n_test=len(x_test))
    alphas = torch.linspace(-1, 2, 25) if alphas is None else alphas
    alphas = [float(a) for a in (alphas.tolist() if isinstance(alphas, torch.Tensor) else alphas)]
    if not alphas:
        raise ValueError("alphas is empty: give the path coordinates to evaluate, e.g. torch.linspace(-1, 2, 25)")
    _trainable_pairs(model_a, model_b)  # fail early on mismatched models
    scratch = copy.deepcopy(model_a)
    x_train, y_train, x_test, y_test = on_device(scratch, x_train, y_train, x_test, y_test)
    eval_bn = "running" if bn == "recompute" else "batch"
    rows = []
    for i, alpha in enumerate(alphas):
        _set_on_path(scratch, model_a, model_b, alpha, path)
        if bn == "recompute":
            recompute_bn_statistics(scratch, x_train, batch_size=batch_size, max_batches=bn_recompute_batches)
        rows.append((*evaluate(scratch, x_train, y_train, bn_mode=eval_bn, batch_size=batch_size),
                     *evaluate(scratch, x_test, y_test, bn_mode=eval_bn, batch_size=batch_size)))
        report(progress, (i + 1) / len(alphas))
    train_loss, train_acc, test_loss, test_acc = (tuple(col) for col in zip(*rows))
    return InterpolationResult(alphas=tuple(alphas), train_loss=train_loss, train_acc=train_acc,
                               test_loss=test_loss, test_acc=test_acc, options=options)
