"""A run's whole configuration: one frozen dataclass, stored as JSON with the run.

Each field says once what it is (trainer.fields.setting): its help text, and where the
values are a closed set or bounded, its choices and bounds. The checks, the CLI flags
and the web form are read from them.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from trainer.fields import ConfigError, check_fields, check_known, from_dict, setting, to_dict, tuples

__all__ = ["ConfigError", "TrainConfig", "check_known", "OPTIMIZERS", "LR_SCALINGS", "BN_MODES", "EVAL_BATCH_SIZE"]

OPTIMIZERS = ("adam", "sgd")
LR_SCALINGS = ("none", "linear", "sqrt")
# BatchNorm at evaluation: running statistics (PyTorch's default) or the statistics of each
# evaluation batch (Keras-1 BatchNorm "mode 2", the authors' models).
BN_MODES = ("running", "batch")
# Batch-statistics evaluation normalises with each evaluation batch's statistics: large,
# fixed batches keep them stable. Every evaluation and analysis defaults to this size.
EVAL_BATCH_SIZE = 5000


@dataclass(frozen=True)
class TrainConfig:
    # data and network
    dataset: str = setting("mnist1d", "dataset name (see `python -m trainer datasets`)")
    data_dir: str | None = setting(None, "directory holding downloaded datasets (default: $LBLAB_DATA_DIR or ./data)")
    subset: int | None = setting(None, "train on a seeded random subset of this many training samples (empty: all)",
                                 low=1)
    net: str = setting("mlp", "network name (see `python -m trainer nets`)", label="network")
    init_from: str | None = setting(None, "start from these weights (a snapshot or checkpoint file): warm starts")
    width: int | None = setting(None, "hidden width of the mlp net (default 256)", low=1)
    depth: int | None = setting(None, "hidden layers of the mlp net (default 5)", low=1)
    # optimisation. Adam defaults are Keras's, as the paper used them.
    optimizer: str = setting("adam", "optimizer", choices=OPTIMIZERS)
    lr: float = setting(1e-3, "learning rate (before any lr_scaling rule)", low=0, low_open=True,
                        label="learning rate")
    momentum: float = setting(0.9, "SGD momentum", low=0)
    betas: tuple[float, float] = setting((0.9, 0.999), "Adam betas")
    adam_eps: float = setting(1e-8, "Adam epsilon")
    weight_decay: float = setting(0.0, "L2 weight decay", low=0)
    batch_size: float = setting(32, "batch size: an integer, or a fraction in (0, 1) of the training set (0.1 = LB)")
    micro_batch_size: int | None = setting(
        None, "accumulate gradients over micro-batches of this size (BatchNorm then sees micro-batch statistics)",
        low=1)
    epochs: int = setting(100, "training epochs", low=0, low_open=True)
    patience: int | None = setting(
        None, "stop when the training loss has not improved for this many epochs (the paper's rule)", low=1)
    target_train_loss: float | None = setting(
        None, "stop at the end of the first epoch whose training loss is at most this", low=0, low_open=True)
    # reproducibility and placement
    seed: int = setting(0, "seed of the initial weights, batch order, dropout and augmentation")
    device: str = setting("cpu", "torch device, e.g. cpu, cuda, cuda:1")
    threads: int | None = setting(1, "torch CPU threads (fixed for reproducibility); empty = torch's default", low=1)
    bn_eval: str = setting("running", "BatchNorm at evaluation: running statistics or batch statistics",
                           choices=BN_MODES)
    eval_batch_size: int = setting(EVAL_BATCH_SIZE, "evaluation batch size (fixed, large: matters for "
                                                    "batch-statistics BN)", low=0, low_open=True)
    checkpoint_every: int = setting(1, "write a checkpoint every this many epochs (0: only at the end or on stop)",
                                    low=0)
    # remedies, paper appendix E (all off by default)
    augment: bool = setting(False, "data augmentation for image data: flips, rotations, translations",
                            label="data augmentation (images only)")
    augment_flip: bool = setting(True, "with augment: random horizontal flips")
    augment_rotate: float = setting(10.0, "with augment: rotation range in degrees", low=0)
    augment_translate: float = setting(0.2, "with augment: translation range as a fraction of the image size", low=0)
    conservative_lambda: float = setting(0.0, "conservative training: proximal weight lambda (paper: 1e-3; 0 = off)",
                                         low=0, label="conservative lambda")
    conservative_steps: int = setting(3, "conservative training: inner Adam iterations per batch with the centre "
                                         "fixed", low=1)
    fgsm_eps: float = setting(0.0, "adversarial training: FGSM step size on the inputs (0 = off)", low=0,
                              label="adversarial FGSM eps")
    adv_weight: float = setting(0.5, "adversarial training: weight of the adversarial loss in the mix", low=0, high=1)
    # remedies from the follow-up literature
    sam_rho: float = setting(0.0, "SAM neighbourhood radius rho (0.05 typical; 0 = plain optimizer)", low=0,
                             label="SAM rho")
    sam_adaptive: bool = setting(False, "adaptive SAM (ASAM): scale the ascent by |w|")
    ghost_batch_size: int | None = setting(None, "Ghost Batch Norm: BatchNorm statistics over chunks of this size",
                                           low=1, label="Ghost BatchNorm size")
    lr_scaling: str = setting("none", "scale lr with batch size: linear (with warmup) or sqrt", choices=LR_SCALINGS,
                              label="lr scaling with batch size")
    lr_base_batch: int = setting(256, "lr_scaling: the batch size at which lr is the given lr", low=1)
    warmup_epochs: float = setting(5.0, "lr_scaling=linear: epochs of gradual warmup from lr", low=0)
    regime_batch_size: int | None = setting(
        None, "regime adaptation: train for as many updates as `epochs` at this (SB) batch size", low=1)

    # extra measurements
    noise_scale_every: int = setting(
        0, "estimate the gradient noise scale B_simple every this many steps (0 = off); small batch = batch/8", low=0)
    noise_scale_pairs: int = setting(4, "noise scale: (small, big) batch pairs per estimate", low=1)
    curvature_every: int = setting(
        0, "live curvature: the top Hessian eigenvalue of the training loss every this many steps (0 = off), "
           "and for Adam the preconditioned one; a measurement costs about 10-30 Hessian-vector products on "
           "curvature_samples examples (on MNIST-1D about 130 SB steps' time: every 2000 keeps it under 10%)", low=0)
    curvature_samples: int = setting(256, "live curvature: the fixed training subset it is measured on", low=1)
    curvature_steps: int = setting(20, "live curvature: Lanczos steps at most per measurement (warm-started)", low=2)
    curvature_tol: float = setting(1e-2, "live curvature: stop when λ_max's residual bound is this fraction of it",
                                   low=0, low_open=True)
    sharpness_every: int = setting(
        0, "live sharpness: Keskar's metric (eps 1e-3, 10 L-BFGS-B iterations) every this many epochs (0 = off), "
           "on the live curvature's subset", low=0)
    sharpness_dim: int = setting(100, "live sharpness: the random subspace's dimension p (0 = full space)", low=0)

    def __post_init__(self):
        tuples(self)
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
        """Checks that need no data: types, closed sets and bounds (from the fields), and the rules between them."""
        check_fields(self)
        if not self.batch_size > 0:
            raise ConfigError("batch_size", f"must be a positive integer or a fraction in (0, 1) (got {self.batch_size!r})")
        if self.batch_size >= 1 and self.batch_size != int(self.batch_size):
            raise ConfigError("batch_size", f"must be a whole number when 1 or more (got {self.batch_size!r})")
        if not all(0 <= b < 1 for b in self.betas):
            raise ConfigError("betas", f"must be two numbers in [0, 1) (got {self.betas!r})")
        if self.conservative_lambda > 0 and self.sam_rho > 0:
            raise ConfigError("sam_rho", "SAM and conservative training are exclusive: set one of them to 0")
        if self.conservative_lambda > 0 and self.optimizer != "adam":
            raise ConfigError("conservative_lambda", "conservative training uses Adam inner steps: set optimizer=adam")

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
        return to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        return from_dict(cls, d, "setting")

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)
