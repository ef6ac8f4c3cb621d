"""What every experiment shares: SB and LB runs of one network on one dataset, over seeds.

An ExperimentSpec is what the web form edits, what the CLI's flags set and what an
experiment stores; a kind's own settings (batch sizes of a sweep, snapshot interval of a
warm start, ...) are its Options. Errors are ConfigErrors whose field is the spec's.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from trainer.config import TrainConfig
from trainer.fields import ConfigError, check_fields, from_dict, same_as, setting, to_dict, tuples

ROLES = ("SB", "LB")
MAX_SEEDS = 20
# TrainConfig settings a spec may apply to its LB runs alone: the paper's remedies and those since.
LB_REMEDY_FIELDS = ("sam_rho", "ghost_batch_size", "lr_scaling", "conservative_lambda", "fgsm_eps", "augment")


@dataclass(frozen=True)
class ExperimentSpec:
    dataset: str = same_as(TrainConfig, "dataset")
    net: str = same_as(TrainConfig, "net")
    optimizer: str = same_as(TrainConfig, "optimizer")
    lr: float = same_as(TrainConfig, "lr")
    sb_batch: float = setting(32, "an integer, or a fraction of the training set", label="SB batch size")
    lb_batch: float = setting(0.1, "an integer, or a fraction of the training set (0.1 = 10%, the paper's LB)",
                              label="LB batch size")
    epochs: int = same_as(TrainConfig, "epochs", 30)
    seeds: int = setting(3, "seeds 0, 1, ...; SB and LB of one seed share initial weights", low=1, high=MAX_SEEDS)
    subset: int | None = same_as(TrainConfig, "subset")
    device: str = same_as(TrainConfig, "device")
    curvature_every: int = same_as(TrainConfig, "curvature_every")
    sharpness_every: int = same_as(TrainConfig, "sharpness_every")
    # TrainConfig settings for the LB runs only (LB_REMEDY_FIELDS, e.g. {"sam_rho": 0.05})
    lb_overrides: dict = setting({}, "TrainConfig settings applied to the LB runs only")

    def __post_init__(self):
        tuples(self)
        check_fields(self)
        unknown = sorted(set(self.lb_overrides) - set(LB_REMEDY_FIELDS))
        if unknown:
            raise ConfigError("lb_overrides", f"unknown LB setting {unknown[0]!r}; known: {', '.join(LB_REMEDY_FIELDS)}")
        for role in ROLES:
            self.train_config(role, 0)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ExperimentSpec":
        return from_dict(cls, d, "experiment setting")

    def replace(self, **changes) -> "ExperimentSpec":
        return dataclasses.replace(self, **changes)

    def batch_for(self, role: str) -> float:
        return {"SB": self.sb_batch, "LB": self.lb_batch}[role]

    def train_config(self, role: str, seed: int, data_dir: str | None = None) -> TrainConfig:
        """The run's configuration; a ConfigError names the spec field at fault."""
        common = dict(dataset=self.dataset, net=self.net, optimizer=self.optimizer, lr=self.lr,
                      batch_size=self.batch_for(role), epochs=self.epochs, seed=seed,
                      subset=self.subset, device=self.device, curvature_every=self.curvature_every,
                      sharpness_every=self.sharpness_every, data_dir=data_dir)
        if role == "LB":
            common.update(self.lb_overrides)
        try:
            return TrainConfig(**common)
        except ConfigError as e:
            raise renamed(e, role) from None

    def validate(self, data_dir: str | None = None) -> None:
        """Every check, data included: the trainer's for both regimes, and LB larger than SB."""
        configs = {}
        for role in ROLES:
            configs[role] = self.train_config(role, 0, data_dir)
            try:
                configs[role].validate()
            except ConfigError as e:
                raise renamed(e, role) from None
        from trainer.data import train_size

        n_train = self.subset or train_size(self.dataset, data_dir)
        sb_n, lb_n = (configs[role].resolved_batch_size(n_train) for role in ROLES)
        if lb_n <= sb_n:
            raise ConfigError("lb_batch", f"the large batch ({lb_n} samples) must be larger than "
                                          f"the small batch ({sb_n} samples)")


def renamed(e: ConfigError, role: str) -> ConfigError:
    """A run's ConfigError in the spec's terms: batch_size is the role's batch, an LB setting its override."""
    if e.field == "batch_size":
        return ConfigError(f"{role.lower()}_batch", e.message)
    if role == "LB" and e.field in LB_REMEDY_FIELDS:
        return ConfigError(f"lb_{e.field}", e.message)
    return e
