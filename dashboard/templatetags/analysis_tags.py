"""{% analyses_section %}: the experiment page's analyses block, with its own context.

It reads only `experiment`, `request` and `token` from the page's context, so the page's
view need not know about analyses; the page's sections refresh renders the same context.
"""
from django import template
from django.middleware.csrf import get_token

from dashboard.analyses import partner_runs
from dashboard.models import Status
from trainer.analysis.by_name import ANALYSIS_KINDS, defaults

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
        "defaults": {kind: defaults(kind) for kind in ANALYSIS_KINDS},
        "csrf_token": get_token(request) if can_edit else "",
    }


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
