"""Test calls placed from a campaign page (campaigns/testcalls.py); Staff may place and see them."""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

STAFF_PERMISSIONS = ["add_testcall", "view_testcall"]


def grant(apps, schema_editor):
    # Permissions are normally made after all migrations (post_migrate); make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="campaigns", codename__in=STAFF_PERMISSIONS)
    group, _ = Group.objects.get_or_create(name="Staff")
    group.permissions.add(*perms)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="campaigns", codename__in=STAFF_PERMISSIONS)
    for group in Group.objects.filter(name="Staff"):
        group.permissions.remove(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0007_runner_reasons_do_not_call_frequency_cap"),
        ("leads", "0008_campaign_control_roles"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="TestCall",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("placed_at", models.DateTimeField()),
                ("phone", models.CharField(help_text="The number dialled (E.164).", max_length=16)),
                (
                    "source_lead_id",
                    models.BigIntegerField(
                        blank=True, help_text="The lead whose variables were used.", null=True
                    ),
                ),
                ("source_lead_phone", models.CharField(blank=True, max_length=16)),
                ("message", models.TextField(blank=True)),
                ("provider", models.CharField(max_length=32)),
                (
                    "accepted",
                    models.BooleanField(default=False, help_text="Whether the provider took the call."),
                ),
                ("provider_ref", models.CharField(blank=True, max_length=128)),
                (
                    "outcome",
                    models.CharField(
                        blank=True, help_text="Known when the provider answered at once.", max_length=16
                    ),
                ),
                ("detail", models.TextField(blank=True)),
                (
                    "campaign",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="test_calls",
                        to="campaigns.campaign",
                    ),
                ),
                (
                    "placed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-placed_at", "-id"],
                "indexes": [models.Index(fields=["campaign", "placed_at"], name="test_call_campaign_placed")],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
