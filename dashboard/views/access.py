"""Who may see what: the owner (or a superuser) everything, a share token read-only, others nothing.

A private experiment answers 404 to anyone else, so its existence is not disclosed.
"""
from django.http import Http404
from django.shortcuts import get_object_or_404

from dashboard.models import Experiment, Run


def viewable_experiment(request, pk: int) -> Experiment:
    experiment = get_object_or_404(Experiment.objects.select_related("owner"), pk=pk)
    if not experiment.can_view(request.user, request.GET.get("token")):
        raise Http404("No such experiment")
    return experiment


def editable_experiment(request, pk: int) -> Experiment:
    experiment = get_object_or_404(Experiment, pk=pk)
    if not experiment.can_edit(request.user):
        raise Http404("No such experiment")
    return experiment


def viewable_run(request, pk: int) -> Run:
    run = get_object_or_404(Run.objects.select_related("experiment"), pk=pk)
    if not run.experiment.can_view(request.user, request.GET.get("token")):
        raise Http404("No such run")
    return run


def editable_run(request, pk: int) -> Run:
    run = get_object_or_404(Run.objects.select_related("experiment"), pk=pk)
    if not run.experiment.can_edit(request.user):
        raise Http404("No such run")
    return run
