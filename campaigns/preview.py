"""A campaign's "if started now": how many due leads one pass would call, and why not the others.

Shown on the campaign page (``views.start_preview``) and in a control's confirmation
(``outlook``). It reads a sample of the queue, never the whole of it (``PREVIEW_SAMPLE``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from django.utils import timezone

from compliance.hours import calling_hours
from compliance.selectors import blocked_numbers
from leads import selectors

from .models import Campaign, RunnerDecision
from .windows import WindowState, zones_for

Reason = RunnerDecision.Reason

# The most due leads the start preview checks; beyond, it scales their proportions. 2,000 puts a
# proportion within about 2 points (95%), and keeps the fragment's phone parsing near 0.1 s: with
# 20,000 it took 1-1.5 s of CPU at a million leads, seconds a page under load (bench/load).
PREVIEW_SAMPLE = 2_000


@dataclass
class StartPreview:
    due: int
    would_call: int
    skipped: dict[str, int]  # reason label → leads
    estimated: bool  # proportions from the first PREVIEW_SAMPLE due leads

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def preview_start(campaign: Campaign, now: dt.datetime | None = None) -> StartPreview:
    """If the campaign started now: how many due leads one pass would call, and why not the others."""
    now = now or timezone.now()
    due = selectors.due_count(campaign, now, cap=None)
    phones = [phone for (phone,) in selectors.take_due(campaign, now, PREVIEW_SAMPLE, ("phone",))]
    window = calling_hours(campaign)
    listed = {n for i in range(0, len(phones), 5000) for n in blocked_numbers(phones[i : i + 5000], campaign)}
    # By (hours, time-zone set), not number by number: a sample holds a few dozen such pairs, and the
    # preview needs no next opening (the verdicts' next_open made the fragment take seconds at a
    # million leads). The hours are the campaign's within the legal floor and the number's region.
    states: Counter = Counter({Reason.DO_NOT_CALL: sum(phone in listed for phone in phones)})
    pairs = Counter((window.window_for(phone), zones_for(phone)) for phone in phones if phone not in listed)
    for (hours, zones), n in pairs.items():
        states[hours.state(zones, now)] += n
    scale = due / len(phones) if phones else 0
    outside = round(states[WindowState.OUTSIDE] * scale)
    ambiguous = round(states[WindowState.AMBIGUOUS] * scale)
    do_not_call = round(states[Reason.DO_NOT_CALL] * scale)
    callable_now = max(0, due - outside - ambiguous - do_not_call)
    free = max(0, campaign.concurrency_limit - selectors.processing_count(campaign))
    would_call = min(free, callable_now)
    skipped = {Reason.OUTSIDE_WINDOW.label: outside, Reason.TZ_AMBIGUOUS.label: ambiguous}
    if do_not_call:  # a reason of its own only where some due lead's primary is listed
        skipped[Reason.DO_NOT_CALL.label] = do_not_call
    skipped[Reason.CONCURRENCY_FULL.label] = callable_now - would_call
    return StartPreview(
        due=due,
        would_call=would_call,
        skipped=skipped,
        estimated=due > len(phones),
    )
