from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

import dashboard.ids  # noqa: F401  (the <id:...> converter)
from dashboard.views import analyses, api, compare, experiments, export, results, runs, share

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="experiment-list"), name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("experiments/", experiments.experiment_list, name="experiment-list"),
    path("experiments/new/", experiments.experiment_new, name="experiment-new"),
    path("experiments/<id:pk>/", experiments.experiment_detail, name="experiment-detail"),
    path("experiments/<id:pk>/runs/", experiments.experiment_runs, name="experiment-runs"),
    path("experiments/<id:pk>/delete/", experiments.experiment_delete, name="experiment-delete"),
    path("experiments/<id:pk>/notes/", experiments.experiment_notes, name="experiment-notes"),
    path("experiments/<id:pk>/share/", share.share_create, name="share-create"),
    path("experiments/<id:pk>/share/<id:link_id>/revoke/", share.share_revoke, name="share-revoke"),
    path("experiments/<id:pk>/export.csv", export.export_csv, name="export-csv"),
    path("experiments/<id:pk>/export.json", export.export_json, name="export-json"),
    path("experiments/<id:pk>/sections/", results.experiment_sections, name="experiment-sections"),
    path("experiments/<id:pk>/tables/<slug:key>.<str:fmt>", results.experiment_table, name="experiment-table"),
    path("experiments/estimate/", results.experiment_estimate, name="experiment-estimate"),
    path("experiments/<id:pk>/analyses/", analyses.analysis_request, name="analysis-request"),
    path("analyses/<id:pk>/", analyses.analysis_detail, name="analysis-detail"),
    path("analyses/<id:pk>/status.json", analyses.analysis_status, name="analysis-status"),
    path("analyses/<id:pk>/export.json", analyses.analysis_export_json, name="analysis-export-json"),
    path("analyses/<id:pk>/export.csv", analyses.analysis_export_csv, name="analysis-export-csv"),
    path("compare/", compare.compare, name="compare"),
    path("share/<str:token>/", experiments.shared_experiment, name="shared-experiment"),
    path("runs/<id:pk>/cancel/", runs.run_cancel, name="run-cancel"),
    path("runs/<id:pk>/resume/", runs.run_resume, name="run-resume"),
    path("api/experiments/", api.experiments, name="api-experiments"),
    path("api/experiments/<id:pk>/", api.experiment, name="api-experiment"),
    path("api/runs/<id:pk>/", api.run, name="api-run"),
    path("api/runs/<id:pk>/metrics/", api.run_metrics, name="api-run-metrics"),
]

# /api/ answers its errors as JSON (dashboard/views/errors.py)
handler400 = "dashboard.views.errors.bad_request"
handler403 = "dashboard.views.errors.permission_denied"
handler404 = "dashboard.views.errors.page_not_found"
handler500 = "dashboard.views.errors.server_error"
