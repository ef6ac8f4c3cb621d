"""Remedies for the LB gap (paper Tables 6 and 7, and the follow-up literature): SB, LB, and LB
with each remedy, over seeds, then the sharpness of every final model at eps 1e-3."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer.catalog import DATASETS
from trainer.config import TrainConfig
from trainer.fields import Checked, ConfigError, setting
from trainer.kinds.base import Kind, PlannedRun, Unlocked, analysis
from trainer.kinds.gap import final
from trainer.kinds.sharpness import full_space
from trainer.kinds.spec import ExperimentSpec
from trainer.kinds.tables import Stat, Table

# name -> the TrainConfig settings that turn it on
REMEDIES: dict[str, dict[str, Any]] = {
    "augmentation": {"augment": True},                       # paper Table 6 (image data only)
    "conservative": {"conservative_lambda": 1e-3, "conservative_steps": 3},  # paper Table 7
    "adversarial": {"fgsm_eps": 0.01, "adv_weight": 0.5},
    "SAM": {"sam_rho": 0.05},
    "ASAM": {"sam_rho": 0.5, "sam_adaptive": True},
    "ghost BN": {"ghost_batch_size": 32},
    "linear lr + warmup": {"lr_scaling": "linear", "warmup_epochs": 5.0},
    "sqrt lr": {"lr_scaling": "sqrt"},
    "regime adaptation": {"regime_batch_size": 32},
}
SHARPNESS = full_space(epsilons=[1e-3])


@dataclass(frozen=True)
class RemediesOptions(Checked):
    remedies: tuple[str, ...] = setting(tuple(REMEDIES), "which remedies to try on LB (empty: all)",
                                        choices=tuple(REMEDIES), label="remedies")


def variants(spec: ExperimentSpec, names: tuple[str, ...]) -> list[tuple[str, TrainConfig]]:
    """(name, config) of SB, LB and LB with each remedy (SB too for augmentation, as in the paper),
    on seed 0; the lr rules scale from SB's batch, regime adaptation takes SB's number of updates."""
    if len(DATASETS[spec.dataset].input_shape) != 3:
        names = tuple(n for n in names if n != "augmentation")  # augmentation needs images
    base = spec.train_config("SB", 0)
    sb_batch, lb_batch = spec.sb_batch, spec.lb_batch
    out = [("SB", base), ("LB", base.replace(batch_size=lb_batch))]
    for name in names:
        changes = dict(REMEDIES[name])
        if changes.get("lr_scaling"):
            changes.setdefault("lr_base_batch", int(sb_batch))
        if "regime_batch_size" in changes:
            changes["regime_batch_size"] = int(sb_batch)
        try:
            if changes.get("augment"):
                out.append((f"SB + {name}", base.replace(batch_size=sb_batch, **changes)))
            out.append((f"LB + {name}", base.replace(batch_size=lb_batch, **changes)))
        except ConfigError as e:  # on the setting that chose the remedy, which the user can change
            raise ConfigError("remedies", f"{name} cannot run with these settings ({e.message}); "
                                          f"change them or leave {name} out") from e
    return out


def remedies_table(records) -> Table:
    """Tables 6 and 7 and beyond: does any remedy close the gap, or flatten the LB minimum?"""
    columns = [("variant", "variant"), ("n", "seeds"), ("train_acc", "train acc %"), ("test_acc", "test acc %"),
               ("full 0.001", "sharpness ε 0.001")]
    order = {role: i for i, role in enumerate(dict.fromkeys(r.role for r in sorted(records.runs, key=lambda r: r.id)))}
    rows = []
    for variant, runs in sorted(records.by(lambda r: r.role).items(), key=lambda kv: order[kv[0]]):
        rows.append({"variant": variant, "n": len(runs), "train_acc": final(runs, "train_acc", True),
                     "test_acc": final(runs, "test_acc", True),
                     "full 0.001": Stat.of([records.sharpness(r, "full", 1e-3) for r in runs])})
    return Table("remedies", "Remedies for the LB gap (Tables 6 and 7)", columns, rows)


class Remedies(Kind):
    name = "remedies"
    label = "Remedies"
    title = "SB, LB and LB with each remedy, with sharpness"
    source = "Tables 6 and 7, SAM, ghost BN, lr rules"
    how_to_read = ("LB with each remedy, next to plain SB and LB. The paper (Tables 6 and 7) finds that "
                   "augmentation, conservative and robust training raise LB accuracy a little but leave the LB "
                   "minima sharp and do not close the gap; later work (SAM, ghost BN, lr scaling, longer "
                   "regimes) is tried here the same way.")
    Options = RemediesOptions
    ignores = ("lb_overrides",)  # the remedies are the kind's own options

    def validate(self, spec, options, data_dir=None):
        super().validate(spec, options, data_dir)
        variants(spec, options.remedies)

    def runs(self, spec, options):
        return [PlannedRun(name, seed, config.replace(seed=seed), {"variant": name})
                for name, config in variants(spec, options.remedies) for seed in range(spec.seeds)]

    def unlocked(self, spec, options, run, records):
        return Unlocked(analyses=[analysis("sharpness", run.id, SHARPNESS)])

    def tables(self, spec, options, records):
        return [remedies_table(records)]

    def presets(self):
        return [self.preset("mnist1d", "Remedies (Tables 6, 7 and more), MNIST-1D", ExperimentSpec(epochs=30, seeds=2),
                            "SB, LB, and LB with each remedy (conservative, adversarial, SAM, ASAM, ghost BN, lr "
                            "rules, regime adaptation), 2 seeds, then sharpness at eps 1e-3."),
                *self.paper_presets("remedies (Tables 6, 7)", "LB with each remedy", seeds=3)]


KIND = Remedies()
