"""The edge of stability (Cohen et al. 2021, 2022): full-batch gradient descent at several step
sizes with the top Hessian eigenvalue λ_max measured as it trains, and one Adam run with its
preconditioned λ_max(P⁻¹H).

The finding to check: λ_max rises during training (progressive sharpening) until it reaches
the optimizer's stability threshold (2/η for gradient descent), then hovers at it while the
loss keeps falling, though not monotonically; Adam's preconditioned sharpness does the same
at 38/η (β1 = 0.9). Full batch: one step is one epoch, so every step's training loss is in
the run's history, and a curvature measurement every k steps lands on its own epoch.
"""
from __future__ import annotations

from dataclasses import dataclass

from trainer.catalog import DATASETS
from trainer.fields import Checked, ConfigError, setting
from trainer.kinds.base import Kind, PlannedRun
from trainer.kinds.records import RunRecord
from trainer.kinds.spec import ExperimentSpec
from trainer.kinds.tables import Table, rounded_pct
from trainer.stability import stability_threshold, threshold_text

NEAR = 0.9  # "reached the edge": λ at 90% of the threshold
BAND = 0.2  # "at the edge": within ±20% of it


@dataclass(frozen=True)
class EosOptions(Checked):
    learning_rates: tuple[float, ...] = setting((0.1, 0.2, 0.4), "gradient descent step sizes η (one run each)",
                                                low=0, low_open=True, label="GD learning rates")
    adam_lr: float = setting(0.01, "the Adam run's step size (0 = no Adam run)", low=0, label="Adam learning rate")
    every: int = setting(5, "measure λ_max every k steps", low=1, label="λ_max every k steps")
    width: int = setting(64, "hidden width of the BatchNorm-free ReLU MLP", low=1, label="width")
    depth: int = setting(2, "hidden layers of the ReLU MLP", low=1, label="depth")

    def check(self):
        if not self.learning_rates:
            raise ConfigError("learning_rates", "give at least one learning rate")


def _role(optimizer: str, lr: float) -> str:
    return f"{'GD' if optimizer == 'sgd' else 'Adam'} η={lr:g}"


