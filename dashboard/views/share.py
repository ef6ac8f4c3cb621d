from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from dashboard.models import ShareLink
from dashboard.views.access import editable_experiment


@login_required
@require_POST
def share_create(request, pk):
    experiment = editable_experiment(request, pk)
    ShareLink.objects.create(experiment=experiment)
    messages.success(request, "Created a read-only share link.")
    return redirect("experiment-detail", pk=pk)


@login_required
@require_POST
def share_revoke(request, pk, link_id):
    experiment = editable_experiment(request, pk)
    get_object_or_404(ShareLink, pk=link_id, experiment=experiment).revoke()
    messages.success(request, "Revoked the share link.")
    return redirect("experiment-detail", pk=pk)
