"""The paper's networks (F1, F2, C1-C4; paper.md section 1) and two small CPU nets.

Every BatchNorm is a Ghost BatchNorm (Hoffer et al. 2017): plain BatchNorm unless a ghost
batch size is set, so one set of nets serves both the paper and the Hoffer remedy.

Initialisation is PyTorch's default. The authors' Keras code used glorot_uniform weights
and zero biases; that is not replicated. BatchNorm keeps PyTorch's eps 1e-5 and momentum
0.1 (Keras: 1e-3 and 0.99, i.e. 0.01 here); the authors' BN "mode 2" never used running
statistics, so their momentum has no paper counterpart. Building draws only from torch's global RNG, so
`torch.manual_seed(s)` before `build_net` gives the same weights every time.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from trainer.catalog import MLP_DEPTH, MLP_WIDTH, NETS, NetSpec  # noqa: F401  (part of this module's API)


class NetError(ValueError):
    """A network was asked for an input or output it cannot take."""


CNN1D_CHANNELS, CNN1D_LAYERS = 32, 3


# ---------------------------------------------------------------- Ghost BatchNorm

class _GhostMixin:
    """Ghost Batch Norm (Hoffer et al. 2017): normalise chunks of `ghost_batch_size` samples.

    Only while training with running statistics tracked. Each chunk goes through the plain
    BatchNorm forward in turn, so each is normalised with its own statistics and updates
    the running buffers (and `num_batches_tracked`) once, as Hoffer's implementation does.
    A trailing chunk of one sample joins the chunk before it (one sample has no variance).
    With no ghost size, a size >= the batch, eval mode, or batch-statistics evaluation
    (`track_running_stats=False`, see trainer.evaluate.eval_mode) this is plain BatchNorm:
    evaluation batches are normalised as a whole.
    """

    ghost_batch_size: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.ghost_batch_size
        if not (self.training and self.track_running_stats) or g is None or g >= x.shape[0]:
            return super().forward(x)
        chunks = list(torch.split(x, g, dim=0))
        if chunks[-1].shape[0] == 1:
            chunks[-2:] = [torch.cat(chunks[-2:], dim=0)]
        return torch.cat([super(_GhostMixin, self).forward(c) for c in chunks], dim=0)

    def extra_repr(self) -> str:
        extra = super().extra_repr()
        return extra if self.ghost_batch_size is None else f"{extra}, ghost_batch_size={self.ghost_batch_size}"


class GhostBatchNorm1d(_GhostMixin, nn.BatchNorm1d):
    """nn.BatchNorm1d (same parameters and state_dict keys) with an optional ghost batch size."""


class GhostBatchNorm2d(_GhostMixin, nn.BatchNorm2d):
    """nn.BatchNorm2d (same parameters and state_dict keys) with an optional ghost batch size."""


def set_ghost_batch_size(model: nn.Module, size: int | None) -> None:
    """Set the ghost batch size of every BatchNorm in `model` (None: plain BatchNorm).

    A model without BatchNorm is left as it is.
    """
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 2):
        raise NetError(f"ghost_batch_size must be None or an integer >= 2, got {size!r}")
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    plain = [type(m).__name__ for m in bns if not isinstance(m, _GhostMixin)]
    if plain and size is not None:
        raise NetError(f"the model has BatchNorm layers without ghost support ({', '.join(sorted(set(plain)))}); "
                       "build it with trainer.nets.build_net to use a ghost batch size")
    for m in bns:
        m.ghost_batch_size = size


# ---------------------------------------------------------------- building blocks

class Unsqueeze(nn.Module):
    """(N, L) -> (N, 1, L): a channel axis for 1-D convolutions."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1)


def _dense_block(fan_in: int, width: int) -> list[nn.Module]:
    return [nn.Linear(fan_in, width), GhostBatchNorm1d(width), nn.ReLU()]


def _mlp(in_features: int, width: int, depth: int, num_classes: int, batchnorm: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for i in range(depth):
        fan_in = in_features if i == 0 else width
        layers += _dense_block(fan_in, width) if batchnorm else [nn.Linear(fan_in, width), nn.ReLU()]
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def _c1(num_classes: int) -> nn.Sequential:
    # (N, 3, 32, 32) -> 16x16 -> 8x8 -> flatten 64*8*8 = 4096.
    # Keras 'same' pooling (3x3, stride 2) on 32 pixels pads one row/column at the bottom/right
    # only; MaxPool2d(padding=1) pads one on each side. Same 16x16 output, windows one pixel
    # up-left of Keras'.
    conv = []
    for cin in (3, 64):
        conv += [nn.Conv2d(cin, 64, 5, stride=1, padding=2), GhostBatchNorm2d(64), nn.ReLU(),
                 nn.MaxPool2d(3, stride=2, padding=1)]
    return nn.Sequential(
        nn.Sequential(*conv),
        nn.Flatten(),
        *_dense_block(64 * 8 * 8, 384), nn.Dropout(0.5),
        *_dense_block(384, 192), nn.Dropout(0.5),
        nn.Linear(192, num_classes),
    )


# (channels, convolutions) per VGG stack; each stack halves the image: 32 -> 1.
_C2_STACKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def _c2(num_classes: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for cout, n_conv in _C2_STACKS:
        for i in range(n_conv):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), GhostBatchNorm2d(cout), nn.ReLU()]
            cin = cout
            # The authors' code: Dropout 0.3 after a stack's first conv, 0.4 after the
            # others except the last, which the pooling follows.
            if i < n_conv - 1:
                layers.append(nn.Dropout(0.3 if i == 0 else 0.4))
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(
        nn.Sequential(*layers),  # (N, 512, 1, 1)
        nn.Flatten(),
        nn.Dropout(0.5),
        *_dense_block(512, 512), nn.Dropout(0.5),
        nn.Linear(512, num_classes),
    )


