"""Requesting an analysis (owner only, POST), its result page and its exports (owner or share token)."""
import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from dashboard.analyses import request_analysis
from dashboard.figures.analyses import analysis_figure, series_rows
from dashboard.live.routing import stream_path
from dashboard.ids import parse_id
from dashboard.models import Analysis, Experiment, Run, Status
from dashboard.views.access import editable_experiment
from trainer.analysis.by_name import ANALYSIS_KINDS, SCHEMAS


SOLVER_STATUS = {0: "stopped by itself (converged)", 1: "iteration limit", 2: "stopped: no further progress"}


def converged_rows(result: dict) -> list[dict]:
    """Per epsilon: the paper-protocol value, the converged solve's best, their gap, the solver's status."""
    converged = {e["epsilon"]: e for e in (result.get("converged") or {}).get("entries", [])}
    rows = []
    for e in result.get("entries", []):
        c = converged.get(e["epsilon"])
        if c is None:
            continue
        gap = f"+{100 * (c['value_max'] / e['value'] - 1):.1f}%" if e["value"] else "-"
        rows.append({"epsilon": e["epsilon"], "paper": e["value"], "converged": c["value_max"], "gap": gap,
                     "iterations": c["iterations"], "status": SOLVER_STATUS.get(c["status"], c["message"])})
    return rows


def _form_params(kind: str, post) -> dict:
    """The kind's params from a form: blank fields take their defaults, an unticked checkbox is False."""
    params = {}
    for name, (default, _) in SCHEMAS[kind].items():
        if isinstance(default, bool):
            params[name] = name in post
        elif post.get(name, "").strip():
            params[name] = post[name]
    return params


EVERY_RUN = "all"  # the run select's choice that asks for the analysis of every finished run's final weights


@login_required
@require_POST
def analysis_request(request, pk):
    experiment = editable_experiment(request, pk)
    kind = request.POST.get("kind", "")
    back = reverse("experiment-detail", args=[experiment.pk]) + "#analyses"
    try:
        if kind not in ANALYSIS_KINDS:
            raise ValueError(f"kind must be one of {', '.join(ANALYSIS_KINDS)}; got {kind!r}")
        params = _form_params(kind, request.POST)
        if request.POST.get("run") == EVERY_RUN and kind != "interpolation":
            return _request_for_every_run(request, experiment, kind, params, back)
        run = experiment.runs.filter(pk=parse_id(request.POST.get("run"))).first()
        run_b = _far_end(request, request.POST.get("run_b")) if kind == "interpolation" else None
        analysis = request_analysis(experiment, kind, params, run, run_b,
                                    epoch=request.POST.get("epoch") or None, user=request.user)
    except ValueError as err:
        messages.error(request, f"Analysis not requested: {err}")
        return redirect(back)
    if getattr(analysis, "created_now", False):
        messages.success(request, f"Queued the {kind} analysis #{analysis.pk}.")
    else:
        messages.info(request, f"The same {kind} analysis of the same weights exists (#{analysis.pk}, "
                               f"{analysis.status}): served from the database, not computed again.")
    return redirect(back)


def _request_for_every_run(request, experiment, kind, params, back):
    """The analysis of every finished run's final weights, in one action: each new one queued,
    each existing one kept."""
    runs = list(experiment.runs.filter(status=Status.DONE).order_by("pk"))
    if not runs:
        raise ValueError("run: no run has finished yet")
    if request.POST.get("epoch"):
        raise ValueError("epoch: leave it blank to analyse every run's final weights")
    analyses = [request_analysis(experiment, kind, params, run, user=request.user) for run in runs]
    queued = sum(bool(getattr(a, "created_now", False)) for a in analyses)
    kept = len(analyses) - queued
    messages.success(request, f"Queued the {kind} analysis of {queued} run{'s' if queued != 1 else ''}"
                              + (f"; {kept} already computed or under way, kept" if kept else "") + ".")
    return redirect(back)


def _far_end(request, value) -> Run | None:
    """Interpolation's second run: any run of an experiment this user may see."""
    return (Run.objects.filter(pk=parse_id(value), experiment__in=Experiment.objects.visible_to(request.user))
            .select_related("experiment").first())




def _viewable(request, pk) -> tuple[Analysis, bool, str]:
    analysis = get_object_or_404(Analysis.objects.select_related("experiment", "run", "run_b__experiment"), pk=pk)
    token = request.GET.get("token")
    if not analysis.experiment.can_view(request.user, token):
        raise Http404("No such analysis")
    can_edit = analysis.experiment.can_edit(request.user)
    return analysis, can_edit, (f"?token={token}" if token and not can_edit else "")


def analysis_detail(request, pk):
    analysis, can_edit, query = _viewable(request, pk)
    header, rows = series_rows(analysis) if analysis.status == "done" else ([], [])
    context = {"analysis": analysis, "experiment": analysis.experiment, "can_edit": can_edit, "query": query,
               "figure": analysis_figure(analysis), "result": analysis.result, "header": header,
               "recorded": analysis.result.get("options") or (analysis.result.get("eigen") or {}).get("options", {}),
               "rows": rows if analysis.kind in ("sharpness", "hessian", "measures") else [],
               "converged_rows": converged_rows(analysis.result) if analysis.kind == "sharpness" else [],
               "live": {"wsPath": stream_path(analysis.experiment_id) + query, "analysis": analysis.pk,
                        "status": analysis.status,
                        "statusUrl": reverse("analysis-status", args=[0]).replace("/0/", "/{id}/") + query}}
    return render(request, "dashboard/analysis_detail.html", context)


def analysis_status(request, pk):
    analysis, _, _ = _viewable(request, pk)
    return JsonResponse(analysis.to_dict(result=False, far_end=analysis.far_end_visible_to(request.user)))


def analysis_export_json(request, pk):
    analysis, _, _ = _viewable(request, pk)
    response = JsonResponse(analysis.to_dict(far_end=analysis.far_end_visible_to(request.user)))
    response["Content-Disposition"] = f'attachment; filename="analysis-{analysis.pk}-{analysis.kind}.json"'
    return response


def analysis_export_csv(request, pk):
    analysis, _, _ = _viewable(request, pk)
    header, rows = series_rows(analysis)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="analysis-{analysis.pk}-{analysis.kind}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in row])
    return response
