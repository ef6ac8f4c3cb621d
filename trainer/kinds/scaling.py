"""Batch-size scaling (Shallue et al. 2018; McCandlish et al. 2018): for each batch size, the
steps to reach a target training loss with the learning rate tuned on a small grid, against
perfect scaling, and the gradient noise scale B_simple as the predicted critical batch size.

Each run stops at the first epoch whose training loss reaches the target, so steps to target
are counted at epoch ends (an upper bound by less than one epoch's steps). Perfect scaling
from the smallest batch: doubling the batch halves the steps. McCandlish et al. predict it
holds up to about B_simple = tr(Σ) / |G|², measured here during the runs at the grid's middle
learning rate and read where each reached the target (it grows as the loss falls).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from trainer.fields import Checked, ConfigError, setting
from trainer.kinds.base import Kind, PlannedRun
from trainer.kinds.spec import ExperimentSpec
from trainer.kinds.tables import Table


@dataclass(frozen=True)
class ScalingOptions(Checked):
    batch_sizes: tuple[float, ...] = setting((16, 32, 64, 128, 256, 512, 1000, 4000),
                                             "integers, or fractions of the training set", low=0, low_open=True,
                                             label="batch sizes")
    learning_rates: tuple[float, ...] = setting((0.01, 0.03, 0.1, 0.3), "the grid each batch size is tuned on",
                                                low=0, low_open=True, label="learning rates")
    target_loss: float = setting(0.3, "the training loss to reach", low=0, low_open=True, label="target train loss")
    target_acc: float = setting(0.55, "a test accuracy to reach (a fraction)", low=0, high=1, label="target test acc")

    def check(self):
        if not self.batch_sizes or not self.learning_rates:
            raise ConfigError("batch_sizes" if not self.batch_sizes else "learning_rates", "give at least one value")


def steps_to(history: dict[int, float], steps_per_epoch: int, target: float, below: bool = True) -> int | None:
    """Steps at the end of the first epoch whose value reaches the target (at most it if below, else at
    least it), None if none does."""
    for epoch, value in sorted(history.items()):
        if epoch > 0 and (value <= target if below else value >= target):
            return epoch * steps_per_epoch
    return None


def _steps_per_epoch(run) -> int | None:
    final = run.final
    if final.get("steps") and final.get("epochs"):
        return max(1, int(final["steps"]) // int(final["epochs"]))
    return None


def scaling_table(options: ScalingOptions, records) -> Table:
    by_batch: dict[float, list] = {}
    for run in records.done:
        spe = _steps_per_epoch(run)
        if spe is None:
            continue
        batch = run.final.get("batch_size") or run.tags.get("batch")
        loss_steps = steps_to(run.history.get("train_loss", {}), spe, options.target_loss)
        acc_steps = steps_to(run.history.get("test_acc", {}), spe, options.target_acc, below=False)
        by_batch.setdefault(batch, []).append((loss_steps, acc_steps, run.config.get("lr")))
    rows = []
    for batch, tries in sorted(by_batch.items()):
        reached = [t for t in tries if t[0] is not None]
        best = min(reached, key=lambda t: t[0]) if reached else None
        acc = [t[1] for t in tries if t[1] is not None]
        rows.append({"batch": batch, "tried": len(tries), "best_lr": best[2] if best else None,
                     "steps": best[0] if best else None, "acc_steps": min(acc) if acc else None})
    first = next((r for r in rows if r["steps"]), None)
    for row in rows:
        if first and row["steps"]:
            row["perfect"] = round(first["steps"] * first["batch"] / row["batch"], 1)
            row["efficiency"] = round(100 * row["perfect"] / row["steps"], 1)
    b_simple = b_simple_of(records, options.target_loss)
    for row in rows:  # for the figure (not a column): the predicted critical batch, at full precision
        row["b_simple"] = b_simple
    return Table("scaling", "Steps to target against batch size (Shallue et al. 2018)", [
        ("batch", "batch size"), ("tried", "learning rates tried"), ("best_lr", "best lr"),
        ("steps", f"steps to train loss {options.target_loss:g}"), ("perfect", "perfect scaling"),
        ("efficiency", "% of perfect"), ("acc_steps", f"steps to test acc {options.target_acc:.0%}")], rows,
        f"-: not reached within the epochs. B_simple, the median over the runs of its value at the target: {b_simple:.4g}"
        if b_simple else "-: not reached within the epochs. B_simple: not measured yet")


def b_simple_of(records, target: float | None = None) -> float | None:
    """The gradient noise scale where the runs reached the target: per done run that measured it (and
    reached the target, when given), its last measurement; their median. It grows as the loss falls,
    so the value at the target is the one that predicts the critical batch for it."""
    noise = []
    for run in records.done:
        measured = [v for _, v in sorted(run.history.get("b_simple", {}).items()) if isinstance(v, (int, float)) and v > 0]
        losses = run.history.get("train_loss", {})
        if measured and (target is None or any(v <= target for v in losses.values())):
            noise.append(measured[-1])
    return statistics.median(noise) if noise else None


class Scaling(Kind):
    name = "scaling"
    label = "Batch-size scaling"
    title = "steps to a target loss per batch size, lr tuned, against B_simple"
    source = "Shallue et al. 2018"
    from_paper = False
    how_to_read = ("For each batch size the learning rate (SGD with momentum) is tuned on a small grid and the fewest steps to the "
                   "target training loss are kept. On log axes perfect scaling is a line of slope -1 (twice the "
                   "batch, half the steps). Shallue et al. (2018) find every workload follows it up to a critical "
                   "batch size, then bends to diminishing returns, then flattens: larger batches stop saving "
                   "steps. McCandlish et al. (2018) predict the bend at about the gradient noise scale B_simple, "
                   "drawn as a vertical line. Steps are counted at epoch ends.")
    Options = ScalingOptions
    history = ("train_loss", "test_acc", "b_simple")
    ignores = ("sb_batch", "lb_batch", "lb_overrides", "lr", "seeds")

    def runs(self, spec, options):
        middle = options.learning_rates[len(options.learning_rates) // 2]
        runs = []
        for batch in options.batch_sizes:
            for lr in options.learning_rates:
                config = spec.train_config("SB", 0).replace(batch_size=batch, lr=lr,
                                                            target_train_loss=options.target_loss)
                if lr == middle:  # B_simple, once an epoch (or every 50 steps), on the middle lr's runs
                    n = spec.subset or 4000
                    steps = max(1, n // int(batch if batch >= 1 else batch * n))
                    config = config.replace(noise_scale_every=max(1, min(steps, 50)))
                runs.append(PlannedRun(f"B={batch:g}", 0, config, {"batch": batch, "lr": lr}))
        return runs

    def tables(self, spec, options, records):
        return [scaling_table(options, records)]

    def summary(self, spec, options, records):
        table = scaling_table(options, records)
        rows = [r for r in table.rows if r["steps"]]
        if len(rows) < 2:
            return []
        knee = next((r for r in rows if r.get("efficiency") is not None and r["efficiency"] < 50), None)
        lines = [f"Steps to train loss {options.target_loss:g} went from {rows[0]['steps']} at B={rows[0]['batch']:g} "
                 f"to {rows[-1]['steps']} at B={rows[-1]['batch']:g} ({rows[-1]['batch'] / rows[0]['batch']:g}× the "
                 f"batch, {rows[0]['steps'] / rows[-1]['steps']:.3g}× fewer steps)."]
        lines.append(f"Scaling falls below half of perfect from B={knee['batch']:g}." if knee else
                     "Scaling stays within half of perfect over the whole range.")
        b = b_simple_of(records, options.target_loss)
        if b:
            lines.append(f"The measured gradient noise scale B_simple ≈ {b:.3g} predicts the critical batch size.")
        return lines

    def presets(self):
        return [self.preset("mnist1d", "Batch-size scaling, MNIST-1D",
                            ExperimentSpec(net="relu-mlp", optimizer="sgd", epochs=100, seeds=1),
                            "Batch sizes 16 to 4000, SGD with momentum 0.9 at lr 0.01, 0.03, 0.1 and 0.3 on a "
                            "BatchNorm-free ReLU MLP, each run until its training loss reaches 0.3 (at most 100 "
                            "epochs), B_simple measured on the lr 0.1 runs.")]


KIND = Scaling()
