"""Sharp minima can generalize (Dinh et al. 2017): one trained ReLU network, rescaled layer by
layer so that it computes the same function, measured with every flatness measure.

The first Linear's weights and bias are scaled by α and the second's weights by 1/α. The
outputs stay the same (ReLU is positively homogeneous), so does every accuracy; Keskar's
sharpness and λ_max move by orders of magnitude, while adaptive sharpness, whose box scales
with each weight, does not move at all.
"""
from __future__ import annotations

from dataclasses import dataclass

from trainer.fields import Checked, ConfigError, setting
from trainer.kinds.base import Kind, PlannedRun, Unlocked, analysis
from trainer.kinds.spec import ExperimentSpec
from trainer.kinds.tables import Table

MEASURE_COLUMNS = (("keskar_full", "Keskar full ε 1e-3"), ("keskar_p100", "Keskar p = 100"), ("lambda_max", "λ_max"),
                   ("trace", "Hessian trace"), ("adaptive", "adaptive sharpness"),
                   ("pac_bayes_sigma", "PAC-Bayes σ"))


@dataclass(frozen=True)
class ReparamOptions(Checked):
    alphas: tuple[float, ...] = setting((0.125, 1.0, 8.0, 64.0, 512.0), "the rescalings α (powers of 2 are exact)",
                                        low=0, low_open=True, label="rescalings α")

    width: int = setting(128, "hidden width of the BatchNorm-free ReLU MLP", low=1, label="width")
    depth: int = setting(3, "hidden layers of the ReLU MLP", low=1, label="depth")
    n_samples: int = setting(500, "training examples every measure is taken on", low=1, label="examples measured")

    def check(self):
        if not self.alphas:
            raise ConfigError("alphas", "give at least one α, e.g. 1, 8, 64")


def measured(records, run_id: int) -> dict[float, dict]:
    """{α: the measures result} of the run's done measures analyses."""
    return {float(a.params["alpha"]): a.result for a in records.analyses
            if a.kind == "measures" and a.status == "done" and a.run == run_id and a.result}


def reparam_table(records) -> Table:
    columns = [("alpha", "α"), ("output_change", "max |Δ output|"), ("loss", "train loss"),
               ("accuracy", "train acc %"), *MEASURE_COLUMNS]
    rows = []
    for run in records.done:
        for alpha, result in sorted(measured(records, run.id).items()):
            values = result.get("values", {})
            rows.append({"alpha": alpha, "output_change": result.get("output_change"), "loss": result.get("loss"),
                         "accuracy": round(100 * result["accuracy"], 2) if result.get("accuracy") is not None else None,
                         **{key: values.get(key) for key, _ in MEASURE_COLUMNS}})
    return Table("reparam", "The same function, rescaled (Dinh et al. 2017)", columns, rows,
                 "Measured on the same training examples; Keskar's box is ε(|w| + 1), the adaptive box ρ|w|.")


def spread(rows, key: str) -> tuple[float, float] | None:
    values = [row[key] for row in rows if isinstance(row.get(key), (int, float)) and row[key] > 0]
    return (min(values), max(values)) if values else None


class Reparam(Kind):
    name = "reparam"
    label = "Reparametrization"
    title = "one ReLU net rescaled to the same function, every measure"
    source = "Dinh et al. 2017"
    from_paper = False
    how_to_read = ("Each row is the same trained network after scaling its first layer by α and the second by 1/α: "
                   "the outputs, the loss and the accuracies do not change, so neither does generalization. Dinh "
                   "et al. (2017) point out that curvature measured in the weights changes anyway, so a sharp "
                   "minimum can generalize as well as a flat one: λ_max and the Hessian trace scale by up to α², "
                   "and Keskar's sharpness, whose box ε(|w| + 1) does not scale with the weights, moves too. "
                   "Adaptive sharpness (Kwon et al. 2021; Andriushchenko et al. 2023) perturbs each weight in "
                   "proportion to its size and is unchanged. The network has no BatchNorm: after a BatchNorm, "
                   "scaling a layer alone leaves the function unchanged, and the loss is then scale-invariant "
                   "in those weights, so its curvature there falls as 1/α² with no compensating layer needed.")
    Options = ReparamOptions
    ignores = ("net", "sb_batch", "lb_batch", "lb_overrides", "seeds")

    def runs(self, spec, options):
        config = spec.train_config("SB", 0).replace(net="relu-mlp", width=options.width, depth=options.depth)
        return [PlannedRun("SB", 0, config)]

    def unlocked(self, spec, options, run, records):
        return Unlocked(analyses=[analysis("measures", run.id, {"alpha": alpha, "n_samples": options.n_samples})
                                  for alpha in options.alphas])

    def tables(self, spec, options, records):
        return [reparam_table(records)]

    def summary(self, spec, options, records):
        rows = reparam_table(records).rows
        if len(rows) < 2:
            return []
        lines = [f"Rescaling by α from {rows[0]['alpha']:g} to {rows[-1]['alpha']:g} changed the outputs by at most "
                 f"{max(r['output_change'] or 0 for r in rows):.1e} and left the training loss at "
                 f"{rows[0]['loss']:.4g}: the same function."]
        moved = []
        for key, label in MEASURE_COLUMNS:
            span = spread(rows, key)
            if span:
                moved.append(f"{label} {span[0]:.3g} to {span[1]:.3g} (×{span[1] / span[0]:.3g})")
        lines.append("Across the rescalings: " + "; ".join(moved) + ".")
        return lines

    def presets(self):
        return [self.preset("mnist1d", "Sharp minima can generalize (Dinh et al.), MNIST-1D",
                            ExperimentSpec(net="relu-mlp", epochs=30, seeds=1),
                            "One SB run of a 3 x 128 ReLU MLP without BatchNorm, then every flatness measure of it "
                            "rescaled by α = 1/8, 1, 8, 64 and 512, on 500 training examples.")]


KIND = Reparam()
