"""Which flatness measure predicts the generalization gap (Jiang et al. 2019; Andriushchenko et
al. 2023): a grid of batch sizes x learning rates x seeds, every measure of every final model,
and for each measure Kendall's τ with the gap, overall and granulated per hyper-parameter.

The gap is train accuracy minus test accuracy, in points. A measure predicts it when τ is
near 1: runs it calls sharper generalize worse. Granulated τ (Jiang et al.'s Ψ) compares only
runs that differ in one hyper-parameter, so a measure cannot score by tracking another.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from trainer.fields import Checked, ConfigError, setting
from trainer.kinds.base import Kind, PlannedRun, Unlocked, analysis
from trainer.kinds.records import RunRecord
from trainer.kinds.spec import ExperimentSpec
from trainer.kinds.tables import Table

# (key, label, sign): sign -1 turns a "higher is flatter" value into a sharpness for τ
MEASURES = (("keskar_full", "Keskar full ε 1e-3", 1), ("keskar_full_small", "Keskar full ε 5e-4", 1),
            ("keskar_p100", "Keskar p = 100 ε 1e-3", 1), ("keskar_p100_small", "Keskar p = 100 ε 5e-4", 1),
            ("lambda_max", "λ_max", 1),
            ("trace", "Hessian trace", 1), ("adaptive", "adaptive sharpness", 1),
            ("pac_bayes", "PAC-Bayes 1/σ²", 1), ("dist_init", "|w - w0|", 1), ("noise_scale", "SGD noise lr·N/B", -1))
HYPER = ("batch", "lr")


@dataclass(frozen=True)
class MeasuresOptions(Checked):
    batch_sizes: tuple[float, ...] = setting((32, 128, 512, 2000), "integers, or fractions of the training set",
                                             low=0, low_open=True, label="batch sizes")
    learning_rates: tuple[float, ...] = setting((3e-4, 1e-3, 3e-3), "the optimizer's learning rates",
                                                low=0, low_open=True, label="learning rates")

    def check(self):
        if not self.batch_sizes or not self.learning_rates:
            raise ConfigError("batch_sizes" if not self.batch_sizes else "learning_rates", "give at least one value")


def _role(batch: float, lr: float) -> str:
    return f"B={batch:g} lr={lr:g}"


def run_values(records, run: RunRecord) -> dict:
    """The run's gap, hyper-parameters and measures (None where not measured yet)."""
    result = next((a.result for a in records.analyses if a.kind == "measures" and a.status == "done"
                   and a.run == run.id and float(a.params.get("alpha", 1)) == 1.0 and a.result), {})
    values = {key: None for key, _, _ in MEASURES} | dict(result.get("values", {}))
    sigma = values.pop("pac_bayes_sigma", None)
    values["pac_bayes"] = 1 / sigma ** 2 if sigma else None
    train, test = run.final.get("train_acc"), run.final.get("test_acc")
    batch, lr, n = run.final.get("batch_size"), run.config.get("lr"), run.final.get("n_train")
    values["noise_scale"] = lr * n / batch if lr and n and batch else None
    return {"batch": batch, "lr": lr, "seed": run.seed, "train_acc": None if train is None else round(100 * train, 2),
            "test_acc": None if test is None else round(100 * test, 2),
            "gap": None if train is None or test is None else round(100 * (train - test), 3), **values}


def tau(xs, ys) -> float | None:
    """Kendall's τ-b (as scipy.stats.kendalltau), None with fewer than two distinct pairs."""
    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    if len(pairs) < 2:
        return None
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(pairs)):
        for j in range(i + 1, len(pairs)):
            dx, dy = pairs[j][0] - pairs[i][0], pairs[j][1] - pairs[i][1]
            if dx * dy > 0:
                concordant += 1
            elif dx * dy < 0:
                discordant += 1
            elif dx == 0 and dy != 0:
                ties_x += 1
            elif dy == 0 and dx != 0:
                ties_y += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denominator if denominator else None


def granulated(rows: list[dict], key: str, hyper: str) -> float | None:
    """Mean τ over groups of runs equal in everything but `hyper` (the other hyper-parameter and the seed)."""
    groups: dict = {}
    for row in rows:
        other = tuple(row[h] for h in HYPER if h != hyper) + (row["seed"],)
        groups.setdefault(other, []).append(row)
    taus = [t for group in groups.values() if len(group) > 1
            if (t := tau([r[key] for r in group], [r["gap"] for r in group])) is not None]
    return statistics.fmean(taus) if taus else None


