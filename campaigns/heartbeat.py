"""A worker's heartbeat: a daemon thread, with its own database connection, that keeps the leases of
the attempts the worker holds alive and its ``RunnerHeartbeat`` row fresh.

So a call longer than the lease is never recovered while its worker lives: only a dead worker's
leases run out. The thread beats every quarter of the lease (at most every 30 s).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading

from django.conf import settings
from django.db import connection
from django.utils import timezone

from leads import attempts

from . import services
from .runner import Runner, lease

log = logging.getLogger("campaigns.runner")

MAX_INTERVAL = 30.0


def interval() -> float:
    return min(settings.LEADMGR_RUNNER_LEASE / 4, MAX_INTERVAL)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    def __init__(self, runner: Runner, *, worker: str | None = None):
        self.runner = runner
        self.worker = worker or worker_id()
        self.started_at = timezone.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="runner-heartbeat", daemon=True)

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def beat(self, *, passed: bool = False) -> None:
        """Renew the held attempts' leases and write the worker's row (any thread)."""
        now = timezone.now()
        held = self.runner.held()
        if held:
            live = attempts.renew_leases(held, until=now + lease())
            self.runner.keep_only(held, live)
        services.heartbeat_beat(
            worker_id=self.worker,
            now=now,
            calls_held=len(self.runner.held()),
            started_at=self.started_at,
            passed=passed,
        )

    def _run(self) -> None:
        try:
            while not self._stop.wait(interval()):
                try:
                    self.beat()
                except Exception:
                    log.exception("runner heartbeat failed; retrying at the next beat")
                    connection.close()  # a fresh connection next time
        finally:
            connection.close()  # this thread's own connection

    def stop(self, *, remove: bool = True) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=interval() + 30)
        if remove:
            services.heartbeat_remove(worker_id=self.worker)


def grace() -> dt.timedelta:
    return dt.timedelta(seconds=settings.LEADMGR_RUNNER_GRACE)
