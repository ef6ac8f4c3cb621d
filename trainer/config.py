"""A run's whole configuration: one frozen dataclass, stored as JSON with the run.

Each field's metadata carries its help text and, where the values are a closed set, its
choices; the CLI and the web form are generated from them.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

OPTIMIZERS = ("adam", "sgd")
LR_SCALINGS = ("none", "linear", "sqrt")
BN_EVAL_MODES = ("running", "batch")


class ConfigError(ValueError):
    """A bad setting: `field` names it, `message` says what is allowed."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check_known(cls, d: dict[str, Any], what: str) -> None:
    """Refuse keys that are not fields of the dataclass `cls`, naming the first and the known ones."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(unknown[0], f"unknown {what}; known: {', '.join(sorted(names))}")


def _opt(default, help: str, choices: tuple | None = None):
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class TrainConfig:
    # data and network
    dataset: str = _opt("mnist1d", "dataset name (see `python -m trainer datasets`)")
    data_dir: str | None = _opt(None, "directory holding downloaded datasets (default: $LBLAB_DATA_DIR or ./data)")
    subset: int | None = _opt(None, "train on a seeded random subset of this many training samples")
    net: str = _opt("mlp", "network name (see `python -m trainer nets`)")
    init_from: str | None = _opt(None, "start from these weights (a snapshot or checkpoint file): warm starts")
    width: int | None = _opt(None, "hidden width of the mlp net (default 256)")
    depth: int | None = _opt(None, "hidden layers of the mlp net (default 5)")
    # optimisation. Adam defaults are Keras's, as the paper used them.
    optimizer: str = _opt("adam", "optimizer", OPTIMIZERS)
    lr: float = _opt(1e-3, "learning rate (before any lr_scaling rule)")
    momentum: float = _opt(0.9, "SGD momentum")
    betas: tuple[float, float] = _opt((0.9, 0.999), "Adam betas")
    adam_eps: float = _opt(1e-8, "Adam epsilon")
    weight_decay: float = _opt(0.0, "L2 weight decay")
    batch_size: float = _opt(32, "batch size: an integer, or a fraction in (0, 1) of the training set (0.1 = LB)")
    micro_batch_size: int | None = _opt(
        None, "accumulate gradients over micro-batches of this size (BatchNorm then sees micro-batch statistics)")
    epochs: int = _opt(100, "training epochs")
    patience: int | None = _opt(
        None, "stop when the training loss has not improved for this many epochs (the paper's rule)")
    # reproducibility and placement
    seed: int = _opt(0, "seed of the initial weights, batch order, dropout and augmentation")
    device: str = _opt("cpu", "torch device, e.g. cpu, cuda, cuda:1")
    threads: int | None = _opt(1, "torch CPU threads (fixed for reproducibility); empty = torch's default")
    bn_eval: str = _opt("running", "BatchNorm at evaluation: running statistics or batch statistics", BN_EVAL_MODES)
    eval_batch_size: int = _opt(5000, "evaluation batch size (fixed, large: matters for batch-statistics BN)")
    checkpoint_every: int = _opt(1, "write a checkpoint every this many epochs (0: only at the end or on stop)")
    # remedies, paper appendix E (all off by default)
    augment: bool = _opt(False, "data augmentation for image data: flips, rotations, translations")
    augment_flip: bool = _opt(True, "with augment: random horizontal flips")
    augment_rotate: float = _opt(10.0, "with augment: rotation range in degrees")
    augment_translate: float = _opt(0.2, "with augment: translation range as a fraction of the image size")
    conservative_lambda: float = _opt(0.0, "conservative training: proximal weight lambda (paper: 1e-3; 0 = off)")
    conservative_steps: int = _opt(3, "conservative training: inner Adam iterations per batch with the centre fixed")
    fgsm_eps: float = _opt(0.0, "adversarial training: FGSM step size on the inputs (0 = off)")
    adv_weight: float = _opt(0.5, "adversarial training: weight of the adversarial loss in the mix")
    # remedies from the follow-up literature
    sam_rho: float = _opt(0.0, "SAM neighbourhood radius rho (0.05 typical; 0 = plain optimizer)")
    sam_adaptive: bool = _opt(False, "adaptive SAM (ASAM): scale the ascent by |w|")
    ghost_batch_size: int | None = _opt(None, "Ghost Batch Norm: BatchNorm statistics over chunks of this size")
    lr_scaling: str = _opt("none", "scale lr with batch size: linear (with warmup) or sqrt", LR_SCALINGS)
    lr_base_batch: int = _opt(256, "lr_scaling: the batch size at which lr is the given lr")
    warmup_epochs: float = _opt(5.0, "lr_scaling=linear: epochs of gradual warmup from lr")
    regime_batch_size: int | None = _opt(
        None, "regime adaptation: train for as many updates as `epochs` at this (SB) batch size")

    # extra measurements
    noise_scale_every: int = _opt(
        0, "estimate the gradient noise scale B_simple every this many steps (0 = off); small batch = batch/8")
    noise_scale_pairs: int = _opt(4, "noise scale: (small, big) batch pairs per estimate")

    def __post_init__(self):
        self.check()

    # -- derived values -------------------------------------------------------------------
    def resolved_batch_size(self, n_train: int) -> int:
        if self.batch_size < 1:
            return max(1, int(round(self.batch_size * n_train)))
        return int(self.batch_size)

    def effective_lr(self, batch_size: int) -> float:
        ratio = batch_size / self.lr_base_batch
        if self.lr_scaling == "linear":
            return self.lr * ratio
        if self.lr_scaling == "sqrt":
            return self.lr * math.sqrt(ratio)
        return self.lr

    def total_steps(self, n_train: int) -> int:
        batch = self.resolved_batch_size(n_train)
        if self.regime_batch_size:
            return self.epochs * (n_train // self.regime_batch_size)
        return self.epochs * (n_train // batch)

    # -- validation -----------------------------------------------------------------------
    def check(self) -> None:
        """Checks that need no data: types, ranges, closed sets."""
        self._check_types()
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value not in choices:
                raise ConfigError(f.name, f"must be one of {', '.join(choices)} (got {value!r})")
        positive = ["lr", "epochs", "eval_batch_size"]
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(name, f"must be positive (got {getattr(self, name)!r})")
        if not self.batch_size > 0:
            raise ConfigError("batch_size", f"must be a positive integer or a fraction in (0, 1) (got {self.batch_size!r})")
        if self.batch_size >= 1 and self.batch_size != int(self.batch_size):
            raise ConfigError("batch_size", f"must be a whole number when 1 or more (got {self.batch_size!r})")
        for name in ("subset", "width", "depth", "micro_batch_size", "patience", "ghost_batch_size",
                     "regime_batch_size", "threads"):
            value = getattr(self, name)
            if value is not None and not value >= 1:
                raise ConfigError(name, f"must be at least 1 or left empty (got {value!r})")
        for name in ("momentum", "weight_decay", "conservative_lambda", "fgsm_eps", "sam_rho",
                     "augment_rotate", "augment_translate", "warmup_epochs", "noise_scale_every",
                     "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ConfigError(name, f"must be zero or more (got {getattr(self, name)!r})")
        if not 0 <= self.adv_weight <= 1:
            raise ConfigError("adv_weight", f"must be in [0, 1] (got {self.adv_weight!r})")
        if self.noise_scale_pairs < 1:
            raise ConfigError("noise_scale_pairs", "must be at least 1")
        if self.conservative_steps < 1:
            raise ConfigError("conservative_steps", "must be at least 1")
        if self.lr_base_batch < 1:
            raise ConfigError("lr_base_batch", "must be at least 1")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError("betas", f"must be two numbers in [0, 1) (got {self.betas!r})")
        if self.conservative_lambda > 0 and self.sam_rho > 0:
            raise ConfigError("sam_rho", "SAM and conservative training are exclusive: set one of them to 0")
        if self.conservative_lambda > 0 and self.optimizer != "adam":
            raise ConfigError("conservative_lambda", "conservative training uses Adam inner steps: set optimizer=adam")

    def _check_types(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value, hint = getattr(self, f.name), hints[f.name]
            args = typing.get_args(hint)
            if isinstance(hint, types.UnionType):
                if value is None and type(None) in args:
                    continue
                hint = next(a for a in args if a is not type(None))
            if hint is float:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                expected = "a number"
            elif hint is int:
                ok = isinstance(value, int) and not isinstance(value, bool)
                expected = "a whole number"
            elif hint is bool:
                ok, expected = isinstance(value, bool), "true or false"
            elif hint is str:
                ok, expected = isinstance(value, str), "a string"
            else:  # tuple[float, float]
                ok = isinstance(value, (tuple, list)) and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
                expected = "a list of numbers"
            if not ok:
                raise ConfigError(f.name, f"must be {expected} (got {value!r})")

    def validate(self) -> None:
        """All checks, including those that need the dataset and network tables."""
        from trainer import data, nets

        if self.dataset not in data.DATASETS:
            raise ConfigError("dataset", f"unknown dataset {self.dataset!r}; choose from {', '.join(data.DATASETS)}")
        if self.net not in nets.NETS:
            raise ConfigError("net", f"unknown network {self.net!r}; choose from {', '.join(nets.NETS)}")
        info = data.DATASETS[self.dataset]
        try:
            nets.check_fits(self.net, info.input_shape, info.num_classes)
        except ValueError as e:
            raise ConfigError("net", str(e)) from None
        try:
            if not data.is_present(self.dataset, self.data_dir):
                data.load_dataset(self.dataset, data_dir=self.data_dir, subset=None)
            n_full = data.train_size(self.dataset, self.data_dir)
        except data.DataError as e:
            raise ConfigError("dataset", str(e)) from None
        n_train = self.subset or n_full
        if self.subset and self.subset > n_full:
            raise ConfigError("subset", f"must be at most the training set size {n_full} (got {self.subset})")
        batch = self.resolved_batch_size(n_train)
        if batch > n_train:
            raise ConfigError("batch_size", f"{batch} is larger than the training set ({n_train} samples)")
        if self.micro_batch_size and (self.micro_batch_size > batch or batch % self.micro_batch_size):
            raise ConfigError("micro_batch_size", f"must divide the batch size {batch}")
        if self.regime_batch_size and self.regime_batch_size > n_train:
            raise ConfigError("regime_batch_size", f"must be at most the training set size {n_train}")
        if self.augment and len(info.input_shape) != 3:
            raise ConfigError("augment", f"augmentation needs image data; {self.dataset} is not images")

    # -- (de)serialisation ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        check_known(cls, d, "setting")
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)
