from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from dashboard.live.publisher import publish_run_status
from dashboard.views.access import editable_run


@login_required
@require_POST
def run_cancel(request, pk):
    run = editable_run(request, pk)
    run.request_cancel()
    publish_run_status(run)
    messages.info(request, f"Cancelling {run.role} seed {run.seed}: it stops at its next step with a checkpoint.")
    return redirect("experiment-detail", pk=run.experiment_id)


@login_required
@require_POST
def run_resume(request, pk):
    run = editable_run(request, pk)
    if run.resume():
        publish_run_status(run)
        messages.info(request, f"Resuming {run.role} seed {run.seed} from its last checkpoint.")
    else:
        messages.error(request, "Only a cancelled or failed run can be resumed.")
    return redirect("experiment-detail", pk=run.experiment_id)
