"""The result tables of each experiment kind, built from a dashboard.results.Results."""
from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from dashboard import paper
from dashboard.results import EPSILONS, Results, Stat, Table

ROLE_ORDER = {"SB": 0, "LB": 1}


def _roles(res: Results) -> list[tuple[str, list]]:
    groups = res.by(lambda r: r.role)
    return sorted(groups.items(), key=lambda kv: (ROLE_ORDER.get(kv[0], 2), kv[0]))


def gap_table(res: Results) -> Table:
    """Paper Table 2: train and test accuracy of SB and LB, mean +- std over seeds."""
    net = res.comparison.net
    columns = [("role", "regime"), ("batch", "batch size"), ("n", "seeds"), ("train_acc", "train acc %"),
               ("test_acc", "test acc %"), ("test_loss", "test loss")]
    if net:
        columns[4:4] = [("paper_train_acc", f"train acc % (paper {net})")]
        columns.append(("paper_test_acc", f"test acc % (paper {net})"))
    rows = []
    for role, runs in _roles(res):
        row = {"role": role, "batch": runs[0].final_metrics.get("batch_size"), "n": len(runs),
               "train_acc": res.final(runs, "train_acc", True), "test_acc": res.final(runs, "test_acc", True),
               "test_loss": res.final(runs, "test_loss")}
        if net and role in ROLE_ORDER:
            i = ROLE_ORDER[role]
            row["paper_train_acc"] = Stat.paper(paper.GAP[net][i])
            row["paper_test_acc"] = Stat.paper(paper.GAP[net][2 + i])
        rows.append(row)
    return Table("gap", "Generalization gap (Table 2)", columns, rows, res.comparison.reason)


def sharpness_table(res: Results) -> Table:
    """Paper Tables 3 (full space) and 4 (random 100-dim subspace), eps 1e-3 and 5e-4."""
    net = res.comparison.net
    spaces = ("full", f"p{res.design.subspace_dim}")
    columns = [("role", "regime"), ("n", "models")]
    for space in spaces:
        for eps in EPSILONS:
            label = f"{'full space' if space == 'full' else space.replace('p', 'p = ')}, ε {eps:g}"
            columns.append((f"{space} {eps:g}", label))
            if net:
                columns.append((f"paper {space} {eps:g}", f"{label} (paper {net})"))
    rows = []
    for role, runs in _roles(res):
        row = {"role": role}
        counts = []
        for space in spaces:
            for eps in EPSILONS:
                values = [res.sharpness(r, space, eps) for r in runs]
                row[f"{space} {eps:g}"] = Stat.of(values)
                counts.append(sum(v is not None for v in values))
                if net and role in ROLE_ORDER and (space == "full" or space == "p100"):
                    row[f"paper {space} {eps:g}"] = Stat.paper(paper.SHARPNESS[net][(space, eps)][ROLE_ORDER[role]])
        row["n"] = max(counts)
        rows.append(row)
    return Table("sharpness", "Sharpness (Tables 3 and 4)", columns, rows, res.comparison.reason)


def sweep_table(res: Results) -> Table:
    """Fig. 4 as numbers: final accuracy and sharpness per batch size."""
    columns = [("batch", "batch size"), ("n", "seeds"), ("train_acc", "train acc %"), ("test_acc", "test acc %")]
    columns += [(f"full {e:g}", f"sharpness ε {e:g}") for e in EPSILONS]
    rows = []
    for batch, runs in sorted(res.by(lambda r: r.final_metrics.get("batch_size") or 0).items()):
        row = {"batch": batch, "n": len(runs), "train_acc": res.final(runs, "train_acc", True),
               "test_acc": res.final(runs, "test_acc", True)}
        for e in EPSILONS:
            row[f"full {e:g}"] = Stat.of([res.sharpness(r, "full", e) for r in runs])
        rows.append(row)
    return Table("sweep", "Batch-size sweep (Fig. 4)", columns, rows)


