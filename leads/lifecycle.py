"""The status lifecycle: the only code that decides a lead's status and writes its history.

Every status change goes through here: an operator's override of one lead (``set_status``) or of a
filtered set (``bulk_set_status``), refused with a ``TransitionError`` that says which change and
why; the rules the runner's transitions follow (``QUEUED``, ``ending``); and the one writer of
history rows and their ``lead.status_changed`` events (``record``). The runner's own transitions,
claims and leases in batches, are in ``leads.attempts``, which takes every decision from here.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from campaigns.models import Campaign
from leadmgr.storage.locking import retried_on_deadlock
from webhooks import outbox

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

# What each manual override does, in the product description's words (the status buttons say it).
MANUAL_EXPLAINED = {
    Status.CREATED: "Puts the lead back in the queue for another call attempt; retry limits still hold.",
    Status.SCHEDULED: "Called at the time you choose, such as a requested callback.",
    Status.RESCHEDULED: "Resets the retry timer: called again after the campaign's retry interval.",
    Status.COMPLETED: "Removes the lead from the calling queue: the campaign will not call this lead again.",
    Status.MAX_RETRIES: "Marks the lead as exhausted: the campaign will not call this lead again.",
}
# The lead leaves the calling queue: the buttons ask before doing it.
CONFIRM_LEAVING_QUEUE = "{phone} leaves the calling queue: the campaign will not call it again. {label}?"

E_PROCESSING_BY_HAND = "Processing is set only by the campaign runner when a call attempt starts."
E_CALL_UNDER_WAY = (
    "A call attempt is under way: {label} cannot be set until it ends (the runner sets the outcome)."
)
E_ALREADY = "The lead is already {label}."
E_SCHEDULED_NEEDS_TIME = "Scheduled needs a time: choose when the lead should be called."

REASON_SUCCEEDED = "Call succeeded."
REASON_FAILED = "Attempt {n} failed ({outcome}); next attempt at {at:%Y-%m-%d %H:%M} UTC."
REASON_LIMIT = "Retry limit reached: {n} attempts made, the campaign allows {limit}."

# What an edit may not touch while a call attempt is under way (the runner is dialling those numbers).
EDIT_LOCKED_WHILE_PROCESSING = {
    "phone": "phone number",
    "contacts": "secondary contacts",
    "campaign": "campaign",
}
E_EDIT_UNDER_WAY = (
    "A call attempt is under way: the {what} cannot be changed until it ends. "
    "Try again once the lead has left Processing."
)


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


def edit_refusal(current: str, changes: Iterable[str]) -> str | None:
    """Why an edit that changes ``changes`` (``phone``, ``contacts``, ``campaign``) may not be saved
    on a lead in status ``current``; None when allowed. Variables may change at any time.

    Used by the lead form (``services.lead_update``) and the admin, each under the lead row's lock
    (``lock_status``) so the runner cannot claim the lead between the check and the write.
    """
    if current != Status.PROCESSING:
        return None
    locked = [label for name, label in EDIT_LOCKED_WHILE_PROCESSING.items() if name in set(changes)]
    if not locked:
        return None
    return E_EDIT_UNDER_WAY.format(what=" and ".join(locked))


def lock_status(lead_id: int) -> str | None:
    """The lead's status read under its row lock (held to the end of the caller's transaction).

    None when the lead is gone. SQLite has no row locks: its IMMEDIATE transactions hold the
    database's write lock instead, with the same effect.
    """
    return Lead.objects.select_for_update().filter(pk=lead_id).values_list("status", flat=True).first()


def allowed_manual_targets(current: str) -> list[str]:
    return [t for t in MANUAL_TARGETS if manual_refusal(current, t) is None]


def _history(
    lead_id: int, old: str, new: str, at: dt.datetime, *, user=None, reason: str = "", automatic: bool
) -> StatusChange:
    """A history row (not yet written: ``record`` writes it)."""
    return StatusChange(
        lead_id=lead_id, from_status=old, to_status=new, at=at, user=user, reason=reason, automatic=automatic
    )


def record(changes: Sequence[StatusChange], *, emit: bool = True) -> list[StatusChange]:
    """Write history rows in bulk and, with ``emit``, their ``lead.status_changed`` events (in the
    caller's transaction, with the status they record)."""
    written = StatusChange.objects.bulk_create(changes, batch_size=BULK_CHUNK)
    if emit:
        outbox.status_changed(written)
    return written


# --- Manual overrides: operators -----------------------------------------------------------------


class ManualChange(TypedDict, total=False):
    """The keywords of an operator's change, one lead or many."""

    user: Any  # who asked (None: a command)
    reason: str
    scheduled_at: dt.datetime | None  # when a Scheduled lead is called (required for Scheduled)
    now: dt.datetime | None


@dataclass(frozen=True)
class _Manual:
    target: Status
    now: dt.datetime
    user: Any = None
    reason: str = ""
    scheduled_at: dt.datetime | None = None

    @classmethod
    def of(cls, target: str, keywords: ManualChange) -> _Manual:
        if unknown := keywords.keys() - ManualChange.__optional_keys__:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
        now = keywords.get("now") or timezone.now()
        return cls(
            Status(target),
            now,
            keywords.get("user"),
            keywords.get("reason", ""),
            keywords.get("scheduled_at"),
        )

    def fields(self, campaign: Campaign) -> dict:
        """The lead's columns after the change."""
        fields = {"status": self.target, "lease_expires_at": None, "updated_at": self.now}
        if self.target == Status.SCHEDULED:
            if self.scheduled_at is None:
                raise TransitionError(E_SCHEDULED_NEEDS_TIME, target=self.target)
            return fields | {"next_attempt_at": self.scheduled_at}
        if self.target == Status.RESCHEDULED:
            return fields | {"next_attempt_at": self.now + campaign.retry_interval}
        # Created: back in the queue now, attempts kept so the retry limit still holds.
        # Completed and Max Retries: out of the queue.
        return fields | {"next_attempt_at": None}

    def history(self, lead_id: int, current: str) -> StatusChange:
        return _history(
            lead_id, current, self.target, self.now, user=self.user, reason=self.reason, automatic=False
        )


@transaction.atomic
def set_status(lead: Lead, target: str, **keywords: Unpack[ManualChange]) -> Lead:
    """An operator's override of one lead's status. Raises TransitionError when refused."""
    manual = _Manual.of(target, keywords)
    # Re-read the status under the write lock: the runner may have claimed the lead meanwhile.
    current = Lead.objects.select_for_update().values_list("status", flat=True).get(pk=lead.pk)
    refusal = manual_refusal(current, manual.target)
    if refusal:
        raise TransitionError(refusal, lead=lead, target=manual.target)
    fields = manual.fields(lead.campaign)
    Lead.objects.filter(pk=lead.pk, status=current).update(**fields)
    record([manual.history(lead.pk, current)])
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


@retried_on_deadlock
@transaction.atomic
def bulk_set_status(leads: QuerySet[Lead], target: str, **keywords: Unpack[ManualChange]) -> BulkResult:
    """An operator's override for every lead in ``leads`` (any number), row by row semantics.

    Works in chunks of ids: each chunk is one conditional UPDATE per (status, campaign) group and
    one bulk insert of history, so 100k leads cost a few hundred queries, not 100k.
    """
    manual = _Manual.of(target, keywords)
    if manual.target == Status.SCHEDULED and manual.scheduled_at is None:
        raise TransitionError(E_SCHEDULED_NEEDS_TIME, target=manual.target)
    result = BulkResult()
    campaigns: dict[int, Campaign] = {}
    # Locked on PostgreSQL so the runner cannot claim a lead between this read and the update, in
    # id order as every locker of many leads (no deadlock with the runner); SQLite has one writer
    # at a time and the conditional UPDATE below re-checks the status.
    rows = leads.order_by("pk").select_for_update(of=("self",)).values_list("pk", "status", "campaign_id")
    batch: list[tuple[int, str, int]] = []
    for row in rows.iterator(chunk_size=BULK_CHUNK):
        batch.append(row)
        if len(batch) >= BULK_CHUNK:
            _apply_chunk(batch, manual, campaigns, result)
            batch = []
    if batch:
        _apply_chunk(batch, manual, campaigns, result)
    return result


def _apply_chunk(batch, manual: _Manual, campaigns: dict[int, Campaign], result: BulkResult) -> None:
    groups: dict[tuple[str, int], list[int]] = {}
    for pk, current, campaign_id in batch:
        refusal = manual_refusal(current, manual.target)
        if refusal:
            result.refused[refusal] += 1
            continue
        groups.setdefault((current, campaign_id), []).append(pk)
    history: list[StatusChange] = []
    for (current, campaign_id), ids in groups.items():
        if campaign_id not in campaigns:
            campaigns[campaign_id] = Campaign.objects.get(pk=campaign_id)
        Lead.objects.filter(pk__in=ids, status=current).update(**manual.fields(campaigns[campaign_id]))
        history.extend(manual.history(pk, current) for pk in ids)
        result.changed += len(ids)
    record(history)


# --- How a call attempt ends: the rule the runner's transitions follow (leads.attempts) ----------


def ending(
    lead_id: int,
    campaign: Campaign,
    attempts: int,
    *,
    succeeded: bool,
    outcome: str,
    now: dt.datetime,
    failure_reason: str = "",
    not_before: dt.datetime | None = None,
) -> tuple[str, dt.datetime | None, list[StatusChange]]:
    """THE rule for how an attempt ends: Completed; else Rescheduled, or Max Retries at the limit.

    Returns the final status, the next attempt time and the history rows to write.
    """
    if succeeded:
        reason = failure_reason or REASON_SUCCEEDED
        return Status.COMPLETED, None, [_automatic(lead_id, Status.COMPLETED, now, reason)]
    next_at = max(now + campaign.retry_interval, not_before or now)
    reason = failure_reason or REASON_FAILED.format(n=attempts, outcome=outcome or "no success", at=next_at)
    changes = [_automatic(lead_id, Status.RESCHEDULED, now, reason)]
    if attempts >= campaign.max_attempts:
        limit = REASON_LIMIT.format(n=attempts, limit=campaign.max_attempts)
        changes.append(
            _history(lead_id, Status.RESCHEDULED, Status.MAX_RETRIES, now, reason=limit, automatic=True)
        )
        return Status.MAX_RETRIES, None, changes
    return Status.RESCHEDULED, next_at, changes


def _automatic(lead_id: int, new: str, now: dt.datetime, reason: str) -> StatusChange:
    return _history(lead_id, Status.PROCESSING, new, now, reason=reason, automatic=True)


# --- Arrivals: the initial status and history of an imported lead -------------------------------
# The import (CSV files, workbooks, the API's rows) asks these rules for every row and writes what
# they give in bulk itself: one multi-row INSERT per batch, as fast as before they lived here.

# A lead may arrive in any status but processing (that one only the runner sets, mid-call).
IMPORTABLE_STATUSES = tuple(s for s in Status if s != Status.PROCESSING)
# The statuses that carry a next attempt time.
NEXT_AT_STATUSES = (Status.SCHEDULED, Status.RESCHEDULED)
REASON_IMPORTED = "Imported from CSV"
E_STATUS_PROCESSING = (
    "Processing cannot be imported (a lead cannot arrive mid-call): use created, scheduled or rescheduled."
)
E_NEXT_AT_STATUS = (
    "next_attempt_at goes only with status scheduled or rescheduled: clear it or change the status."
)
# The history columns ``arrival_history`` fills, in order (the import's bulk INSERT names them).
ARRIVAL_HISTORY_COLUMNS = ("lead_id", "from_status", "to_status", "at", "automatic", "user_id", "reason")


def arrival_refusal(status: str) -> str | None:
    """Why a lead may not arrive in ``status``; None when it may."""
    return E_STATUS_PROCESSING if status == Status.PROCESSING else None


def arrival_time_refusal(status: str, next_attempt_at: dt.datetime | None) -> str | None:
    """Why a lead arriving in ``status`` may not bring ``next_attempt_at``; None when it may."""
    if next_attempt_at is not None and status not in NEXT_AT_STATUSES:
        return E_NEXT_AT_STATUS
    return None


def arrival_next_attempt_at(
    status: str, campaign: Campaign, given: dt.datetime | None, now: dt.datetime
) -> dt.datetime | None:
    """The next attempt time a lead arrives with: the one given, or its status's default."""
    if given is None and status in NEXT_AT_STATUSES:
        return default_next_attempt_at(status, campaign, now)
    return given


def arrival_history(
    arrivals: Iterable[tuple[int, str]], *, at, user_id: int | None, reason: str
) -> list[tuple]:
    """The history rows of arriving leads ((lead id, status) pairs) as ``ARRIVAL_HISTORY_COLUMNS``
    values for a bulk insert: one row per lead that arrives in a status other than created (a
    created lead's history starts with its first change). ``at`` is as the database takes it."""
    return [
        (lead_id, "", status, at, False, user_id, reason)
        for lead_id, status in arrivals
        if status != Status.CREATED
    ]
