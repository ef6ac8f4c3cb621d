import sys

from django.core.management.base import BaseCommand

from dashboard.env import env_int, env_str
from dashboard.launch.launcher import run


class Command(BaseCommand):
    help = "Start the whole lab (embedded Redis when REDIS_URL is unset, a Celery worker, Daphne); Ctrl-C stops it."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=env_str("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=env_int("PORT", 8000, minimum=1))

    def handle(self, *args, host, port, **options):
        sys.exit(run(host, port))
