"""Lead counts per campaign and status, the triggers that keep them, and the counts of today."""

import django.db.models.deletion
from django.db import migrations, models

from leadmgr.storage import counts as sql


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    sql.run([*sql.triggers(vendor), *sql.RECOUNT], schema_editor.connection)


def uninstall(apps, schema_editor):
    sql.run(sql.drop(schema_editor.connection.vendor), schema_editor.connection)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("campaigns", "0006_runner_decision_missing_variable"),
        ("leads", "0008_campaign_control_roles"),
    ]

    operations = [
        migrations.CreateModel(
            name="StatusCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("status", models.CharField(max_length=16)),
                ("n", models.BigIntegerField(default=0)),
                (
                    "campaign",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="campaigns.campaign",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("campaign", "status"), name="status_count_unique")
                ],
            },
        ),
        migrations.CreateModel(
            name="StatusCountDelta",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("status", models.CharField(max_length=16)),
                ("n", models.BigIntegerField()),
                (
                    "campaign",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="campaigns.campaign",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["campaign", "status"], name="status_count_delta_campaign")],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
