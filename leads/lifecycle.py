"""The status lifecycle: the only code that writes ``Lead.status``, and always with a history row.

Automatic transitions belong to the campaign runner: one lead (``start_attempt``,
``finish_attempt``) or a batch (``claim_due``, ``finish_attempts``, ``recover_lost``,
``release_attempts``), plus writes that keep the status (``defer_for_window``, ``extend_lease``,
``renew_leases``); manual overrides to operators (``set_status`` for one lead, ``bulk_set_status``
for a filtered set). A refused change raises ``TransitionError`` saying which change and why.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from campaigns.models import Campaign
from webhooks import outbox

from .models import CallAttempt, Lead, Status, StatusChange
from .selectors import QUEUE_ORDER, due_q, take_due

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
E_NOT_QUEUED = "Only a lead waiting in the queue (Created, Scheduled, Rescheduled) can start an attempt; this one is {label}."
E_NOT_PROCESSING = "Only a lead in Processing can end an attempt; this one is {label}."

REASON_ATTEMPT_STARTED = "Call attempt {n} started."
REASON_SUCCEEDED = "Call succeeded."
REASON_FAILED = "Attempt {n} failed ({outcome}); next attempt at {at:%Y-%m-%d %H:%M} UTC."
REASON_LIMIT = "Retry limit reached: {n} attempts made, the campaign allows {limit}."
REASON_LOST = "The worker stopped during attempt {n}; the attempt is counted as failed."
REASON_RELEASED = (
    "The worker shut down during attempt {n} before its result; the lead is back in the queue and "
    "the attempt is not counted."
)

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
    change = _history(lead.pk, current, target, now, user=user, reason=reason, automatic=False)
    change.save()
    outbox.status_changed([change])
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
    outbox.status_changed(history)


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
    change = _history(
        lead.pk, old, Status.PROCESSING, now, reason=REASON_ATTEMPT_STARTED.format(n=attempts), automatic=True
    )
    change.save()
    outbox.status_changed([change])
    lead.status, lead.attempts, lead.last_attempt_at = Status.PROCESSING, attempts, now
    lead.lease_expires_at = now + lease
    return True


def _ending(
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
        return (
            Status.COMPLETED,
            None,
            [
                _history(
                    lead_id,
                    Status.PROCESSING,
                    Status.COMPLETED,
                    now,
                    reason=failure_reason or REASON_SUCCEEDED,
                    automatic=True,
                )
            ],
        )
    next_at = max(now + campaign.retry_interval, not_before or now)
    reason = failure_reason or REASON_FAILED.format(n=attempts, outcome=outcome or "no success", at=next_at)
    changes = [_history(lead_id, Status.PROCESSING, Status.RESCHEDULED, now, reason=reason, automatic=True)]
    if attempts >= campaign.max_attempts:
        changes.append(
            _history(
                lead_id,
                Status.RESCHEDULED,
                Status.MAX_RETRIES,
                now,
                reason=REASON_LIMIT.format(n=attempts, limit=campaign.max_attempts),
                automatic=True,
            )
        )
        return Status.MAX_RETRIES, None, changes
    return Status.RESCHEDULED, next_at, changes


@transaction.atomic
def finish_attempt(lead: Lead, *, succeeded: bool, outcome: str = "", now: dt.datetime | None = None) -> str:
    """End the attempt under way: Completed on success; else Rescheduled, or Max Retries at the limit.

    Returns the status the lead ends in.
    """
    now = now or timezone.now()
    current = Lead.objects.select_for_update().values_list("status", flat=True).get(pk=lead.pk)
    if current != Status.PROCESSING:
        raise TransitionError(E_NOT_PROCESSING.format(label=label(current)), lead=lead)
    final, next_at, changes = _ending(
        lead.pk, lead.campaign, lead.attempts, succeeded=succeeded, outcome=outcome, now=now
    )
    Lead.objects.filter(pk=lead.pk).update(
        status=final, next_attempt_at=next_at, lease_expires_at=None, updated_at=now
    )
    StatusChange.objects.bulk_create(changes)
    outbox.status_changed(changes)
    lead.status, lead.next_attempt_at, lead.lease_expires_at = final, next_at, None
    return final


# --- The runner's batch transitions: claim, end, defer, recover ---------------------------------


@dataclass(frozen=True)
class Claim:
    """A lead the runner now holds in Processing for attempt number ``attempt``."""

    lead_id: int
    attempt: int
    from_status: str


@dataclass(frozen=True)
class AttemptEnd:
    """How attempt number ``attempt`` of a lead ended (a stale attempt number is ignored)."""

    lead_id: int
    attempt: int
    succeeded: bool
    outcome: str = ""
    reason: str = ""  # replaces the usual reason in the history (e.g. a lost attempt)
    # The next attempt no earlier than this (a number's frequency cap; compliance/caps.py).
    not_before: dt.datetime | None = None


def _skip_locked(queryset: QuerySet) -> QuerySet:
    """Row locks that other workers skip, where the database has them (PostgreSQL).

    SQLite has no row locks: there the settings open every transaction IMMEDIATE, so the whole
    read-then-update below holds the database's single write lock and no other writer interleaves.
    """
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset


@transaction.atomic
def claim_due(
    campaign: Campaign | int,
    limit: int,
    now: dt.datetime,
    lease: dt.timedelta,
    *,
    among: Iterable[int] | None = None,
) -> list[Claim]:
    """Claim up to ``limit`` due leads of a campaign for a call attempt (→ Processing), oldest first.

    ``among`` narrows the claim to leads the runner has checked (its calling window). Two workers
    never claim the same lead: PostgreSQL skips rows another claim has locked; SQLite runs this in
    one IMMEDIATE transaction. The UPDATE re-checks the queue status and RETURNs what it claimed.
    """
    if limit <= 0:
        return []
    campaign_id = campaign if isinstance(campaign, int) else campaign.pk
    if among is not None:
        leads = Lead.objects.filter(due_q(now), campaign_id=campaign_id, pk__in=list(among))
        rows = dict(_skip_locked(leads.order_by(*QUEUE_ORDER)).values_list("pk", "status")[:limit])
    else:
        rows = dict(take_due(campaign_id, now, limit, ("pk", "status"), lock=_skip_locked))
    if not rows:
        return []
    ops = connection.ops
    table, ids = ops.quote_name(Lead._meta.db_table), list(rows)
    queued = sorted(s.value for s in QUEUED)
    sql = (
        f"UPDATE {table} SET status = %s, attempts = attempts + 1, last_attempt_at = %s, "
        f"lease_expires_at = %s, updated_at = %s "
        f"WHERE id IN ({', '.join(['%s'] * len(ids))}) AND status IN ({', '.join(['%s'] * len(queued))}) "
        f"RETURNING id, attempts"
    )
    stamp = ops.adapt_datetimefield_value(now)
    params = [
        Status.PROCESSING.value,
        stamp,
        ops.adapt_datetimefield_value(now + lease),
        stamp,
        *ids,
        *queued,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = dict(cursor.fetchall())
    claimed = [Claim(pk, returned[pk], status) for pk, status in rows.items() if pk in returned]
    history = StatusChange.objects.bulk_create(
        [
            _history(
                c.lead_id,
                c.from_status,
                Status.PROCESSING,
                now,
                reason=REASON_ATTEMPT_STARTED.format(n=c.attempt),
                automatic=True,
            )
            for c in claimed
        ],
        batch_size=BULK_CHUNK,
    )
    outbox.status_changed(history)
    return claimed


@transaction.atomic
def finish_attempts(ends: Iterable[AttemptEnd], *, now: dt.datetime) -> dict[int, str]:
    """End many attempts at once (the runner's results); returns lead id → final status.

    An end whose lead is no longer Processing, or is on another attempt (recovered meanwhile), is
    ignored: a late result cannot touch a newer attempt.
    """
    ends = list(ends)
    if not ends:
        return {}
    rows = {
        pk: (attempts, campaign_id)
        for pk, attempts, campaign_id in Lead.objects.select_for_update()
        .filter(pk__in=[e.lead_id for e in ends], status=Status.PROCESSING)
        .order_by("pk")  # one lock order for every locker of many leads: no deadlock between them
        .values_list("pk", "attempts", "campaign_id")
    }
    campaigns = Campaign.objects.in_bulk({campaign_id for _, campaign_id in rows.values()})
    groups: dict[tuple[str, dt.datetime | None], list[int]] = {}
    changes: list[StatusChange] = []
    finals: dict[int, str] = {}
    for end in ends:
        row = rows.get(end.lead_id)
        if row is None or row[0] != end.attempt or end.lead_id in finals:
            continue
        final, next_at, history = _ending(
            end.lead_id,
            campaigns[row[1]],
            end.attempt,
            succeeded=end.succeeded,
            outcome=end.outcome,
            now=now,
            failure_reason=end.reason,
            not_before=end.not_before,
        )
        groups.setdefault((final, next_at), []).append(end.lead_id)
        changes.extend(history)
        finals[end.lead_id] = final
    for (final, next_at), ids in groups.items():
        Lead.objects.filter(pk__in=ids, status=Status.PROCESSING).update(
            status=final, next_attempt_at=next_at, lease_expires_at=None, updated_at=now
        )
    StatusChange.objects.bulk_create(changes, batch_size=BULK_CHUNK)
    outbox.status_changed(changes)
    return finals


REASON_ALL_LISTED = "all numbers on the do-not-call list"


@transaction.atomic
def complete_listed(lead_ids: Iterable[int], *, now: dt.datetime) -> int:
    """Queued leads none of whose numbers may ever be called (compliance's do-not-call list) leave
    the queue: Completed, automatically, with that reason. Returns how many."""
    ids = list(lead_ids)
    if not ids:
        return 0
    rows = dict(
        _skip_locked(Lead.objects.filter(pk__in=ids, status__in=QUEUED).order_by("pk")).values_list(
            "pk", "status"
        )
    )
    done = Lead.objects.filter(pk__in=list(rows), status__in=QUEUED).update(
        status=Status.COMPLETED, next_attempt_at=None, updated_at=now
    )
    StatusChange.objects.bulk_create(
        [
            _history(pk, old, Status.COMPLETED, now, reason=REASON_ALL_LISTED, automatic=True)
            for pk, old in rows.items()
        ],
        batch_size=BULK_CHUNK,
    )
    return done


@transaction.atomic
def defer_for_window(deferrals: Mapping[dt.datetime, Iterable[int]], *, now: dt.datetime) -> int:
    """Move queued leads' next attempt to when their calling window opens; the status is kept.

    No status changes, so no history row: the runner records the decision (and its reason) in
    ``campaigns.RunnerDecision``. Returns how many leads moved.
    """
    moved = 0
    for at, ids in deferrals.items():
        moved += Lead.objects.filter(pk__in=list(ids), status__in=QUEUED).update(
            next_attempt_at=at, updated_at=now
        )
    return moved


def extend_lease(lead_ids: Iterable[int], *, until: dt.datetime) -> int:
    """Keep a claim alive while its attempt dials the next number (the status is kept)."""
    return Lead.objects.filter(pk__in=list(lead_ids), status=Status.PROCESSING).update(lease_expires_at=until)


def _attempts_q(held: Mapping[int, int]) -> Q:
    """Leads (id → attempt number) still on that attempt, in Processing."""
    by_attempt: dict[int, list[int]] = {}
    for pk, attempt in held.items():
        by_attempt.setdefault(attempt, []).append(pk)
    q = Q()
    for attempt, ids in by_attempt.items():
        q |= Q(pk__in=ids, attempts=attempt)
    return q & Q(status=Status.PROCESSING)


def _chunks(held: Mapping[int, int], size: int = BULK_CHUNK) -> Iterable[dict[int, int]]:
    items = sorted(held.items())
    for start in range(0, len(items), size):
        yield dict(items[start : start + size])


@transaction.atomic
def lock_attempts(held: Mapping[int, int]) -> set[int]:
    """Of the leads (id → attempt number), those still Processing on that attempt, locked.

    The runner calls this in the transaction that records its dials: a lead deleted, ended or
    recovered since the runner read it is left out (and its dial skipped), and one still there
    cannot be deleted until the dials are recorded.
    """
    live: set[int] = set()
    for chunk in _chunks(held):
        rows = Lead.objects.select_for_update(of=("self",)).filter(_attempts_q(chunk)).order_by("pk")
        live.update(rows.values_list("pk", flat=True))
    return live


def renew_leases(held: Mapping[int, int], *, until: dt.datetime) -> set[int]:
    """A live worker's heartbeat: push the lease of every attempt it holds to ``until``.

    ``held`` maps lead id → attempt number; returns the leads still on that attempt in Processing
    (the others ended, were deleted or were recovered: the worker holds them no longer). Rows another
    transaction has locked are skipped on PostgreSQL (they are being ended or deleted; the next beat
    renews those still held), so a beat never waits behind a claim or a delete.
    """
    live: set[int] = set()
    for chunk in _chunks(held):
        with transaction.atomic():
            rows = _skip_locked(Lead.objects.filter(_attempts_q(chunk)).order_by("pk"))
            ids = list(rows.values_list("pk", flat=True))
            if ids:
                Lead.objects.filter(pk__in=ids, status=Status.PROCESSING).update(lease_expires_at=until)
        live.update(ids)
        # Skipped (locked) rows are still held: keep them, the next beat tries again.
        if connection.features.has_select_for_update_skip_locked:
            live.update(
                Lead.objects.filter(_attempts_q(chunk)).exclude(pk__in=ids).values_list("pk", flat=True)
            )
    return live


DETAIL_RELEASED = "The worker shut down before this call's result; the call is counted as lost."


@transaction.atomic
def release_attempts(held: Mapping[int, int], *, now: dt.datetime) -> list[int]:
    """A worker shutting down gives back the attempts it still holds (id → attempt number).

    Each lead goes back to the queue as Rescheduled, due now, with the interrupted attempt not
    counted (no result is known); its open call is closed as ``lost``. A late result for that call
    changes nothing (``handle_results`` answers "conflict"). Returns the released lead ids.
    """
    released: list[int] = []
    for chunk in _chunks(held):
        rows = list(
            Lead.objects.select_for_update()
            .filter(_attempts_q(chunk))
            .order_by("pk")
            .values_list("pk", "attempts")
        )
        if not rows:
            continue
        ids = [pk for pk, _ in rows]
        CallAttempt.objects.filter(lead_id__in=ids, outcome="").update(
            outcome=CallAttempt.Outcome.LOST, ended_at=now, detail=DETAIL_RELEASED
        )
        outbox.calls_ended(CallAttempt.objects.filter(lead_id__in=ids, outcome="lost", ended_at=now))
        Lead.objects.filter(pk__in=ids, status=Status.PROCESSING).update(
            status=Status.RESCHEDULED,
            attempts=F("attempts") - 1,
            next_attempt_at=now,
            lease_expires_at=None,
            updated_at=now,
        )
        history = StatusChange.objects.bulk_create(
            [
                _history(
                    pk,
                    Status.PROCESSING,
                    Status.RESCHEDULED,
                    now,
                    reason=REASON_RELEASED.format(n=attempts),
                    automatic=True,
                )
                for pk, attempts in rows
            ],
            batch_size=BULK_CHUNK,
        )
        outbox.status_changed(history)
        released.extend(ids)
    return released


DETAIL_LOST = "No result before the claim's lease ran out (the worker or the provider stopped)."


@transaction.atomic
def recover_lost(now: dt.datetime, *, limit: int = BULK_CHUNK, exclude: Iterable[int] = ()) -> dict[int, str]:
    """Leads left in Processing past their lease go back through the failure path.

    The lost attempt is recorded as a call with outcome ``lost`` (the open call is closed, or one is
    written when the worker stopped before dialling), and the lead ends Rescheduled or Max Retries by
    the campaign's policy. Returns lead id → final status.
    """
    # No lease at all (a lead imported or seeded mid-call) counts as run out.
    stale = Lead.objects.filter(
        Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True), status=Status.PROCESSING
    ).order_by("lease_expires_at")
    exclude = list(exclude)
    if exclude:  # the calling worker's own calls: it is alive, so they are not lost
        stale = stale.exclude(pk__in=exclude)
    rows = list(_skip_locked(stale).values_list("pk", "attempts", "phone", "last_attempt_at")[:limit])
    if not rows:
        return {}
    ids = [pk for pk, *_ in rows]
    CallAttempt.objects.filter(lead_id__in=ids, outcome="").update(
        outcome=CallAttempt.Outcome.LOST, ended_at=now, detail=DETAIL_LOST
    )
    dialled = set(CallAttempt.objects.filter(lead_id__in=ids).values_list("lead_id", "attempt_number"))
    CallAttempt.objects.bulk_create(
        [
            CallAttempt(
                lead_id=pk,
                attempt_number=attempts,
                phone=phone,
                started_at=started or now,
                ended_at=now,
                outcome=CallAttempt.Outcome.LOST,
                detail=DETAIL_LOST,
            )
            for pk, attempts, phone, started in rows
            if (pk, attempts) not in dialled
        ]
    )
    outbox.calls_ended(CallAttempt.objects.filter(lead_id__in=ids, outcome="lost", ended_at=now))
    return finish_attempts(
        [
            AttemptEnd(pk, attempts, False, CallAttempt.Outcome.LOST, reason=REASON_LOST.format(n=attempts))
            for pk, attempts, *_ in rows
        ],
        now=now,
    )


def history_for(leads: Iterable[Lead]) -> QuerySet[StatusChange]:
    return StatusChange.objects.filter(lead__in=list(leads)).select_related("user")


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
