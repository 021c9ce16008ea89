"""Real ``deliver_webhooks`` worker processes; prints what the tests assert, as JSON.

``python -m webhooks.tests.delivery_job SCENARIO N`` with DATABASE_URL set (see
``campaigns.tests.processes``):
- ``kill N``: N events over 20 leads to a slow receiver; the worker is killed with ``kill -9`` in the
  middle of its POSTs; a second worker delivers the rest once the first one's lease runs out.
- ``sigterm N``: SIGTERM while POSTs are under way: the worker finishes them and exits 0.
- ``pair N``: two workers at once over the same outbox.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

ENV = {
    "LEADMGR_WEBHOOK_TIMEOUT": "1",
    "LEADMGR_WEBHOOK_BATCH": "8",
    "LEADMGR_WEBHOOK_CONCURRENCY": "4",
    "LEADMGR_WEBHOOK_POLL": "0.05",
    "LEADMGR_WEBHOOK_RETRY_DELAYS": "0.1,0.2,0.4,0.8,1,1,1,1,1,1",
    "LOG_LEVEL": "WARNING",
}


def setup(n: int, url: str) -> list[tuple[int, str]]:
    """N status changes over 20 leads, each a lead.status_changed event; returns (lead, event id)."""
    from django.core.management import call_command

    from campaigns.models import Assistant, Campaign
    from leads import lifecycle
    from leads.models import Lead, Status
    from webhooks import services
    from webhooks.models import Delivery, Subscription

    call_command("migrate", verbosity=0)
    Subscription.objects.all().delete()  # with its deliveries: a PostgreSQL database is kept between runs
    Lead.objects.all().delete()
    Campaign.objects.all().delete()
    Assistant.objects.all().delete()
    assistant = Assistant.objects.create(name="Hooks")
    campaign = Campaign.objects.create(name="Hooks", assistant=assistant)
    leads = Lead.objects.bulk_create(
        [Lead(campaign=campaign, phone=f"+1415555{i:04d}", status=Status.CREATED) for i in range(20)]
    )
    services.subscription_create(url=url, events=["lead.status_changed"])
    targets = [Status.COMPLETED, Status.CREATED]
    for i in range(n):
        lead = leads[i % 20]
        lifecycle.set_status(Lead.objects.get(pk=lead.pk), targets[(i // 20) % 2], reason=f"change {i}")
    return [(d.lead_id, str(d.event_id)) for d in Delivery.objects.order_by("id")]


def start_worker() -> subprocess.Popen:
    from campaigns.tests import processes

    return subprocess.Popen(
        [sys.executable, str(processes.ROOT / "manage.py"), "deliver_webhooks"],
        cwd=processes.ROOT,
        env={**os.environ, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, timeout: float) -> None:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise RuntimeError("timed out")
        time.sleep(0.05)


def verdict(emitted: list[tuple[int, str]], receiver) -> dict:
    """Lost: emitted, never accepted. Out of order: per lead, first acceptances not in emission order."""
    accepted = receiver.accepted()
    first: list[str] = []
    seen: set[str] = set()
    for event in accepted:
        if event["id"] not in seen:
            seen.add(event["id"])
            first.append(event["id"])
    position = {eid: i for i, eid in enumerate(first)}
    out_of_order = 0
    by_lead: dict[int, list[str]] = {}
    for lead_id, eid in emitted:
        by_lead.setdefault(lead_id, []).append(eid)
    for ids in by_lead.values():
        got = [position[e] for e in ids if e in position]
        out_of_order += sum(1 for a, b in zip(got, got[1:], strict=False) if a > b)
    return {
        "emitted": len(emitted),
        "lost": len({e for _, e in emitted} - seen),
        "out_of_order": out_of_order,
        "duplicates": len(accepted) - len(seen),
    }


def kill(n: int) -> dict:
    from webhooks.models import Delivery
    from webhooks.tests.receiver import Receiver

    receiver = Receiver(delay=0.15)  # slow enough to catch the worker mid-POST
    emitted = setup(n, receiver.url)
    victim = start_worker()
    try:
        wait_for(lambda: len(receiver.received) >= 12, 60)
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=30)
        killed_with_pending = Delivery.objects.filter(state="pending").count()
        rescuer = start_worker()
        try:
            wait_for(lambda: not Delivery.objects.filter(state="pending").exists(), 120)
        finally:
            rescuer.send_signal(signal.SIGTERM)
            out, err = rescuer.communicate(timeout=60)
    finally:
        if victim.poll() is None:
            victim.kill()
        receiver.stop()
    return {
        **verdict(emitted, receiver),
        "victim_exit": victim.returncode,
        "pending_after_kill": killed_with_pending,
        "rescuer_exit": rescuer.returncode,
        "rescuer_stderr": err[-2000:],
        "delivered": Delivery.objects.filter(state="delivered").count(),
    }


def sigterm(n: int) -> dict:
    from webhooks.models import Delivery
    from webhooks.tests.receiver import Receiver

    receiver = Receiver(delay=0.3)
    emitted = setup(n, receiver.url)
    worker = start_worker()
    try:
        wait_for(lambda: len(receiver.received) >= 1, 60)
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
        receiver.stop()
    attempted = Delivery.objects.filter(attempts__gt=0)
    return {
        **verdict(emitted, receiver),
        "exit_code": worker.returncode,
        "stdout": out[-1000:],
        "stderr": err[-2000:],
        # Every POST it started was recorded before it stopped (none left to its lease).
        "attempted_not_recorded": attempted.filter(state="pending", last_status__isnull=True).count(),
        "received": len(receiver.received),
        "recorded": attempted.exclude(state="pending").count(),
    }


def pair(n: int) -> dict:
    """Two workers at once over the same outbox: no event is sent twice, each lead's in order."""
    from webhooks.models import Delivery
    from webhooks.tests.receiver import Receiver

    receiver = Receiver(delay=0.01)
    emitted = setup(n, receiver.url)
    workers = [start_worker(), start_worker()]
    try:
        wait_for(lambda: not Delivery.objects.filter(state="pending").exists(), 120)
    finally:
        outputs = []
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
            outputs.append(worker.communicate(timeout=60))
        receiver.stop()
    delivered = [int(out.rsplit("Delivered ", 1)[1].split()[0]) for out, _ in outputs]
    return {
        **verdict(emitted, receiver),
        "exit_codes": [w.returncode for w in workers],
        "stderr": "".join(err for _, err in outputs)[-2000:],
        "delivered_by_each": delivered,
    }


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadmgr.settings")
    import django

    django.setup()
    scenario, arg = sys.argv[1], int(sys.argv[2])
    print(json.dumps({"kill": kill, "sigterm": sigterm, "pair": pair}[scenario](arg)))
