"""Bokeh figures and exportable series of a finished analysis, built from its stored result.

Figures are embedded like the experiment's (json_item, BokehJS from the bokeh package).
Data sources are named after the series they hold ("train_loss", "density", ...), so a
test or a script can find them in the document.
"""
from __future__ import annotations

import numpy as np
from bokeh.embed import json_item
from bokeh.layouts import column
from bokeh.models import ColorBar, ColumnDataSource, FixedTicker, Label, Legend, LegendItem, LinearAxis, LinearColorMapper, Range1d, Span
from bokeh.palettes import Viridis256

from dashboard.figures.style import LOSS_COLOR, MARK_COLOR, SECOND_COLOR, new_figure


def _figure(title: str, x_label: str, y_label: str, **kwargs):
    return new_figure(title, x_label, y_label, height=380, **kwargs)


def analysis_figure(analysis) -> dict | None:
    """The analysis's figures as a json_item, or None when the kind shows tables only (sharpness)."""
    if analysis.status != "done" or not analysis.result:
        return None
    builder = {"interpolation": interpolation_figure, "hessian": hessian_figure,
               "landscape": landscape_figure}.get(analysis.kind)
    return json_item(builder(analysis.result)) if builder else None


def interpolation_figure(result: dict):
    """Keskar et al. Fig. 3: cross-entropy (left axis) and accuracy (right axis) along the path, SB at 0, LB at 1."""
    alphas = result["alphas"]
    fig = _figure(f"Parametric plot ({result['options']['path']} path, BN {result['options']['bn']})",
                  "alpha", "cross-entropy")
    losses = [v for key in ("train_loss", "test_loss") for v in result[key] if v is not None]
    fig.y_range = Range1d(0, max(losses) * 1.05 if losses else 1)
    fig.extra_y_ranges = {"accuracy": Range1d(0, 1)}
    fig.add_layout(LinearAxis(y_range_name="accuracy", axis_label="accuracy"), "right")
    items = []
    for key, label, color, dash, y_range in (
            ("train_loss", "train cross-entropy", LOSS_COLOR, "solid", "default"),
            ("test_loss", "test cross-entropy", LOSS_COLOR, "dashed", "default"),
            ("train_acc", "train accuracy", SECOND_COLOR, "solid", "accuracy"),
            ("test_acc", "test accuracy", SECOND_COLOR, "dashed", "accuracy")):
        source = ColumnDataSource({"x": alphas, "y": result[key]}, name=key)
        line = fig.line("x", "y", source=source, line_color=color, line_dash=dash, line_width=2, y_range_name=y_range)
        items.append(LegendItem(label=label, renderers=[line]))
    for alpha, name in ((0, "SB"), (1, "LB")):
        fig.add_layout(Span(location=alpha, dimension="height", line_color="#555555", line_dash="dotted"))
        fig.add_layout(Label(x=alpha, y=0, y_units="screen", y_offset=6, x_offset=4, text=f"{name} (alpha={alpha})",
                             text_font_size="11px"))
    fig.add_layout(Legend(items=items, click_policy="hide"), "below")
    return fig


def hessian_figure(result: dict):
    figures = []
    eigen = result.get("eigen")
    if eigen:
        values = eigen["eigenvalues"]
        fig = _figure("Top Hessian eigenvalues (by magnitude)", "rank", "eigenvalue")
        source = ColumnDataSource({"x": list(range(1, len(values) + 1)), "y": values}, name="eigenvalues")
        fig.scatter("x", "y", source=source, size=10, color=LOSS_COLOR)
        fig.xaxis.ticker = FixedTicker(ticks=list(range(1, len(values) + 1)))
        figures.append(fig)
    density = result.get("density")
    if density:
        y = np.asarray([v if v is not None else 0.0 for v in density["density"]], dtype=float)
        floor = max(float(y.max()) * 1e-8, 1e-300)  # zeros cannot sit on a log axis
        fig = _figure("Eigenvalue density (stochastic Lanczos quadrature)", "eigenvalue", "density (log)",
                      y_axis_type="log")
        source = ColumnDataSource({"x": density["grid"], "y": np.maximum(y, floor)}, name="density")
        fig.line("x", "y", source=source, line_color=LOSS_COLOR, line_width=2)
        figures.append(fig)
    return column(figures, sizing_mode="stretch_width")


