"""When the paper's own numbers apply to an experiment (the numbers are in the kinds' modules:
Table 2 in gap.py, Tables 3 and 4 in sharpness.py)."""
from __future__ import annotations

from dataclasses import dataclass

from trainer.catalog import DATASETS, NETS
from trainer.kinds.base import PAPER_LB, PAPER_NETS, PAPER_SB

# LB as the authors ran it: 10% of the training set, which their CIFAR code writes as 5000
PAPER_LB_SAMPLES = {"mnist": 6000, "timit": 72133, "cifar10": 5000, "cifar100": 5000}
CLOSEST = {"mnist1d": "F1/MNIST", "digits": "F1/MNIST"}


@dataclass(frozen=True)
class Comparison:
    net: str | None  # the paper's network whose numbers apply, or None
    reason: str  # why they apply, or why not

    @property
    def comparable(self) -> bool:
        return self.net is not None


def compare(spec, n_train: int | None = None) -> Comparison:
    """Whether the paper's Table 2-4 numbers apply: network, dataset and batch sizes, and
    (n_train, what the runs trained on, when known) the whole training set."""
    if spec.net not in PAPER_NETS:
        closest = CLOSEST.get(spec.dataset, "F1/MNIST")
        return Comparison(None, f"The {spec.net} network on {spec.dataset} is not in the paper, so its numbers "
                                f"are not comparable; the paper's closest setting is {closest}. Compare the "
                                f"direction and size of the effect, not the values.")
    dataset = NETS[spec.net].paper_dataset
    if spec.dataset != dataset:
        return Comparison(None, f"The paper trains {spec.net} on {dataset}, not {spec.dataset}.")
    if spec.subset:
        return Comparison(None, f"This experiment trains on a {spec.subset}-sample subset; the paper uses the "
                                f"whole training set.")
    full = DATASETS[dataset].n_train
    if n_train is not None and n_train < full:
        return Comparison(None, f"The runs trained on the {n_train} training samples the {dataset} files hold; "
                                f"the paper uses all {full}.")
    lb = {PAPER_LB, PAPER_LB_SAMPLES[dataset], int(PAPER_LB * full), round(PAPER_LB * full)}
    if spec.sb_batch != PAPER_SB or spec.lb_batch not in lb:
        return Comparison(None, f"The paper's batch sizes are SB {PAPER_SB} and LB 10% of the training set; "
                                f"this experiment uses SB {spec.sb_batch:g} and LB {spec.lb_batch:g}.")
    if spec.optimizer != "adam" or spec.lr != 1e-3 or spec.lb_overrides:
        return Comparison(None, "The paper trains both regimes with plain Adam at lr 1e-3; this experiment "
                                "changes the optimizer, the learning rate or the LB training.")
    return Comparison(spec.net, f"Same network ({spec.net}), dataset ({dataset}) and batch sizes (SB {PAPER_SB}, "
                                f"LB 10%) as the paper: its numbers are shown next to ours.")
