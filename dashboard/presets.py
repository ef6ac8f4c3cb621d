"""What an experiment is: SB and LB runs over seeds, expanded to one TrainConfig per run.

An ExperimentSpec is what the form edits and what Experiment.config stores. Errors are
raised as trainer ConfigErrors whose field is the spec's (form's) field name.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from trainer.config import ConfigError, TrainConfig

ROLES = ("SB", "LB")


@dataclass(frozen=True)
class ExperimentSpec:
    dataset: str = "mnist1d"
    net: str = "mlp"
    optimizer: str = "adam"
    lr: float = 1e-3
    sb_batch: float = 32  # int, or a fraction of the training set in (0, 1)
    lb_batch: float = 0.1  # the paper's LB: 10% of the training set
    epochs: int = 30
    seeds: int = 3  # seeds 0 .. seeds-1; SB and LB of one seed share initial weights
    subset: int | None = None
    device: str = "cpu"
    # TrainConfig settings for the LB runs only (the paper's remedies, e.g. {"sam_rho": 0.05})
    lb_overrides: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ExperimentSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(unknown[0], f"unknown experiment setting; known: {', '.join(sorted(names))}")
        return cls(**d)

    def batch_for(self, role: str) -> float:
        return {"SB": self.sb_batch, "LB": self.lb_batch}[role]

    def train_config(self, role: str, seed: int, data_dir: str | None = None) -> TrainConfig:
        """The run's configuration; a ConfigError names the spec field at fault."""
        batch_field = f"{role.lower()}_batch"
        common = dict(dataset=self.dataset, net=self.net, optimizer=self.optimizer, lr=self.lr,
                      batch_size=self.batch_for(role), epochs=self.epochs, seed=seed,
                      subset=self.subset, device=self.device, data_dir=data_dir)
        if role == "LB":
            common.update(self.lb_overrides)
        try:
            return TrainConfig(**common)
        except ConfigError as e:
            raise _renamed(e, batch_field) from None
        except TypeError as e:  # an lb_overrides key TrainConfig does not have
            raise ConfigError("lb_overrides", str(e)) from None

    def train_configs(self, data_dir: str | None = None) -> list[tuple[str, int, TrainConfig]]:
        if self.seeds < 1:
            raise ConfigError("seeds", f"must be at least 1 (got {self.seeds})")
        return [(role, seed, self.train_config(role, seed, data_dir))
                for seed in range(self.seeds) for role in ROLES]

    def validate(self, data_dir: str | None = None) -> None:
        """Every check, data included: the trainer's, and LB larger than SB."""
        sb = self.train_config("SB", 0, data_dir)
        lb = self.train_config("LB", 0, data_dir)
        for role, cfg in (("SB", sb), ("LB", lb)):
            try:
                cfg.validate()
            except ConfigError as e:
                raise _renamed(e, f"{role.lower()}_batch") from None
        self.train_configs(data_dir)
        from trainer.data import DATASETS

        n_train = self.subset or DATASETS[self.dataset].n_train
        sb_n, lb_n = sb.resolved_batch_size(n_train), lb.resolved_batch_size(n_train)
        if lb_n <= sb_n:
            raise ConfigError("lb_batch", f"the large batch ({lb_n} samples) must be larger than "
                                          f"the small batch ({sb_n} samples)")


def _renamed(e: ConfigError, batch_field: str) -> ConfigError:
    return ConfigError(batch_field, e.message) if e.field == "batch_size" else e


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    spec: ExperimentSpec
    description: str


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset("gap", "SB vs LB gap on MNIST-1D", ExperimentSpec(),
               "The paper's generalization gap at CPU scale: Adam lr 1e-3, SB 32 vs LB 10%, 3 seeds."),
        Preset("f1", "F1 on MNIST (paper Table 2)",
               ExperimentSpec(dataset="mnist", net="F1", sb_batch=256, lb_batch=0.1, epochs=100),
               "The paper's F1 network on MNIST: needs the MNIST files in the data directory."),
        Preset("c1", "C1 on CIFAR-10 (paper Table 2)",
               ExperimentSpec(dataset="cifar10", net="C1", sb_batch=256, lb_batch=0.1, epochs=100),
               "The paper's C1 network on CIFAR-10: needs the CIFAR-10 files; a GPU is advised."),
        Preset("c2", "C2 on CIFAR-10 (paper Table 2)",
               ExperimentSpec(dataset="cifar10", net="C2", sb_batch=256, lb_batch=0.1, epochs=100),
               "The paper's C2 (VGG-like) on CIFAR-10: needs the CIFAR-10 files; a GPU is advised."),
        Preset("c3", "C3 on CIFAR-100 (paper Table 2)",
               ExperimentSpec(dataset="cifar100", net="C3", sb_batch=256, lb_batch=0.1, epochs=100),
               "The paper's C3 on CIFAR-100: needs the CIFAR-100 files; a GPU is advised."),
        Preset("c4", "C4 on CIFAR-100 (paper Table 2)",
               ExperimentSpec(dataset="cifar100", net="C4", sb_batch=256, lb_batch=0.1, epochs=100),
               "The paper's C4 (VGG-like) on CIFAR-100: needs the CIFAR-100 files; a GPU is advised."),
    )
}
DEFAULT_PRESET = "gap"


def available_presets(data_dir: str | None = None) -> list[Preset]:
    """Presets whose dataset is present (generated datasets always are)."""
    from trainer import data

    return [p for p in PRESETS.values() if data.is_present(p.spec.dataset, data_dir)]
