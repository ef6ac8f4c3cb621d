from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from dashboard.views import analyses, api, compare, experiments, export, results, runs, share

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="experiment-list"), name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("experiments/", experiments.experiment_list, name="experiment-list"),
    path("experiments/new/", experiments.experiment_new, name="experiment-new"),
    path("experiments/<int:pk>/", experiments.experiment_detail, name="experiment-detail"),
    path("experiments/<int:pk>/runs/", experiments.experiment_runs, name="experiment-runs"),
    path("experiments/<int:pk>/delete/", experiments.experiment_delete, name="experiment-delete"),
    path("experiments/<int:pk>/share/", share.share_create, name="share-create"),
    path("experiments/<int:pk>/share/<int:link_id>/revoke/", share.share_revoke, name="share-revoke"),
    path("experiments/<int:pk>/export.csv", export.export_csv, name="export-csv"),
    path("experiments/<int:pk>/export.json", export.export_json, name="export-json"),
    path("experiments/<int:pk>/sections/", results.experiment_sections, name="experiment-sections"),
    path("experiments/<int:pk>/tables/<slug:key>.<str:fmt>", results.experiment_table, name="experiment-table"),
    path("experiments/estimate/", results.experiment_estimate, name="experiment-estimate"),
    path("experiments/<int:pk>/analyses/", analyses.analysis_request, name="analysis-request"),
    path("analyses/<int:pk>/", analyses.analysis_detail, name="analysis-detail"),
    path("analyses/<int:pk>/status.json", analyses.analysis_status, name="analysis-status"),
    path("analyses/<int:pk>/export.json", analyses.analysis_export_json, name="analysis-export-json"),
    path("analyses/<int:pk>/export.csv", analyses.analysis_export_csv, name="analysis-export-csv"),
    path("compare/", compare.compare, name="compare"),
    path("share/<str:token>/", experiments.shared_experiment, name="shared-experiment"),
    path("runs/<int:pk>/cancel/", runs.run_cancel, name="run-cancel"),
    path("runs/<int:pk>/resume/", runs.run_resume, name="run-resume"),
    path("api/experiments/", api.experiments, name="api-experiments"),
    path("api/experiments/<int:pk>/", api.experiment, name="api-experiment"),
    path("api/runs/<int:pk>/", api.run, name="api-run"),
    path("api/runs/<int:pk>/metrics/", api.run_metrics, name="api-run-metrics"),
]
