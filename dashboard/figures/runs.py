"""Bokeh figures of an experiment's runs: one skeleton per shape, and the points apart.

The skeleton is the figures as a json_item with every source empty and one line per group, the
group's template: group g's sources are named "t#<g>:<metric>" and its drawn renderers "t#<g>"
(each with a faint raw renderer on the same source); each group has a bold mean
("mean:<group>:<metric>") and a mean ± std band ("band:..."), computed in the browser from the
runs' sources so they follow the live points and the chosen smoothing. Building it costs about a
millisecond a Bokeh model, so it is built once per shape (the groups and the optional plots,
whatever the number of runs in each) and kept in the figures cache, which every web process
reads (a restarted server starts warm).

A page gets {"item": the skeleton, "lines": [[run id, label, group index], ...] in the page's
order, "data": {"r<run id>:<metric>": [x, y]}, "thresholds": {group: [value, text]}}, x the
differences of the int32 steps (or epochs), y the float32 values as shown (accuracy in percent) at
display_precision, each packed (pack). The page's script (static/dashboard/plots.js, embed) gives
a group's template to its first run and copies it for the others (new BokehJS models: a source
"r<run id>:<metric>", renderers with copies of the template's glyphs, added to the group's legend
item and to the hover), names the renderers after their runs and fills the sources in; it then
derives the columns xv (x on the chosen axis) and ys (y smoothed) and extends them with stream().
"""
from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
import pathlib
import re
import zlib

import numpy as np
from bokeh.embed import json_item
from bokeh.layouts import gridplot
from bokeh.models import (ColumnDataSource, GlyphRenderer, HoverTool, HSpan, Label, Legend, LegendItem, Line, Scatter,
                          Text, VArea)
from django.core.cache import caches

from dashboard.figures import code_version
from dashboard.figures.series import PLOTTED, load_series, series_version
from dashboard.figures.style import ROLE_COLORS, new_figure, role_colors
from trainer.catalog import dataset_info
from trainer.config import TrainConfig
from trainer.stability import stability_threshold, threshold_text

# (key, title, y label, [(metric, dash)], log y: True offered by the page's toggle, "always" a log axis for good
# (curvatures and thresholds span orders of magnitude)); the x axis is chosen on the page
PANELS = (
    ("loss", "Training loss per step", "loss", [("loss", "solid")], True),
    ("xent", "Cross-entropy per epoch (solid: train, dashed: test)", "cross-entropy",
     [("train_loss", "solid"), ("test_loss", "dashed")], True),
    ("acc", "Accuracy per epoch (solid: train, dashed: test)", "accuracy (%)",
     [("train_acc", "solid"), ("test_acc", "dashed")], False),
    ("dist", "Distance from the initial weights", "||w - w0||", [("dist_init", "solid")], True),
)
# drawn when a run measures it (curvature_every): each group's stability threshold as a dotted line
CURVATURE_PANEL = ("curv", "Curvature: top Hessian eigenvalue (dashed: Adam's, preconditioned)", "λ_max",
                   [("lambda_max", "solid"), ("lambda_max_pre", "dashed")], "always")
SHARPNESS_PANEL = ("sharp", "Keskar sharpness per epoch (ε 1e-3, live)", "sharpness", [("sharpness", "solid")],
                   "always")
PERCENT = frozenset({"acc", "train_acc", "test_acc"})
RUN_TOOLTIPS = [("run", "$name"), ("x", "@xv{0,0.[00]}"), ("value", "@y{0,0.[0000]}"), ("smoothed", "@ys{0,0.[0000]}")]
MEAN_TOOLTIPS = [("group", "$name"), ("x", "@x{0,0.[00]}"), ("mean", "@y{0,0.[0000]}"), ("std", "@std{0,0.[0000]}")]


def _source(name: str, **columns):
    return ColumnDataSource(columns or {"x": np.zeros(0, np.int32), "y": np.zeros(0, np.float32),
                                        "xv": np.zeros(0, np.float64), "ys": np.zeros(0, np.float32)}, name=name)


