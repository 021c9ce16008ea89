"""The roles' compliance permissions (see leads/roles.py), the site's calling rules row, and the
default region rules: US states whose calling hours are narrower than 08:00-21:00
(compliance/data/us_state_hours.json; area codes from phonenumbers' geocoding, sources in the README).
"""

import datetime as dt
import json
from pathlib import Path

from django.contrib.auth.management import create_permissions
from django.db import migrations

OPERATOR_PERMISSIONS = ["compliance.opt_out_lead"]
STAFF_PERMISSIONS = [
    *OPERATOR_PERMISSIONS,
    "compliance.view_donotcallentry",
    "compliance.add_donotcallentry",
    "compliance.change_donotcallentry",
    "compliance.import_donotcallentry",
    "compliance.export_donotcallentry",
]
ROLES = {"Operators": OPERATOR_PERMISSIONS, "Staff": STAFF_PERMISSIONS}
DATA = Path(__file__).resolve().parents[1] / "data" / "us_state_hours.json"


def _permissions(apps, perms):
    Permission = apps.get_model("auth", "Permission")
    for perm in perms:
        app_label, codename = perm.split(".")
        yield Permission.objects.get(content_type__app_label=app_label, codename=codename)


def forward(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*_permissions(apps, perms))
    apps.get_model("compliance", "CallingRules").objects.get_or_create(pk=1)
    RegionRule = apps.get_model("compliance", "RegionRule")
    for rule in json.loads(DATA.read_text()):
        RegionRule.objects.create(
            **{
                **rule,
                "start": dt.time.fromisoformat(rule["start"]),
                "end": dt.time.fromisoformat(rule["end"]),
            }
        )


def backward(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, perms in ROLES.items():
        for group in Group.objects.filter(name=name):
            group.permissions.remove(*_permissions(apps, perms))
    apps.get_model("compliance", "RegionRule").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0001_do_not_call_rules_erasures_exports"),
        ("leads", "0008_campaign_control_roles"),
    ]

    operations = [migrations.RunPython(forward, backward)]
