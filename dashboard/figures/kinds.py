"""Bokeh figures of the kinds that have one (the paper's Figs. 4, 5 and 6), from their result tables.

Each line is a named ColumnDataSource ("fig:<figure>:<series>") with one point per
finished value, drawn as a line with markers; sharpness axes are logarithmic as in the
paper. Values that are missing or not positive on a log axis are left out.
"""
from __future__ import annotations

from bokeh.embed import json_item
from bokeh.layouts import gridplot
from bokeh.models import ColumnDataSource, Span

from dashboard.figures.style import ACCURACY_COLOR, EPS_COLORS, ROLE_COLORS, new_figure, role_colors
from trainer.kinds.sharpness import EPSILONS
from trainer.kinds.tables import Table, value_of


def _series(rows, x_key, y_key, log_x=False, log_y=False) -> dict[str, list]:
    xs, ys = [], []
    for row in rows:
        x, y = value_of(row.get(x_key)), value_of(row.get(y_key))
        if x is None or y is None or (log_x and x <= 0) or (log_y and y <= 0):
            continue
        xs.append(float(x))
        ys.append(float(y))
    return {"x": xs, "y": ys}


def _line(fig, name: str, data: dict, color: str, label: str, dash: str = "solid"):
    source = ColumnDataSource(data, name=name)
    fig.line("x", "y", source=source, line_color=color, line_width=2, line_dash=dash, legend_label=label)
    fig.scatter("x", "y", source=source, color=color, size=6, legend_label=label)


def _finish(figures) -> dict:
    for fig in figures:  # the legend beside the data, not over it
        legend = fig.legend[0]
        legend.click_policy = "hide"
        fig.center.remove(legend)
        fig.add_layout(legend, "right")
    return json_item(gridplot(figures, ncols=2, sizing_mode="stretch_width", merge_tools=False))


def sweep_figure(table: Table) -> dict:
    """Fig. 4: test accuracy and sharpness (both eps) against batch size, log x (and log y for sharpness)."""
    acc = new_figure("Test accuracy against batch size", "batch size", "test accuracy %", x_axis_type="log")
    _line(acc, "fig:sweep:test_acc", _series(table.rows, "batch", "test_acc", log_x=True), ACCURACY_COLOR, "test acc")
    sharp = new_figure("Sharpness against batch size", "batch size", "sharpness", x_axis_type="log", y_axis_type="log")
    for e in EPSILONS:
        _line(sharp, f"fig:sweep:sharpness {e:g}", _series(table.rows, "batch", f"full {e:g}", True, True),
              EPS_COLORS[e], f"ε {e:g}")
    return _finish([acc, sharp])


def warmstart_figure(table: Table) -> dict:
    """Fig. 5: SB-iterate and LB test accuracy, and LB sharpness (log), against the SB epoch."""
    acc = new_figure("Test accuracy against the SB epoch LB starts from", "SB epoch", "test accuracy %")
    _line(acc, "fig:warmstart:sb_test_acc", _series(table.rows, "sb_epoch", "sb_test_acc"), ROLE_COLORS["SB"],
          "SB iterate")
    _line(acc, "fig:warmstart:lb_test_acc", _series(table.rows, "sb_epoch", "lb_test_acc"), ROLE_COLORS["LB"],
          "LB from it")
    sharp = new_figure("Sharpness of the LB solutions", "SB epoch", "sharpness", y_axis_type="log")
    for e in EPSILONS:
        _line(sharp, f"fig:warmstart:sharpness {e:g}", _series(table.rows, "sb_epoch", f"full {e:g}", log_y=True),
              EPS_COLORS[e], f"ε {e:g}")
    return _finish([acc, sharp])


def trajectory_figure(table: Table) -> dict:
    """Fig. 6: sharpness (log) of the SB and LB iterates against their training loss (log), both eps."""
    figs = []
    for e in EPSILONS:
        fig = new_figure(f"Sharpness against cross-entropy, ε {e:g}", "training loss", "sharpness",
                   x_axis_type="log", y_axis_type="log")
        for role in ("SB", "LB"):
            rows = [r for r in table.rows if r["role"] == role]
            _line(fig, f"fig:trajectory:{role} {e:g}", _series(rows, "train_loss", f"full {e:g}", True, True),
                  ROLE_COLORS[role], role, dash="solid" if e == 1e-3 else "dashed")
        figs.append(fig)
    return _finish(figs)