def plot_role(run) -> str:
    """What a run's lines are grouped (and averaged) by: its role, and for a warm-started run the
    SB epoch it starts from (runs from different SB iterates are not seeds of one setting)."""
    return f"{run.role} from SB epoch {run.tags['sb_epoch']}" if "sb_epoch" in run.tags else run.role


def group_key(label: str) -> str:
    """A group's label as it names the figure's sources ("mean:<group>:<metric>", split on ":")
    and the page's runs: one spelling for both."""
    return label.replace(":", "=")


def run_label(run, with_experiment: bool = False) -> str:
    label = f"{run.role} seed {run.seed} (run {run.pk})"
    return f"{run.experiment.name}: {label}" if with_experiment else label


def run_geometry(run) -> dict:
    """What the page needs to put a run's points on another x axis: its batch and steps per epoch.
    A finished run says what it trained with; before that they come from its config (the web
    process reads no data files: the catalog's size stands in for a dataset without a subset)."""
    final = run.final_metrics or {}
    if final.get("batch_size") and final.get("steps") and final.get("epochs"):
        return {"batch": int(final["batch_size"]), "stepsPerEpoch": max(1, int(final["steps"]) // int(final["epochs"]))}
    try:
        config = TrainConfig.from_dict(run.config)
        n_train = config.subset or dataset_info(config.dataset).n_train
        batch = config.resolved_batch_size(n_train)
        return {"batch": batch, "stepsPerEpoch": max(1, n_train // batch)}
    except Exception:  # a config this version cannot read: its curves keep their own x
        return {}


def thresholds(runs, group_of) -> dict[str, tuple[float, str]] | None:
    """{group: (threshold, its name)} of the runs that measure live curvature (curvature_every):
    the curvature each group's optimizer stays stable under, the first run's of the group; None
    when no run measures it (the page has no curvature plot)."""
    out: dict[str, tuple[float, str]] = {}
    for run in runs:
        config = run.config or {}
        if not config.get("curvature_every"):
            continue
        group = group_key(group_of(run))
        if group in out:
            continue
        optimizer, momentum = config.get("optimizer", "sgd"), float(config.get("momentum", 0) or 0)
        lr = float((run.final_metrics or {}).get("lr") or config.get("lr") or 0)
        if lr > 0:
            momentum = momentum if optimizer == "sgd" else 0.0
            out[group] = (stability_threshold(optimizer, lr, momentum), f"{group}: {threshold_text(optimizer, lr, momentum)}")
    return out or None


def experiment_figure(runs) -> dict:
    """The experiment's plots (one document: the page looks sources up by name)."""
    runs = list(runs)
    return curves_figure([(run.pk, plot_role(run), run_label(run)) for run in runs],
                         thresholds(runs, plot_role), live_sharpness(runs), _versions(runs))


def live_sharpness(runs) -> bool:
    return any((run.config or {}).get("sharpness_every") for run in runs)


def _versions(runs) -> dict[int, str]:
    return {run.pk: version for run in runs if (version := series_version(run))}


def curves_figure(lines, curvature=None, sharpness: bool = False, versions=None) -> dict:
    """Run curves grouped: lines is [(run id, group, label)]; one colour, legend entry, bold mean
    and mean ± std band per group. curvature: {group: (threshold, text)} adds the curvature plot,
    sharpness the live Keskar sharpness plot. versions: the runs' series_version."""
    lines = [(pk, group_key(group), label) for pk, group, label in lines]
    groups = ordered_groups({group for _, group, _ in lines})
    data = {}
    for (pk, metric), (x, y) in load_series([pk for pk, _, _ in lines], PLOTTED, versions).items():
        y = y * np.float32(100) if metric in PERCENT else y
        data[f"r{pk}:{metric}"] = [pack(np.diff(x, prepend=0).astype("<i4")), pack(display_precision(y))]
    return {"item": skeleton(groups, curvature is not None, sharpness),
            "lines": [[pk, label, groups.index(group)] for pk, group, label in lines], "data": data,
            "thresholds": {group: [value, text] for group, (value, text) in (curvature or {}).items()}}


def display_precision(y: np.ndarray) -> np.ndarray:
    """float32 values rounded to 16 significant bits (relative error at most 2^-16, 1.5e-5: over
    four significant digits, finer than a plot's pixels and its tooltips' four decimals), as 3 bytes
    each: the low mantissa byte, the noise of every curve, is what a page's values cost most.
    Exports keep every bit."""
    bits = np.ascontiguousarray(y, dtype="<f4").view("<u4")
    finite = np.isfinite(y)
    rounded = np.where(finite, (bits + np.uint32(0x80)) & np.uint32(0xFFFFFF00), bits)  # to nearest
    return rounded.view("<u1").reshape(-1, 4)[:, 1:]


def pack(values: np.ndarray) -> str:
    """Values for the page, small: their bytes shuffled (every value's first byte, then every
    second byte, ...: a float's exponent bytes repeat, its low mantissa bytes do not), deflated,
    base64. values: 4-byte numbers, or their bytes as rows (display_precision's 3)."""
    rows = np.ascontiguousarray(values).view(np.uint8).reshape(len(values), -1)
    return base64.b64encode(zlib.compress(rows.T.tobytes(), 9)).decode("ascii")


THRESHOLD = "threshold:"  # "threshold:<group>": x, y (the threshold), text

# the skeleton's code and Bokeh's version: a change of either builds every skeleton anew
SKELETON_VERSION = code_version(pathlib.Path(__file__), pathlib.Path(__file__).with_name("style.py"))
_skeletons: dict[tuple, dict] = {}  # this process's, parsed


def ordered_groups(groups) -> tuple[str, ...]:
    """Groups in the legend's order: the roles first, then by name, numbers as numbers."""
    return tuple(sorted(set(groups), key=lambda g: (g not in ROLE_COLORS, _natural(g))))


def skeleton(groups: tuple[str, ...], curvature: bool = False, sharpness: bool = False) -> dict:
    """The figures for runs of the groups (ordered_groups) as a json_item with every source empty.
    Keyed by the groups alone, so every experiment with the same groups (SB and LB, whatever the
    seeds) shares one build: from this process's memory, else the figures cache, else built (and
    kept in both)."""
    shape = (groups, curvature, sharpness)
    if shape not in _skeletons:
        key = "skeleton:" + hashlib.sha256(json.dumps([SKELETON_VERSION, *shape]).encode()).hexdigest()
        cache = caches["figures"]
        text = cache.get(key)
        if text is None:
            text = json.dumps(_build_skeleton(*shape))
            cache.set(key, text)
        if len(_skeletons) >= 64:
            _skeletons.pop(next(iter(_skeletons)))
        _skeletons[shape] = json.loads(text)
    return _skeletons[shape]


_warming = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="skeletons")


def warm_skeletons(plans) -> None:
    """Build in the background, into the figures cache, the skeleton of the page each plan's
    experiment opens with (a plan: the PlannedRuns an experiment starts with), so that the first
    view of a new shape does not build it: the form asks when it is shown (every preset) and as
    its settings change (the plan they make)."""
    for planned in plans:
        groups = ordered_groups(group_key(plot_role(p)) for p in planned)
        shape = (groups, any(p.config.curvature_every for p in planned), any(p.config.sharpness_every for p in planned))
        if groups and shape not in _skeletons:
            _warming.submit(skeleton, *shape)


def _build_skeleton(groups: tuple[str, ...], curvature: bool, sharpness: bool) -> dict:
    colors = role_colors(list(groups))
    figures = []
    extra = ((CURVATURE_PANEL,) if curvature else ()) + ((SHARPNESS_PANEL,) if sharpness else ())
    for key, title, ylabel, metrics, log_y in PANELS + extra:
        fig = new_figure(title, "epoch", ylabel, height=300, tags=[f"panel:{key}"] + (["log-y"] if log_y is True else []),
                         y_axis_type="log" if log_y == "always" else "linear")
        waiting = GlyphRenderer(data_source=_source(f"waiting:{key}", x=[0, 1], y=[1, 2]),
                                glyph=Scatter(x="x", y="y", fill_alpha=0, line_alpha=0))
        fig.renderers.append(waiting)
        fig.add_layout(Label(x=0.5, y=1.5, text="waiting for the first point", text_align="center",
                             text_baseline="middle", text_color="#777", name=f"waiting-label:{key}"))
        members = {g: [] for g in groups}
        run_lines, means = [], []
        for metric, dash in metrics:
            for g, group in enumerate(groups):
                source = _source(f"t#{g}:{metric}")
                raw = GlyphRenderer(data_source=source, glyph=Line(x="xv", y="y", line_color=colors[group],
                                                                    line_dash=dash, line_width=1, line_alpha=0.15))
                drawn = GlyphRenderer(data_source=source, name=f"t#{g}", glyph=Line(
                    x="xv", y="ys", line_color=colors[group], line_dash=dash, line_width=1.5, line_alpha=0.55))
                fig.renderers.extend([raw, drawn])
                members[group] += [raw, drawn]
                run_lines.append(drawn)
            for group in groups:
                band = GlyphRenderer(data_source=_source(f"band:{group}:{metric}", x=[], lower=[], upper=[]),
                                     glyph=VArea(x="x", y1="lower", y2="upper", fill_color=colors[group], fill_alpha=0.15))
                mean = GlyphRenderer(data_source=_source(f"mean:{group}:{metric}", x=[], y=[], std=[]),
                                     name=f"{group} mean", glyph=Line(x="x", y="y", line_color=colors[group],
                                                                       line_dash=dash, line_width=3))
                fig.renderers.extend([band, mean])
                members[group] += [band, mean]
                means.append(mean)
        if key == "curv":
            for group in groups:  # the stability threshold, named at the axis's start
                limit = _source(f"{THRESHOLD}{group}", x=[], y=[], text=[])
                line = GlyphRenderer(data_source=limit, glyph=HSpan(y="y", line_color=colors[group], line_dash="dotted",
                                                                    line_width=2))
                name = GlyphRenderer(data_source=limit, glyph=Text(x="x", y="y", text="text", text_color=colors[group],
                                                                   text_font_size="11px", text_baseline="bottom",
                                                                   x_offset=4))
                fig.renderers.extend([line, name])
                members[group] += [line, name]
        fig.add_tools(HoverTool(renderers=run_lines, tooltips=RUN_TOOLTIPS, line_policy="nearest"),
                      HoverTool(renderers=means, tooltips=MEAN_TOOLTIPS, line_policy="nearest"))
        legend = Legend(items=[LegendItem(label=g, renderers=members[g]) for g in groups], click_policy="hide",
                        title="click to hide")
        fig.add_layout(legend, "right")
        figures.append(fig)
    grid = gridplot(figures, ncols=2, sizing_mode="stretch_width", merge_tools=False, toolbar_location=None)
    return json_item(grid)


def _natural(text: str) -> list:
    """Sort key that orders "B=16" before "B=128" and "epoch 2" before "epoch 10"."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]


def compare_figure(runs, group_by=None) -> dict:
    """Any runs, from any experiments, overlaid and grouped by group_by(run) (default: each run alone)."""
    runs = list(runs)
    group_of = group_by or (lambda run: run_label(run, True))
    return curves_figure([(run.pk, group_of(run), run_label(run, True)) for run in runs],
                         curvature=thresholds(runs, group_of), sharpness=live_sharpness(runs), versions=_versions(runs))
