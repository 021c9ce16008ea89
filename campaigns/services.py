"""Writes of the campaigns app that touch several rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.db import IntegrityError, transaction
from django.db.models import F

from .models import Assistant, AssistantVariable, CallbackReceipt, RunnerDecision, RunnerHeartbeat


def decisions_record(*, counts: Mapping[tuple[int, str], int], now: dt.datetime) -> None:
    """Add one tick's "not called now" counts (campaign id, reason) → leads to the hour's rows."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    for (campaign_id, reason), n in counts.items():
        if n <= 0:
            continue
        rows = RunnerDecision.objects.filter(campaign_id=campaign_id, reason=reason, hour=hour)
        add = {"ticks": F("ticks") + 1, "leads": F("leads") + n, "last_leads": n, "last_at": now}
        if rows.update(**add):
            continue
        try:
            with transaction.atomic():
                RunnerDecision.objects.create(
                    campaign_id=campaign_id,
                    reason=reason,
                    hour=hour,
                    ticks=1,
                    leads=n,
                    last_leads=n,
                    last_at=now,
                )
        except IntegrityError:  # another worker created the hour's row first
            rows.update(**add)


def callback_receipt_record(*, signature: str, now: dt.datetime, keep: dt.timedelta) -> bool:
    """Remember a signed callback; False when the same signature was already received (a replay).

    Receipts older than ``keep`` are dropped: by then the timestamp check refuses the request anyway.
    """
    CallbackReceipt.objects.filter(received_at__lt=now - keep).delete()
    try:
        with transaction.atomic():
            CallbackReceipt.objects.create(signature=signature, received_at=now)
    except IntegrityError:
        return False
    return True


# --- runner heartbeats ------------------------------------------------------------------------------

# Rows of workers not seen for this long are pruned (a worker killed without a clean exit).
HEARTBEAT_KEEP = dt.timedelta(days=1)


def heartbeat_beat(
    *, worker_id: str, now: dt.datetime, calls_held: int, started_at: dt.datetime, passed: bool = False
) -> None:
    """A worker is alive (and, with ``passed``, has just finished a pass): upsert its row."""
    fields = {"last_seen": now, "calls_held": calls_held}
    if passed:
        fields["last_pass_at"] = now
    if RunnerHeartbeat.objects.filter(worker_id=worker_id).update(**fields):
        return
    RunnerHeartbeat.objects.filter(last_seen__lt=now - HEARTBEAT_KEEP).delete()
    try:
        with transaction.atomic():
            RunnerHeartbeat.objects.create(worker_id=worker_id, started_at=started_at, **fields)
    except IntegrityError:  # the other thread of the same worker wrote it first
        RunnerHeartbeat.objects.filter(worker_id=worker_id).update(**fields)


def heartbeat_remove(*, worker_id: str) -> None:
    RunnerHeartbeat.objects.filter(worker_id=worker_id).delete()


@transaction.atomic
def assistant_save(*, assistant: Assistant, definitions: list[dict]) -> Assistant:
    """Save an assistant and its variable definitions in the order given.

    ``definitions``: dicts of id (an existing variable of this assistant, else new), name, default,
    required, description. Variables left out are removed. Renames that swap two names are applied
    through temporary names, so the unique name per assistant holds at every statement.
    """
    assistant.save()
    old = {v.pk: v for v in AssistantVariable.objects.select_for_update().filter(assistant=assistant)}
    kept = [d for d in definitions if d.get("id") in old]
    AssistantVariable.objects.filter(assistant=assistant).exclude(pk__in=[d["id"] for d in kept]).delete()
    for d in kept:
        AssistantVariable.objects.filter(pk=d["id"]).update(name=f"~{d['id']}")
    for position, d in enumerate(definitions):
        fields = {
            "name": d["name"],
            "default": d.get("default") or "",
            "required": bool(d.get("required")),
            "description": d.get("description") or "",
            "position": position,
        }
        if d.get("id") in old:
            AssistantVariable.objects.filter(pk=d["id"]).update(**fields)
        else:
            AssistantVariable.objects.create(assistant=assistant, **fields)
    return assistant
