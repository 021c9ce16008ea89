from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from campaigns.heartbeat import Heartbeat
from campaigns.runner import Runner, TickReport, is_connection_failure
from leadmgr.stopping import StopRequest
from leads import attempts

log = logging.getLogger("campaigns.runner")

E_DATABASE_GONE = "The database connection failed on two passes in a row ({error}); the runner stops."


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
        heartbeat = Heartbeat(runner)
        heartbeat.start()
        try:
            if once:
                self.summary(runner.run_once())
                return
            self.loop(runner, heartbeat)
        finally:
            heartbeat.stop()

    def loop(self, runner: Runner, heartbeat: Heartbeat) -> None:
        stop = StopRequest()
        self.stdout.write(
            f"Running campaigns with the {runner.provider.name} provider every "
            f"{settings.LEADMGR_RUNNER_TICK} s; Ctrl-C stops claiming, waits up to "
            f"{settings.LEADMGR_RUNNER_GRACE} s for the calls under way, then releases the rest."
        )
        self.stdout.flush()  # at once in a supervisor's log (stdout to a file is block-buffered)
        total = TickReport()
        failures = 0
        while not stop.is_set():
            try:
                total.add(runner.tick())
                heartbeat.beat(passed=True)
                failures = 0
            except Exception as exc:
                if not is_connection_failure(exc):
                    log.exception("runner: the pass failed; going on at the next one")
                else:
                    failures += 1
                    log.error("runner: database connection failed (%s of 2): %s", failures, exc)
                    connection.close()
                    if failures >= 2:
                        raise CommandError(E_DATABASE_GONE.format(error=exc)) from exc
            deadline = time.monotonic() + settings.LEADMGR_RUNNER_TICK
            while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
                runner.wait_for_results(total, sleep=stop.wait, limit=min(left, 0.5))
        self.shut_down(runner, total)

    def shut_down(self, runner: Runner, total: TickReport) -> None:
        """Stop claiming; wait up to the grace period for held calls; release what is left."""
        runner.claiming = False
        deadline = time.monotonic() + settings.LEADMGR_RUNNER_GRACE
        while runner.held() and (left := deadline - time.monotonic()) > 0:
            runner.wait_for_results(total, limit=min(left, 0.5))
            if not runner.provider.in_flight():
                # Results of callback providers land in the database: drop the attempts that ended.
                held = runner.held()
                runner.keep_only(held, attempts.lock_attempts(held))
        released = runner.release_held()
        if released:
            log.info("runner: released %d attempt(s) back to the queue at shutdown", len(released))
        self.summary(total)
        if released:
            self.stdout.write(f"Released {len(released)} call(s) still under way back to the queue.")

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
