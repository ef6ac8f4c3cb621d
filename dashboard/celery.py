"""The Celery app. Settings come from Django's (CELERY_* names); tasks from dashboard.tasks.

Importing this touches no CUDA and no torch: workers fork children after import, and a
forked child cannot re-initialise CUDA.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

app = Celery("dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["dashboard"])
