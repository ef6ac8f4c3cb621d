"""Pieces shared by the analyses: the loss contract, flat parameter I/O, result records."""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainer.evaluate import batches

# loss_fn(model, x, y) -> scalar tensor: the MEAN loss over the examples (x, y). Chunked
# evaluations weight each chunk by its size, so the chunked mean is the full-data mean.
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
Progress = Callable[[float], None]


def cross_entropy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The default loss: mean cross-entropy of the model's logits."""
    return F.cross_entropy(model(x), y)


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (requires_grad=True): nothing to analyse")
    return params


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def on_device(model: nn.Module, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    device = model_device(model)
    return tuple(t.to(device) for t in tensors)


def check_data(x: torch.Tensor, y: torch.Tensor, name: str = "x") -> None:
    if len(x) == 0:
        raise ValueError(f"{name} is empty: the analysis needs at least one example")
    if len(x) != len(y):
        raise ValueError(f"{name} has {len(x)} examples but its targets have {len(y)}: pass matching tensors")


def check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


class FlatWriter:
    """Writes a flat vector into a fixed list of parameters, in place (no new storage)."""

    def __init__(self, params: Sequence[torch.Tensor]):
        self.params = list(params)
        self.numels = [p.numel() for p in self.params]

    def write(self, flat: torch.Tensor) -> None:
        # One copy per parameter tensor, the same work as vector_to_parameters but keeping
        # each parameter's own storage (vector_to_parameters rebinds .data to views of flat).
        with torch.no_grad():
            for p, chunk in zip(self.params, flat.split(self.numels)):
                p.copy_(chunk.view_as(p))

    def read(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.params])


def mean_loss(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: LossFn,
    batch_size: int,
    params: Sequence[torch.Tensor] | None = None,
    create_graph: bool = False,
) -> tuple[float, list[torch.Tensor] | None]:
    """Mean loss over (x, y) in fixed chunks of batch_size, and its gradient w.r.t. params.

    The loss value is accumulated in float64. With params=None no graph is built. The caller
    chooses the model mode (eval_mode). With create_graph=True the gradients keep their graph
    (for Hessian-vector products).
    """
    n = len(x)
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    grads: list[torch.Tensor] | None = None
    with torch.set_grad_enabled(params is not None):
        for s in batches(n, batch_size):
            weight = (s.stop - s.start) / n
            loss = loss_fn(model, x[s], y[s]) * weight
            total += loss.detach().double()
            if params is None:
                continue
            chunk_grads = torch.autograd.grad(loss, params, create_graph=create_graph)
            grads = list(chunk_grads) if grads is None else [a + b for a, b in zip(grads, chunk_grads)]
    return total.item(), grads


def to_jsonable(value: Any) -> Any:
    """Floats, ints, str, bool, None, lists and dicts only (tuples and arrays become lists,
    non-finite floats None)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return to_jsonable(value.tolist())
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        # json.dumps would write NaN/Infinity, which is not JSON: a missing value instead.
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot turn {type(value).__name__} into JSON")


class JsonRecord:
    """Mixin for frozen dataclasses: to_dict() gives JSON-able values."""

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


def report(progress: Progress | None, fraction: float) -> None:
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0))
