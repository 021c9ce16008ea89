"""The delivery worker: claims due outbox rows, POSTs them signed, records the answer.

One pass (``Worker.pass_once``):
1. Claim up to ``LEADMGR_WEBHOOK_BATCH`` due deliveries of active subscriptions, oldest first, in
   one short transaction: ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (several workers never
   take one row), one IMMEDIATE transaction with a conditional ``UPDATE … RETURNING`` on SQLite. A
   delivery is due only when no earlier delivery of the same lead to the same subscription is still
   pending (in flight or waiting for a retry): events of one lead arrive in order.
   The claim moves ``next_attempt_at`` to the end of a lease; a worker killed mid-delivery leaves
   its rows due again when the lease ends (at least once, nothing lost).
2. POST each body with the signature headers of ``campaigns.providers.signing``, up to
   ``LEADMGR_WEBHOOK_CONCURRENCY`` at once, each within ``LEADMGR_WEBHOOK_TIMEOUT``.
3. Record every answer in one transaction: a 2xx delivers; anything else retries after the next
   delay of ``LEADMGR_WEBHOOK_RETRY_DELAYS``; after the last, the delivery is given up and its
   subscription marked failing (a later success clears the mark).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.providers import signing
from leadmgr.storage.locking import skip_locked_sql, uuid_text
from leadmgr.tally import Tally

from .http import Answer, Client
from .models import Delivery, DeliveryAttempt, Subscription

log = logging.getLogger(__name__)

E_GAVE_UP = "Gave up {event_type} {event_id} after {n} attempts: {why}"
SIGNATURE_EVENT_HEADER = "X-Leadmgr-Event"
EVENT_ID_HEADER = "X-Leadmgr-Event-Id"


@dataclass
class Claimed:
    pk: int
    subscription_id: int
    attempts: int  # including this one
    event_type: str
    event_id: str
    body: str
    url: str = ""
    secret: str = ""


@dataclass
class PassReport(Tally):
    """Deliveries a pass (or a run of passes: ``add``) claimed, delivered, left to retry, gave up."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    gave_up: int = 0


def lease_seconds() -> float:
    """Long enough for a whole claim: its POSTs run ``CONCURRENCY`` at a time, each up to TIMEOUT."""
    rounds = math.ceil(settings.LEADMGR_WEBHOOK_BATCH / settings.LEADMGR_WEBHOOK_CONCURRENCY)
    return settings.LEADMGR_WEBHOOK_TIMEOUT * rounds + 5


def retry_delay(attempts: int) -> float | None:
    """Seconds before the next attempt after ``attempts`` failed ones; None: give up."""
    delays = settings.LEADMGR_WEBHOOK_RETRY_DELAYS
    return delays[attempts - 1] if attempts <= len(delays) else None


def _claim_sql(limit: int) -> str:
    qn = connection.ops.quote_name
    d = qn(Delivery._meta.db_table)
    s = qn(Subscription._meta.db_table)
    lock = skip_locked_sql("d")
    return (
        f"SELECT d.id FROM {d} d INNER JOIN {s} s ON s.id = d.subscription_id "
        "WHERE d.state = 'pending' AND d.next_attempt_at <= %s AND s.active "
        "AND (d.lead_id IS NULL OR NOT EXISTS ("
        f"SELECT 1 FROM {d} e WHERE e.subscription_id = d.subscription_id AND e.lead_id = d.lead_id "
        "AND e.state = 'pending' AND e.id < d.id)) "
        f"ORDER BY d.next_attempt_at, d.id LIMIT {int(limit)}{lock}"
    )


def claim(now: dt.datetime, limit: int) -> list[Claimed]:
    """Take up to ``limit`` due deliveries for one lease (see the module's docstring)."""
    ops = connection.ops
    table = ops.quote_name(Delivery._meta.db_table)
    until = now + dt.timedelta(seconds=lease_seconds())
    # A plain read first: an idle worker never takes SQLite's write lock (nor waits for it behind a
    # long import) just to find nothing due.
    if not Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=now).exists():
        return []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_claim_sql(limit), [ops.adapt_datetimefield_value(now)])
        ids = [pk for (pk,) in cursor.fetchall()]
        if not ids:
            return []
        marks = ", ".join(["%s"] * len(ids))
        cursor.execute(
            f"UPDATE {table} SET attempts = attempts + 1, next_attempt_at = %s "
            f"WHERE id IN ({marks}) AND state = 'pending' AND next_attempt_at <= %s "
            "RETURNING id, subscription_id, attempts, event_type, event_id, body",
            [ops.adapt_datetimefield_value(until), *ids, ops.adapt_datetimefield_value(now)],
        )
        rows = [Claimed(pk, sub, n, kind, eid, body) for pk, sub, n, kind, eid, body in cursor.fetchall()]
    subs = Subscription.objects.in_bulk({r.subscription_id for r in rows})
    for row in rows:
        row.url, row.secret = subs[row.subscription_id].url, subs[row.subscription_id].secret
        row.event_id = uuid_text(row.event_id)
    rows.sort(key=lambda r: r.pk)
    return rows


def request_headers(row: Claimed, body: bytes, timestamp: int) -> dict[str, str]:
    return {
        SIGNATURE_EVENT_HEADER: row.event_type,
        EVENT_ID_HEADER: row.event_id,
        **signing.headers(row.secret, timestamp, body),
    }


@dataclass
class Outcome:
    row: Claimed
    answer: Answer
    at: dt.datetime
    duration_ms: int


