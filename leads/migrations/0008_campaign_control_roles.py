"""Grant the roles the campaign controls (see leads/roles.py and campaigns/controls.py).

Operators Start, Pause and Resume campaigns; Staff also create, edit and Finish campaigns and
assistants, and Pause all.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OPERATOR_PERMISSIONS = ["campaigns.control_campaign"]
STAFF_PERMISSIONS = [
    *OPERATOR_PERMISSIONS,
    "campaigns.add_campaign",
    "campaigns.change_campaign",
    "campaigns.finish_campaign",
    "campaigns.pause_all_campaigns",
    "campaigns.add_assistant",
    "campaigns.change_assistant",
    "campaigns.add_assistantvariable",
    "campaigns.change_assistantvariable",
    "campaigns.delete_assistantvariable",
    "campaigns.view_assistantvariable",
]
ROLES = {"Operators": OPERATOR_PERMISSIONS, "Staff": STAFF_PERMISSIONS}


def _permissions(apps, perms):
    Permission = apps.get_model("auth", "Permission")
    for perm in perms:
        app_label, codename = perm.split(".")
        yield Permission.objects.get(content_type__app_label=app_label, codename=codename)


def grant(apps, schema_editor):
    # Permissions are normally made after all migrations (post_migrate); make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*_permissions(apps, perms))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, perms in ROLES.items():
        for group in Group.objects.filter(name=name):
            group.permissions.remove(*_permissions(apps, perms))


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0007_csv_jobs"),
        ("campaigns", "0005_campaign_state_changes_and_controls"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
