"""The training loop: model-agnostic, reports through callbacks, checkpoints every epoch.

    trainer = Trainer(TrainConfig(batch_size=0.1), checkpoint_path="runs/lb.pt")
    trainer.add_callback("on_epoch", lambda t, m: print(m["test_acc"]))
    result = trainer.run()

Events: "on_step" (after every optimisation step), "on_epoch" (after every epoch's
evaluation), "on_end" (once, with the final metrics). A callback receives the trainer and
a dict of plain floats; it may call `trainer.request_stop()` to end the run at the next
step boundary with a valid checkpoint.
"""
from __future__ import annotations

import math
import platform
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from trainer import data, nets
from trainer.augment import augment_batch
from trainer.checkpoint import load_checkpoint, save_checkpoint
from trainer.config import ConfigError, TrainConfig
from trainer.evaluate import evaluate, flat_parameters, parameter_distance
from trainer.memory import retain_freed_memory
from trainer.steps import make_optimizer, make_step

EVENTS = ("on_step", "on_epoch", "on_end")
CHECKPOINT_FORMAT = 1
# Settings that may differ between a checkpoint and the run that resumes it.
RESUMABLE_CHANGES = {"device", "threads", "data_dir", "checkpoint_every", "eval_batch_size"}

Callback = Callable[["Trainer", dict[str, float]], None]


def seed_everything(seed: int) -> None:
    """Seeds torch's CPU and CUDA generators (the only ones the loop draws from)."""
    torch.manual_seed(seed)


def environment() -> dict[str, Any]:
    """Library versions and threads, stored with every result."""
    return {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
    }


@dataclass
class TrainResult:
    config: TrainConfig
    model: nn.Module
    history: list[dict[str, float]]
    final: dict[str, float]
    stopped: bool
    epoch: int
    step: int
    wall_time: float
    environment: dict[str, Any] = field(default_factory=dict)


