"""The JSON API (documented in the README). Reads take ?token= like the pages."""
from django.http import JsonResponse

from dashboard.ids import parse_id
from dashboard.models import Experiment, MetricPoint
from dashboard.views.access import viewable_experiment, viewable_run


def _points(queryset) -> dict[str, list[list[float]]]:
    points: dict[str, list] = {}
    for name, step, value in queryset.order_by("name", "step").values_list("name", "step", "value"):
        points.setdefault(name, []).append([step, value])
    return points


def experiments(request):
    if not request.user.is_authenticated:
        return JsonResponse({"error": "log in to list your experiments", "status": 401}, status=401)
    rows = Experiment.objects.visible_to(request.user).select_related("owner").prefetch_related("runs")
    data = []
    for exp in rows:
        d = exp.to_dict()
        d["runs"] = [{k: r[k] for k in ("id", "role", "seed", "status", "progress", "eta_seconds")} for r in d["runs"]]
        data.append(d)
    return JsonResponse({"experiments": data})


def experiment(request, pk):
    return JsonResponse(viewable_experiment(request, pk).to_dict())


def run(request, pk):
    return JsonResponse(viewable_run(request, pk).to_dict())


def run_metrics(request, pk):
    """Points of one run, full resolution: all, or those after a live sequence number (?after_seq=)."""
    run = viewable_run(request, pk)
    after_seq = -1 if "after_seq" not in request.GET else parse_id(request.GET["after_seq"])
    if after_seq is None and request.GET["after_seq"].strip() == "-1":
        after_seq = -1
    if after_seq is None:
        return JsonResponse({"error": "after_seq must be a sequence number (a whole number from -1)", "status": 400},
                            status=400)
    last_seq = run.last_seq  # read before the points, so the client never skips a point
    points = MetricPoint.objects.filter(run=run, seq__gt=after_seq)
    names = request.GET.getlist("name")
    if names:
        points = points.filter(name__in=names)
    return JsonResponse({"run": run.pk, "last_seq": last_seq, "status": run.status, "progress": run.progress,
                         "experiment_status": run.experiment.status,
                         "eta_seconds": run.eta_seconds, "final_metrics": run.final_metrics,
                         "points": _points(points)})