def eos_figure(table: Table) -> dict:
    """Every run's λ_max over its own stability threshold (1: the edge), and its training loss, per step."""
    colors = role_colors([row["role"] for row in table.rows])
    edge = new_figure("λ_max over the stability threshold (dotted: the edge)", "step", "λ_max / threshold",
                      y_axis_type="log")
    edge.add_layout(Span(location=1.0, dimension="width", line_dash="dotted", line_width=2, line_color="#555"))
    loss = new_figure("Training loss (full batch)", "step", "training loss", y_axis_type="log")
    for row in table.rows:
        role, color = row["role"], colors[row["role"]]
        ratio = [(s, v) for s, v in row.get("trace", []) if v > 0]
        source = ColumnDataSource({"x": [float(s) for s, _ in ratio], "y": [float(v) for _, v in ratio]},
                                  name=f"fig:eos:{role} edge")
        edge.line("x", "y", source=source, line_color=color, line_width=2, legend_label=role)
        falling = [(s, v) for s, v in row.get("loss_trace", []) if v > 0]
        source = ColumnDataSource({"x": [float(s) for s, _ in falling], "y": [float(v) for _, v in falling]},
                                  name=f"fig:eos:{role} loss")
        loss.line("x", "y", source=source, line_color=color, line_width=1.5, legend_label=role)
    return _finish([edge, loss])


def reparam_figure(table: Table) -> dict:
    """Each measure over its value at α = 1, against α (log-log): flat at 1 means invariant."""
    from trainer.kinds.reparam import MEASURE_COLUMNS

    colors = role_colors([label for _, label in MEASURE_COLUMNS])
    fig = new_figure("Each measure relative to α = 1 (the same function throughout)", "α", "value / value at α = 1",
                     x_axis_type="log", y_axis_type="log")
    fig.add_layout(Span(location=1.0, dimension="width", line_dash="dotted", line_width=2, line_color="#555"))
    base = next((row for row in table.rows if row["alpha"] == 1.0), None)
    for key, label in MEASURE_COLUMNS:
        if not base or not base.get(key):
            continue
        rows = [{"alpha": r["alpha"], "ratio": r[key] / base[key]} for r in table.rows if r.get(key)]
        _line(fig, f"fig:reparam:{key}", _series(rows, "alpha", "ratio", True, True), colors[label], label)
    return _finish([fig])


def measures_figure(table: Table) -> dict:
    """One scatter per measure: its value against the run's gap, coloured by batch size."""
    from trainer.kinds.measures import MEASURES

    batches = sorted({row["batch"] for row in table.rows if row.get("batch") is not None})
    colors = role_colors([f"B={b:g}" for b in batches])
    figures = []
    for key, label, _ in MEASURES:
        fig = new_figure(label, "generalization gap (points)", label, height=240, y_axis_type="log")
        for batch in batches:
            rows = [r for r in table.rows if r.get("batch") == batch]
            source = ColumnDataSource(_series(rows, "gap", key, log_y=True), name=f"fig:measures:{key}:{batch:g}")
            fig.scatter("x", "y", source=source, color=colors[f"B={batch:g}"], size=7, legend_label=f"B={batch:g}")
        figures.append(fig)
    return _finish(figures)


def scaling_figure(table: Table) -> dict:
    """Steps to the target against batch size (log-log), perfect scaling dashed, B_simple as a vertical line."""
    fig = new_figure("Steps to the target training loss (lr tuned per batch size)", "batch size", "steps",
                     x_axis_type="log", y_axis_type="log")
    _line(fig, "fig:scaling:steps", _series(table.rows, "batch", "steps", True, True), ROLE_COLORS["SB"],
          "measured (best lr)")
    _line(fig, "fig:scaling:perfect", _series(table.rows, "batch", "perfect", True, True), "#555",
          "perfect scaling", dash="dashed")
    _line(fig, "fig:scaling:acc", _series(table.rows, "batch", "acc_steps", True, True), ACCURACY_COLOR,
          "to the target test accuracy", dash="dotted")
    b_simple = table.rows[0].get("b_simple") if table.rows else None
    if b_simple:
        fig.add_layout(Span(location=float(b_simple), dimension="height", line_dash="dashdot", line_width=2,
                            line_color=ROLE_COLORS["LB"], name="fig:scaling:b_simple"))
    return _finish([fig])


# kind name -> its figure, drawn from its table of the same key
KIND_FIGURES = {"sweep": sweep_figure, "warmstart": warmstart_figure, "trajectory": trajectory_figure,
                "eos": eos_figure, "scaling": scaling_figure, "reparam": reparam_figure, "measures": measures_figure}
FIGURE_TABLE = {"measures": "measures-runs"}  # the table a kind's figure reads, when not the kind's own key


def kind_figure(kind: str, tables: list[Table]) -> dict | None:
    build = KIND_FIGURES.get(kind)
    key = FIGURE_TABLE.get(kind, kind)
    return build(next(t for t in tables if t.key == key)) if build else None

