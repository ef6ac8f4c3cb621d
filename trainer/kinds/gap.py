"""The generalization gap (paper Table 2): SB and LB runs over seeds, mean +- std."""
from __future__ import annotations

from trainer.kinds.base import Kind, PlannedRun
from trainer.kinds.paper import compare
from trainer.kinds.records import Records, RunRecord
from trainer.kinds.spec import ROLES, ExperimentSpec
from trainer.kinds.tables import Stat, Table, pct
from trainer.stats import welch

# Table 2: (train SB, train LB, test SB, test LB) accuracy %, mean and std over 5 trials
TABLE_2 = {
    "F1": ((99.66, 0.05), (99.92, 0.01), (98.03, 0.07), (97.81, 0.07)),
    "F2": ((99.99, 0.03), (98.35, 2.08), (64.02, 0.2), (59.45, 1.05)),
    "C1": ((99.89, 0.02), (99.66, 0.2), (80.04, 0.12), (77.26, 0.42)),
    "C2": ((99.99, 0.04), (99.99, 0.01), (89.24, 0.12), (87.26, 0.07)),
    "C3": ((99.56, 0.44), (99.88, 0.30), (49.58, 0.39), (46.45, 0.43)),
    "C4": ((99.10, 1.23), (99.57, 1.84), (63.08, 0.5), (57.81, 0.17)),
}
ROLE_ORDER = {"SB": 0, "LB": 1}


def sb_lb_runs(spec: ExperimentSpec) -> list[PlannedRun]:
    """SB and LB for every seed; the two runs of one seed start from the same weights."""
    runs = []
    for seed in range(spec.seeds):
        for role in ROLES:
            config = spec.train_config(role, seed)
            runs.append(PlannedRun(role, seed, config, {"batch": config.batch_size}))
    return runs


def by_role(records: Records) -> list[tuple[str, list[RunRecord]]]:
    """The done runs grouped by role, SB first, then LB, then the others by name."""
    groups = records.by(lambda r: r.role)
    return sorted(groups.items(), key=lambda kv: (ROLE_ORDER.get(kv[0], 2), kv[0]))


def final(runs: list[RunRecord], metric: str, percent: bool = False) -> Stat | None:
    values = [r.final.get(metric) for r in runs]
    return Stat.of(pct(v) if percent else v for v in values if isinstance(v, (int, float)))


def gap_table(spec: ExperimentSpec, records: Records) -> Table:
    """Table 2: train and test accuracy of SB and LB, mean +- std over seeds, with the paper's beside."""
    comparison = compare(spec, records.n_train())
    net = comparison.net
    columns = [("role", "regime"), ("batch", "batch size"), ("n", "seeds"), ("train_acc", "train acc %")]
    if net:
        columns.append(("paper_train_acc", f"train acc % (paper {net})"))
    columns.append(("test_acc", "test acc %"))
    if net:
        columns.append(("paper_test_acc", f"test acc % (paper {net})"))
    columns += [("train_loss", "train loss"), ("test_loss", "test loss"), ("dist_init", "|w - w0|")]
    rows = []
    for role, runs in by_role(records):
        row = {"role": role, "batch": runs[0].final.get("batch_size"), "n": len(runs),
               "train_acc": final(runs, "train_acc", True), "test_acc": final(runs, "test_acc", True),
               "train_loss": final(runs, "train_loss"), "test_loss": final(runs, "test_loss"),
               "dist_init": final(runs, "dist_init")}
        if net and role in ROLE_ORDER:
            i = ROLE_ORDER[role]
            row["paper_train_acc"] = Stat.paper(TABLE_2[net][i])
            row["paper_test_acc"] = Stat.paper(TABLE_2[net][2 + i])
        rows.append(row)
    return Table("gap", "Generalization gap (Table 2)", columns, rows, comparison.reason)


def gap_summary(table: Table) -> list[str]:
    """The gap in words: LB's test accuracy against SB's, and how far each travelled from x0."""
    rows = {row["role"]: row for row in table.rows}
    sb, lb = rows.get("SB"), rows.get("LB")
    if not (sb and lb and sb["test_acc"] and lb["test_acc"]):
        return []
    gap = sb["test_acc"].mean - lb["test_acc"].mean
    trained = (f", at {lb['train_acc'].mean:.2f}% vs {sb['train_acc'].mean:.2f}% training accuracy"
               if sb["train_acc"] and lb["train_acc"] else "")  # runs may lack a metric (older or imported)
    test = welch(sb["test_acc"], lb["test_acc"])
    tested = (f"; {test.ci_text()} points, Welch's t-test {test.p_text()} over {sb['test_acc'].n} and "
              f"{lb['test_acc'].n} seeds" if test else "")
    lines = [f"Gap: LB tests {abs(gap):.2f} points {'below' if gap >= 0 else 'above'} SB "
             f"({lb['test_acc'].mean:.2f}% vs {sb['test_acc'].mean:.2f}%{tested}){trained}; "
             f"the paper (Table 2) reports LB 1 to 5 points below SB on its networks."]
    if sb["dist_init"] and lb["dist_init"] and lb["dist_init"].mean > 0:
        lines.append(f"SB ends {sb['dist_init'].mean / lb['dist_init'].mean:.2f} times as far from its initial "
                     f"weights as LB (|w - w0|; the paper: 3 to 10).")
    return lines


class Gap(Kind):
    name = "gap"
    label = "Gap"
    title = "SB vs LB over seeds"
    source = "Table 2"
    how_to_read = ("Both regimes fit the training set; the generalization gap is the drop in test accuracy from SB "
                   "to LB. The paper (Table 2) finds LB 1 to 5 points worse on every network, with training "
                   "accuracy as high: the gap is not under-fitting.")

    def runs(self, spec, options):
        return sb_lb_runs(spec)

    def tables(self, spec, options, records):
        return [gap_table(spec, records)]

    def summary(self, spec, options, records):
        return gap_summary(gap_table(spec, records))

    def presets(self):
        return [self.preset("mnist1d", "Gap (Table 2), MNIST-1D", ExperimentSpec(epochs=100),
                            "The paper's generalization gap at CPU scale: Adam lr 1e-3, SB 32 vs LB 10%, 100 epochs, "
                            "3 seeds."),
                *self.paper_presets("gap (Table 2)", "the paper's network on its data, SB 256 vs LB 10%", seeds=3)]


KIND = Gap()
