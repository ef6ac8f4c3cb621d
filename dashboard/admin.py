from django.contrib import admin

from dashboard.models import Analysis, Experiment, MetricPoint, Run, ShareLink

# the changelists get the page's width: at 1024 px the sidebar left their last columns cut off
admin.site.enable_nav_sidebar = False


class RunInline(admin.TabularInline):
    model = Run
    extra = 0
    fields = ("role", "seed", "status", "progress", "eta_seconds", "heartbeat", "cancel_requested")
    readonly_fields = ("heartbeat",)
    show_change_link = True


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "kind", "status", "created")
    list_filter = ("status", "preset")
    search_fields = ("name", "owner__username")
    inlines = [RunInline]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("id", "experiment", "role", "seed", "status", "progress", "heartbeat")
    list_filter = ("status", "role")
    readonly_fields = ("created", "started", "finished", "last_seq", "task_id")


@admin.register(MetricPoint)
class MetricPointAdmin(admin.ModelAdmin):
    list_display = ("run", "name", "step", "value", "seq")
    list_filter = ("name",)
    raw_id_fields = ("run",)


@admin.register(Analysis)
class AnalysisAdmin(admin.ModelAdmin):
    list_display = ("kind", "experiment", "run", "status", "progress", "created")
    list_filter = ("kind", "status")


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ("experiment", "token", "created", "revoked_at")
    readonly_fields = ("token",)
