"""What a process of the web app loads to start: the pages, the ASGI app and the Celery app
with its tasks load no torch (and no SciPy). It costs seconds a process, and a worker's
parent must not touch CUDA before it forks its children."""
import subprocess
import sys

from tests.dashboard.labprocess import ROOT

START = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
import django
django.setup()
import dashboard.asgi, dashboard.urls, dashboard.worker.tasks
from dashboard.celery import app
app.loader.import_default_modules()
from trainer.kinds import KINDS
print(sorted(name for name in ("torch", "scipy", "bokeh") if name in sys.modules))
"""


def test_the_web_and_the_worker_parent_start_without_torch():
    done = subprocess.run([sys.executable, "-c", START], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['bokeh']"
