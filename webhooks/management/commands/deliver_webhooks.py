from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection
from django.utils import timezone

from campaigns.runner import is_connection_failure
from leadmgr.stopping import StopRequest
from webhooks.delivery import PassReport, Worker, prune

log = logging.getLogger("webhooks.delivery")

PRUNE_EVERY = 3600  # seconds between two removals of old deliveries


class Command(BaseCommand):
    help = (
        "Deliver webhook events from the outbox: POST each signed, retry with backoff "
        "(LEADMGR_WEBHOOK_RETRY_DELAYS), in order per lead. Several workers may run at once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once", action="store_true", help="Deliver what is due now, then exit (for cron and tests)."
        )

    def handle(self, *args, once: bool, **options):
        worker = Worker()
        try:
            if once:
                self.summary(worker.drain())
                return
            self.loop(worker)
        finally:
            worker.close()

    def loop(self, worker: Worker) -> None:
        stop = StopRequest()
        self.stdout.write(
            f"Delivering webhooks ({settings.LEADMGR_WEBHOOK_CONCURRENCY} at once); "
            "Ctrl-C or SIGTERM stops after the POSTs under way."
        )
        self.stdout.flush()
        total = PassReport()
        next_prune = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() >= next_prune:
                    prune(timezone.now(), keep_days=settings.LEADMGR_WEBHOOK_KEEP_DAYS)
                    next_prune = time.monotonic() + PRUNE_EVERY
                report = worker.pass_once()
            except Exception as exc:
                log.exception("webhooks: the pass failed; going on at the next one")
                if is_connection_failure(exc):
                    connection.close()
                stop.wait(settings.LEADMGR_WEBHOOK_POLL)
                continue
            total.add(report)
            if not report.claimed:
                stop.wait(settings.LEADMGR_WEBHOOK_POLL)
        self.summary(total)

    def summary(self, report: PassReport) -> None:
        self.stdout.write(
            f"Delivered {report.delivered} event(s); {report.retried} to retry; {report.gave_up} given up."
        )
