"""{% analyses_section %}: the experiment page's analyses block, with its own context.

It reads only `experiment`, `request` and `token` from the page's context, so the page's
view need not know about analyses.
"""
from django import template
from django.urls import reverse

from dashboard.analyses import KINDS, SCHEMAS, partner_runs
from dashboard.models import Status
from dashboard.routing import stream_path

register = template.Library()


@register.inclusion_tag("dashboard/analysis_section.html", takes_context=True)
def analyses_section(context):
    experiment, request = context["experiment"], context["request"]
    can_edit = experiment.can_edit(request.user)
    token = context.get("token") or request.GET.get("token")
    query = f"?token={token}" if token and not can_edit else ""
    analyses = list(experiment.analyses.select_related("run", "run_b__experiment"))
    finished_runs = [run for run in experiment.runs.all() if run.status == Status.DONE]
    partners: dict = {}
    if can_edit and finished_runs:
        for run in partner_runs(experiment, request.user):
            partners.setdefault(run.experiment, []).append(run)
    defaults = {kind: {name: default for name, (default, _) in SCHEMAS[kind].items()} for kind in KINDS}
    return {
        "experiment": experiment, "can_edit": can_edit, "query": query, "analyses": analyses,
        "finished_runs": finished_runs, "partners": partners, "defaults": defaults,
        "csrf_token": context.get("csrf_token"),
        "live": {"wsPath": stream_path(experiment.pk) + query,
                 "statusUrl": reverse("analysis-status", args=[0]).replace("/0/", "/{id}/") + query},
    }


@register.filter
def run_label(run, experiment) -> str:
    """"LB seed 0", or "LB seed 0 of <experiment> (#id)" for a run of another experiment (interpolation's far end)."""
    if run is None:
        return "a deleted run"
    label = f"{run.role} seed {run.seed}"
    return label if run.experiment_id == experiment.pk else f"{label} of {run.experiment.name} (#{run.experiment_id})"


@register.filter
def join_numbers(values) -> str:
    return ", ".join(f"{v:g}" for v in values or [])
