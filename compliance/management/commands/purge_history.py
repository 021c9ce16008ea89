from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from compliance.retention import purge_history


class Command(BaseCommand):
    help = (
        "Delete call attempts and status history older than LEADMGR_HISTORY_RETENTION_DAYS "
        "(or --days). Run it daily (cron, a systemd timer)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="Keep this many days (default: the setting).")

    def handle(self, days=None, **opts):
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        days = settings.LEADMGR_HISTORY_RETENTION_DAYS if days is None else days
        if days == 0:
            self.stdout.write("LEADMGR_HISTORY_RETENTION_DAYS is 0: everything is kept.")
            return
        calls, history = purge_history(days=days)
        self.stdout.write(
            f"Deleted {calls} call attempt(s) and {history} status change(s) older than {days} day(s)."
        )
