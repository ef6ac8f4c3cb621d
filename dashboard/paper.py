"""The paper's own numbers (../shared/paper.md sections 2 and 3), and when ours compare.

Numbers are (mean, std) in percent for accuracies; the p = 100 sharpness of Table 4 has
no std in the paper (None).
"""
from __future__ import annotations

from dataclasses import dataclass

from dashboard.presets import PAPER_DATASETS

# Table 2: (train SB, train LB, test SB, test LB)
GAP = {
    "F1": ((99.66, 0.05), (99.92, 0.01), (98.03, 0.07), (97.81, 0.07)),
    "F2": ((99.99, 0.03), (98.35, 2.08), (64.02, 0.2), (59.45, 1.05)),
    "C1": ((99.89, 0.02), (99.66, 0.2), (80.04, 0.12), (77.26, 0.42)),
    "C2": ((99.99, 0.04), (99.99, 0.01), (89.24, 0.12), (87.26, 0.07)),
    "C3": ((99.56, 0.44), (99.88, 0.30), (49.58, 0.39), (46.45, 0.43)),
    "C4": ((99.10, 1.23), (99.57, 1.84), (63.08, 0.5), (57.81, 0.17)),
}
# Tables 3 and 4: {(space, eps): (SB, LB)}
SHARPNESS = {
    "F1": {("full", 1e-3): ((1.23, 0.83), (205.14, 69.52)), ("full", 5e-4): ((0.61, 0.27), (42.90, 17.14)),
           ("p100", 1e-3): ((0.11, None), (9.22, None)), ("p100", 5e-4): ((0.05, None), (9.17, None))},
    "F2": {("full", 1e-3): ((1.39, 0.02), (310.64, 38.46)), ("full", 5e-4): ((0.90, 0.05), (93.15, 6.81)),
           ("p100", 1e-3): ((0.29, None), (23.63, None)), ("p100", 5e-4): ((0.05, None), (6.28, None))},
    "C1": {("full", 1e-3): ((28.58, 3.13), (707.23, 43.04)), ("full", 5e-4): ((7.08, 0.88), (227.31, 23.23)),
           ("p100", 1e-3): ((2.18, None), (137.25, None)), ("p100", 5e-4): ((0.71, None), (29.50, None))},
    "C2": {("full", 1e-3): ((8.68, 1.32), (925.32, 38.29)), ("full", 5e-4): ((2.07, 0.86), (175.31, 18.28)),
           ("p100", 1e-3): ((0.95, None), (25.09, None)), ("p100", 5e-4): ((0.31, None), (5.82, None))},
    "C3": {("full", 1e-3): ((29.85, 5.98), (258.75, 8.96)), ("full", 5e-4): ((8.56, 0.99), (105.11, 13.22)),
           ("p100", 1e-3): ((17.02, None), (236.03, None)), ("p100", 5e-4): ((4.03, None), (86.96, None))},
    "C4": {("full", 1e-3): ((12.83, 3.84), (421.84, 36.97)), ("full", 5e-4): ((4.07, 0.87), (109.35, 16.57)),
           ("p100", 1e-3): ((6.05, None), (72.99, None)), ("p100", 5e-4): ((1.89, None), (19.85, None))},
}
PAPER_SB = 256
# LB: 10% of the training set (the authors' code uses 5000 for CIFAR, which is 10% of 50000)
PAPER_LB = {"mnist": {0.1, 6000}, "timit": {0.1, 72132, 72133}, "cifar10": {0.1, 5000}, "cifar100": {0.1, 5000}}
PAPER_TRAIN = {"mnist": 60000, "timit": 721329, "cifar10": 50000, "cifar100": 50000}  # training samples
CLOSEST = {"mnist1d": "F1/MNIST", "digits": "F1/MNIST"}


@dataclass(frozen=True)
class Comparison:
    net: str | None  # the paper's network whose numbers apply, or None
    reason: str  # why they apply, or why not

    @property
    def comparable(self) -> bool:
        return self.net is not None


def compare(spec, n_train: int | None = None) -> Comparison:
    """Whether the paper's Table 2-4 numbers apply to this setting: network, dataset and batch sizes,
    and (n_train, what the runs trained on, when known) the whole training set."""
    if spec.net not in PAPER_DATASETS:
        closest = CLOSEST.get(spec.dataset, "F1/MNIST")
        return Comparison(None, f"The {spec.net} network on {spec.dataset} is not in the paper, so its numbers "
                                f"are not comparable; the paper's closest setting is {closest}. Compare the "
                                f"direction and size of the effect, not the values.")
    dataset = PAPER_DATASETS[spec.net]
    if spec.dataset != dataset:
        return Comparison(None, f"The paper trains {spec.net} on {dataset}, not {spec.dataset}.")
    if spec.subset:
        return Comparison(None, f"This experiment trains on a {spec.subset}-sample subset; the paper uses the "
                                f"whole training set.")
    full = PAPER_TRAIN[dataset]
    if n_train is not None and n_train < full:
        return Comparison(None, f"The runs trained on the {n_train} training samples the {dataset} files hold; "
                                f"the paper uses all {full}.")
    if spec.sb_batch != PAPER_SB or spec.lb_batch not in PAPER_LB[dataset]:
        return Comparison(None, f"The paper's batch sizes are SB {PAPER_SB} and LB 10% of the training set; "
                                f"this experiment uses SB {spec.sb_batch:g} and LB {spec.lb_batch:g}.")
    if spec.optimizer != "adam" or spec.lr != 1e-3 or spec.lb_overrides:
        return Comparison(None, "The paper trains both regimes with plain Adam at lr 1e-3; this experiment "
                                "changes the optimizer, the learning rate or the LB training.")
    return Comparison(spec.net, f"Same network ({spec.net}), dataset ({dataset}) and batch sizes (SB {PAPER_SB}, "
                                f"LB 10%) as the paper: its numbers are shown next to ours.")
