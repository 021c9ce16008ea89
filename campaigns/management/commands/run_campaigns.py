from __future__ import annotations

import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from campaigns.runner import Runner, TickReport


class Command(BaseCommand):
    help = (
        "The campaign runner: for every running campaign, claim due leads up to its concurrency limit "
        "and call them through the configured provider (LEADMGR_PROVIDER). Several workers may run at once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once",
            action="store_true",
            help="Call what is due now, wait for this worker's calls to end, then exit (for cron).",
        )

    def handle(self, *args, once: bool, **options):
        runner = Runner()
        if once:
            self.summary(runner.run_once())
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(
            f"Running campaigns with the {runner.provider.name} provider every "
            f"{settings.LEADMGR_RUNNER_TICK} s; Ctrl-C stops after the calls under way."
        )
        total = TickReport()
        while not stop.is_set():
            total.add(runner.tick())
            deadline = time.monotonic() + settings.LEADMGR_RUNNER_TICK
            while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
                runner.wait_for_results(total, sleep=stop.wait, limit=min(left, 0.5))
        while runner.provider.in_flight():
            runner.wait_for_results(total)
        self.summary(total)

    def summary(self, report: TickReport) -> None:
        finished = ", ".join(f"{status} {n}" for status, n in sorted(report.finished.items())) or "none"
        skipped = skipped_by_reason(report)
        self.stdout.write(
            f"Claimed {report.claimed} lead(s), placed {report.dials} call(s), {report.results} result(s); "
            f"recovered {report.recovered}; ended: {finished}; not called now: {skipped}."
        )


def skipped_by_reason(report: TickReport) -> str:
    by_reason: dict[str, int] = {}
    for (_, reason), n in report.skipped.items():
        by_reason[str(reason)] = by_reason.get(str(reason), 0) + n
    return ", ".join(f"{reason} {n}" for reason, n in sorted(by_reason.items()) if n) or "none"
