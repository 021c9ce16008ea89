"""Reads of the campaigns app shared by pages, the API and health checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from .models import RunnerHeartbeat

# A worker counts as live when it was seen within this many ticks.
LIVE_TICKS = 3


@dataclass(frozen=True)
class LiveRunners:
    count: int  # workers seen within LIVE_TICKS ticks
    last_pass_at: dt.datetime | None  # the latest pass of any worker, live or not
    calls_held: int  # attempts under way in the live workers


def live_runners(now: dt.datetime | None = None) -> LiveRunners:
    """How many ``run_campaigns`` workers are alive, and when the last pass ran (two queries)."""
    now = now or timezone.now()
    since = now - dt.timedelta(seconds=LIVE_TICKS * settings.LEADMGR_RUNNER_TICK)
    live = list(RunnerHeartbeat.objects.filter(last_seen__gte=since).values_list("calls_held", flat=True))
    last_pass = RunnerHeartbeat.objects.aggregate(at=Max("last_pass_at"))["at"]
    return LiveRunners(count=len(live), last_pass_at=last_pass, calls_held=sum(live))
