from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Large-batch lab"

    def ready(self):
        from dashboard.worker import signals  # noqa: F401  (worker start-up recovery)
