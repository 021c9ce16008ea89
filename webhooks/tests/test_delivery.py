"""The delivery worker against a real HTTP receiver on 127.0.0.1: signatures, order, retries, outages."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from campaigns.providers import signing
from campaigns.tests.processes import database_url, run_job
from leadmgr.testing import make_lead
from leads import lifecycle
from leads.models import Lead, Status
from webhooks.delivery import Worker
from webhooks.models import Delivery, DeliveryAttempt, Subscription

from .conftest import subscribe

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_snippet() -> dict:
    """The verification snippet of the README, run as it is written there."""
    text = README.read_text()
    code = re.search(r"<!-- webhook-verify -->\s*```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(code, namespace)
    return namespace


def deliver_all(worker: Worker, timeout: float = 30) -> None:
    """Passes until no delivery is pending (retries included)."""
    deadline = time.monotonic() + timeout
    while Delivery.objects.filter(state="pending").exists():
        assert time.monotonic() < deadline, "deliveries still pending"
        if not worker.pass_once().claimed:
            time.sleep(0.02)


def changes(lead: Lead, n: int) -> None:
    for i in range(n):
        target = Status.COMPLETED if i % 2 == 0 else Status.CREATED
        lifecycle.set_status(Lead.objects.get(pk=lead.pk), target, reason=f"change {i}")


@pytest.fixture
def worker(fast_retries):
    w = Worker()
    yield w
    w.close()


def test_a_delivery_is_signed_json_that_the_readme_snippet_verifies(campaign, receiver, worker):
    sub = subscribe(receiver.url)
    lead = make_lead(campaign)
    lifecycle.set_status(lead, Status.COMPLETED, reason="won")
    report = worker.pass_once()
    assert (report.claimed, report.delivered) == (1, 1)
    (got,) = receiver.received
    headers, body = got["headers"], got["body"]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Leadmgr-Event"] == "lead.status_changed"
    assert body == Delivery.objects.get().body.encode()
    event = json.loads(body)
    assert (event["type"], event["lead_id"], headers["X-Leadmgr-Event-Id"]) == (
        "lead.status_changed",
        lead.pk,
        event["id"],
    )
    verify = readme_snippet()["verify_leadmgr_webhook"]
    assert verify(sub.secret, headers["X-Leadmgr-Timestamp"], headers["X-Leadmgr-Signature"], body) is True
    assert (
        verify("another-secret", headers["X-Leadmgr-Timestamp"], headers["X-Leadmgr-Signature"], body)
        is False
    )
    assert (
        verify(sub.secret, headers["X-Leadmgr-Timestamp"], headers["X-Leadmgr-Signature"], body + b" ")
        is False
    )
    # The same signature the provider's callbacks carry (campaigns/providers/signing.py).
    signing.verify(
        sub.secret,
        headers["X-Leadmgr-Timestamp"],
        headers["X-Leadmgr-Signature"],
        body,
        now=time.time(),
        max_age=300,
    )
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.number, attempt.status_code, attempt.error, attempt.subscription_id) == (
        1,
        200,
        "",
        sub.pk,
    )


def test_retries_follow_the_backoff_until_the_receiver_accepts(campaign, receiver, worker, settings):
    settings.LEADMGR_WEBHOOK_RETRY_DELAYS = [0.2, 0.4, 0.8]
    subscribe(receiver.url)
    answers = iter([500, 503, 200])
    receiver.decide = lambda event: next(answers)
    lifecycle.set_status(make_lead(campaign), Status.COMPLETED)
    deliver_all(worker)
    log = list(DeliveryAttempt.objects.order_by("id"))
    assert [(a.number, a.status_code) for a in log] == [(1, 500), (2, 503), (3, 200)]
    assert log[0].error == "HTTP 500"
    gaps = [(b.at - a.at).total_seconds() for a, b in zip(log, log[1:], strict=False)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4  # the schedule's delays, in order
    assert Delivery.objects.get().state == "delivered"


def test_after_the_last_retry_the_delivery_is_given_up_and_the_subscription_failing(
    campaign, receiver, worker, settings
):
    settings.LEADMGR_WEBHOOK_RETRY_DELAYS = [0.01, 0.01]
    sub = subscribe(receiver.url)
    receiver.status = 500
    lead = make_lead(campaign)
    lifecycle.set_status(lead, Status.COMPLETED)
    lifecycle.set_status(Lead.objects.get(pk=lead.pk), Status.CREATED)
    deliver_all(worker)
    first, second = Delivery.objects.order_by("id")
    assert (first.state, first.attempts, first.last_status) == ("failed", 3, 500)
    assert second.state == "failed"  # the next event of the lead waited for the first, then failed too
    sub.refresh_from_db()
    assert sub.failing and sub.failing_since is not None
    since = sub.failing_since
    assert DeliveryAttempt.objects.order_by("id").first().at <= since  # after the first attempt
    assert sub.failure_reason.startswith("Gave up lead.status_changed") and "after 3 attempts: HTTP 500" in (
        sub.failure_reason
    )
    # A later success clears the mark.
    receiver.status = 200
    lifecycle.set_status(Lead.objects.get(pk=lead.pk), Status.COMPLETED)
    deliver_all(worker)
    sub.refresh_from_db()
    assert not sub.failing and sub.failure_reason == ""


def test_a_refused_connection_is_retried(campaign, receiver, worker):
    subscribe(receiver.url)
    receiver.stop()
    lifecycle.set_status(make_lead(campaign), Status.COMPLETED)
    worker.pass_once()
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, None)
    assert delivery.last_error.startswith("Could not deliver:")
    receiver.start()
    deliver_all(worker)
    assert Delivery.objects.get().state == "delivered"


def test_events_of_one_lead_arrive_in_order_even_when_one_needs_retries(campaign, receiver, worker):
    subscribe(receiver.url)
    a, b = make_lead(campaign), make_lead(campaign)
    changes(a, 4)
    changes(b, 4)
    emitted = list(Delivery.objects.order_by("id").values_list("lead_id", "event_id"))
    failed_once: set[str] = set()

    def flaky(event):  # every event of lead a fails its first attempt
        if event["lead_id"] == a.pk and event["id"] not in failed_once:
            failed_once.add(event["id"])
            return 500
        return 200

    receiver.decide = flaky
    deliver_all(worker)
    accepted = receiver.accepted()
    for lead in (a, b):
        assert [e["id"] for e in accepted if e["lead_id"] == lead.pk] == [
            str(eid) for lead_id, eid in emitted if lead_id == lead.pk
        ]
    # Lead b did not wait for lead a's retries: all its events were in before a's last one.
    last_b = max(i for i, e in enumerate(accepted) if e["lead_id"] == b.pk)
    last_a = max(i for i, e in enumerate(accepted) if e["lead_id"] == a.pk)
    assert last_b < last_a


def test_a_receiver_down_for_a_while_then_back_gets_every_event_in_order(
    campaign, receiver, worker, settings
):
    settings.LEADMGR_WEBHOOK_RETRY_DELAYS = [0.05, 0.1, 0.2, 0.4, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
    subscribe(receiver.url)
    leads = [make_lead(campaign) for _ in range(20)]
    receiver.stop()
    for lead in leads:
        changes(lead, 5)
    emitted = list(Delivery.objects.order_by("id").values_list("lead_id", "event_id"))
    down_until = time.monotonic() + 2.0
    while time.monotonic() < down_until:  # the worker keeps trying while the receiver is down
        if not worker.pass_once().claimed:
            time.sleep(0.02)
    assert DeliveryAttempt.objects.filter(status_code__isnull=True).count() >= 20
    receiver.start()
    deliver_all(worker, timeout=60)
    accepted = receiver.accepted()
    ids = {e["id"] for e in accepted}
    assert len(emitted) == 100
    assert {str(eid) for _, eid in emitted} - ids == set()  # 0 lost
    for lead in leads:  # 0 out of order per lead
        assert [e["id"] for e in accepted if e["lead_id"] == lead.pk] == [
            str(eid) for lead_id, eid in emitted if lead_id == lead.pk
        ]
    assert Delivery.objects.filter(state="delivered").count() == 100


def test_an_inactive_subscription_is_not_delivered_to(campaign, receiver, worker):
    sub = subscribe(receiver.url)
    lifecycle.set_status(make_lead(campaign), Status.COMPLETED)
    Subscription.objects.filter(pk=sub.pk).update(active=False)
    assert worker.pass_once().claimed == 0
    assert receiver.received == []


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_worker_killed_with_kill_9_mid_delivery_loses_nothing(kind, tmp_path):
    report = run_job(database_url(kind, tmp_path, "hooks"), "webhooks.tests.delivery_job", "kill", 200)
    print(json.dumps(report))
    assert report["emitted"] == 200
    assert report["pending_after_kill"] > 0  # it died with work in hand
    assert (report["lost"], report["out_of_order"]) == (0, 0)
    assert report["delivered"] == 200
    assert report["rescuer_exit"] == 0 and "Traceback" not in report["rescuer_stderr"]


def test_sigterm_finishes_the_posts_under_way_and_exits_0(tmp_path):
    report = run_job(database_url("sqlite", tmp_path), "webhooks.tests.delivery_job", "sigterm", 40)
    print(json.dumps(report))
    assert report["exit_code"] == 0 and "Traceback" not in report["stderr"]
    assert report["attempted_not_recorded"] == 0
    assert report["recorded"] == report["received"] > 0
    assert "Delivered" in report["stdout"]


def test_finished_deliveries_are_pruned_after_the_keep_days_with_their_log(campaign, receiver, worker):
    from django.utils import timezone

    from webhooks.delivery import prune

    subscribe(receiver.url)
    lifecycle.set_status(make_lead(campaign), Status.COMPLETED)
    deliver_all(worker)
    receiver.status = 500
    lifecycle.set_status(Lead.objects.get(), Status.CREATED)  # stays pending: never pruned
    worker.pass_once()
    now = timezone.now()
    assert prune(now + timezone.timedelta(days=6), keep_days=7) == 0
    assert prune(now + timezone.timedelta(days=8), keep_days=7) == 1
    assert list(Delivery.objects.values_list("state", flat=True)) == ["pending"]
    assert DeliveryAttempt.objects.count() == 1  # the pending one's failed attempt


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_two_workers_at_once_never_send_an_event_twice_and_keep_each_leads_order(kind, tmp_path):
    report = run_job(database_url(kind, tmp_path, "hooks"), "webhooks.tests.delivery_job", "pair", 400)
    print(json.dumps(report))
    assert (report["emitted"], report["lost"], report["out_of_order"], report["duplicates"]) == (400, 0, 0, 0)
    assert report["exit_codes"] == [0, 0] and "Traceback" not in report["stderr"]
    assert sum(report["delivered_by_each"]) == 400
    assert min(report["delivered_by_each"]) > 0  # both took a share
