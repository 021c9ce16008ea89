"""The status lifecycle: the only code that writes ``Lead.status``, and always with a history row.

Automatic transitions belong to the campaign runner (``start_attempt``, ``finish_attempt``,
``recover_lost``); manual overrides to operators (``set_status`` for one lead, ``bulk_set_status``
for a filtered set). A refused change raises ``TransitionError`` saying which change and why.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from campaigns.models import Campaign

from .models import Lead, Status, StatusChange

# Statuses the runner may pick a lead from (when its time has come).
QUEUED = frozenset({Status.CREATED, Status.SCHEDULED, Status.RESCHEDULED})

# The manual overrides an operator may choose, in the order a form offers them.
MANUAL_TARGETS = (
    Status.CREATED,
    Status.SCHEDULED,
    Status.RESCHEDULED,
    Status.COMPLETED,
    Status.MAX_RETRIES,
)

E_PROCESSING_BY_HAND = "Processing is set only by the campaign runner when a call attempt starts."
E_CALL_UNDER_WAY = (
    "A call attempt is under way: {label} cannot be set until it ends (the runner sets the outcome)."
)
E_ALREADY = "The lead is already {label}."
E_SCHEDULED_NEEDS_TIME = "Scheduled needs a time: choose when the lead should be called."
E_NOT_QUEUED = "Only a lead waiting in the queue (Created, Scheduled, Rescheduled) can start an attempt; this one is {label}."
E_NOT_PROCESSING = "Only a lead in Processing can end an attempt; this one is {label}."

REASON_ATTEMPT_STARTED = "Call attempt {n} started."
REASON_SUCCEEDED = "Call succeeded."
REASON_FAILED = "Attempt {n} failed ({outcome}); next attempt at {at:%Y-%m-%d %H:%M} UTC."
REASON_LIMIT = "Retry limit reached: {n} attempts made, the campaign allows {limit}."
REASON_LOST = "The worker stopped during attempt {n}; the attempt is counted as failed."


class TransitionError(Exception):
    """A status change that the lifecycle refuses; ``str()`` says which and why."""

    def __init__(self, message: str, *, lead: Lead | None = None, target: str | None = None):
        super().__init__(message)
        self.message = message
        self.lead = lead
        self.target = target


def label(status: str) -> str:
    return Status(status).label


def is_queued(status: str) -> bool:
    return status in QUEUED


def default_next_attempt_at(status: str, campaign: Campaign, now: dt.datetime) -> dt.datetime | None:
    """The next-attempt time a lead in ``status`` gets when none is given (used by import too)."""
    if status == Status.RESCHEDULED:
        return now + campaign.retry_interval
    if status == Status.SCHEDULED:
        return now
    return None


def manual_refusal(current: str, target: str) -> str | None:
    """Why an operator may not move a lead from ``current`` to ``target``; None when allowed."""
    if target == Status.PROCESSING:
        return E_PROCESSING_BY_HAND
    if current == Status.PROCESSING:
        return E_CALL_UNDER_WAY.format(label=label(target))
    # Scheduled (a new time) and Rescheduled (restart the timer) make sense again from themselves.
    if current == target and target not in (Status.SCHEDULED, Status.RESCHEDULED):
        return E_ALREADY.format(label=label(target))
    return None


def allowed_manual_targets(current: str) -> list[str]:
    return [t for t in MANUAL_TARGETS if manual_refusal(current, t) is None]


def _manual_fields(
    target: str, campaign: Campaign, now: dt.datetime, scheduled_at: dt.datetime | None
) -> dict:
    if target == Status.SCHEDULED:
        if scheduled_at is None:
            raise TransitionError(E_SCHEDULED_NEEDS_TIME, target=target)
        return {"next_attempt_at": scheduled_at}
    if target == Status.RESCHEDULED:
        return {"next_attempt_at": now + campaign.retry_interval}
    # Created: back in the queue now, attempts kept so the retry limit still holds.
    # Completed and Max Retries: out of the queue.
    return {"next_attempt_at": None}


def _history(
    lead_id: int, old: str, new: str, at: dt.datetime, *, user=None, reason: str = "", automatic: bool
) -> StatusChange:
    return StatusChange(
        lead_id=lead_id,
        from_status=old,
        to_status=new,
        at=at,
        user=user,
        reason=reason,
        automatic=automatic,
    )


@transaction.atomic
def set_status(
    lead: Lead,
    target: str,
    *,
    user=None,
    reason: str = "",
    scheduled_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Lead:
    """An operator's override of one lead's status. Raises TransitionError when refused."""
    now = now or timezone.now()
    target = Status(target)
    # Re-read the status under the write lock: the runner may have claimed the lead meanwhile.
    current = Lead.objects.select_for_update().values_list("status", flat=True).get(pk=lead.pk)
    refusal = manual_refusal(current, target)
    if refusal:
        raise TransitionError(refusal, lead=lead, target=target)
    fields = {"status": target, "lease_expires_at": None, "updated_at": now}
    fields |= _manual_fields(target, lead.campaign, now, scheduled_at)
    Lead.objects.filter(pk=lead.pk, status=current).update(**fields)
    _history(lead.pk, current, target, now, user=user, reason=reason, automatic=False).save()
    for name, value in fields.items():
        setattr(lead, name, value)
    return lead


@dataclass
class BulkResult:
    changed: int = 0
    refused: Counter = field(default_factory=Counter)  # reason -> number of leads

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())


BULK_CHUNK = 1000


@transaction.atomic
def bulk_set_status(
    leads: QuerySet[Lead],
    target: str,
    *,
    user=None,
    reason: str = "",
    scheduled_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> BulkResult:
    """An operator's override for every lead in ``leads`` (any number), row by row semantics.

    Works in chunks of ids: each chunk is one conditional UPDATE per (status, campaign) group and
    one bulk insert of history, so 100k leads cost a few hundred queries, not 100k.
    """
    now = now or timezone.now()
    target = Status(target)
    if target == Status.SCHEDULED and scheduled_at is None:
        raise TransitionError(E_SCHEDULED_NEEDS_TIME, target=target)
    result = BulkResult()
    campaigns: dict[int, Campaign] = {}
    # Locked on PostgreSQL so the runner cannot claim a lead between this read and the update;
    # SQLite has one writer at a time and the conditional UPDATE below re-checks the status.
    rows = leads.order_by().select_for_update().values_list("pk", "status", "campaign_id")
    batch: list[tuple[int, str, int]] = []
    for row in rows.iterator(chunk_size=BULK_CHUNK):
        batch.append(row)
        if len(batch) >= BULK_CHUNK:
            _apply_chunk(batch, target, user, reason, scheduled_at, now, campaigns, result)
            batch = []
    if batch:
        _apply_chunk(batch, target, user, reason, scheduled_at, now, campaigns, result)
    return result


def _apply_chunk(batch, target, user, reason, scheduled_at, now, campaigns, result: BulkResult) -> None:
    groups: dict[tuple[str, int], list[int]] = {}
    for pk, current, campaign_id in batch:
        refusal = manual_refusal(current, target)
        if refusal:
            result.refused[refusal] += 1
            continue
        groups.setdefault((current, campaign_id), []).append(pk)
    history: list[StatusChange] = []
    for (current, campaign_id), ids in groups.items():
        if campaign_id not in campaigns:
            campaigns[campaign_id] = Campaign.objects.get(pk=campaign_id)
        fields = {"status": target, "lease_expires_at": None, "updated_at": now}
        fields |= _manual_fields(target, campaigns[campaign_id], now, scheduled_at)
        Lead.objects.filter(pk__in=ids, status=current).update(**fields)
        history.extend(
            _history(pk, current, target, now, user=user, reason=reason, automatic=False) for pk in ids
        )
        result.changed += len(ids)
    StatusChange.objects.bulk_create(history, batch_size=BULK_CHUNK)


# --- Automatic transitions: the campaign runner -------------------------------------------------


@transaction.atomic
def start_attempt(lead: Lead, *, lease: dt.timedelta, now: dt.datetime | None = None) -> bool:
    """Claim a queued lead for a call attempt (→ Processing). False when another worker won it.

    A conditional UPDATE on the status read is the claim: it is atomic on SQLite and PostgreSQL
    alike, so exactly one worker's update matches.
    """
    now = now or timezone.now()
    if lead.status not in QUEUED:
        raise TransitionError(E_NOT_QUEUED.format(label=label(lead.status)), lead=lead)
    old = lead.status
    attempts = lead.attempts + 1
    claimed = Lead.objects.filter(pk=lead.pk, status=old, attempts=lead.attempts).update(
        status=Status.PROCESSING,
        attempts=attempts,
        last_attempt_at=now,
        lease_expires_at=now + lease,
        updated_at=now,
    )
    if not claimed:
        return False
    _history(
        lead.pk, old, Status.PROCESSING, now, reason=REASON_ATTEMPT_STARTED.format(n=attempts), automatic=True
    ).save()
    lead.status, lead.attempts, lead.last_attempt_at = Status.PROCESSING, attempts, now
    lead.lease_expires_at = now + lease
    return True


@transaction.atomic
def finish_attempt(lead: Lead, *, succeeded: bool, outcome: str = "", now: dt.datetime | None = None) -> str:
    """End the attempt under way: Completed on success; else Rescheduled, or Max Retries at the limit.

    Returns the status the lead ends in.
    """
    now = now or timezone.now()
    current = Lead.objects.select_for_update().values_list("status", flat=True).get(pk=lead.pk)
    if current != Status.PROCESSING:
        raise TransitionError(E_NOT_PROCESSING.format(label=label(current)), lead=lead)
    campaign = lead.campaign
    changes: list[StatusChange] = []
    if succeeded:
        final, next_at = Status.COMPLETED, None
        changes.append(_history(lead.pk, current, final, now, reason=REASON_SUCCEEDED, automatic=True))
    else:
        next_at = now + campaign.retry_interval
        changes.append(
            _history(
                lead.pk,
                current,
                Status.RESCHEDULED,
                now,
                reason=REASON_FAILED.format(n=lead.attempts, outcome=outcome or "no success", at=next_at),
                automatic=True,
            )
        )
        final = Status.RESCHEDULED
        if lead.attempts >= campaign.max_attempts:
            final, next_at = Status.MAX_RETRIES, None
            changes.append(
                _history(
                    lead.pk,
                    Status.RESCHEDULED,
                    final,
                    now,
                    reason=REASON_LIMIT.format(n=lead.attempts, limit=campaign.max_attempts),
                    automatic=True,
                )
            )
    Lead.objects.filter(pk=lead.pk).update(
        status=final, next_attempt_at=next_at, lease_expires_at=None, updated_at=now
    )
    StatusChange.objects.bulk_create(changes)
    lead.status, lead.next_attempt_at, lead.lease_expires_at = final, next_at, None
    return final


def history_for(leads: Iterable[Lead]) -> QuerySet[StatusChange]:
    return StatusChange.objects.filter(lead__in=list(leads)).select_related("user")
