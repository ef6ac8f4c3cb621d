"""Full-resolution exports of every run's metrics: CSV (one row per point) and JSON."""
import csv

from django.http import JsonResponse, StreamingHttpResponse

from dashboard.models import MetricPoint
from dashboard.views.access import viewable_experiment


class _Echo:
    def write(self, value):
        return value


def export_csv(request, pk):
    experiment = viewable_experiment(request, pk)
    writer = csv.writer(_Echo())
    runs = {r.pk: r for r in experiment.runs.all()}
    rows = (MetricPoint.objects.filter(run__experiment=experiment)
            .order_by("run_id", "name", "step").values_list("run_id", "name", "step", "value"))

    def lines():
        yield writer.writerow(["run", "role", "seed", "metric", "step", "value"])
        for run_id, name, step, value in rows.iterator(chunk_size=5000):
            yield writer.writerow([run_id, runs[run_id].role, runs[run_id].seed, name, step, repr(value)])

    response = StreamingHttpResponse(lines(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="experiment-{experiment.pk}-metrics.csv"'
    return response


def export_json(request, pk):
    experiment = viewable_experiment(request, pk)
    data = experiment.to_dict()
    points: dict[int, dict[str, list]] = {}
    rows = (MetricPoint.objects.filter(run__experiment=experiment)
            .order_by("run_id", "name", "step").values_list("run_id", "name", "step", "value"))
    for run_id, name, step, value in rows.iterator(chunk_size=5000):
        points.setdefault(run_id, {}).setdefault(name, []).append([step, value])
    for run in data["runs"]:
        run["metrics"] = points.get(run["id"], {})
    response = JsonResponse(data)
    response["Content-Disposition"] = f'attachment; filename="experiment-{experiment.pk}.json"'
    return response
