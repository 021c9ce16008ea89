"""What a campaign control will do, in numbers, for its confirmation ("Starting calls 1,240 due leads
now; 310 wait for their calling window"). Read just before the operator confirms; the action itself
is ``campaigns.controls``."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q
from django.utils import timezone

from leads import selectors as lead_selectors
from leads.models import Lead, Status

from .controls import Action
from .models import Campaign, RunnerDecision
from .preview import preview_start

Reason = RunnerDecision.Reason

# Leads a finished campaign will never call again: those waiting in the queue or under way.
NOT_DONE = (Status.CREATED, Status.SCHEDULED, Status.RESCHEDULED, Status.PROCESSING)


def _n(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def control_outlook(campaign: Campaign, action: Action | str, now: dt.datetime | None = None) -> str:
    """One sentence saying what ``action`` will do to ``campaign`` now."""
    action = Action(action)
    now = now or timezone.now()
    if action in (Action.START, Action.RESUME):
        preview = preview_start(campaign, now)
        callable_now = (
            preview.due - preview.skipped_total + preview.skipped.get(Reason.CONCURRENCY_FULL.label, 0)
        )
        outside = preview.skipped.get(Reason.OUTSIDE_WINDOW.label, 0)
        ambiguous = preview.skipped.get(Reason.TZ_AMBIGUOUS.label, 0)
        verb = "Starting" if action == Action.START else "Resuming"
        text = (
            f"{verb} calls {_n(callable_now, 'due lead')} now, {campaign.concurrency_limit:,} at a time; "
            f"{outside:,} wait for their calling window"
        )
        if ambiguous:
            text += f"; {ambiguous:,} wait because their number's time zone is ambiguous"
        return text + (" (estimated from the first due leads)." if preview.estimated else ".")
    if action == Action.PAUSE:
        processing = lead_selectors.processing_count(campaign)
        due = lead_selectors.due_count(campaign, now)
        return (
            f"Pausing stops new calls at once: {_n(processing, 'call')} under way end without dialling a "
            f"further number; {_n(due, 'due lead')} wait until the campaign resumes."
        )
    left = Lead.objects.filter(campaign=campaign, status__in=NOT_DONE).count()
    return f"Finish: {_n(left, 'lead')} will never be called again. A finished campaign cannot be restarted."


def pause_all_outlook() -> str:
    """What Pause all will do: which campaigns pause and how many calls are under way in them."""
    running = list(
        Campaign.objects.filter(state=Campaign.State.RUNNING)
        .annotate(processing=Count("leads", filter=Q(leads__status=Status.PROCESSING)))
        .order_by("name")
        .values_list("name", "processing")
    )
    if not running:
        return "No campaign is running: Pause all changes nothing."
    names = ", ".join(name for name, _ in running)
    calls = sum(n for _, n in running)
    return (
        f"Pause all: {_n(len(running), 'running campaign')} pause at once ({names}); "
        f"{_n(calls, 'call')} under way end without dialling a further number."
    )