def _grid(values) -> np.ndarray:
    """result[i][j] at (x_i, y_j) -> an image array z[j][i] (rows are y), None -> NaN."""
    return np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float).T


def _landscape_panel(result: dict, key: str, title: str):
    xs, ys = np.asarray(result["x_coords"]), np.asarray(result["y_coords"])
    z = _grid(result[key])
    finite = z[np.isfinite(z)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    high = high if high > low else low + 1e-12
    fig = _figure(title, "direction 1 (filter-normalised)", "direction 2", x_range=(xs[0], xs[-1]),
                  y_range=(ys[0], ys[-1]), match_aspect=True)
    mapper = LinearColorMapper(palette=Viridis256, low=low, high=high)
    dx = (xs[-1] - xs[0]) / max(len(xs) - 1, 1)
    dy = (ys[-1] - ys[0]) / max(len(ys) - 1, 1)
    source = ColumnDataSource({"image": [z], "x": [xs[0] - dx / 2], "y": [ys[0] - dy / 2],
                               "dw": [xs[-1] - xs[0] + dx], "dh": [ys[-1] - ys[0] + dy]}, name=key)
    fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=source, color_mapper=mapper)
    fig.add_layout(ColorBar(color_mapper=mapper, title="loss"), "right")
    if finite.size and len(xs) > 1 and len(ys) > 1:
        # levels spaced in log(loss - min): the basin's shape near the minimum, not only its far walls
        levels = low + np.geomspace(1e-3 * (high - low), high - low, 10)
        fig.contour(xs, ys, np.ma.masked_invalid(z), levels=levels, line_color="white", line_alpha=0.8)
    fig.scatter([0.0], [0.0], marker="x", size=14, line_width=3, color=MARK_COLOR, legend_label="the run's weights")
    return fig


def landscape_figure(result: dict):
    return column([_landscape_panel(result, "train_loss", "Train loss around the minimum"),
                   _landscape_panel(result, "test_loss", "Test loss around the minimum")], sizing_mode="stretch_width")


# -- exports ------------------------------------------------------------------------------

def series_rows(analysis) -> tuple[list[str], list[list]]:
    """The result's series at full resolution as one CSV table (header, rows)."""
    r = analysis.result
    if analysis.kind == "sharpness":
        keys = ["epsilon", "value", "f_x", "f_max", "f_returned", "iterations", "function_evaluations",
                "model_evaluations", "status", "message", "start", "value_max", "value_std", "seconds"]
        return keys, [[entry.get(k) for k in keys] for entry in r.get("entries", [])]
    if analysis.kind == "interpolation":
        keys = ["alpha", "train_loss", "train_acc", "test_loss", "test_acc"]
        return keys, [list(row) for row in zip(r["alphas"], r["train_loss"], r["train_acc"], r["test_loss"],
                                               r["test_acc"])]
    if analysis.kind == "hessian":
        rows = [["eigenvalue", i + 1, v, None] for i, v in enumerate((r.get("eigen") or {}).get("eigenvalues", []))]
        if r.get("trace"):
            rows.append(["trace", None, r["trace"]["trace"], r["trace"]["std_error"]])
        density = r.get("density") or {}
        rows += [["density", x, d, None] for x, d in zip(density.get("grid", []), density.get("density", []))]
        return ["series", "x", "value", "std_error"], rows
    if analysis.kind == "measures":
        from trainer.analysis.by_name import MEASURE_DESCRIPTIONS

        values = r.get("values", {})
        rows = []
        for key, (label, reads) in MEASURE_DESCRIPTIONS.items():
            note = f"± {r['trace_std_error']:.3g} (standard error)" if key == "trace" and r.get("trace_std_error") else ""
            rows.append([label, values.get(key), reads, note])
        return ["measure", "value", "reads", "note"], rows
    if analysis.kind == "landscape":
        keys = ["train_loss", "train_acc", "test_loss", "test_acc"]
        return ["x", "y", *keys], [[x, y, *(r[k][i][j] for k in keys)]
                                   for i, x in enumerate(r["x_coords"]) for j, y in enumerate(r["y_coords"])]
    return [], []
