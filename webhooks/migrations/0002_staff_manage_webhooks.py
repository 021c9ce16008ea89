"""Staff manage webhook subscriptions (see leads/roles.py); Operators do not see them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

STAFF_PERMISSIONS = [
    "webhooks.view_subscription",
    "webhooks.add_subscription",
    "webhooks.change_subscription",
    "webhooks.delete_subscription",
]


def _permissions(apps):
    Permission = apps.get_model("auth", "Permission")
    for perm in STAFF_PERMISSIONS:
        app_label, codename = perm.split(".")
        yield Permission.objects.get(content_type__app_label=app_label, codename=codename)


def grant(apps, schema_editor):
    # Permissions are normally made after all migrations (post_migrate); make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    group, _ = apps.get_model("auth", "Group").objects.get_or_create(name="Staff")
    group.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    for group in apps.get_model("auth", "Group").objects.filter(name="Staff"):
        group.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_outbox"),
        ("leads", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
