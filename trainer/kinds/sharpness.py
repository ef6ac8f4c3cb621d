"""The gap plus the sharpness of every final model (paper Tables 3 and 4)."""
from __future__ import annotations

from dataclasses import dataclass

from trainer.analysis.by_name import PAPER_SHARPNESS
from trainer.fields import Checked, setting
from trainer.kinds.base import Kind, Unlocked, analysis
from trainer.kinds.gap import ROLE_ORDER, by_role, gap_summary, gap_table, sb_lb_runs
from trainer.kinds.paper import compare
from trainer.kinds.spec import ExperimentSpec
from trainer.kinds.tables import Stat, Table

EPSILONS = tuple(PAPER_SHARPNESS["epsilons"])
# Tables 3 (full space) and 4 (p = 100, no std given): {(space, eps): (SB, LB)}, mean and std
TABLES_3_4 = {
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


def full_space(**changes) -> dict:
    """The paper's sharpness in full space, with any of its options changed."""
    return {**PAPER_SHARPNESS, **changes}


@dataclass(frozen=True)
class SharpnessOptions(Checked):
    subspace_dim: int = setting(100, "dimension p of the random subspace for Table 4 (the paper: 100)", low=1,
                                label="subspace dimension p")


def sharpness_table(spec: ExperimentSpec, options: SharpnessOptions, records) -> Table:
    """Tables 3 (full space) and 4 (a random p-dim subspace), both box sizes, mean +- std over seeds."""
    comparison = compare(spec, records.n_train())
    net = comparison.net
    spaces = ("full", f"p{options.subspace_dim}")
    columns = [("role", "regime"), ("n", "models")]
    for space in spaces:
        for eps in EPSILONS:
            label = f"{'full space' if space == 'full' else space.replace('p', 'p = ')}, ε {eps:g}"
            columns.append((f"{space} {eps:g}", label))
            if net:
                columns.append((f"paper {space} {eps:g}", f"{label} (paper {net})"))
    rows = []
    for role, runs in by_role(records):
        row = {"role": role}
        counts = []
        for space in spaces:
            for eps in EPSILONS:
                values = [records.sharpness(r, space, eps) for r in runs]
                row[f"{space} {eps:g}"] = Stat.of(values)
                counts.append(sum(v is not None for v in values))
                if net and role in ROLE_ORDER and (space, eps) in TABLES_3_4[net]:
                    row[f"paper {space} {eps:g}"] = Stat.paper(TABLES_3_4[net][(space, eps)][ROLE_ORDER[role]])
        row["n"] = max(counts)
        rows.append(row)
    return Table("sharpness", "Sharpness (Tables 3 and 4)", columns, rows, comparison.reason)


class Sharpness(Kind):
    name = "sharpness"
    label = "Gap + sharpness"
    title = "the gap plus sharpness of every final model"
    source = "Tables 3 and 4"
    how_to_read = ("Sharpness is the largest relative rise of the training loss within a small box around the "
                   "solution (Keskar's Metric 2.1, in percent). The paper (Tables 3 and 4) finds LB minima one "
                   "to two orders of magnitude sharper than SB minima, in full space and in a random 100-dim "
                   "subspace, at both box sizes: large batches converge to sharp minimizers, which generalize worse.")
    Options = SharpnessOptions

    def runs(self, spec, options):
        return sb_lb_runs(spec)

    def unlocked(self, spec, options, run, records):
        return Unlocked(analyses=[analysis("sharpness", run.id, full_space()),
                                  analysis("sharpness", run.id, full_space(subspace_dim=options.subspace_dim))])

    def tables(self, spec, options, records):
        return [gap_table(spec, records), sharpness_table(spec, options, records)]

    def summary(self, spec, options, records):
        lines = gap_summary(gap_table(spec, records))
        rows = {row["role"]: row for row in sharpness_table(spec, options, records).rows}
        for key in (f"full {EPSILONS[0]:g}", f"p{options.subspace_dim} {EPSILONS[0]:g}"):
            sb, lb = (rows.get(role, {}).get(key) for role in ("SB", "LB"))
            if sb and lb and sb.mean > 0:
                where = "full space" if key.startswith("full") else f"a random {options.subspace_dim}-dim subspace"
                lines.append(f"Sharpness in {where} at ε {EPSILONS[0]:g}: LB {lb.mean:.4g} vs SB {sb.mean:.4g}, "
                             f"LB/SB = {lb.mean / sb.mean:.3g}.")
        return lines

    def presets(self):
        return [self.preset("mnist1d", "Gap + sharpness (Tables 2-4), MNIST-1D", ExperimentSpec(epochs=100),
                            "SB 32 vs LB 10%, 3 seeds, then Keskar sharpness of every final model in full space and "
                            "in a random 100-dim subspace, eps 1e-3 and 5e-4."),
                *self.paper_presets("gap + sharpness (Tables 2-4)", "5 seeds, sharpness in full space and p = 100")]


KIND = Sharpness()
