"""The design's result section (tables, figure, paper comparison), its live refresh, and
CSV/JSON exports of each table."""
import csv
import io

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render

from dashboard.design_plots import design_figure
from dashboard.estimate import plan
from dashboard.forms import ExperimentForm
from dashboard.reproduce import HOW_TO_READ
from dashboard.results import Results
from dashboard.tables import tables_for
from dashboard.views.access import viewable_experiment


def results_context(experiment, runs, query: str) -> dict:
    res = Results(experiment, runs)
    tables = tables_for(res)
    return {"experiment": experiment, "kind": res.design.kind, "tables": tables, "query": query,
            "design_figure": design_figure(res.design.kind, tables), "comparison": res.comparison,
            "how_to_read": HOW_TO_READ[res.design.kind], "results_version": res.version(),
            "results_complete": res.complete()}


def experiment_results(request, pk):
    """The result section alone; 204 when nothing finished since `?v=` (the page polls it)."""
    experiment = viewable_experiment(request, pk)
    token = request.GET.get("token")
    query = f"?token={token}" if token and not experiment.can_edit(request.user) else ""
    context = results_context(experiment, experiment.runs.all(), query)
    if request.GET.get("v") == context["results_version"]:
        return HttpResponse(status=204)
    return render(request, "dashboard/_results.html", context)


def experiment_table(request, pk, key, fmt):
    experiment = viewable_experiment(request, pk)
    if fmt not in ("csv", "json"):
        raise Http404("Tables export as .csv or .json")
    table = next((t for t in tables_for(Results(experiment)) if t.key == key), None)
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
    p = plan(form.spec(), form.design())
    return JsonResponse({"runs": p.runs, "analyses": p.analyses, "seconds": p.seconds, "text": p.describe()})
