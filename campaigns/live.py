"""The live part of a campaign page (refreshed by htmx polling): leads per status, calls under way,
the latest attempts, when the next lead is due and why then, what waits and why, and whether a
runner is alive. Every read is bounded by an index, so a refresh costs the same at 10k or 1M leads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F, Func, OuterRef, Q, Subquery
from django.utils import timezone

from compliance.hours import calling_hours
from leads.models import CallAttempt, Lead, Status

from .models import Campaign, RunnerDecision, RunnerHeartbeat
from .selectors import LIVE_TICKS
from .windows import Window, zones_for

# The latest attempts are looked for among the last RECENT_CALLS calls of every campaign (newest
# first by id, the primary key's index): a bounded read however many calls there are.
RECENT_CALLS = 20_000
LATEST_SHOWN = 10
IN_PROGRESS_SHOWN = 50

# The queue's three timed branches (index lead_queue: campaign, status, next_attempt_at).
TIMED = {
    Status.SCHEDULED: "its scheduled callback",
    Status.RESCHEDULED: "its retry time",
    Status.CREATED: "its calling window",
}


@dataclass(frozen=True)
class NextDue:
    at: dt.datetime
    phone: str
    status: str
    why: str


def with_live(queryset, now: dt.datetime):
    """``queryset`` (the user's campaigns) annotated, read in one query, with the first waiting lead
    of each timed queue branch (time and phone) and the runners' liveness."""
    annotations = {}
    for status in TIMED:
        first = Lead.objects.filter(
            campaign_id=OuterRef("pk"), status=status, next_attempt_at__gt=now
        ).order_by("next_attempt_at")
        annotations[f"next_{status}_at"] = Subquery(first.values("next_attempt_at")[:1])
        annotations[f"next_{status}_phone"] = Subquery(first.values("phone")[:1])
    since = now - dt.timedelta(seconds=LIVE_TICKS * settings.LEADMGR_RUNNER_TICK)
    alive = RunnerHeartbeat.objects.filter(last_seen__gte=since).order_by()
    annotations["runners_alive"] = Subquery(alive.values(n=Func(F("pk"), function="COUNT")))
    annotations["runners_last_pass"] = Subquery(
        RunnerHeartbeat.objects.filter(last_pass_at__isnull=False)
        .order_by("-last_pass_at")
        .values("last_pass_at")[:1]
    )
    return queryset.select_related("assistant").annotate(**annotations)


def next_due(campaign) -> NextDue | None:
    """The first lead waiting for a time, and why it waits until then."""
    firsts = [
        (getattr(campaign, f"next_{status}_at"), getattr(campaign, f"next_{status}_phone"), status)
        for status in TIMED
    ]
    firsts = [f for f in firsts if f[0] is not None]
    if not firsts:
        return None
    at, phone, status = min(firsts, key=lambda f: f[0])
    why = TIMED[status]
    if status == Status.CREATED:
        window = Window.of(campaign)
        opening = [z for z in zones_for(phone) if at in set(window.openings(z, at - dt.timedelta(days=1)))]
        why = f"when the window opens in {opening[0].key}" if opening else "when its calling window opens"
    return NextDue(at=at, phone=phone, status=status, why=why)


def calls(campaign_id: int, concurrency_limit: int) -> tuple[list[CallAttempt], list[CallAttempt]]:
    """(calls under way, latest ended attempts) in one query."""
    under_way = CallAttempt.objects.filter(
        lead__campaign_id=campaign_id, lead__status=Status.PROCESSING, outcome=""
    ).values("pk")
    recent = CallAttempt.objects.order_by("-pk").values("pk")[:RECENT_CALLS]
    rows = list(
        CallAttempt.objects.filter(Q(pk__in=under_way) | Q(pk__in=recent), lead__campaign_id=campaign_id)
        .order_by("-pk")
        .only("pk", "lead_id", "phone", "started_at", "ended_at", "outcome", "attempt_number")[
            : max(concurrency_limit, IN_PROGRESS_SHOWN) + LATEST_SHOWN
        ]
    )
    in_progress = [c for c in rows if not c.outcome][:IN_PROGRESS_SHOWN]
    latest = [c for c in rows if c.outcome][:LATEST_SHOWN]
    return in_progress, latest


def waiting_reasons(campaign_id: int, now: dt.datetime) -> list[tuple[str, int, dt.datetime]]:
    """What the runner's latest passes skipped for this campaign, by reason: (label, leads, when)."""
    hour = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    rows = (
        RunnerDecision.objects.filter(campaign_id=campaign_id, hour__gte=hour)
        .order_by("reason", "-hour")
        .values_list("reason", "last_leads", "last_at")
    )
    seen: dict[str, tuple[str, int, dt.datetime]] = {}
    for reason, n, at in rows:
        if reason not in seen or at > seen[reason][2]:
            seen[reason] = (RunnerDecision.Reason(reason).label, n, at)
    return sorted(seen.values(), key=lambda r: -r[1])


def live_context(campaign, now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    in_progress, latest = calls(campaign.pk, campaign.concurrency_limit)
    alive = campaign.runners_alive or 0
    return {
        "now": now,
        "next_due": next_due(campaign),
        "in_progress": [(c, now - c.started_at) for c in in_progress],
        "latest": latest,
        "waiting": waiting_reasons(campaign.pk, now) if campaign.state == Campaign.State.RUNNING else [],
        "runners_alive": alive,
        "runners_last_pass": campaign.runners_last_pass,
        "no_runner": campaign.state == Campaign.State.RUNNING and alive == 0,
    }


# --- when (and why) one lead is called next: the runner's rules, read for the lead page ------------


def _for_viewer(at: dt.datetime) -> str:
    """A time in the viewer's zone (the profile's, active for the request), named."""
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M} {timezone.get_current_timezone_name()}"


def next_call(lead: Lead, now: dt.datetime | None = None) -> str:
    """One sentence: when the runner will call ``lead`` next, or why it will not (its campaign's
    state, its status, a required variable missing, its calling hours: the campaign's window, the
    legal floor and the region's rules, as the runner applies them)."""
    from leads import variables as lead_variables

    now = now or timezone.now()
    campaign = lead.campaign
    if campaign.state == Campaign.State.FINISHED:
        return "Campaign finished: this lead is never called again."
    if lead.status == Status.PROCESSING:
        return "A call attempt is under way."
    if lead.status in (Status.COMPLETED, Status.MAX_RETRIES):
        return (
            f"{Status(lead.status).label}: this lead is not called again unless someone changes its status."
        )
    missing = lead_variables.missing_required(campaign.assistant, lead.variables)
    if missing:
        return f"Not called while required variables are not set: {', '.join(missing)}."
    if campaign.state == Campaign.State.DRAFT:
        return "Campaign draft: this lead is not called until the campaign starts."
    if campaign.state == Campaign.State.PAUSED:
        return "Campaign paused: this lead is not called until it resumes."
    at = lead.next_attempt_at if lead.next_attempt_at and lead.next_attempt_at > now else now
    verdict = calling_hours(campaign).verdict(lead.phone, at)
    if not verdict.open:
        zones = zones_for(lead.phone)
        if not zones:
            return "Waiting: the number's time zone cannot be told, so its calling window cannot be checked."
        opens = verdict.next_open
        local = opens.astimezone(zones[0])
        return f"Next call from {local:%H:%M} in {zones[0].key} (its calling window), {_for_viewer(opens)}."
    if at > now:
        why = {Status.SCHEDULED: "its scheduled callback", Status.RESCHEDULED: "its retry time"}.get(
            lead.status, "when its calling window opens"
        )
        return f"Next call at {_for_viewer(at)} ({why})."
    return "Due now: called at the runner's next pass, as a slot in the campaign frees up."
