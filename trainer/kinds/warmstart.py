"""Warm start, "piggybacking" (paper Fig. 5): SB keeps every k-th epoch's weights; from each, an
LB run with a fresh optimizer; then the LB solutions' sharpness."""
from __future__ import annotations

from dataclasses import dataclass

from trainer.fields import Checked, setting
from trainer.kinds.base import Kind, PlannedRun, Snapshot, Unlocked, analysis
from trainer.kinds.sharpness import EPSILONS, full_space
from trainer.kinds.spec import ExperimentSpec
from trainer.kinds.tables import Table, rounded_pct


def every_setting():
    """How often a run keeps its weights: shared by the kinds that read iterates."""
    return setting(10, "keep the weights every k epochs (and the initial ones)", low=1,
                   label="keep weights every k epochs")


@dataclass(frozen=True)
class WarmStartOptions(Checked):
    every: int = every_setting()
    lb_epochs: int = setting(30, "epochs of each LB run started from an SB snapshot", low=1,
                             label="LB epochs from each snapshot")


def kept_epochs(epochs: int, every: int, first: int = 0) -> list[int]:
    """The epochs whose weights a run keeping every `every`-th epoch has, from `first`."""
    return list(range(first, epochs + 1, every))


def warmstart_table(records) -> Table:
    """Fig. 5 as numbers: the SB iterate's test accuracy, and the LB run started from it."""
    sb = next((r for r in records.runs if r.snapshot_every), None)
    columns = [("sb_epoch", "SB epoch"), ("sb_test_acc", "SB iterate test acc %"), ("lb_test_acc", "LB test acc %"),
               ("lb_train_acc", "LB train acc %")] + [(f"full {e:g}", f"LB sharpness ε {e:g}") for e in EPSILONS]
    rows = []
    for run in sorted((r for r in records.done if "sb_epoch" in r.tags), key=lambda r: r.tags["sb_epoch"]):
        epoch = run.tags["sb_epoch"]
        rows.append({"sb_epoch": epoch, "sb_test_acc": rounded_pct(records.metric(sb, "test_acc", epoch)) if sb else None,
                     "lb_test_acc": rounded_pct(run.final.get("test_acc")),
                     "lb_train_acc": rounded_pct(run.final.get("train_acc")),
                     **{f"full {e:g}": records.sharpness(run, "full", e) for e in EPSILONS}})
    return Table("warmstart", "Warm start from SB iterates (Fig. 5)", columns, rows)


class WarmStart(Kind):
    name = "warmstart"
    label = "Warm start"
    title = "LB runs warm-started from SB snapshots"
    source = "Fig. 5"
    how_to_read = ("LB runs started from the SB iterate at each epoch. The paper (Fig. 5) finds that after enough "
                   "SB epochs the LB run keeps SB's test accuracy and lands in a flat minimum: SB's early noisy "
                   "steps steer towards the flat basin, and LB then stays there.")
    Options = WarmStartOptions
    history = ("test_acc",)

    def runs(self, spec, options):
        return [PlannedRun("SB", 0, spec.train_config("SB", 0), {"snapshot_every": options.every})]

    def unlocked(self, spec, options, run, records):
        if not run.snapshot_every:  # an LB run: its sharpness
            return Unlocked(analyses=[analysis("sharpness", run.id, full_space())])
        # the SB run: one LB run from each kept snapshot, on the SB run's device
        lb = spec.train_config("LB", run.seed).replace(epochs=options.lb_epochs, device=run.config["device"])
        return Unlocked(runs=[PlannedRun("LB", run.seed, lb, {"sb_epoch": epoch, "depends_on": run.id},
                                         start_from=Snapshot(run.id, epoch))
                              for epoch in kept_epochs(run.config["epochs"], run.snapshot_every)])

    def tables(self, spec, options, records):
        return [warmstart_table(records)]

    def presets(self):
        return [self.preset("mnist1d", "Warm start (Fig. 5), MNIST-1D", ExperimentSpec(epochs=100, seeds=1),
                            "SB for 100 epochs keeping every 10th epoch's weights; from each, LB for 30 epochs, "
                            "then the LB solutions' sharpness.", every=10, lb_epochs=30),
                *self.paper_presets("warm start (Fig. 5)", "SB 100 epochs, LB 100 epochs from every 10th", seeds=1,
                                    every=10, lb_epochs=100)]


KIND = WarmStart()
