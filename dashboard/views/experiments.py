"""The experiments list, the new-experiment form, an experiment's page (and its shared view),
the rows of its runs for an open page, and deleting it."""
import json

from django.conf import settings
from django.db.models import Q
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST

from dashboard import executor
from dashboard.figures.runs import experiment_figure, group_key, plot_role, run_geometry, warm_skeletons
from dashboard.figures.series import load_clocks
from dashboard.forms import ExperimentForm
from dashboard.live.routing import stream_path
from dashboard.models import Experiment, ShareLink, Status
from dashboard.views.access import editable_experiment, viewable_experiment
from dashboard.views.results import results_context
from trainer.cli import train_command
from trainer.cli_kinds import command_line
from trainer.kinds import DEFAULT_PRESET, KINDS, PRESETS
from trainer.kinds.estimate import estimate

FINAL_KEYS = ("train_acc", "test_acc", "train_loss", "test_loss")  # the runs table's final metrics


# the list's sort orders: ?sort=<key>, "-" first for descending
SORTS = {"created": "created", "name": "name", "status": "status", "kind": "kind", "owner": "owner__username"}


@login_required
def experiment_list(request):
    """The user's experiments (every one for a superuser), searched by name (?q=), filtered by kind,
    status and owner, sorted by ?sort= (newest first by default)."""
    experiments = Experiment.objects.visible_to(request.user).select_related("owner").prefetch_related("runs")
    q = request.GET.get("q", "").strip()
    if q:
        experiments = experiments.filter(Q(name__icontains=q) | Q(tags__icontains=q) | Q(notes__icontains=q))
    tag = request.GET.get("tag", "").strip()
    if tag:
        experiments = experiments.filter(tags__icontains=f",{tag},")
    filters = {key: request.GET.get(key, "") for key in ("kind", "status", "owner")}
    if filters["kind"]:
        experiments = experiments.filter(kind=filters["kind"])
    if filters["status"]:
        experiments = experiments.filter(status=filters["status"])
    if filters["owner"]:
        experiments = experiments.filter(owner__username=filters["owner"])
    sort = request.GET.get("sort", "-created")
    if sort.lstrip("-") not in SORTS:
        sort = "-created"
    experiments = experiments.order_by(("-" if sort.startswith("-") else "") + SORTS[sort.lstrip("-")], "-pk")
    rows = [(exp, *exp.progress_and_eta()) for exp in experiments]
    owners = (sorted({name for name in Experiment.objects.values_list("owner__username", flat=True)})
              if request.user.is_superuser else [])
    return render(request, "dashboard/experiment_list.html", {
        "rows": rows, "ws_path": stream_path(), "q": q, "filters": filters, "sort": sort, "owners": owners,
        "kinds": [(k.name, k.label) for k in KINDS.values()], "statuses": [s for s, _ in Status.choices],
        "filtered": bool(q or tag or any(filters.values())), "tag": tag})


@login_required
def experiment_new(request):
    form = ExperimentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        submission = form.cleaned_data["submission"] or request.headers.get("Idempotency-Key", "")[:64]
        earlier = Experiment.objects.filter(owner=request.user, submission=submission).first() if submission else None
        if earlier is not None:
            messages.info(request, "This form was sent before; here is the experiment it started.")
            return redirect("experiment-detail", pk=earlier.pk)
        experiment = executor.start(request.user, form.cleaned_data["name"], form.kind_chosen(), form.spec(),
                                    form.options(), form.preset_key(), submission)
        messages.success(request, f"Queued {experiment.runs.count()} runs.")
        return redirect("experiment-detail", pk=experiment.pk)
    presets = {key: ExperimentForm.initial_for(key) for key in PRESETS}
    plans = {p.key: {"text": estimate(KINDS[p.kind], p.spec, p.options).describe(),
                     "description": p.description, "scale": p.scale} for p in form.presets}
    warm_skeletons(KINDS[p.kind].runs(p.spec, p.options) for p in form.presets)
    chosen = (form.data.get("preset") if form.is_bound else form.initial.get("preset")) or DEFAULT_PRESET
    return render(request, "dashboard/experiment_form.html",
                  {"form": form, "presets": presets, "plans": plans, "plan": plans.get(chosen)})


def experiment_detail(request, pk):
    if not request.user.is_authenticated and not request.GET.get("token"):
        return redirect_to_login(request.get_full_path())
    experiment = viewable_experiment(request, pk)
    return _render_detail(request, experiment, token=request.GET.get("token"))


MAX_TAGS, MAX_TAG_LENGTH, MAX_NOTES = 20, 40, 20000


def parse_tags(raw: str) -> list[str]:
    """"sam, adam ,sam" -> ["sam", "adam"]; ValueError naming the field and the fix."""
    tags = list(dict.fromkeys(tag.strip() for tag in raw.split(",") if tag.strip()))
    if len(tags) > MAX_TAGS:
        raise ValueError(f"tags: at most {MAX_TAGS} tags (got {len(tags)}); remove some")
    for tag in tags:
        if len(tag) > MAX_TAG_LENGTH:
            raise ValueError(f"tags: {tag[:20]!r}... is longer than {MAX_TAG_LENGTH} characters; shorten it")
        if any(ord(c) < 32 for c in tag):
            raise ValueError("tags: a tag holds a control character; type plain text")
    return tags