def _cnn1d(length: int, channels: int, n_conv: int, num_classes: int) -> nn.Sequential:
    # (N, L) -> (N, 1, L) -> conv stride 1 keeps L; each later conv (stride 2) gives ceil(L/2).
    # Defaults on MNIST-1D (L=40): 40 -> 40 -> 20 -> 10, flatten 320; about 14k parameters.
    layers: list[nn.Module] = [Unsqueeze()]
    cin = 1
    for i in range(n_conv):
        stride = 1 if i == 0 else 2
        layers += [nn.Conv1d(cin, channels, 5, stride=stride, padding=2), GhostBatchNorm1d(channels), nn.ReLU()]
        cin = channels
        length = math.ceil(length / stride)
    layers += [nn.Flatten(), nn.Linear(channels * length, num_classes)]
    return nn.Sequential(*layers)


# ---------------------------------------------------------------- public entry points

def _spec(name: str) -> NetSpec:
    if name not in NETS:
        raise NetError(f"unknown network {name!r}; choose one of {', '.join(NETS)}")
    return NETS[name]


def check_fits(name: str, input_shape, num_classes) -> None:
    """Raise NetError, naming the fix, when network `name` cannot take this input or output."""
    spec = _spec(name)
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list, torch.Size)) else None
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise NetError(f"{name}: input_shape must be a non-empty tuple of positive integers "
                       f"(one sample's shape, without the batch axis), got {input_shape!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise NetError(f"{name}: num_classes must be an integer >= 2, got {num_classes!r}")
    if name in ("F1", "F2"):
        features = math.prod(shape)
        wanted = math.prod(spec.paper_input_shape)
        if features != wanted:
            hint = "(1, 28, 28) or (784,)" if name == "F1" else "(360,)"
            raise NetError(f"{name} needs {wanted} input features after flattening, e.g. shape {hint}; "
                           f"got shape {shape} ({features} features). Use 'mlp' for other inputs.")
    elif name in ("C1", "C2", "C3", "C4"):
        if shape != spec.paper_input_shape:
            raise NetError(f"{name} needs (3, 32, 32) colour images (CIFAR-sized); got shape {shape}. "
                           "Use 'mlp' for other inputs.")
    elif name == "cnn1d" and len(shape) != 1:
        raise NetError(f"cnn1d needs a 1-D input of shape (L,), e.g. (40,) for MNIST-1D; got shape {shape}. "
                       "Use 'mlp' for other inputs.")


def _positive(name: str, what: str, value, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise NetError(f"{name}: {what} must be a positive integer, got {value!r}")
    return value


def build_net(name: str, input_shape: tuple[int, ...], num_classes: int, *,
              width: int | None = None, depth: int | None = None) -> nn.Module:
    """A freshly initialised network `name` for one sample of `input_shape` and `num_classes`.

    width/depth: for "mlp" and "relu-mlp" the hidden width and number of hidden layers (default 256, 5);
    for "cnn1d" the channels and number of conv layers (default 32, 3). The paper nets are
    fixed and refuse them.
    """
    check_fits(name, input_shape, num_classes)
    shape = tuple(input_shape)
    if name not in ("mlp", "relu-mlp", "cnn1d") and (width is not None or depth is not None):
        raise NetError(f"{name} has a fixed architecture: width/depth apply only to 'mlp', 'relu-mlp' and 'cnn1d'")
    builders: dict[str, Callable[[], nn.Module]] = {
        "F1": lambda: _mlp(784, 512, 5, num_classes),
        "F2": lambda: _mlp(360, 512, 7, num_classes),
        "C1": lambda: _c1(num_classes),
        "C3": lambda: _c1(num_classes),
        "C2": lambda: _c2(num_classes),
        "C4": lambda: _c2(num_classes),
        "mlp": lambda: _mlp(math.prod(shape), _positive(name, "width", width, MLP_WIDTH),
                            _positive(name, "depth", depth, MLP_DEPTH), num_classes),
        "relu-mlp": lambda: _mlp(math.prod(shape), _positive(name, "width", width, MLP_WIDTH),
                                 _positive(name, "depth", depth, MLP_DEPTH), num_classes, batchnorm=False),
        "cnn1d": lambda: _cnn1d(shape[0], _positive(name, "width", width, CNN1D_CHANNELS),
                                _positive(name, "depth", depth, CNN1D_LAYERS), num_classes),
    }
    return builders[name]()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (BatchNorm running buffers excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