def _config(spec: ExperimentSpec, options: EosOptions, optimizer: str, lr: float):
    n = spec.subset or DATASETS[spec.dataset].n_train
    base = spec.train_config("SB", 0)
    return base.replace(net="relu-mlp", width=options.width, depth=options.depth, optimizer=optimizer, lr=lr,
                        momentum=0.0, batch_size=n, epochs=spec.epochs, curvature_every=options.every,
                        curvature_samples=n, checkpoint_every=max(1, spec.epochs // 10))


def _threshold(run: RunRecord) -> tuple[float, str, str]:
    """(threshold, its name, the series it bounds) of a run's optimizer."""
    optimizer, lr = run.config["optimizer"], float(run.config["lr"])
    series = "lambda_max_pre" if optimizer == "adam" else "lambda_max"
    return stability_threshold(optimizer, lr), threshold_text(optimizer, lr), series


def edge_row(run: RunRecord) -> dict:
    """One run's path to the edge: when λ first came within NEAR of the threshold, how much of the
    rest of training it stayed within ±BAND of it, and how often the loss rose."""
    threshold, text, series = _threshold(run)
    lam = sorted(run.history.get(series, {}).items())
    loss = sorted(run.history.get("train_loss", {}).items())
    reached = next((step for step, v in lam if v >= NEAR * threshold), None)
    after = [v for step, v in lam if reached is not None and step >= reached]
    rises = sum(1 for (_, a), (_, b) in zip(loss, loss[1:]) if b > a)
    return {
        "role": run.role, "threshold": text, "steps": len(loss),
        "lambda_start": lam[0][1] if lam else None, "lambda_max": max((v for _, v in lam), default=None),
        "lambda_end": lam[-1][1] if lam else None,
        "peak_ratio": max((v for _, v in lam), default=0) / threshold if lam else None,
        "reached": reached, "at_edge": (round(100 * sum(abs(v / threshold - 1) <= BAND for v in after) / len(after), 1)
                                        if after else None),
        "loss_start": loss[0][1] if loss else None, "loss_end": loss[-1][1] if loss else None, "rises": rises,
        "test_acc": rounded_pct(run.final.get("test_acc")),
        # for the figure: λ over its threshold at each measured step (not a column)
        "trace": [(step, v / threshold) for step, v in lam], "loss_trace": loss,
    }


def eos_table(records) -> Table:
    columns = [("role", "run"), ("threshold", "stability threshold"), ("lambda_start", "λ first"),
               ("lambda_max", "λ peak"), ("lambda_end", "λ last"), ("peak_ratio", "peak / threshold"),
               ("reached", f"step λ ≥ {NEAR:.0%} of it"), ("at_edge", f"% of later steps within ±{BAND:.0%}"),
               ("loss_start", "train loss first"), ("loss_end", "train loss last"), ("rises", "steps the loss rose"),
               ("test_acc", "test acc %")]
    rows = [edge_row(run) for run in sorted(records.done, key=lambda r: r.id)]
    return Table("eos", "Edge of stability (Cohen et al. 2021, 2022)", columns, rows,
                 "λ: the top Hessian eigenvalue of the training loss on the whole (full-batch) training set; "
                 "for Adam, of the preconditioned Hessian P⁻¹H.")


class EdgeOfStability(Kind):
    name = "eos"
    label = "Edge of stability"
    title = "full-batch GD at several step sizes with λ_max tracked"
    source = "Cohen et al. 2021"
    how_to_read = ("λ_max is the top Hessian eigenvalue of the training loss; gradient descent with step size η "
                   "is stable on a quadratic only while λ_max < 2/η. Cohen et al. (2021) find that full-batch GD "
                   "on neural networks raises λ_max as it trains (progressive sharpening) until it reaches 2/η, "
                   "then holds it there while the loss keeps falling, non-monotonically over short spans: the "
                   "step size, not the start, sets how sharp the solution is. Adam does the same with its "
                   "preconditioned sharpness λ_max(P⁻¹H) at 38/η (Cohen et al. 2022). The curvature plot above "
                   "draws each run's λ_max with its threshold; the figure below puts every run on one scale, "
                   "λ_max over its threshold (1 = the edge). A BatchNorm-free ReLU network is used: with "
                   "BatchNorm the loss is not a function of the weights alone.")
    Options = EosOptions
    from_paper = False
    history = ("train_loss", "lambda_max", "lambda_max_pre")
    ignores = ("net", "optimizer", "lr", "sb_batch", "lb_batch", "lb_overrides", "seeds", "curvature_every")

    def validate(self, spec, options, data_dir=None):
        for planned in self.runs(spec, options):
            try:
                planned.config.replace(data_dir=data_dir).validate()
            except ConfigError as e:
                raise ConfigError("subset" if e.field == "batch_size" else e.field, e.message) from None

    def runs(self, spec, options):
        plans = [("sgd", lr) for lr in options.learning_rates]
        if options.adam_lr > 0:
            plans.append(("adam", options.adam_lr))
        return [PlannedRun(_role(opt, lr), 0, _config(spec, options, opt, lr), {"lr": lr}) for opt, lr in plans]

    def tables(self, spec, options, records):
        return [eos_table(records)]

    def summary(self, spec, options, records):
        lines = []
        for row in eos_table(records).rows:
            if row["lambda_max"] is None:
                continue
            what = "preconditioned λ_max" if row["role"].startswith("Adam") else "λ_max"
            edge = (f"reached 90% of {row['threshold']} at step {row['reached']} and stayed within ±20% of it on "
                    f"{row['at_edge']:.0f}% of the later measurements" if row["reached"] is not None
                    else f"peaked at {row['peak_ratio']:.2f} of {row['threshold']} without reaching it")
            lines.append(f"{row['role']}: {what} rose from {row['lambda_start']:.3g} to a peak of "
                         f"{row['lambda_max']:.3g} and {edge}; the training loss fell from {row['loss_start']:.3g} "
                         f"to {row['loss_end']:.3g}, rising on {row['rises']} of {row['steps']} steps.")
        return lines

    def presets(self):
        return [self.preset("mnist1d", "Edge of stability, MNIST-1D",
                            ExperimentSpec(dataset="mnist1d", net="relu-mlp", subset=1000, epochs=1500, seeds=1),
                            "Full-batch GD on 1,000 MNIST-1D samples at η = 0.1, 0.2 and 0.4 and Adam at 0.01, a "
                            "2 x 64 ReLU MLP, λ_max every 5 steps.")]


KIND = EdgeOfStability()