@login_required
@require_POST
def experiment_notes(request, pk):
    """The owner's tags and notes for an experiment; what was typed stays in the form on an error."""
    experiment = editable_experiment(request, pk)
    notes = request.POST.get("notes", "").replace("\r\n", "\n")
    try:
        tags = parse_tags(request.POST.get("tags", ""))
        if len(notes) > MAX_NOTES:
            raise ValueError(f"notes: at most {MAX_NOTES} characters (got {len(notes)}); shorten them")
    except ValueError as err:
        messages.error(request, f"Not saved: {err}")
        typed = {"tags": request.POST.get("tags", ""), "notes": notes}
        return _render_detail(request, experiment, token=None, typed=typed, status=400)
    experiment.set_tags(tags)
    experiment.notes = notes
    experiment.save(update_fields=["tags", "notes", "updated"])
    messages.success(request, "Saved the tags and notes.")
    return redirect(reverse("experiment-detail", args=[experiment.pk]) + "#notes")


def shared_experiment(request, token):
    experiment = ShareLink.experiment_for(token)
    if experiment is None:
        return render(request, "dashboard/share_revoked.html", status=404)
    return _render_detail(request, experiment, token=token)


def _live_runs(runs) -> dict:
    clocks = load_clocks([run.pk for run in runs])
    return {run.pk: {"role": group_key(plot_role(run)), "seed": run.seed, "status": run.status, "progress": run.progress,
                     "lastSeq": run.last_seq, "clock": clocks.get(run.pk, []), **run_geometry(run)} for run in runs}


def reproduce(experiment, runs) -> dict:
    """The experiment's configuration as JSON, the CLI command of the whole experiment, and the
    `python -m trainer train` command of each distinct run configuration."""
    kind, spec, options = experiment.planner, experiment.spec, experiment.options
    commands, seen = [], set()
    for run in runs:
        command = train_command(run.config)
        if command not in seen:
            seen.add(command)
            commands.append((f"{run.role} seed {run.seed}", command))
    config = {"kind": kind.name, "spec": experiment.config, "design": kind.options_dict(options)}
    return {"config_json": json.dumps(config, indent=2), "design_command": command_line(kind, spec, options),
            "run_commands": commands}


def _render_detail(request, experiment, token, typed=None, status=200):
    can_edit = experiment.can_edit(request.user)
    runs = list(experiment.runs.all())  # read before the points: live messages after this are newer
    query = f"?token={token}" if token and not can_edit else ""
    live = {
        "experiment": experiment.pk,
        "wsPath": stream_path(experiment.pk) + query,
        "metricsUrl": reverse("api-run-metrics", args=[0]).replace("/0/", "/{run}/") + query,
        "runsUrl": reverse("experiment-runs", args=[experiment.pk]) + query,
        "sectionsUrl": reverse("experiment-sections", args=[experiment.pk]) + query,
        "statusUrl": reverse("analysis-status", args=[0]).replace("/0/", "/{id}/") + query,
        "runs": _live_runs(runs),
    }
    progress, eta = experiment.progress_and_eta()
    live["eta"] = eta
    context = {
        "experiment": experiment, "runs": runs, "can_edit": can_edit, "token": token, "query": query,
        "figure": experiment_figure(runs), "live": live, "progress": progress, "eta": eta,
        "final_keys": FINAL_KEYS,
        "share_links": experiment.share_links.order_by("-created") if can_edit else [],
        "config": experiment.config, "debug": settings.DEBUG, "reproduce": reproduce(experiment, runs),
        **results_context(experiment, runs, query),
        "typed": typed or {"tags": ", ".join(experiment.tag_list), "notes": experiment.notes},
    }
    return render(request, "dashboard/experiment_detail.html", context, status=status)


def experiment_runs(request, pk):
    """The runs table's rows and the live figure, for a page that learns of runs added after it
    loaded (a plan's dependent runs): JSON {"rows": html, "figure": json_item, "runs": {...}}.
    With ?known=<ids> of the runs the page has, and no other run: only {"runs": {...}}."""
    experiment = viewable_experiment(request, pk)
    runs = list(experiment.runs.all())
    known = {part for part in request.GET.get("known", "").split(",") if part}
    if "known" in request.GET and {str(run.pk) for run in runs} <= known:
        return JsonResponse({"runs": _live_runs(runs), "status": experiment.status})
    rows = render_to_string("dashboard/_run_rows.html", {
        "runs": runs, "can_edit": experiment.can_edit(request.user), "final_keys": FINAL_KEYS}, request=request)
    return JsonResponse({"rows": rows, "figure": experiment_figure(runs), "runs": _live_runs(runs),
                         "status": experiment.status})


@login_required
@require_POST
def experiment_delete(request, pk):
    experiment = editable_experiment(request, pk)
    experiment.remove()
    messages.success(request, f"Deleted {experiment.name}.")
    return redirect("experiment-list")
