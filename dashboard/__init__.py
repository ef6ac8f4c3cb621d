"""The Django project and app of the lab: pages, API, live stream, Celery tasks."""
from dashboard.celery import app as celery_app

__all__ = ["celery_app"]
