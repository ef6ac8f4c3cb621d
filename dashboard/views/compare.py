"""Overlay any runs the user may see, from any experiments: /compare/?runs=3,8,12."""
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from dashboard.ids import parse_id
from dashboard.models import Run
from dashboard.figures.runs import compare_figure

MAX_RUNS = 20


def _run_ids(request) -> list[int]:
    raw = ",".join(request.GET.getlist("runs"))
    ids = [parse_id(part) for part in raw.split(",") if part.strip()]
    if None in ids:
        raise Http404("runs must be run ids separated by commas")
    return list(dict.fromkeys(ids))[:MAX_RUNS]


@login_required
def compare(request):
    ids = _run_ids(request)
    chosen = {run.pk: run for run in Run.objects.filter(pk__in=ids).select_related("experiment", "experiment__owner")}
    if len(chosen) != len(ids) or not all(run.experiment.can_view(request.user) for run in chosen.values()):
        raise Http404("No such run")
    runs = [chosen[pk] for pk in ids]
    choices = (Run.objects.filter(experiment__in=request.user.experiments.all())
               .select_related("experiment").order_by("-experiment__created", "seed", "-role"))
    if request.user.is_superuser:
        choices = Run.objects.select_related("experiment").order_by("-experiment__created", "seed", "-role")
    context = {"runs": runs, "figure": compare_figure(runs) if runs else None, "choices": choices[:500],
               "selected": set(ids)}
    return render(request, "dashboard/compare.html", context)
