"""Overlay any runs the user may see, from any experiments, grouped by a setting:
/compare/?runs=3,8,12&group=batch."""
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from dashboard.figures.series import load_clocks
from dashboard.figures.runs import compare_figure, group_key, plot_role, run_geometry, run_label
from dashboard.ids import parse_id
from dashboard.models import Run

MAX_RUNS = 20


def _batch(run) -> str:
    batch = (run.final_metrics or {}).get("batch_size") or run_geometry(run).get("batch") or run.config.get("batch_size")
    return f"B={batch:g}" if isinstance(batch, (int, float)) else "B=?"


# ?group=<key>: (label, the group of a run)
GROUPS = {
    "role": ("role (remedy, warm start)", plot_role),
    "batch": ("batch size", _batch),
    "optimizer": ("optimizer", lambda run: str(run.config.get("optimizer", "?"))),
    "lr": ("learning rate", lambda run: f"lr={run.config.get('lr', '?'):g}" if isinstance(run.config.get("lr"), (int, float)) else "lr=?"),
    "experiment": ("experiment", lambda run: f"{run.experiment.name} (#{run.experiment_id})"),
    "run": ("nothing: each run alone", lambda run: run_label(run, True)),
}


def _run_ids(request) -> list[int]:
    raw = ",".join(request.GET.getlist("runs"))
    ids = [parse_id(part) for part in raw.split(",") if part.strip()]
    if None in ids:
        raise Http404("runs must be run ids separated by commas")
    return list(dict.fromkeys(ids))[:MAX_RUNS]


def _row(run, group_of) -> dict:
    config, final = run.config, run.final_metrics or {}
    return {"run": run, "group": group_of(run), "batch": _batch(run)[2:], "lr": config.get("lr"),
            "optimizer": config.get("optimizer"), "epochs": final.get("epochs") or config.get("epochs"),
            "test_acc": final.get("test_acc"), "train_acc": final.get("train_acc"), "test_loss": final.get("test_loss")}


@login_required
def compare(request):
    ids = _run_ids(request)
    group = request.GET.get("group", "role")
    if group not in GROUPS:
        group = "role"
    group_of = GROUPS[group][1]
    chosen = {run.pk: run for run in Run.objects.filter(pk__in=ids).select_related("experiment", "experiment__owner")}
    if len(chosen) != len(ids) or not all(run.experiment.can_view(request.user) for run in chosen.values()):
        raise Http404("No such run")
    runs = [chosen[pk] for pk in ids]
    choices = Run.objects.select_related("experiment").order_by("-experiment__created", "experiment_id", "seed", "-role")
    if not request.user.is_superuser:
        choices = choices.filter(experiment__in=request.user.experiments.all())
    by_experiment = {}
    for run in choices[:500]:
        by_experiment.setdefault(run.experiment, []).append(run)
    clocks = load_clocks([run.pk for run in runs])
    context = {
        "runs": runs, "rows": [_row(run, group_of) for run in runs], "selected": set(ids),
        "figure": compare_figure(runs, group_of) if runs else None,
        "geometry": {run.pk: {"group": group_key(group_of(run)), "clock": clocks.get(run.pk, []), **run_geometry(run)}
                     for run in runs},
        "by_experiment": by_experiment.items(), "groups": [(key, label) for key, (label, _) in GROUPS.items()],
        "group": group, "max_runs": MAX_RUNS,
    }
    return render(request, "dashboard/compare.html", context)
