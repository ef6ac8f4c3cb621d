# An experiment's `design` held every kind's settings; it now holds its own kind's Options only.
# The settings each kind had when this migration was written (a record of then, not imported).

from django.db import migrations

OWN = {"gap": (), "sharpness": ("subspace_dim",), "parametric": (), "sweep": ("batch_sizes",),
       "warmstart": ("every", "lb_epochs"), "trajectory": ("every",), "remedies": ("remedies",)}


def keep_own_settings(apps, schema_editor):
    Experiment = apps.get_model("dashboard", "Experiment")
    for experiment in Experiment.objects.all().only("pk", "kind", "design"):
        own = OWN.get(experiment.kind, ())
        design = {k: v for k, v in (experiment.design or {}).items() if k in own}
        if design != experiment.design:
            Experiment.objects.filter(pk=experiment.pk).update(design=design)


class Migration(migrations.Migration):

    dependencies = [
        ('dashboard', '0004_interpolation_far_end'),
    ]

    operations = [
        migrations.RunPython(keep_own_settings, migrations.RunPython.noop),
    ]
