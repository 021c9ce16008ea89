from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction

from leads import demo, roles

DEMO_PASSWORD = "leadmgr-demo"
DEMO_USERS = [
    ("admin", None, True),
    ("operator", roles.OPERATORS, False),
    ("staff", roles.STAFF, False),
]


class Command(BaseCommand):
    help = "Create demo assistants, campaigns, leads in every status, and demo sign-ins."

    def add_arguments(self, parser):
        parser.add_argument(
            "--leads",
            type=int,
            default=demo.DEFAULT_LEADS,
            help=f"How many demo leads to add (default {demo.DEFAULT_LEADS}).",
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when the database already has campaigns."
        )

    def handle(self, *args, leads: int, if_empty: bool, **options):
        from campaigns.models import Campaign

        if if_empty and Campaign.objects.exists():
            self.stdout.write("Demo data already present; nothing to do.")
            return
        with transaction.atomic():
            created = demo.seed_demo(leads)
            for username, group, superuser in DEMO_USERS:
                user, new = User.objects.get_or_create(
                    username=username, defaults={"is_staff": superuser, "is_superuser": superuser}
                )
                if new:
                    user.set_password(DEMO_PASSWORD)
                    user.save()
                if group:
                    user.groups.add(Group.objects.get(name=group))
        self.stdout.write(self.style.SUCCESS(f"Added {created} demo leads."))
        self.stdout.write(
            "Demo sign-ins (password "
            f"{DEMO_PASSWORD!r}): admin (everything), operator (Operators), staff (Staff)."
        )
