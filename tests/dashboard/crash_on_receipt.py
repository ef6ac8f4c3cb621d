"""A Celery worker that dies the moment it receives a task, before any child can claim it: the
whole process group is SIGKILLed from the receipt signal, after the lab's own receipt handler.
`python -m tests.dashboard.crash_on_receipt <celery worker options>`."""
import os
import signal
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")

import django  # noqa: E402

django.setup()  # the lab's handlers (dashboard.worker.signals) connect first

from celery.signals import task_received  # noqa: E402

from dashboard.celery import app  # noqa: E402


@task_received.connect(weak=False)
def die(sender=None, request=None, **kwargs):
    os.killpg(os.getpgrp(), signal.SIGKILL)


if __name__ == "__main__":
    app.worker_main(["worker", *sys.argv[1:]])
