"""Bokeh figures of an experiment, built from stored points and embedded with json_item.

Every run has one ColumnDataSource per metric, named "r<run id>:<metric>" with columns
x and y, which the page's script extends with stream(). The bold per-role means
("mean:<role>:<metric>") are computed in the browser from those sources, so they follow
the live points.

Building Bokeh models costs about a millisecond each and a page has hundreds, so the
figures are built once per set of runs with empty sources (cached, as JSON text) and each
request only fills in the sources' data with Bokeh's own serializer.
"""
from __future__ import annotations

import functools
import json
import re

import numpy as np
from bokeh.core.serialization import Serializer
from bokeh.embed import json_item
from bokeh.layouts import gridplot
from bokeh.models import ColumnDataSource, GlyphRenderer, Legend, LegendItem, Line

from dashboard.figures.series import load_series
from dashboard.figures.style import ROLE_COLORS, new_figure, role_colors
from trainer.kinds.records import EPOCH_METRICS

# (panel title, x label, y label, [(metric, dash, legend suffix)])
PANELS = (
    ("Training loss per step", "step", "loss", [("loss", "solid", "")]),
    ("Loss per epoch (solid: train, dashed: test)", "epoch", "cross-entropy",
     [("train_loss", "solid", " train"), ("test_loss", "dashed", " test")]),
    ("Accuracy per epoch (solid: train, dashed: test)", "epoch", "accuracy",
     [("train_acc", "solid", " train"), ("test_acc", "dashed", " test")]),
    ("Distance from the initial weights", "epoch", "||w - w0||", [("dist_init", "solid", "")]),
)
PLOTTED = ("loss",) + EPOCH_METRICS


def _source(name: str) -> ColumnDataSource:
    return ColumnDataSource({"x": np.zeros(0, np.int32), "y": np.zeros(0, np.float32)}, name=name)


def plot_role(run) -> str:
    """What a run's lines are grouped (and averaged) by: its role, and for a warm-started run the
    SB epoch it starts from (runs from different SB iterates are not seeds of one setting)."""
    return f"{run.role} from SB epoch {run.tags['sb_epoch']}" if "sb_epoch" in run.tags else run.role


class _Glyphs:
    """One Line model per look, shared by every line drawn with it."""

    def __init__(self, roles):
        self.colors = role_colors(roles)
        self.cache: dict[tuple, Line] = {}

    def __call__(self, role: str, dash: str, bold: bool) -> Line:
        key = (role, dash, bold)
        if key not in self.cache:
            self.cache[key] = Line(x="x", y="y", line_color=self.colors[role], line_dash=dash,
                                   line_width=3 if bold else 1, line_alpha=1.0 if bold else 0.35)
        return self.cache[key]


def experiment_figure(runs, series=None) -> dict:
    """The experiment's plots as a json_item (one document: the page looks sources up by name)."""
    runs = list(runs)
    if series is None:
        series = load_series([r.pk for r in runs], PLOTTED)
    text = _skeleton(tuple(plot_role(r) for r in runs))
    for i, run in enumerate(runs):  # the skeleton's sources are named by position: name them by run
        text = text.replace(f'"r#{i}:', f'"r{run.pk}:')
    item = json.loads(text)
    serializer = Serializer(deferred=False)
    for source in _named_sources(item["doc"]):
        run, _, metric = source["attributes"]["name"][1:].partition(":")
        xy = series.get((int(run), metric))
        if xy is not None:
            source["attributes"]["data"] = serializer.encode({"x": xy[0], "y": xy[1]})
    return item


def _named_sources(node):
    """The serialized per-run ColumnDataSources ("r<id>:<metric>") in a json_item document."""
    if isinstance(node, dict):
        if node.get("name") == "ColumnDataSource" and str(node.get("attributes", {}).get("name", "")).startswith("r"):
            yield node
            return
        for value in node.values():
            yield from _named_sources(value)
    elif isinstance(node, list):
        for value in node:
            yield from _named_sources(value)


@functools.lru_cache(maxsize=64)
def _skeleton(layout: tuple[str, ...]) -> str:
    """The figures for runs of roles [role, ...] with every source empty, as json_item JSON
    text; run i's sources are named "r#<i>:<metric>". Keyed by the roles alone, so every
    experiment of the same shape (e.g. 3 SB + 3 LB) shares one cached build."""
    layout = tuple(enumerate(layout))
    roles = sorted({role for _, role in layout}, key=lambda role: (role not in ROLE_COLORS, _natural(role)))
    glyphs = _Glyphs(roles)
    figures = []
    for title, xlabel, ylabel, lines in PANELS:
        fig = new_figure(title, xlabel, ylabel, height=300)
        items = []
        for metric, dash, suffix in lines:
            for run_id, role in layout:
                fig.renderers.append(GlyphRenderer(data_source=_source(f"r#{run_id}:{metric}"),
                                                   glyph=glyphs(role, dash, False)))
            for role in roles:
                mean = GlyphRenderer(data_source=_source(f"mean:{role}:{metric}"), glyph=glyphs(role, dash, True))
                fig.renderers.append(mean)
                items.append(LegendItem(label=f"{role} mean{suffix}", renderers=[mean]))
        if items:
            fig.add_layout(Legend(items=items, click_policy="hide",
                                  location="bottom_right" if "Accuracy" in title else "top_right"))
        figures.append(fig)
    grid = gridplot(figures, ncols=2, sizing_mode="stretch_width", merge_tools=False)
    return json.dumps(json_item(grid))


def _natural(text: str) -> list:
    """Sort key that orders "B=16" before "B=128" and "epoch 2" before "epoch 10"."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]


def compare_figure(runs) -> dict:
    """Any runs, from any experiments, overlaid: one colour per run, all points (downsampled)."""
    from bokeh.palettes import Category10_10

    runs = list(runs)
    series = load_series([r.pk for r in runs], PLOTTED)
    figures = []
    for title, xlabel, ylabel, lines in PANELS:
        fig = new_figure(title, xlabel, ylabel)
        items = []
        for i, run in enumerate(runs):
            color = Category10_10[i % 10]
            for metric, dash, suffix in lines:
                x, y = series.get((run.pk, metric), (np.zeros(0, np.int32), np.zeros(0, np.float32)))
                renderer = GlyphRenderer(
                    data_source=ColumnDataSource({"x": x, "y": y}, name=f"r{run.pk}:{metric}"),
                    glyph=Line(x="x", y="y", line_color=color, line_dash=dash, line_width=2))
                fig.renderers.append(renderer)
                items.append(LegendItem(label=f"{run.experiment.name} {run.role} s{run.seed}{suffix}",
                                        renderers=[renderer]))
        if items:
            fig.add_layout(Legend(items=items, click_policy="hide"), "right")
        figures.append(fig)
    return json_item(gridplot(figures, ncols=1, sizing_mode="stretch_width", merge_tools=False))
