# Experiment kinds (designs) and run tags; longer run roles ("LB + linear lr + warmup").

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('dashboard', '0002_analysis_inputs'),
    ]

    operations = [
        migrations.AddField(
            model_name='experiment',
            name='kind',
            field=models.CharField(default='gap', max_length=20),
        ),
        migrations.AddField(
            model_name='experiment',
            name='design',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name='run',
            name='tags',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name='run',
            name='role',
            field=models.CharField(max_length=40),
        ),
    ]
