from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST

from dashboard.forms import ExperimentForm
from dashboard.models import Experiment, ShareLink
from dashboard.plots import experiment_figure, plot_role
from dashboard.estimate import plan
from dashboard.presets import DEFAULT_PRESET, PRESETS
from dashboard.reproduce import reproduce
from dashboard.routing import stream_path
from dashboard.summary import GAP_METRICS
from dashboard.views.access import editable_experiment, viewable_experiment
from dashboard.views.results import results_context

FINAL_KEYS = [key for key, _ in GAP_METRICS]


@login_required
def experiment_list(request):
    experiments = Experiment.objects.visible_to(request.user).select_related("owner").prefetch_related("runs")
    rows = [(exp, *exp.progress_and_eta()) for exp in experiments]
    return render(request, "dashboard/experiment_list.html", {"rows": rows})


@login_required
def experiment_new(request):
    form = ExperimentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        experiment = Experiment.start(request.user, form.cleaned_data["name"], form.spec(), form.preset_key(),
                                      form.design())
        messages.success(request, f"Queued {experiment.runs.count()} runs.")
        return redirect("experiment-detail", pk=experiment.pk)
    presets = {key: ExperimentForm.initial_for(key) for key in PRESETS}
    plans = {p.key: {"text": plan(p.spec, p.design).describe(), "description": p.description,
                     "scale": p.scale} for p in form.presets}
    chosen = (form.data.get("preset") if form.is_bound else form.initial.get("preset")) or DEFAULT_PRESET
    return render(request, "dashboard/experiment_form.html",
                  {"form": form, "presets": presets, "plans": plans, "plan": plans.get(chosen)})


def experiment_detail(request, pk):
    if not request.user.is_authenticated and not request.GET.get("token"):
        return redirect_to_login(request.get_full_path())
    experiment = viewable_experiment(request, pk)
    return _render_detail(request, experiment, token=request.GET.get("token"))


def shared_experiment(request, token):
    experiment = ShareLink.experiment_for(token)
    if experiment is None:
        return render(request, "dashboard/share_revoked.html", status=404)
    return _render_detail(request, experiment, token=token)


def _live_runs(runs) -> dict:
    return {run.pk: {"role": plot_role(run), "seed": run.seed, "status": run.status, "progress": run.progress,
                     "lastSeq": run.last_seq} for run in runs}


def _render_detail(request, experiment, token):
    can_edit = experiment.can_edit(request.user)
    runs = list(experiment.runs.all())  # read before the points: live messages after this are newer
    query = f"?token={token}" if token and not can_edit else ""
    live = {
        "experiment": experiment.pk,
        "wsPath": stream_path(experiment.pk) + query,
        "metricsUrl": reverse("api-run-metrics", args=[0]).replace("/0/", "/{run}/") + query,
        "runsUrl": reverse("experiment-runs", args=[experiment.pk]) + query,
        "runs": _live_runs(runs),
    }
    progress, eta = experiment.progress_and_eta()
    context = {
        "experiment": experiment, "runs": runs, "can_edit": can_edit, "token": token, "query": query,
        "figure": experiment_figure(runs), "live": live, "progress": progress, "eta": eta,
        "final_keys": FINAL_KEYS,
        "share_links": experiment.share_links.order_by("-created") if can_edit else [],
        "config": experiment.config, "debug": settings.DEBUG, "reproduce": reproduce(experiment, runs),
        **results_context(experiment, runs, query),
    }
    return render(request, "dashboard/experiment_detail.html", context)


def experiment_runs(request, pk):
    """The runs table's rows and the live figure, for a page that learns of runs added after it
    loaded (a design's dependent runs): JSON {"rows": html, "figure": json_item, "runs": {...}}."""
    experiment = viewable_experiment(request, pk)
    runs = list(experiment.runs.all())
    rows = render_to_string("dashboard/_run_rows.html", {
        "runs": runs, "can_edit": experiment.can_edit(request.user), "final_keys": FINAL_KEYS}, request=request)
    return JsonResponse({"rows": rows, "figure": experiment_figure(runs), "runs": _live_runs(runs)})


@login_required
@require_POST
def experiment_delete(request, pk):
    experiment = editable_experiment(request, pk)
    experiment.remove()
    messages.success(request, f"Deleted {experiment.name}.")
    return redirect("experiment-list")
