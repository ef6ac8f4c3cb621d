"""What an experiment is: SB and LB runs over seeds, expanded to one TrainConfig per run.

An ExperimentSpec is what the form edits and what Experiment.config stores. Errors are
raised as trainer ConfigErrors whose field is the spec's (form's) field name.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from dashboard.designs import Design
from trainer.config import ConfigError, TrainConfig, check_known

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
        check_known(cls, d, "experiment setting")
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
        from trainer.data import train_size

        n_train = self.subset or train_size(self.dataset, data_dir)
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
    design: Design = field(default_factory=Design)

    @property
    def scale(self) -> str:
        return "paper" if self.spec.net in PAPER_DATASETS else "cpu"


# the paper's networks and their data; SB 256 and LB 10% as in section 2 of paper.md
PAPER_DATASETS = {"F1": "mnist", "F2": "timit", "C1": "cifar10", "C2": "cifar10", "C3": "cifar100", "C4": "cifar100"}
PAPER_SWEEP = (256, 512, 1024, 2048, 0.1)
MNIST1D_SWEEP = (16, 32, 64, 128, 256, 400, 1000, 2000, 4000)
FIGURE = {"gap": "Table 2", "sharpness": "Tables 3 and 4", "parametric": "Fig. 3", "sweep": "Fig. 4",
          "warmstart": "Fig. 5", "trajectory": "Fig. 6", "remedies": "Tables 6 and 7"}


def _cpu_presets() -> list[Preset]:
    """MNIST-1D versions that finish in minutes on a 2-core CPU with one worker (paper.md section 7)."""
    spec = ExperimentSpec
    return [
        Preset("gap", "Gap (Table 2), MNIST-1D", spec(epochs=100),
               "The paper's generalization gap at CPU scale: Adam lr 1e-3, SB 32 vs LB 10%, 100 epochs, 3 seeds."),
        Preset("sharpness", "Gap + sharpness (Tables 2-4), MNIST-1D", spec(epochs=100),
               "SB 32 vs LB 10%, 3 seeds, then Keskar sharpness of every final model in full space and in a "
               "random 100-dim subspace, eps 1e-3 and 5e-4.", Design("sharpness")),
        Preset("parametric", "Parametric plot (Fig. 3), MNIST-1D", spec(epochs=50, seeds=1),
               "One SB and one LB run from the same initial weights, then the loss and accuracy along the "
               "straight line and the curved path between them.", Design("parametric")),
        Preset("sweep", "Batch-size sweep (Fig. 4), MNIST-1D", spec(epochs=30, seeds=1),
               "One run per batch size from 16 to the full 4000, then sharpness of each.",
               Design("sweep", batch_sizes=MNIST1D_SWEEP)),
        Preset("warmstart", "Warm start (Fig. 5), MNIST-1D", spec(epochs=100, seeds=1),
               "SB for 100 epochs keeping every 10th epoch's weights; from each, LB for 30 epochs, then the "
               "LB solutions' sharpness.", Design("warmstart", every=10, lb_epochs=30)),
        Preset("trajectory", "Sharpness vs cross-entropy (Fig. 6), MNIST-1D", spec(epochs=50, seeds=1),
               "One SB and one LB run keeping every 10th epoch's weights, then the sharpness of each.",
               Design("trajectory", every=10)),
        Preset("remedies", "Remedies (Tables 6, 7 and more), MNIST-1D", spec(epochs=30, seeds=2),
               "SB, LB, and LB with each remedy (conservative, adversarial, SAM, ASAM, ghost BN, lr rules, "
               "regime adaptation), 2 seeds, then sharpness at eps 1e-3.", Design("remedies")),
    ]


def _paper_presets() -> list[Preset]:
    """Paper scale, for GPU workers: offered when the network's data is present."""
    presets = []
    for net, dataset in PAPER_DATASETS.items():
        spec = ExperimentSpec(dataset=dataset, net=net, sb_batch=256, lb_batch=0.1, epochs=100, seeds=5)
        one = dataclasses.replace(spec, seeds=1)
        where = f"needs the {dataset} data in the data directory; a GPU worker is advised"
        presets += [
            Preset(net.lower(), f"{net} gap (Table 2)", dataclasses.replace(spec, seeds=3),
                   f"The paper's {net} on {dataset}, SB 256 vs LB 10%: {where}."),
            Preset(f"sharpness-{net.lower()}", f"{net} gap + sharpness (Tables 2-4)", spec,
                   f"{net}, 5 seeds, sharpness in full space and p = 100: {where}.", Design("sharpness")),
            Preset(f"parametric-{net.lower()}", f"{net} parametric plot (Fig. 3)", one,
                   f"{net}: one SB/LB pair, linear and curved interpolation: {where}.", Design("parametric")),
            Preset(f"sweep-{net.lower()}", f"{net} batch-size sweep (Fig. 4)", one,
                   f"{net}: batch sizes from 256 to 10%: {where}.", Design("sweep", batch_sizes=PAPER_SWEEP)),
            Preset(f"warmstart-{net.lower()}", f"{net} warm start (Fig. 5)", one,
                   f"{net}: SB 100 epochs, LB 100 epochs from every 10th: {where}.",
                   Design("warmstart", every=10, lb_epochs=100)),
            Preset(f"trajectory-{net.lower()}", f"{net} sharpness vs cross-entropy (Fig. 6)", one,
                   f"{net}: sharpness of every 10th iterate of SB and LB: {where}.", Design("trajectory")),
            Preset(f"remedies-{net.lower()}", f"{net} remedies (Tables 6, 7)", dataclasses.replace(spec, seeds=3),
                   f"{net}: LB with each remedy: {where}.", Design("remedies")),
        ]
    return presets


PRESETS: dict[str, Preset] = {p.key: p for p in _cpu_presets() + _paper_presets()}
DEFAULT_PRESET = "gap"


def available_presets(data_dir: str | None = None) -> list[Preset]:
    """Presets whose dataset is present (generated datasets always are)."""
    from trainer import data

    return [p for p in PRESETS.values() if data.is_present(p.spec.dataset, data_dir)]
