"""{% analyses_section %}: the experiment page's analyses block, with its own context.

It reads only `experiment`, `request` and `token` from the page's context, so the page's
view need not know about analyses; the page's sections refresh renders the same context.
"""
from django import template
from django.middleware.csrf import get_token

import statistics

from dashboard.analyses import partner_runs
from dashboard.figures.runs import plot_role
from dashboard.models import Status
from trainer.analysis.by_name import ANALYSIS_KINDS, defaults
from trainer.kinds.records import sharpness_values

register = template.Library()


def analyses_context(experiment, request, token: str | None, runs=None) -> dict:
    can_edit = experiment.can_edit(request.user)
    query = f"?token={token}" if token and not can_edit else ""
    analyses = list(experiment.analyses.select_related("run", "run_b__experiment"))
    runs = runs if runs is not None else experiment.runs.all()
    finished_runs = [run for run in runs if run.status == Status.DONE]
    partners: dict = {}
    if can_edit and finished_runs:
        for run in partner_runs(experiment, request.user):
            partners.setdefault(run.experiment, []).append(run)
    return {
        "request": request, "experiment": experiment, "can_edit": can_edit, "query": query, "analyses": analyses,
        "finished_runs": finished_runs, "partners": partners,
        "sharpness_table": sharpness_table(finished_runs, analyses),
        "defaults": {kind: defaults(kind) for kind in ANALYSIS_KINDS},
        "csrf_token": get_token(request) if can_edit else "",
    }


def sharpness_table(finished_runs, analyses) -> dict:
    """Each finished run's sharpness at its final weights (the latest finished analysis, else the
    latest requested one's state), and per group the mean ± std over runs: {"columns", "rows",
    "groups", "ratio"}; no rows when no sharpness of final weights was asked for."""
    chosen: dict = {}
    for a in sorted((a for a in analyses if a.kind == "sharpness" and a.epoch is None and a.run_id), key=lambda a: a.pk):
        held = chosen.get(a.run_id)
        if held is None or a.status == Status.DONE or held.status != Status.DONE:
            chosen[a.run_id] = a
    measured = {a.run_id: a.result.get("values", {}) for a in analyses
                if a.kind == "measures" and a.epoch is None and a.status == Status.DONE and a.result
                and float(a.params.get("alpha", 1)) == 1.0}
    for a in analyses:  # a run measured only by the measures analysis still gets its row
        if a.kind == "measures" and a.epoch is None and a.run_id and a.run_id not in chosen:
            chosen[a.run_id] = a
    if not chosen:
        return {"rows": []}
    values = {pk: sharpness_values(a.result) for pk, a in chosen.items() if a.status == Status.DONE and a.kind == "sharpness"}
    keys = sorted({key for v in values.values() for key in v}, key=lambda k: (k[0] != "full", -k[1], k[0]))
    # the other measures beside Keskar's, wherever a run has them: the lab never calls a minimum flat on one measure
    shown = [m for m in SIDE_BY_SIDE if any(v.get(m) is not None for v in measured.values())]
    for pk in chosen:
        values.setdefault(pk, {}).update({("measure", m): measured.get(pk, {}).get(m) for m in shown})
    keys += [("measure", m) for m in shown]
    rows, by_group = [], {}
    for run in finished_runs:
        analysis = chosen.get(run.pk)
        cells = [values.get(run.pk, {}).get(key) for key in keys]
        rows.append({"run": run, "analysis": analysis, "values": cells or [None],
                     "state": analysis.status if analysis else "not requested"})
        by_group.setdefault(plot_role(run), []).append(cells)
    groups = []
    for name, members in by_group.items():
        cells, n = [], 0
        for i in range(len(keys)):
            column = [m[i] for m in members if m[i] is not None]
            n = max(n, len(column))
            cells.append(_mean_std(column))
        groups.append({"name": name, "n": n, "cells": cells or ["-"]})
    return {"columns": [MEASURE_LABELS[eps] if space == "measure" else f"ε = {eps:g}" + ("" if space == "full" else f" ({space})")
                        for space, eps in keys] or ["ε"],
            "rows": rows, "groups": groups, "ratio": _ratio(by_group, keys)}


SIDE_BY_SIDE = ("lambda_max", "trace", "adaptive", "pac_bayes_sigma")
MEASURE_LABELS = {"lambda_max": "λ_max", "trace": "Hessian trace", "adaptive": "adaptive sharpness",
                  "pac_bayes_sigma": "PAC-Bayes σ (higher: flatter)"}


def _mean_std(column) -> str:
    if not column:
        return "-"
    if len(column) == 1:
        return f"{column[0]:.4g}"
    return f"{statistics.fmean(column):.4g} ± {statistics.stdev(column):.2g}"


def _ratio(by_group, keys) -> str:
    """"LB is 12.3× as sharp as SB at ε = 0.001 (means over 3 and 3 runs)", once both are known."""
    for i, (space, eps) in enumerate(keys):
        if space == "measure":
            continue
        sb = [m[i] for m in by_group.get("SB", []) if m[i] is not None]
        lb = [m[i] for m in by_group.get("LB", []) if m[i] is not None]
        if sb and lb and statistics.fmean(sb) > 0:
            where = f"ε = {eps:g}" + ("" if space == "full" else f", {space}")
            return (f"LB is {statistics.fmean(lb) / statistics.fmean(sb):.3g}× as sharp as SB at {where} "
                    f"(means over {len(lb)} and {len(sb)} run{'s' if len(sb) != 1 else ''}); "
                    "in the paper's Table 3 (full space, ε = 1e-3) LB is 9 to 220 times as sharp.")
    return ""


@register.inclusion_tag("dashboard/analysis_section.html", takes_context=True)
def analyses_section(context):
    request = context["request"]
    return analyses_context(context["experiment"], request, context.get("token") or request.GET.get("token"),
                            context.get("runs"))


@register.simple_tag(takes_context=True)
def far_end(context, analysis) -> str:
    """Interpolation's far end: "LB seed 0"; for a run of another experiment "LB seed 0 of <experiment>
    (#id)", but only to someone who may view that experiment (not to a share token's holder)."""
    run, experiment = analysis.run_b, analysis.experiment
    if run is None:
        return "a deleted run"
    label = f"{run.role} seed {run.seed}"
    if run.experiment_id == experiment.pk:
        return label
    if not analysis.far_end_visible_to(context["request"].user):
        return "a run of another experiment"
    return f"{label} of {run.experiment.name} (#{run.experiment_id})"


@register.filter
def join_numbers(values) -> str:
    return ", ".join(f"{v:g}" for v in values or [])
