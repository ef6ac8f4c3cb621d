"""Loss landscapes along filter-normalised random directions (Li et al. 2018).

A direction d has one Gaussian tensor per trainable parameter; for each weight of 2 or more
dimensions every filter (slice along dim 0: a conv output channel, a linear output row) is
rescaled to the norm of the same filter of the weight. Directions of 1-D parameters
(biases, BatchNorm scale and shift) are zero. The model is evaluated at theta + a d1
(+ b d2) with trainer.evaluate.evaluate (mean cross-entropy, accuracy) on train and test.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from trainer.analysis._common import (
    FlatWriter, JsonRecord, Progress, check_data, check_positive, on_device, report, trainable_parameters,
)
from trainer.config import EVAL_BATCH_SIZE
from trainer.evaluate import BN_MODES, evaluate, preserved_state


@dataclass(frozen=True)
class LandscapeOptions(JsonRecord):
    points: int  # steps (1-D) or resolution (2-D) per axis
    span: tuple[float, float]
    seed: int
    bn_mode: str
    batch_size: int
    normalisation: str  # "filter", biases and BatchNorm parameters zeroed

    def __post_init__(self):
        if self.points < 1:
            raise ValueError(f"the number of points per axis must be >= 1, got {self.points}")
        if not self.span[0] <= self.span[1]:
            raise ValueError(f"span must be (low, high) with low <= high, got {self.span}")
        if self.bn_mode not in BN_MODES:
            raise ValueError(f"bn_mode must be one of {BN_MODES}, got {self.bn_mode!r}")
        check_positive("batch_size", self.batch_size)


@dataclass(frozen=True)
class Landscape1D(JsonRecord):
    coords: tuple[float, ...]
    train_loss: tuple[float, ...]
    train_acc: tuple[float, ...]
    test_loss: tuple[float, ...]
    test_acc: tuple[float, ...]
    options: LandscapeOptions


@dataclass(frozen=True)
class Landscape2D(JsonRecord):
    x_coords: tuple[float, ...]  # along direction 1
    y_coords: tuple[float, ...]  # along direction 2
    train_loss: tuple[tuple[float, ...], ...]  # [i][j] at (x_coords[i], y_coords[j])
    train_acc: tuple[tuple[float, ...], ...]
    test_loss: tuple[tuple[float, ...], ...]
    test_acc: tuple[tuple[float, ...], ...]
    direction_cosine: float  # cosine between the two directions (near 0 in high dimension)
    options: LandscapeOptions


def filter_normalized_direction(model: nn.Module, generator: torch.Generator) -> list[torch.Tensor]:
    """One random direction, a tensor per trainable parameter (drawn on the CPU, moved to its device)."""
    direction = []
    for p in trainable_parameters(model):
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device)
        if p.dim() <= 1:
            d.zero_()
        else:
            # (filters, rest): rescale each filter of d to the norm of that filter of p.
            p_norms = p.detach().reshape(p.shape[0], -1).norm(dim=1)
            d_norms = d.reshape(p.shape[0], -1).norm(dim=1)
            d *= (p_norms / (d_norms + 1e-10)).view(-1, *([1] * (p.dim() - 1)))
        direction.append(d)
    return direction


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _axis(span: tuple[float, float], points: int) -> list[float]:
    return np.linspace(span[0], span[1], points).tolist()


def landscape_1d(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    steps: int = 51,
    span: tuple[float, float] = (-1.0, 1.0),
    seed: int = 0,
    bn_mode: str = "running",
    batch_size: int = EVAL_BATCH_SIZE,
    progress: Progress | None = None,
) -> Landscape1D:
    """Loss and accuracy at theta + a d for a on `steps` evenly spaced points of span."""
    options, data = _prepare(model, x_train, y_train, x_test, y_test, steps, span, seed, bn_mode, batch_size)
    coords = _axis(options.span, steps)
    rows = []
    with preserved_state(model):
        writer = FlatWriter(trainable_parameters(model))
        theta = writer.read()
        d = _flat(filter_normalized_direction(model, torch.Generator().manual_seed(seed)))
        for i, a in enumerate(coords):
            writer.write(theta + a * d)
            rows.append(_evaluate_both(model, data, options))
            report(progress, (i + 1) / steps)
    train_loss, train_acc, test_loss, test_acc = (tuple(c) for c in zip(*rows))
    return Landscape1D(coords=tuple(coords), train_loss=train_loss, train_acc=train_acc, test_loss=test_loss,
                       test_acc=test_acc, options=options)


def landscape_2d(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    resolution: int = 51,
    span: tuple[float, float] = (-1.0, 1.0),
    seed: int = 0,
    bn_mode: str = "running",
    batch_size: int = EVAL_BATCH_SIZE,
    progress: Progress | None = None,
) -> Landscape2D:
    """Loss and accuracy on the resolution x resolution grid theta + a d1 + b d2 over span^2."""
    options, data = _prepare(model, x_train, y_train, x_test, y_test, resolution, span, seed, bn_mode, batch_size)
    coords = _axis(options.span, resolution)
    grid = [[None] * resolution for _ in range(resolution)]
    with preserved_state(model):
        writer = FlatWriter(trainable_parameters(model))
        theta = writer.read()
        gen = torch.Generator().manual_seed(seed)
        d1 = _flat(filter_normalized_direction(model, gen))
        d2 = _flat(filter_normalized_direction(model, gen))
        cosine = float((d1 @ d2) / (d1.norm() * d2.norm() + 1e-30))
        for i, a in enumerate(coords):
            for j, b in enumerate(coords):
                writer.write(theta + a * d1 + b * d2)
                grid[i][j] = _evaluate_both(model, data, options)
            report(progress, (i + 1) / resolution)

    def field(k: int) -> tuple[tuple[float, ...], ...]:
        return tuple(tuple(cell[k] for cell in row) for row in grid)

    return Landscape2D(x_coords=tuple(coords), y_coords=tuple(coords), train_loss=field(0), train_acc=field(1),
                       test_loss=field(2), test_acc=field(3), direction_cosine=cosine, options=options)


def _prepare(model, x_train, y_train, x_test, y_test, points, span, seed, bn_mode, batch_size):
    check_data(x_train, y_train, "x_train")
    check_data(x_test, y_test, "x_test")
    options = LandscapeOptions(points=points, span=(float(span[0]), float(span[1])), seed=seed, bn_mode=bn_mode,
                               batch_size=batch_size, normalisation="filter")
    return options, on_device(model, x_train, y_train, x_test, y_test)


def _evaluate_both(model, data, options) -> tuple[float, float, float, float]:
    x_train, y_train, x_test, y_test = data
    return (*evaluate(model, x_train, y_train, bn_mode=options.bn_mode, batch_size=options.batch_size),
            *evaluate(model, x_test, y_test, bn_mode=options.bn_mode, batch_size=options.batch_size))
