"""The kind's result section (tables, figure, paper comparison, summary), the page's sections for a
refresh the live stream asks for, CSV/JSON exports of each table, and the form's estimate."""
import csv
import io

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from dashboard.figures.kinds import kind_figure
from dashboard.figures.runs import warm_skeletons
from dashboard.forms import ExperimentForm
from dashboard.results import Results
from dashboard.templatetags.analysis_tags import analyses_context
from dashboard.views.access import viewable_experiment
from trainer.fields import ConfigError
from trainer.kinds.estimate import estimate


def results_context(experiment, runs, query: str) -> dict:
    res = Results(experiment, runs)
    return {"experiment": experiment, "kind": res.kind, "tables": res.tables, "query": query,
            "design_figure": kind_figure(res.kind.name, res.tables), "comparison": res.comparison,
            "how_to_read": res.kind.how_to_read, "summary": res.summary(), "cards": res.cards(),
            "results_complete": res.complete()}


def _query(request, experiment) -> str:
    token = request.GET.get("token")
    return f"?token={token}" if token and not experiment.can_edit(request.user) else ""


def experiment_sections(request, pk):
    """The page's parts that change as runs and analyses finish, re-read when the live stream says so:
    JSON {"results": html, "verdict": html, "analyses": html, "complete": bool}."""
    experiment = viewable_experiment(request, pk)
    query = _query(request, experiment)
    runs = list(experiment.runs.all())
    context = results_context(experiment, runs, query)
    results = render_to_string("dashboard/_results.html", context, request=request)
    verdict = render_to_string("dashboard/_verdict.html", context, request=request)
    analyses = render_to_string("dashboard/analysis_section.html",
                                analyses_context(experiment, request, request.GET.get("token"), runs),
                                request=request)
    return JsonResponse({"results": results, "verdict": verdict, "analyses": analyses,
                         "complete": context["results_complete"]})


def experiment_table(request, pk, key, fmt):
    experiment = viewable_experiment(request, pk)
    if fmt not in ("csv", "json"):
        raise Http404("Tables export as .csv or .json")
    table = Results(experiment).table(key)
    if table is None:
        raise Http404(f"This experiment has no {key} table")
    filename = f"experiment-{experiment.pk}-{key}.{fmt}"
    if fmt == "json":
        response = JsonResponse(table.to_dict(), json_dumps_params={"allow_nan": False})
    else:
        out = io.StringIO()
        csv.writer(out).writerows(table.csv_rows())
        response = HttpResponse(out.getvalue(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def experiment_estimate(request):
    """What the form's settings will run and about how long it takes (the form asks as it changes)."""
    data = request.GET.copy()
    data.setdefault("name", "estimate")
    form = ExperimentForm(data)
    if not form.is_valid():
        return JsonResponse({"errors": {k: [str(e) for e in v] for k, v in form.errors.items()}}, status=400)
    try:
        kind, spec, options = form.kind_chosen(), form.spec(), form.options()
        p = estimate(kind, spec, options)
    except ConfigError as e:
        return JsonResponse({"errors": {e.field: [e.message]}}, status=400)
    warm_skeletons([kind.runs(spec, options)])
    return JsonResponse({"runs": p.runs, "analyses": p.analyses, "seconds": p.seconds, "text": p.describe()})
