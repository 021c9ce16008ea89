"""Call records: the only code that writes ``CallAttempt`` rows, and emits their ``call.ended`` events.

A call record is one dial of one number during an attempt (or a number the runner skipped, with
why). The runner builds them (``dial``, ``skip``), inserts them before asking the provider
(``insert``), keeps the provider's reference (``set_provider_refs``) and applies each result
(``apply_results``); the lifecycle closes the calls of attempts that ended without a result
(``close_open``, ``record_lost``). Deleting leads (and erasure) removes call records with them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from leadmgr.storage.bulk import update_rows
from leadmgr.storage.locking import lock_now
from webhooks import outbox

from .models import CallAttempt, Lead

# Results are runner events: logged on its logger, whose level settings.LOGGING keeps apart.
log = logging.getLogger("campaigns.runner")

Outcome = CallAttempt.Outcome

DETAIL_SKIPPED = {
    Outcome.DO_NOT_CALL: "Not dialled: the number is on the do-not-call list.",
    Outcome.FREQUENCY_CAP: "Not dialled: the number's frequency cap is reached.",
}
LATE_RESULT = "Late result {new!r} after the call ended as {old!r}."


class Result(Protocol):
    """A provider's result for one call (``campaigns.providers.CallResult``)."""

    call_id: int
    outcome: str
    provider_ref: str
    detail: str
    ended_at: dt.datetime | None


def dial(lead_id: int, contact, attempt: int, phone: str, *, provider: str, now: dt.datetime) -> CallAttempt:
    """The record of a dial about to be placed (no outcome until its result comes)."""
    return CallAttempt(
        lead_id=lead_id,
        contact=contact,
        attempt_number=attempt,
        phone=phone,
        started_at=now,
        provider=provider,
    )


def skip(lead_id: int, contact, attempt: int, phone: str, reason: str, now: dt.datetime) -> CallAttempt:
    """The record of a number not dialled (``reason``: do-not-call or frequency cap)."""
    call = dial(lead_id, contact, attempt, phone, provider="", now=now)
    call.ended_at, call.outcome, call.detail = now, reason, DETAIL_SKIPPED[reason]
    return call


def insert(calls: Sequence[CallAttempt]) -> None:
    """Write new call records (their ids are set on them)."""
    if calls:
        CallAttempt.objects.bulk_create(calls)


def set_provider_refs(calls: Sequence[CallAttempt]) -> None:
    """Keep the provider's reference of each placed call (set on the objects)."""
    if calls:
        update_rows(CallAttempt, ["provider_ref"], [(c.pk, c.provider_ref) for c in calls])


def apply_results(results: Iterable[Result], *, now: dt.datetime) -> tuple[dict[int, str], list[CallAttempt]]:
    """Record the results of calls under way; idempotent per call. Call inside a transaction.

    Returns (call id → "applied" | "duplicate" (the same outcome again: nothing changes) |
    "conflict" (the call already ended otherwise, e.g. as lost) | "unknown", the calls applied).
    """
    results = list(results)
    verdicts: dict[int, str] = {}
    applied: list[CallAttempt] = []
    ids = [r.call_id for r in results]
    # The leads first, in id order, then their calls: the order a delete's cascade takes them in
    # (holding the lead, then deleting its calls), so a result never holds a call while it waits
    # for its lead ("deadlock detected", the callback answering 500).
    lock_now(
        Lead.objects.filter(pk__in=CallAttempt.objects.filter(pk__in=ids).values("lead_id")).order_by("pk")
    )
    calls = CallAttempt.objects.select_for_update().in_bulk(ids)
    for result in results:
        call = calls.get(result.call_id)
        if call is None:
            verdicts[result.call_id] = "unknown"  # its lead was deleted: the result is dropped
            log.info("runner: result for call %s dropped: the call is gone", result.call_id)
        elif call.outcome:
            verdicts[result.call_id] = "duplicate" if call.outcome == result.outcome else "conflict"
            if verdicts[result.call_id] == "conflict":
                _note_late(call, result.outcome)
        else:
            call.outcome = result.outcome
            call.ended_at = max(result.ended_at or now, call.started_at)
            call.provider_ref = result.provider_ref[:128] or call.provider_ref
            call.detail = result.detail
            applied.append(call)
            verdicts[result.call_id] = "applied"
    update_rows(
        CallAttempt,
        ["outcome", "ended_at", "provider_ref", "detail"],
        [(c.pk, c.outcome, c.ended_at, c.provider_ref, c.detail) for c in applied],
    )
    outbox.calls_ended(applied)
    return verdicts, applied


def _note_late(call: CallAttempt, outcome: str) -> None:
    """A result for a call that already ended otherwise is ignored, and said in its detail once."""
    late = LATE_RESULT.format(new=outcome, old=call.outcome)
    log.info("runner: call %s: %s Ignored.", call.pk, late)
    if late not in call.detail:
        CallAttempt.objects.filter(pk=call.pk).update(detail=f"{call.detail} {late}".strip())


def close_open(lead_ids: Sequence[int], *, now: dt.datetime, detail: str) -> None:
    """The calls of these leads still waiting for a result end as ``lost`` (their attempt ended
    without one); ``call.ended`` goes out for them."""
    _close(lead_ids, now, detail)
    _lost_ended(lead_ids, now)


def record_lost(
    attempts: Sequence[tuple[int, int, str, dt.datetime | None]], *, now: dt.datetime, detail: str
) -> None:
    """Each attempt ((lead id, attempt number, phone, started) that ended without a result) has a
    call record: its open call closed as ``lost``, or a ``lost`` one written when the worker stopped
    before dialling."""
    ids = [pk for pk, *_ in attempts]
    _close(ids, now, detail)
    dialled = set(CallAttempt.objects.filter(lead_id__in=ids).values_list("lead_id", "attempt_number"))
    CallAttempt.objects.bulk_create(
        [
            CallAttempt(
                lead_id=pk,
                attempt_number=attempt,
                phone=phone,
                started_at=started or now,
                ended_at=now,
                outcome=Outcome.LOST,
                detail=detail,
            )
            for pk, attempt, phone, started in attempts
            if (pk, attempt) not in dialled
        ]
    )
    _lost_ended(ids, now)


def _close(lead_ids: Sequence[int], now: dt.datetime, detail: str) -> None:
    CallAttempt.objects.filter(lead_id__in=lead_ids, outcome="").update(
        outcome=Outcome.LOST, ended_at=now, detail=detail
    )


def _lost_ended(lead_ids: Sequence[int], now: dt.datetime) -> None:
    outbox.calls_ended(CallAttempt.objects.filter(lead_id__in=lead_ids, outcome="lost", ended_at=now))
