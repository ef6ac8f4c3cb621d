"""The batch-size sweep (paper Fig. 4): final test accuracy and sharpness against batch size."""
from __future__ import annotations

from dataclasses import dataclass

from trainer.fields import Checked, ConfigError, setting
from trainer.kinds.base import PAPER_LB, PAPER_SB, Kind, PlannedRun, Unlocked, analysis
from trainer.kinds.gap import final
from trainer.kinds.sharpness import EPSILONS, full_space
from trainer.kinds.spec import ExperimentSpec
from trainer.kinds.tables import Stat, Table

# from 16 to the whole MNIST-1D training set (4000); the paper's from SB 256 to LB 10%
MNIST1D_SWEEP = (16, 32, 64, 128, 256, 400, 1000, 2000, 4000)
PAPER_SWEEP = (PAPER_SB, 512, 1024, 2048, PAPER_LB)


@dataclass(frozen=True)
class SweepOptions(Checked):
    batch_sizes: tuple[float, ...] = setting(MNIST1D_SWEEP, "integers, or fractions of the training set",
                                             low=0, low_open=True, label="batch sizes")

    def check(self):
        if not self.batch_sizes:
            raise ConfigError("batch_sizes", "give at least one batch size")
        for batch in self.batch_sizes:
            if batch >= 1 and batch != int(batch):
                raise ConfigError("batch_sizes", f"each must be a whole number when 1 or more (got {batch:g})")


def _config(spec: ExperimentSpec, batch: float, seed: int):
    try:
        return spec.train_config("SB", seed).replace(batch_size=batch)
    except ConfigError as e:
        raise ConfigError("batch_sizes", e.message) from None


def sweep_table(records) -> Table:
    """Fig. 4 as numbers: final accuracy and sharpness per batch size."""
    columns = [("batch", "batch size"), ("n", "seeds"), ("train_acc", "train acc %"), ("test_acc", "test acc %")]
    columns += [(f"full {e:g}", f"sharpness ε {e:g}") for e in EPSILONS]
    rows = []
    for batch, runs in sorted(records.by(lambda r: r.final.get("batch_size") or 0).items()):
        row = {"batch": batch, "n": len(runs), "train_acc": final(runs, "train_acc", True),
               "test_acc": final(runs, "test_acc", True)}
        for e in EPSILONS:
            row[f"full {e:g}"] = Stat.of([records.sharpness(r, "full", e) for r in runs])
        rows.append(row)
    return Table("sweep", "Batch-size sweep (Fig. 4)", columns, rows)


class Sweep(Kind):
    name = "sweep"
    label = "Batch-size sweep"
    title = "batch sizes x seeds, with sharpness"
    source = "Fig. 4"
    how_to_read = ("Final test accuracy and sharpness for each batch size, log axes. The paper (Fig. 4) finds "
                   "accuracy flat up to a threshold and then dropping, while sharpness rises with the batch size.")
    Options = SweepOptions
    ignores = ("sb_batch", "lb_batch", "lb_overrides")  # every run is one batch size of the sweep, no LB

    def validate(self, spec, options, data_dir=None):
        # the sweep's batch sizes replace SB and LB
        for batch in options.batch_sizes:
            try:
                _config(spec, batch, 0).replace(data_dir=data_dir).validate()
            except ConfigError as e:
                raise ConfigError("batch_sizes" if e.field == "batch_size" else e.field, e.message) from None

    def runs(self, spec, options):
        return [PlannedRun(f"B={batch:g}", seed, _config(spec, batch, seed), {"batch": batch})
                for batch in options.batch_sizes for seed in range(spec.seeds)]

    def unlocked(self, spec, options, run, records):
        return Unlocked(analyses=[analysis("sharpness", run.id, full_space())])

    def tables(self, spec, options, records):
        return [sweep_table(records)]

    def presets(self):
        return [self.preset("mnist1d", "Batch-size sweep (Fig. 4), MNIST-1D", ExperimentSpec(epochs=30, seeds=1),
                            "One run per batch size from 16 to the full 4000, then sharpness of each.",
                            batch_sizes=MNIST1D_SWEEP),
                *self.paper_presets("batch-size sweep (Fig. 4)", "batch sizes from 256 to 10%", seeds=1,
                                    batch_sizes=PAPER_SWEEP)]


KIND = Sweep()