def warmstart_table(res: Results) -> Table:
    """Fig. 5 as numbers: the SB iterate's test accuracy, and the LB run started from it."""
    sb = next((r for r in res.runs if r.tags.get("snapshot_every")), None)
    sb_acc = res.epoch_metric([sb], "test_acc") if sb else {}
    columns = [("sb_epoch", "SB epoch"), ("sb_test_acc", "SB iterate test acc %"), ("lb_test_acc", "LB test acc %"),
               ("lb_train_acc", "LB train acc %")] + [(f"full {e:g}", f"LB sharpness ε {e:g}") for e in EPSILONS]
    rows = []
    for run in sorted((r for r in res.done if "sb_epoch" in r.tags), key=lambda r: r.tags["sb_epoch"]):
        epoch = run.tags["sb_epoch"]
        rows.append({"sb_epoch": epoch, "sb_test_acc": _pct(sb_acc.get((sb.pk, epoch))) if sb else None,
                     "lb_test_acc": _pct(run.final_metrics.get("test_acc")),
                     "lb_train_acc": _pct(run.final_metrics.get("train_acc")),
                     **{f"full {e:g}": res.sharpness(run, "full", e) for e in EPSILONS}})
    return Table("warmstart", "Warm start from SB iterates (Fig. 5)", columns, rows)


def trajectory_table(res: Results) -> Table:
    """Fig. 6 as numbers: sharpness of the kept iterates against their training loss."""
    loss = res.epoch_metric(res.runs, "train_loss")
    acc = res.epoch_metric(res.runs, "test_acc")
    columns = [("role", "regime"), ("epoch", "epoch"), ("train_loss", "train loss"), ("test_acc", "test acc %")]
    columns += [(f"full {e:g}", f"sharpness ε {e:g}") for e in EPSILONS]
    rows = []
    for a in sorted((a for a in res.analyses if a.kind == "sharpness" and a.epoch is not None),
                    key=lambda a: (ROLE_ORDER.get(a.run.role, 2), a.epoch)):
        run = a.run
        rows.append({"role": run.role, "epoch": a.epoch, "train_loss": loss.get((run.pk, a.epoch)),
                     "test_acc": _pct(acc.get((run.pk, a.epoch))),
                     **{f"full {e:g}": res.sharpness(run, "full", e, a.epoch) for e in EPSILONS}})
    return Table("trajectory", "Sharpness along the trajectory (Fig. 6)", columns, rows)


def remedies_table(res: Results) -> Table:
    """Tables 6 and 7 and beyond: does any remedy close the gap, or flatten the LB minimum?"""
    columns = [("variant", "variant"), ("n", "seeds"), ("train_acc", "train acc %"), ("test_acc", "test acc %"),
               ("full 0.001", "sharpness ε 0.001")]
    order = {p: i for i, p in enumerate(dict.fromkeys(r.role for r in sorted(res.runs, key=lambda r: r.pk)))}
    rows = []
    for variant, runs in sorted(res.by(lambda r: r.role).items(), key=lambda kv: order[kv[0]]):
        rows.append({"variant": variant, "n": len(runs), "train_acc": res.final(runs, "train_acc", True),
                     "test_acc": res.final(runs, "test_acc", True),
                     "full 0.001": Stat.of([res.sharpness(r, "full", 1e-3) for r in runs])})
    return Table("remedies", "Remedies for the LB gap (Tables 6 and 7)", columns, rows)


def parametric_table(res: Results) -> Table:
    """Fig. 3: the interpolation analyses between the SB and LB solutions, each with its page."""
    columns = [("path", "path"), ("bn", "BatchNorm"), ("points", "points"), ("status", "status")]
    rows, links = [], {}
    for i, a in enumerate(sorted((a for a in res.analyses if a.kind == "interpolation"), key=lambda a: a.pk)):
        rows.append({"path": a.params.get("path"), "bn": a.params.get("bn"), "points": a.params.get("points"),
                     "status": a.status})
        try:
            links[i] = reverse("analysis-detail", args=[a.pk])
        except NoReverseMatch:
            pass
    return Table("parametric", "Parametric plots (Fig. 3)", columns, rows, links=links)


def _pct(v):
    return None if v is None else round(100 * v, 2)


BUILDERS = {
    "gap": (gap_table,), "sharpness": (gap_table, sharpness_table), "parametric": (parametric_table, gap_table),
    "sweep": (sweep_table,), "warmstart": (warmstart_table,), "trajectory": (trajectory_table,),
    "remedies": (remedies_table,),
}


def tables_for(res: Results) -> list[Table]:
    return [build(res) for build in BUILDERS[res.design.kind]]
