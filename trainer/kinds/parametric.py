"""The parametric plot (paper Fig. 3): one SB and one LB run from the same initial weights,
then the loss and accuracy along the straight line and the curved path between them."""
from __future__ import annotations

from trainer.analysis.by_name import PAPER_INTERPOLATIONS
from trainer.kinds.base import Kind, PlannedRun, Unlocked, analysis
from trainer.kinds.gap import gap_table
from trainer.kinds.spec import ROLES, ExperimentSpec
from trainer.kinds.tables import Table


def barrier(result: dict) -> float | None:
    """The training loss barrier between the two ends: the highest training loss for alpha in [0, 1]
    above the higher of the two ends' losses (0 when the path never rises above them)."""
    pairs = [(a, loss) for a, loss in zip(result.get("alphas", []), result.get("train_loss", [])) if loss is not None]
    ends = [loss for a, loss in pairs if a in (0.0, 1.0)]
    inside = [loss for a, loss in pairs if 0.0 <= a <= 1.0]
    if len(ends) < 2 or not inside:
        return None
    return max(0.0, max(inside) - max(ends))


def parametric_table(records) -> Table:
    """Fig. 3: the interpolations between the SB and LB solutions, each linking to its page."""
    columns = [("path", "path"), ("bn", "BatchNorm"), ("points", "points"), ("status", "status"),
               ("barrier", "train loss barrier on [0, 1]")]
    rows, links = [], {}
    for i, a in enumerate(sorted((a for a in records.analyses if a.kind == "interpolation"), key=lambda a: a.id)):
        rows.append({"path": a.params.get("path"), "bn": a.params.get("bn"), "points": a.params.get("points"),
                     "status": a.status, "barrier": barrier(a.result) if a.status == "done" else None})
        links[i] = a.id
    return Table("parametric", "Parametric plots (Fig. 3)", columns, rows, links=links)


class Parametric(Kind):
    name = "parametric"
    label = "Parametric plot"
    title = "one SB and one LB run, then linear and curved interpolation"
    source = "Fig. 3"
    how_to_read = ("The loss along the line (and the curved path) from the SB solution (α = 0) to the LB solution "
                   "(α = 1), train solid and test dashed. In the paper (Fig. 3) the loss rises steeply around "
                   "α = 1 and gently around α = 0: the LB minimum is sharp, the SB minimum flat.")

    def runs(self, spec, options):
        return [PlannedRun(role, 0, spec.train_config(role, 0)) for role in ROLES]

    def unlocked(self, spec, options, run, records):
        # each run checks once it is done, so the later of the two sees both
        pair = {r.role: r for r in records.done if r.role in ROLES and r.seed == 0}
        if len(pair) < 2 or run.id not in (pair["SB"].id, pair["LB"].id):
            return Unlocked()
        return Unlocked(analyses=[analysis("interpolation", pair["SB"].id, params, run_b=pair["LB"].id)
                                  for params in PAPER_INTERPOLATIONS])

    def tables(self, spec, options, records):
        return [parametric_table(records), gap_table(spec, records)]

    def presets(self):
        return [self.preset("mnist1d", "Parametric plot (Fig. 3), MNIST-1D", ExperimentSpec(epochs=50, seeds=1),
                            "One SB and one LB run from the same initial weights, then the loss and accuracy along "
                            "the straight line and the curved path between them."),
                *self.paper_presets("parametric plot (Fig. 3)", "one SB/LB pair, linear and curved interpolation",
                                    seeds=1)]


KIND = Parametric()
