from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from dashboard.views import api, compare, experiments, export, runs, share

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="experiment-list"), name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("experiments/", experiments.experiment_list, name="experiment-list"),
    path("experiments/new/", experiments.experiment_new, name="experiment-new"),
    path("experiments/<int:pk>/", experiments.experiment_detail, name="experiment-detail"),
    path("experiments/<int:pk>/delete/", experiments.experiment_delete, name="experiment-delete"),
    path("experiments/<int:pk>/share/", share.share_create, name="share-create"),
    path("experiments/<int:pk>/share/<int:link_id>/revoke/", share.share_revoke, name="share-revoke"),
    path("experiments/<int:pk>/export.csv", export.export_csv, name="export-csv"),
    path("experiments/<int:pk>/export.json", export.export_json, name="export-json"),
    path("compare/", compare.compare, name="compare"),
    path("share/<str:token>/", experiments.shared_experiment, name="shared-experiment"),
    path("runs/<int:pk>/cancel/", runs.run_cancel, name="run-cancel"),
    path("runs/<int:pk>/resume/", runs.run_resume, name="run-resume"),
    path("api/experiments/", api.experiments, name="api-experiments"),
    path("api/experiments/<int:pk>/", api.experiment, name="api-experiment"),
    path("api/runs/<int:pk>/", api.run, name="api-run"),
    path("api/runs/<int:pk>/metrics/", api.run_metrics, name="api-run-metrics"),
]
