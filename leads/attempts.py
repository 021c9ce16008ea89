"""The lifecycle's automatic transitions: the campaign runner's call attempts, in batches.

A claim moves due leads to Processing (``claim_due``); an attempt ends by the lifecycle's rule
(``finish_attempts``, ``lifecycle.ending``); a worker keeps its claims alive (``extend_lease``,
``renew_leases``), checks they are still its own (``lock_attempts``), gives them back when it shuts
down (``release_attempts``), and ends those of a worker that died (``recover_lost``). Two more
writes keep the lead out of the dial: ``defer_for_window`` (the status is kept) and
``complete_listed``. One lead at a time (``start_attempt``, ``finish_attempt``: the demo data and
tests) goes through the same batch code. Statuses are decided, and history written, by
``leads.lifecycle``; call records by ``leads.calls``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from campaigns.models import Campaign
from leadmgr.storage.locking import skip_locked, skips_locked_rows

from . import calls
from .lifecycle import BULK_CHUNK, QUEUED, TransitionError, _history, ending, label, record
from .models import CallAttempt, Lead, Status
from .selectors import QUEUE_ORDER, due_q, take_due

E_NOT_QUEUED = "Only a lead waiting in the queue (Created, Scheduled, Rescheduled) can start an attempt; this one is {label}."
E_NOT_PROCESSING = "Only a lead in Processing can end an attempt; this one is {label}."

REASON_ATTEMPT_STARTED = "Call attempt {n} started."
REASON_LOST = "The worker stopped during attempt {n}; the attempt is counted as failed."
REASON_RELEASED = (
    "The worker shut down during attempt {n} before its result; the lead is back in the queue and "
    "the attempt is not counted."
)
REASON_ALL_LISTED = "all numbers on the do-not-call list"
DETAIL_RELEASED = "The worker shut down before this call's result; the call is counted as lost."
DETAIL_LOST = "No result before the claim's lease ran out (the worker or the provider stopped)."


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


# --- Claims -------------------------------------------------------------------------------------


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
        rows = dict(skip_locked(leads.order_by(*QUEUE_ORDER)).values_list("pk", "status")[:limit])
    else:
        rows = dict(take_due(campaign_id, now, limit, ("pk", "status"), lock=skip_locked))
    return _claim(rows, now, lease)


def _claim(rows: Mapping[int, str], now: dt.datetime, lease: dt.timedelta) -> list[Claim]:
    """Move these leads (id → status read) to Processing, those still queued; history for each."""
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
    until = ops.adapt_datetimefield_value(now + lease)
    params = [Status.PROCESSING.value, stamp, until, stamp, *ids, *queued]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        returned = dict(cursor.fetchall())
    claimed = [Claim(pk, returned[pk], status) for pk, status in rows.items() if pk in returned]
    record(
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
        ]
    )
    return claimed


@transaction.atomic
def start_attempt(lead: Lead, *, lease: dt.timedelta, now: dt.datetime | None = None) -> bool:
    """Claim one queued lead for a call attempt, due or not (→ Processing). False when another
    worker won it (the lead is no longer in the status and attempt it was read in)."""
    now = now or timezone.now()
    if lead.status not in QUEUED:
        raise TransitionError(E_NOT_QUEUED.format(label=label(lead.status)), lead=lead)
    read = Lead.objects.select_for_update().filter(pk=lead.pk).values_list("status", "attempts").first()
    if read != (lead.status, lead.attempts):
        return False
    claims = _claim({lead.pk: lead.status}, now, lease)
    if not claims:
        return False
    lead.status, lead.attempts, lead.last_attempt_at = Status.PROCESSING, claims[0].attempt, now
    lead.lease_expires_at = now + lease
    return True


# --- Ends ---------------------------------------------------------------------------------------


@transaction.atomic
def finish_attempts(ends: Iterable[AttemptEnd], *, now: dt.datetime) -> dict[int, str]:
    """End many attempts at once (the runner's results); returns lead id → final status.

    An end whose lead is no longer Processing, or is on another attempt (recovered meanwhile), is
    ignored: a late result cannot touch a newer attempt.
    """
    return {pk: final for pk, (final, _) in _finish(list(ends), now).items()}


def _finish(ends: list[AttemptEnd], now: dt.datetime) -> dict[int, tuple[str, dt.datetime | None]]:
    """``finish_attempts``, answering lead id → (final status, next attempt time)."""
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
    changes = []
    finals: dict[int, tuple[str, dt.datetime | None]] = {}
    for end in ends:
        row = rows.get(end.lead_id)
        if row is None or row[0] != end.attempt or end.lead_id in finals:
            continue
        final, next_at, history = ending(
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
        finals[end.lead_id] = (final, next_at)
    for (final, next_at), ids in groups.items():
        Lead.objects.filter(pk__in=ids, status=Status.PROCESSING).update(
            status=final, next_attempt_at=next_at, lease_expires_at=None, updated_at=now
        )
    record(changes)
    return finals


@transaction.atomic
def finish_attempt(lead: Lead, *, succeeded: bool, outcome: str = "", now: dt.datetime | None = None) -> str:
    """End the attempt under way: Completed on success; else Rescheduled, or Max Retries at the limit.

    Returns the status the lead ends in.
    """
    now = now or timezone.now()
    current, attempt = Lead.objects.select_for_update().values_list("status", "attempts").get(pk=lead.pk)
    if current != Status.PROCESSING:
        raise TransitionError(E_NOT_PROCESSING.format(label=label(current)), lead=lead)
    final, next_at = _finish([AttemptEnd(lead.pk, attempt, succeeded, outcome)], now)[lead.pk]
    lead.status, lead.next_attempt_at, lead.lease_expires_at = final, next_at, None
    return final


# --- Leads kept out of the dial -------------------------------------------------------------------


@transaction.atomic
def complete_listed(lead_ids: Iterable[int], *, now: dt.datetime) -> int:
    """Queued leads none of whose numbers may ever be called (compliance's do-not-call list) leave
    the queue: Completed, automatically, with that reason. Returns how many."""
    ids = list(lead_ids)
    if not ids:
        return 0
    rows = dict(
        skip_locked(Lead.objects.filter(pk__in=ids, status__in=QUEUED).order_by("pk")).values_list(
            "pk", "status"
        )
    )
    done = Lead.objects.filter(pk__in=list(rows), status__in=QUEUED).update(
        status=Status.COMPLETED, next_attempt_at=None, updated_at=now
    )
    # No lead.status_changed event for these, as it has been since this transition was added.
    record(
        [
            _history(pk, old, Status.COMPLETED, now, reason=REASON_ALL_LISTED, automatic=True)
            for pk, old in rows.items()
        ],
        emit=False,
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


# --- Leases: the attempts a worker holds ----------------------------------------------------------


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


def _held(held: Mapping[int, int], size: int = BULK_CHUNK) -> Iterable[QuerySet[Lead]]:
    """The leads still on the attempts of ``held``, a chunk of ids at a time, in id order."""
    items = sorted(held.items())
    for start in range(0, len(items), size):
        yield Lead.objects.filter(_attempts_q(dict(items[start : start + size]))).order_by("pk")


@transaction.atomic
def lock_attempts(held: Mapping[int, int]) -> set[int]:
    """Of the leads (id → attempt number), those still Processing on that attempt, locked.

    The runner calls this in the transaction that records its dials: a lead deleted, ended or
    recovered since the runner read it is left out (and its dial skipped), and one still there
    cannot be deleted until the dials are recorded.
    """
    live: set[int] = set()
    for leads in _held(held):
        live.update(leads.select_for_update(of=("self",)).values_list("pk", flat=True))
    return live


def renew_leases(held: Mapping[int, int], *, until: dt.datetime) -> set[int]:
    """A live worker's heartbeat: push the lease of every attempt it holds to ``until``.

    ``held`` maps lead id → attempt number; returns the leads still on that attempt in Processing
    (the others ended, were deleted or were recovered: the worker holds them no longer). Rows another
    transaction has locked are skipped on PostgreSQL (they are being ended or deleted; the next beat
    renews those still held), so a beat never waits behind a claim or a delete.
    """
    live: set[int] = set()
    for leads in _held(held):
        with transaction.atomic():
            ids = list(skip_locked(leads).values_list("pk", flat=True))
            if ids:
                Lead.objects.filter(pk__in=ids, status=Status.PROCESSING).update(lease_expires_at=until)
        live.update(ids)
        # Skipped (locked) rows are still held: keep them, the next beat tries again.
        if skips_locked_rows():
            live.update(leads.exclude(pk__in=ids).values_list("pk", flat=True))
    return live


@transaction.atomic
def release_attempts(held: Mapping[int, int], *, now: dt.datetime) -> list[int]:
    """A worker shutting down gives back the attempts it still holds (id → attempt number).

    Each lead goes back to the queue as Rescheduled, due now, with the interrupted attempt not
    counted (no result is known); its open call is closed as ``lost``. A late result for that call
    changes nothing (``handle_results`` answers "conflict"). Returns the released lead ids.
    """
    released: list[int] = []
    for leads in _held(held):
        rows = list(leads.select_for_update().values_list("pk", "attempts"))
        if not rows:
            continue
        ids = [pk for pk, _ in rows]
        calls.close_open(ids, now=now, detail=DETAIL_RELEASED)
        Lead.objects.filter(pk__in=ids, status=Status.PROCESSING).update(
            status=Status.RESCHEDULED,
            attempts=F("attempts") - 1,
            next_attempt_at=now,
            lease_expires_at=None,
            updated_at=now,
        )
        record(
            [
                _history(
                    pk,
                    Status.PROCESSING,
                    Status.RESCHEDULED,
                    now,
                    reason=REASON_RELEASED.format(n=n),
                    automatic=True,
                )
                for pk, n in rows
            ]
        )
        released.extend(ids)
    return released


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
    rows = list(skip_locked(stale).values_list("pk", "attempts", "phone", "last_attempt_at")[:limit])
    if not rows:
        return {}
    calls.record_lost(rows, now=now, detail=DETAIL_LOST)
    lost = CallAttempt.Outcome.LOST
    return finish_attempts(
        [AttemptEnd(pk, n, False, lost, reason=REASON_LOST.format(n=n)) for pk, n, *_ in rows], now=now
    )
