"""The Celery app. Settings come from Django's (CELERY_* names); tasks from dashboard.worker.tasks.

Importing this touches no CUDA and no torch: workers fork children after import, and a
forked child cannot re-initialise CUDA. Rows queue their tasks by name (Run.enqueue,
Analysis.enqueue), so the models never import the worker side.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

# The names stay those of the first release: messages already queued keep their meaning.
TRAIN_TASK = "dashboard.tasks.train_run"
ANALYSIS_TASK = "dashboard.tasks.run_analysis"
RECOVER_TASK = "dashboard.tasks.recover_stale_runs"

app = Celery("dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["dashboard.worker"])
