"""Reads of the campaigns app shared by pages, the API and health checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from .models import Assistant, AssistantVariable, Campaign, RunnerHeartbeat

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


# --- what an assistant's change does to existing leads (the confirm step of its form) -------------


def _value_set_q(name: str) -> Q:
    """Leads whose own variables give ``name`` a non-empty value."""
    return Q(variables__has_key=name) & ~Q(**{f"variables__{name}": ""}) & ~Q(**{f"variables__{name}": None})


def assistant_change_impact(assistant: Assistant, definitions: list[dict]) -> list[str]:
    """What saving ``definitions`` (the form's rows: id, name, default, required) would mean for the
    leads of the assistant's campaigns, one sentence per change that affects some; [] for none.

    A variable becomes required (with no default) → the leads still to be called that do not set it,
    and in how many campaigns (the runner skips them, reason ``missing_variable``). A variable renamed
    or removed → the leads that hold a value for it (kept on the lead under the old name).
    """
    if assistant.pk is None:
        return []
    from leads.lifecycle import QUEUED
    from leads.models import Lead

    old = {v.pk: v for v in AssistantVariable.objects.filter(assistant=assistant)}
    leads = Lead.objects.filter(campaign__assistant=assistant)
    waiting = leads.filter(status__in=QUEUED).exclude(campaign__state=Campaign.State.FINISHED)
    lines: list[str] = []
    by_id = {d["id"]: d for d in definitions if d.get("id") in old}
    for d in definitions:
        was = old.get(d.get("id")) if d.get("id") in old else None
        now_needed = d["required"] and not (d.get("default") or "").strip()
        was_needed = was is not None and was.name == d["name"] and was.required and not was.default.strip()
        if now_needed and not was_needed:
            missing = waiting.exclude(_value_set_q(d["name"]))
            n = missing.count()
            if n:
                k = missing.order_by().values("campaign_id").distinct().count()
                lines.append(
                    f"{d['name']} becomes required: {n:,} lead{'s' if n != 1 else ''} in {k} "
                    f"campaign{'s' if k != 1 else ''} still to be called do not set it; the runner skips "
                    "them (reason: missing variable) until they do."
                )
    for pk, v in old.items():
        d = by_id.get(pk)
        if d is not None and d["name"] == v.name:
            continue
        n = leads.filter(_value_set_q(v.name)).count()
        if not n:
            continue
        held = f"{n:,} lead{'s hold' if n != 1 else ' holds'} a value for {v.name}"
        if d is None:
            lines.append(f"Removing {v.name}: {held} (kept on the lead, no longer used by the assistant).")
        else:
            lines.append(f"Renaming {v.name} to {d['name']}: {held} (kept under the old name).")
    return lines