class Trainer:
    def __init__(
        self,
        config: TrainConfig,
        *,
        dataset: data.Dataset | None = None,
        checkpoint_path: str | Path | None = None,
    ):
        self.config = config
        self.device = torch.device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        # A dataset given on another device is moved to the run's (tensors already there are kept, not copied).
        self.data = dataset.to(self.device) if dataset is not None else data.load_dataset(
            config.dataset, data_dir=config.data_dir, subset=config.subset, seed=config.seed, device=self.device)
        n = self.data.n_train
        self.batch_size = config.resolved_batch_size(n)
        if self.batch_size > n:
            raise ConfigError("batch_size", f"{self.batch_size} is larger than the training set ({n} samples)")
        if config.micro_batch_size and self.batch_size % config.micro_batch_size:
            raise ConfigError("micro_batch_size", f"must divide the batch size {self.batch_size}")
        self.steps_per_epoch = n // self.batch_size  # batches have a fixed size: the remainder is dropped
        self.total_steps = config.total_steps(n)
        self.total_epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        self.lr = config.effective_lr(self.batch_size)

        # Same seed, same initial weights, whatever the batch size: SB and LB share x0.
        seed_everything(config.seed)
        self.model = nets.build_net(config.net, self.data.info.input_shape, self.data.info.num_classes,
                                    width=config.width, depth=config.depth).to(self.device)
        nets.set_ghost_batch_size(self.model, config.ghost_batch_size)
        if config.init_from:
            self.model.load_state_dict(load_weights(config.init_from))
        self.x0 = flat_parameters(self.model)
        self.optimizer = make_optimizer(config, self.model, self.lr)
        self.step_fn = make_step(config, self.model, self.optimizer)
        # Batch order has its own generator, so evaluation or analyses never shift it.
        self.order = torch.Generator().manual_seed(config.seed + 1)

        self.callbacks: dict[str, list[Callback]] = defaultdict(list)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.history: list[dict[str, float]] = []
        self.epoch = 0          # completed epochs
        self.step = 0           # completed optimisation steps
        self.step_in_epoch = 0
        self.perm: torch.Tensor | None = None
        self.best_loss = math.inf
        self.bad_epochs = 0
        self.elapsed = 0.0      # training seconds over all sessions of this run
        self.eval_time = 0.0    # of which spent in the per-epoch full-set evaluations
        self._stop = False
        self.last_noise_scale: float | None = None
        self.curvature = None  # the live curvature's tracker, made at its first measurement
        self.pending_curvature: dict[str, float] = {}
        self.measure_time = 0.0  # seconds of this session spent measuring live curvature and sharpness
        if self.checkpoint_path and self.checkpoint_path.exists():
            self.load(self.checkpoint_path)

    # -- public API ---------------------------------------------------------------------
    def add_callback(self, event: str, fn: Callback) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; events are {', '.join(EVENTS)}")
        self.callbacks[event].append(fn)

    def request_stop(self) -> None:
        self._stop = True

    @property
    def finished(self) -> bool:
        return self.step >= self.total_steps or self._patience_exhausted() or self._target_reached()

    def run(self) -> TrainResult:
        started = time.perf_counter()
        session_start = self.elapsed
        listening = bool(self.callbacks["on_step"])
        if self.device.type == "cpu":
            retain_freed_memory()  # each step reuses the last one's freed memory instead of faulting it in
        x, y = self.data.x_train, self.data.y_train
        self.model.train()
        while not self.finished and not self._stop:
            if self.step_in_epoch == 0:
                self.perm = torch.randperm(len(x), generator=self.order).to(self.device)
            while self.step_in_epoch < self.steps_per_epoch and self.step < self.total_steps:
                t0 = time.perf_counter()
                idx = self.perm[self.step_in_epoch * self.batch_size:(self.step_in_epoch + 1) * self.batch_size]
                xb, yb = x[idx], y[idx]
                if self.config.augment:
                    xb = augment_batch(xb, flip=self.config.augment_flip, rotate_deg=self.config.augment_rotate,
                                       translate=self.config.augment_translate)
                self._set_lr()
                loss, correct = self.step_fn(xb, yb)
                self.step += 1
                self.step_in_epoch += 1
                measure = self.config.noise_scale_every and self.step % self.config.noise_scale_every == 0
                curvature = self.config.curvature_every and self.step % self.config.curvature_every == 0
                if listening or measure or curvature:
                    loss_value, correct_value = loss.item(), correct.item()  # on CUDA: once the step has run
                    dt = time.perf_counter() - t0
                    metrics = {
                        "step": self.step, "epoch": self.epoch + self.step_in_epoch / self.steps_per_epoch,
                        "loss": loss_value, "acc": correct_value / len(yb), "lr": self.current_lr,
                        "step_time": dt, "samples_per_s": len(yb) / dt if dt > 0 else float("inf"),
                    }
                    if measure:
                        metrics["b_simple"] = self.last_noise_scale = self._noise_scale()
                    if curvature:
                        started_measuring = time.perf_counter()
                        self.pending_curvature = self._curvature()
                        self.measure_time += time.perf_counter() - started_measuring
                        metrics.update(self.pending_curvature)
                    self._emit("on_step", metrics)
                if self._stop:
                    break
            if self._stop and self.step_in_epoch < self.steps_per_epoch and self.step < self.total_steps:
                break
            self.step_in_epoch = 0
            self.epoch += 1
            self.elapsed = session_start + time.perf_counter() - started
            self._end_epoch()
        self.elapsed = session_start + time.perf_counter() - started
        if self.checkpoint_path:
            self.save(self.checkpoint_path)
        final = self.final_metrics()
        if not self._stop:
            self._emit("on_end", final)
        return TrainResult(self.config, self.model, list(self.history), final, self._stop and not self.finished,
                           self.epoch, self.step, self.elapsed, environment())

    def final_metrics(self) -> dict[str, float]:
        last = dict(self.history[-1]) if self.history else {}
        last.update({
            "epochs": self.epoch, "steps": self.step, "batch_size": self.batch_size, "lr": self.lr,
            "n_train": self.data.n_train,
            "sgd_noise_scale": self.lr * self.data.n_train / self.batch_size,
            "wall_time": self.elapsed, "eval_time": self.eval_time, "measure_time": self.measure_time,
        })
        return last

    # -- checkpoints ------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "epoch": self.epoch, "step": self.step, "step_in_epoch": self.step_in_epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "x0": self.x0.cpu(),
            "perm": self.perm.cpu() if self.perm is not None else None,
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
                "order": self.order.get_state(),
            },
            "history": self.history,
            "best_loss": self.best_loss, "bad_epochs": self.bad_epochs, "elapsed": self.elapsed,
            "eval_time": self.eval_time,
        }

    def save(self, path: str | Path) -> None:
        save_checkpoint(self.state(), path)

    def load(self, path: str | Path) -> None:
        state = load_checkpoint(path, map_location="cpu")
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ConfigError("checkpoint", f"{path} has format {state.get('format')}, expected {CHECKPOINT_FORMAT}")
        saved = TrainConfig.from_dict(state["config"]).to_dict()
        ours = self.config.to_dict()
        changed = sorted(k for k in ours if ours[k] != saved[k] and k not in RESUMABLE_CHANGES)
        if changed:
            raise ConfigError("checkpoint", f"{path} belongs to a run with other settings ({', '.join(changed)}); "
                                            "remove it or use another checkpoint path")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.x0 = state["x0"].to(self.device)
        self.perm = state["perm"].to(self.device) if state["perm"] is not None else None
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.order.set_state(state["rng"]["order"])
        self.epoch, self.step, self.step_in_epoch = state["epoch"], state["step"], state["step_in_epoch"]
        self.history = list(state["history"])
        self.best_loss, self.bad_epochs, self.elapsed = state["best_loss"], state["bad_epochs"], state["elapsed"]
        self.eval_time = state["eval_time"]

    # -- internals --------------------------------------------------------------------
    @property
    def current_lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def _set_lr(self) -> None:
        lr = self.lr
        warmup = self.config.warmup_epochs * self.steps_per_epoch
        if self.config.lr_scaling == "linear" and self.step < warmup:
            # Goyal et al. 2017: ramp linearly from the base lr to the scaled lr.
            lr = self.config.lr + (self.lr - self.config.lr) * self.step / warmup
        if lr != self.optimizer.param_groups[0]["lr"]:
            for group in self.optimizer.param_groups:
                group["lr"] = lr

    def evaluate(self) -> dict[str, float]:
        """The current weights' loss and accuracy on the training and test sets, and their distance
        from the initial weights, as every epoch end records them (the model's mode is kept)."""
        cfg = self.config
        t0 = time.perf_counter()
        train_loss, train_acc = evaluate(self.model, self.data.x_train, self.data.y_train,
                                         bn_mode=cfg.bn_eval, batch_size=cfg.eval_batch_size)
        test_loss, test_acc = evaluate(self.model, self.data.x_test, self.data.y_test,
                                       bn_mode=cfg.bn_eval, batch_size=cfg.eval_batch_size)
        self.eval_time += time.perf_counter() - t0
        return {"train_loss": train_loss, "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc,
                "dist_init": parameter_distance(self.model, self.x0)}

    def _end_epoch(self) -> None:
        cfg = self.config
        remaining = (self.total_steps - self.step) / max(self.step, 1)
        metrics = {
            "epoch": self.epoch, "steps": self.step, **self.evaluate(), "lr": self.current_lr,
            "elapsed": self.elapsed, "eta": self.elapsed * remaining,
        }
        if self.last_noise_scale is not None:
            metrics["b_simple"] = self.last_noise_scale
        metrics.update(self.pending_curvature)  # the epoch's last curvature measurement, if it made one
        self.pending_curvature = {}
        if cfg.sharpness_every and self.epoch % cfg.sharpness_every == 0:
            started_measuring = time.perf_counter()
            metrics["sharpness"] = self._sharpness()
            self.measure_time += time.perf_counter() - started_measuring
        self.history.append(metrics)
        if metrics["train_loss"] < self.best_loss:
            self.best_loss, self.bad_epochs = metrics["train_loss"], 0
        else:
            self.bad_epochs += 1
        self._emit("on_epoch", metrics)
        every = cfg.checkpoint_every
        if self.checkpoint_path and every and self.epoch % every == 0 and not self.finished:
            self.save(self.checkpoint_path)

    def _noise_scale(self) -> float:
        """McCandlish et al.'s B_simple from (batch/8, batch) pairs of training batches,
        gradients of the evaluation-mode loss; the model and the run's RNG are untouched."""
        from trainer.analysis.noise import gradient_noise_scale

        result = gradient_noise_scale(
            self.model, self.data.x_train, self.data.y_train, small_batch=max(1, self.batch_size // 8),
            big_batch=self.batch_size, n_pairs=self.config.noise_scale_pairs, seed=self.config.seed * 1_000_003 + self.step,
            bn_mode=self.config.bn_eval)
        return result.b_simple

    def _curvature(self) -> dict[str, float]:
        """λ_max of the training loss on a fixed subset (and Adam's λ_max of P^-1 H), warm-started from
        the last measurement's eigenvectors; the model and the run's RNG are untouched. BatchNorm
        normalises with the statistics of the subset as one batch: a function of the weights close to
        the loss the optimizer descends (running statistics would measure another function), in one
        Hessian-vector product per Lanczos step rather than one per chunk of the run's batch size."""
        from trainer.analysis.curvature import CurvatureTracker, adam_preconditioner

        if self.curvature is None:
            self.curvature = CurvatureTracker(
                self.data.x_train, self.data.y_train, n_samples=self.config.curvature_samples,
                steps=self.config.curvature_steps, tol=self.config.curvature_tol, seed=self.config.seed,
                bn_mode="batch")
        pre = None
        if isinstance(self.optimizer, torch.optim.Adam):
            pre = adam_preconditioner(self.optimizer, [p for p in self.model.parameters() if p.requires_grad])
        result = self.curvature.measure(self.model, pre)
        out = {"lambda_max": result.lambda_max}
        if result.lambda_max_pre is not None:
            out["lambda_max_pre"] = result.lambda_max_pre
        return out

    def _sharpness(self) -> float:
        """Keskar's metric at eps 1e-3 (the paper's 10 iterations) in a random sharpness_dim-dim subspace
        (full space for 0), on the live curvature's fixed subset; the model is untouched."""
        from trainer.analysis.curvature import fixed_subset
        from trainer.analysis.sharpness import keskar_sharpness

        x, y = fixed_subset(self.data.x_train, self.data.y_train, self.config.curvature_samples, self.config.seed)
        result = keskar_sharpness(self.model, x, y, epsilons=(1e-3,), subspace_dim=self.config.sharpness_dim or None,
                                  subspace_seed=self.config.seed, bn_mode=self.config.bn_eval)
        return result.entries[0].value

    def _target_reached(self) -> bool:
        target = self.config.target_train_loss
        return target is not None and bool(self.history) and self.history[-1]["train_loss"] <= target

    def _patience_exhausted(self) -> bool:
        return self.config.patience is not None and self.bad_epochs >= self.config.patience

    def _emit(self, event: str, metrics: dict[str, float]) -> None:
        for fn in self.callbacks[event]:
            fn(self, metrics)


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Model weights from a snapshot (a state dict) or a full checkpoint."""
    if not Path(path).exists():
        raise ConfigError("init_from", f"no weights file at {path}")
    state = load_checkpoint(path, map_location="cpu")
    return state["model"] if "format" in state else state


def train(config: TrainConfig, *, callbacks: dict[str, list[Callback]] | None = None,
          **kwargs) -> TrainResult:
    """Build a Trainer, attach callbacks ({event: [fn, ...]}), run it."""
    trainer = Trainer(config, **kwargs)
    for event, fns in (callbacks or {}).items():
        for fn in fns:
            trainer.add_callback(event, fn)
    return trainer.run()
