"""Create the Operators and Staff groups with their permissions (see leads/roles.py)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OPERATOR_PERMISSIONS = [
    "leads.view_lead",
    "leads.add_lead",
    "leads.change_lead",
    "leads.view_secondarycontact",
    "leads.add_secondarycontact",
    "leads.change_secondarycontact",
    "leads.delete_secondarycontact",
    "leads.view_statuschange",
    "leads.view_callattempt",
    "campaigns.view_campaign",
    "campaigns.view_assistant",
]
STAFF_PERMISSIONS = [
    *OPERATOR_PERMISSIONS,
    "leads.delete_lead",
    "leads.import_lead",
    "leads.export_lead",
    "leads.bulk_delete_lead",
]
ROLES = {"Operators": OPERATOR_PERMISSIONS, "Staff": STAFF_PERMISSIONS}


def create_roles(apps, schema_editor):
    # Permissions are normally made after all migrations (post_migrate); make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0001_initial"),
        ("campaigns", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
