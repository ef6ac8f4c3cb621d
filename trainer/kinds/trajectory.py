"""Sharpness along the trajectory (paper Fig. 6): SB and LB keep every k-th epoch's weights,
then the sharpness of each kept iterate against its training loss."""
from __future__ import annotations

from dataclasses import dataclass

from trainer.fields import Checked
from trainer.kinds.base import Kind, PlannedRun, Unlocked, analysis
from trainer.kinds.gap import ROLE_ORDER
from trainer.kinds.sharpness import EPSILONS, full_space
from trainer.kinds.spec import ROLES, ExperimentSpec
from trainer.kinds.tables import Table, rounded_pct
from trainer.kinds.warmstart import every_setting, kept_epochs


@dataclass(frozen=True)
class TrajectoryOptions(Checked):
    every: int = every_setting()


def trajectory_table(records) -> Table:
    """Fig. 6 as numbers: sharpness of the kept iterates against their training loss."""
    columns = [("role", "regime"), ("epoch", "epoch"), ("train_loss", "train loss"), ("test_acc", "test acc %")]
    columns += [(f"full {e:g}", f"sharpness ε {e:g}") for e in EPSILONS]
    runs = {r.id: r for r in records.runs}
    iterates = sorted({(a.run, a.epoch) for a in records.analyses
                       if a.kind == "sharpness" and a.epoch is not None and a.run in runs},
                      key=lambda key: (ROLE_ORDER.get(runs[key[0]].role, 2), runs[key[0]].role, key[1]))
    rows = []
    for run_id, epoch in iterates:
        run = runs[run_id]
        rows.append({"role": run.role, "epoch": epoch, "train_loss": records.metric(run, "train_loss", epoch),
                     "test_acc": rounded_pct(records.metric(run, "test_acc", epoch)),
                     **{f"full {e:g}": records.sharpness(run, "full", e, epoch) for e in EPSILONS}})
    return Table("trajectory", "Sharpness along the trajectory (Fig. 6)", columns, rows)


class Trajectory(Kind):
    name = "trajectory"
    label = "Trajectory"
    title = "sharpness of SB and LB snapshots against training loss"
    source = "Fig. 6"
    how_to_read = ("Sharpness of the iterates against their training loss, both on log axes; training proceeds "
                   "right to left. In the paper (Fig. 6) SB iterates get flatter as the loss falls while LB "
                   "iterates get sharper: the two regimes head for different minima early on.")
    Options = TrajectoryOptions
    history = ("train_loss", "test_acc")

    def runs(self, spec, options):
        return [PlannedRun(role, 0, spec.train_config(role, 0), {"snapshot_every": options.every}) for role in ROLES]

    def unlocked(self, spec, options, run, records):
        epochs = kept_epochs(run.config["epochs"], run.snapshot_every, first=run.snapshot_every)
        return Unlocked(analyses=[analysis("sharpness", run.id, full_space(), epoch=epoch) for epoch in epochs])

    def tables(self, spec, options, records):
        return [trajectory_table(records)]

    def presets(self):
        return [self.preset("mnist1d", "Sharpness vs cross-entropy (Fig. 6), MNIST-1D",
                            ExperimentSpec(epochs=50, seeds=1),
                            "One SB and one LB run keeping every 10th epoch's weights, then the sharpness of each.",
                            every=10),
                *self.paper_presets("sharpness vs cross-entropy (Fig. 6)", "sharpness of every 10th iterate of SB "
                                    "and LB", seeds=1, every=10)]


KIND = Trajectory()