def measures_tables(records) -> list[Table]:
    rows = [run_values(records, run) for run in sorted(records.done, key=lambda r: r.id)]
    per_run = Table("measures-runs", "Every run and its measures", [
        ("batch", "batch"), ("lr", "lr"), ("seed", "seed"), ("train_acc", "train acc %"), ("test_acc", "test acc %"),
        ("gap", "gap (points)"), *((key, label) for key, label, _ in MEASURES)], rows)
    ranking = []
    for key, label, sign in MEASURES:
        signed = [None if r[key] is None else sign * r[key] for r in rows]
        row = {"measure": label, "n": sum(v is not None for v in signed),
               "tau": tau(signed, [r["gap"] for r in rows])}
        signed_rows = [{**r, key: v} for r, v in zip(rows, signed)]
        for hyper in HYPER:
            row[f"tau_{hyper}"] = granulated(signed_rows, key, hyper)
        parts = [row[f"tau_{h}"] for h in HYPER if row[f"tau_{h}"] is not None]
        row["psi"] = statistics.fmean(parts) if parts else None
        ranking.append(row)
    ranking.sort(key=lambda r: -(r["psi"] if r["psi"] is not None else -2))
    ranks = Table("measures", "Which measure predicts the gap: Kendall's τ (Jiang et al. 2019)", [
        ("measure", "measure"), ("n", "runs"), ("tau", "τ with the gap"), ("tau_batch", "τ, batch size varied"),
        ("tau_lr", "τ, learning rate varied"), ("psi", "Ψ (mean granulated τ)")], ranking,
        "τ near 1: runs the measure calls sharper have a larger gap; near 0: no relation; negative: the opposite. "
        "The SGD noise scale enters with its sign flipped (more noise, flatter).")
    return [ranks, per_run]


class Measures(Kind):
    name = "measures"
    label = "Flatness measures"
    title = "a batch x lr x seed grid, every measure against the gap"
    source = "Jiang et al. 2019"
    from_paper = False
    how_to_read = ("Every final model of the grid is measured nine ways on the same training examples (Keskar's "
                   "sharpness at both box sizes, in full space and p = 100, among them), and each "
                   "measure is ranked by Kendall's τ with the generalization gap (train minus test accuracy). "
                   "Jiang et al. (2019) found sharpness-based measures, PAC-Bayes flatness above all, among the "
                   "best predictors across thousands of models; Andriushchenko et al. (2023) found that on modern "
                   "setups no sharpness measure predicts generalization reliably, adaptive ones included. The "
                   "answer on this problem is whatever the table says: a measure with τ near 0 does not predict "
                   "the gap here, whatever its name. Granulated τ compares runs that differ in one "
                   "hyper-parameter only.")
    Options = MeasuresOptions
    ignores = ("sb_batch", "lb_batch", "lb_overrides", "lr")

    def runs(self, spec, options):
        runs = []
        for batch in options.batch_sizes:
            for lr in options.learning_rates:
                for seed in range(spec.seeds):
                    config = spec.train_config("SB", seed).replace(batch_size=batch, lr=lr)
                    runs.append(PlannedRun(_role(batch, lr), seed, config, {"batch": batch, "lr": lr}))
        return runs

    def unlocked(self, spec, options, run, records):
        return Unlocked(analyses=[analysis("measures", run.id)])

    def tables(self, spec, options, records):
        return measures_tables(records)

    def summary(self, spec, options, records):
        ranking = measures_tables(records)[0].rows
        known = [r for r in ranking if r["tau"] is not None]
        if not known:
            return []
        best, worst = known[0], known[-1]
        lines = [f"Best predictor here: {best['measure']} (Ψ {best['psi']:.2f}, τ {best['tau']:.2f} over "
                 f"{best['n']} runs); worst: {worst['measure']} (Ψ {worst['psi']:.2f}, τ {worst['tau']:.2f})."
                 if best["psi"] is not None and worst["psi"] is not None else
                 f"Best τ with the gap: {best['measure']} ({best['tau']:.2f} over {best['n']} runs)."]
        weak = [r["measure"] for r in known if abs(r["tau"]) < 0.2]
        if weak:
            lines.append(f"No relation (|τ| < 0.2) for: {', '.join(weak)}.")
        return lines

    def presets(self):
        return [self.preset("mnist1d", "Which flatness measure predicts the gap, MNIST-1D",
                            ExperimentSpec(epochs=30, seeds=2),
                            "Adam at lr 3e-4, 1e-3 and 3e-3 with batch sizes 32, 128, 512 and 2000, 2 seeds "
                            "(24 runs of 30 epochs), then every flatness measure of each final model.")]


KIND = Measures()