class Worker:
    def __init__(self, *, clock: Callable[[], dt.datetime] = timezone.now, client: Client | None = None):
        self.clock = clock
        self.client = client or Client(timeout=settings.LEADMGR_WEBHOOK_TIMEOUT)
        self.pool = ThreadPoolExecutor(max_workers=settings.LEADMGR_WEBHOOK_CONCURRENCY)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.client.close()

    def pass_once(self) -> PassReport:
        rows = claim(self.clock(), settings.LEADMGR_WEBHOOK_BATCH)
        report = PassReport(claimed=len(rows))
        if rows:
            outcomes = list(self.pool.map(self._post, rows))
            self.record(outcomes, report)
        return report

    def _post(self, row: Claimed) -> Outcome:
        body = row.body.encode()
        started = time.monotonic()
        at = self.clock()
        answer = self.client.post(row.url, body, request_headers(row, body, int(time.time())))
        return Outcome(row, answer, at, int((time.monotonic() - started) * 1000))

    def record(self, outcomes: list[Outcome], report: PassReport) -> None:
        """Record every answer of a claim in one transaction (see the module's docstring, 3.)."""
        now = self.clock()
        adapt = connection.ops.adapt_datetimefield_value
        updates = []
        ok_subs: set[int] = set()
        failing: dict[int, str] = {}
        for o in outcomes:
            row, answer = o.row, o.answer
            state, next_at, finished = _verdict(row, answer, now)
            if state == Delivery.State.DELIVERED:
                ok_subs.add(row.subscription_id)
                report.delivered += 1
            elif state == Delivery.State.PENDING:
                report.retried += 1
            else:
                failing[row.subscription_id] = E_GAVE_UP.format(
                    event_type=row.event_type, event_id=row.event_id, n=row.attempts, why=_why(answer)
                )
                report.gave_up += 1
            error = "" if answer.ok else _why(answer)[:300]
            finished_db = adapt(finished) if finished else None
            updates.append(
                (state.value, adapt(next_at), answer.status, error, finished_db, row.pk, row.attempts)
            )
        with transaction.atomic():
            _update_deliveries(updates)
            DeliveryAttempt.objects.bulk_create(
                [
                    DeliveryAttempt(
                        delivery_id=o.row.pk,
                        subscription_id=o.row.subscription_id,
                        number=o.row.attempts,
                        at=o.at,
                        status_code=o.answer.status,
                        error="" if o.answer.ok else _why(o.answer)[:300],
                        duration_ms=o.duration_ms,
                    )
                    for o in outcomes
                ]
            )
            _mark_subscriptions(ok_subs, failing, now)

    def drain(self, *, stop: Callable[[], bool] = lambda: False) -> PassReport:
        """Pass until nothing is due now (``--once``)."""
        total = PassReport()
        while not stop():
            report = self.pass_once()
            total.add(report)
            if not report.claimed:
                return total
        return total


def _why(answer: Answer) -> str:
    return answer.error or f"HTTP {answer.status}"


def _verdict(
    row: Claimed, answer: Answer, now: dt.datetime
) -> tuple[Delivery.State, dt.datetime, dt.datetime | None]:
    """(state, next attempt, finished at) after ``answer``: a 2xx delivers; anything else retries
    after the next delay, or gives up after the last."""
    if answer.ok:
        return Delivery.State.DELIVERED, now, now
    if (delay := retry_delay(row.attempts)) is not None:
        return Delivery.State.PENDING, now + dt.timedelta(seconds=delay), None
    return Delivery.State.FAILED, now, now


def _update_deliveries(updates: list[tuple]) -> None:
    table = connection.ops.quote_name(Delivery._meta.db_table)
    with connection.cursor() as cursor:
        # Only while the row is still this claim's (same attempt count, still pending): a
        # worker that outlived its lease does not undo what the next claim recorded.
        cursor.executemany(
            f"UPDATE {table} SET state = %s, next_attempt_at = %s, last_status = %s, last_error = %s,"
            " finished_at = %s WHERE id = %s AND attempts = %s AND state = 'pending'",
            updates,
        )


def _mark_subscriptions(ok_subs: set[int], failing: dict[int, str], now: dt.datetime) -> None:
    """A success clears a subscription's failing mark; a give-up sets it (subscription → why)."""
    recovered = ok_subs - set(failing)
    if recovered:
        Subscription.objects.filter(pk__in=recovered, failing=True).update(
            failing=False, failing_since=None, failure_reason=""
        )
    for sub, reason in failing.items():
        log.warning("webhooks: subscription %s failing: %s", sub, reason)
        Subscription.objects.filter(pk=sub).update(
            failing=True,
            failure_reason=reason,
            # Since the first give-up of this spell, not the latest.
            failing_since=Coalesce(F("failing_since"), Value(now, output_field=DateTimeField())),
        )


def prune(now: dt.datetime, *, keep_days: int, chunk: int = 5000) -> int:
    """Delete finished deliveries (and their log) older than ``keep_days``; returns how many."""
    cutoff = now - dt.timedelta(days=keep_days)
    removed = 0
    while True:
        ids = list(
            Delivery.objects.filter(~Q(state=Delivery.State.PENDING), finished_at__lt=cutoff)
            .order_by()
            .values_list("pk", flat=True)[:chunk]
        )
        if not ids:
            return removed
        with transaction.atomic():
            DeliveryAttempt.objects.filter(delivery_id__in=ids).delete()
            Delivery.objects.filter(pk__in=ids).delete()
        removed += len(ids)
