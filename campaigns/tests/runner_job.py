"""Real ``run_campaigns`` workers under hostile conditions; prints what the tests assert, as JSON.

``python -m campaigns.tests.runner_job SCENARIO ARG`` with DATABASE_URL set (see ``processes``):
- ``race ROUNDS``: imports, bulk deletes and refused edits race one worker (instant results).
- ``long_calls LEASE``: calls three times longer than the lease, then ``kill -9`` of the worker and a
  second worker that recovers its leads.
- ``sigterm GRACE``: SIGTERM while calls are under way: the calls are released after the grace.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time


def setup(*, concurrency: int, max_retries: int, retry_interval: dt.timedelta):
    from django.core.management import call_command

    from campaigns.models import Assistant, Campaign, RunnerHeartbeat
    from leadmgr.testing import ALL_DAY, open_legal_hours
    from leads.models import Lead

    call_command("migrate", verbosity=0)
    Lead.objects.all().delete()
    Campaign.objects.all().delete()
    Assistant.objects.all().delete()
    RunnerHeartbeat.objects.all().delete()
    assistant = Assistant.objects.create(name="Race", message_template="Hi {{customer_name}}")
    open_legal_hours()
    return Campaign.objects.create(
        name="Race",
        assistant=assistant,
        state=Campaign.State.RUNNING,
        **ALL_DAY,
        concurrency_limit=500,
        max_retries=max_retries,
        retry_interval=retry_interval,
    )


def add_leads(campaign, n: int, start: int, *, contacts: bool = False) -> None:
    from leads.models import Lead, SecondaryContact

    leads = Lead.objects.bulk_create(
        [
            Lead(campaign=campaign, phone=f"+1415{300 + (start + i) // 10_000:03d}{(start + i) % 10_000:04d}")
            for i in range(n)
        ]
    )
    if contacts:
        SecondaryContact.objects.bulk_create(
            [
                SecondaryContact(
                    lead=lead, phone=f"+1212{500 + (start + i) // 10_000:03d}{(start + i) % 10_000:04d}"
                )
                for i, lead in enumerate(leads)
            ]
        )


def start_worker(**env) -> subprocess.Popen:
    from campaigns.tests import processes

    return subprocess.Popen(
        processes.worker_command(),
        cwd=processes.ROOT,
        env={**os.environ, "LEADMGR_PROVIDER": "simulated", "LOG_LEVEL": "WARNING", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, timeout: float = 60, *, workers: tuple[subprocess.Popen, ...] = ()) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise RuntimeError("timed out")
        for worker in workers:
            if worker.poll() is not None:
                raise RuntimeError(f"a worker stopped: {worker.communicate()[1][-3000:]}")
        time.sleep(0.05)
    return time.monotonic() - started


def stop(worker: subprocess.Popen) -> dict:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=90)
    return {"exit_code": worker.returncode, "stderr": err[-3000:], "stdout": out[-1000:]}


def race(rounds: int) -> dict:
    from django.core.exceptions import ValidationError

    from campaigns.tests import processes
    from leads import services
    from leads.models import Lead, Status

    campaign = setup(concurrency=500, max_retries=1000, retry_interval=dt.timedelta(milliseconds=200))
    worker = start_worker(
        LEADMGR_SIMULATED_SPEEDUP="0",
        LEADMGR_SIMULATED_MIX="no_answer:60,completed:40",
        LEADMGR_RUNNER_TICK="1",
        LEADMGR_RUNNER_LEASE="30",
    )
    report: dict = {"rounds_run": 0, "edits_refused": 0, "edits_saved": 0, "deleted": 0}
    processing = Lead.objects.filter(status=Status.PROCESSING)
    try:
        wait_for(lambda: processes_ready(), timeout=60)
        for r in range(rounds):
            if worker.poll() is not None:
                break
            add_leads(campaign, 400, r * 400, contacts=True)
            wait_for(lambda: processing.exists() or worker.poll() is not None, timeout=60)
            # Edit leads under way: a contact change is refused, never half-applied.
            for lead in list(processing[:5]):
                try:
                    services.lead_update(
                        lead=lead,
                        campaign=campaign,
                        phone=lead.phone,
                        variables={},
                        contacts=[services.ContactInput(phone="+14155550000")],
                    )
                    report["edits_saved"] += 1  # it left Processing meanwhile: allowed
                except ValidationError:
                    report["edits_refused"] += 1
            deleted, _ = services.leads_delete(Lead.objects.filter(campaign=campaign))
            report["deleted"] += deleted
            report["rounds_run"] += 1
        # A last batch, left to the worker: it calls them and nothing stays in Processing.
        add_leads(campaign, 200, 99_000)
        campaign.max_retries = 0
        campaign.save(update_fields=["max_retries"])
        alive = worker.poll() is None
        if alive:
            wait_for(lambda: not Lead.objects.filter(status__in=["created", "processing"]).exists(), 60)
        report["alive_after_rounds"] = alive and worker.poll() is None
    finally:
        report["worker"] = stop(worker)
    report["processing_left"] = processing.count()
    report["overlapping_calls"] = processes.overlaps()
    report["consecutive_claims"] = processes.double_claims()
    return report


def processes_ready() -> bool:
    from campaigns.models import RunnerHeartbeat

    return RunnerHeartbeat.objects.exists()


def long_calls(lease: int) -> dict:
    from campaigns.tests import processes
    from leads.models import CallAttempt, Lead, Status

    campaign = setup(concurrency=500, max_retries=0, retry_interval=dt.timedelta(days=1))
    # no_answer lasts 25-40 s; at speed-up 2, 12.5-20 s: at least three leases of `lease` s.
    env = {
        "LEADMGR_SIMULATED_SPEEDUP": "2",
        "LEADMGR_SIMULATED_MIX": "no_answer:1",
        "LEADMGR_RUNNER_TICK": "1",
        "LEADMGR_RUNNER_LEASE": str(lease),
        "LEADMGR_PROVIDER_TIMEOUT": "1",  # the lease must outlast it (system check)
    }
    report: dict = {}
    add_leads(campaign, 20, 0)
    worker = start_worker(**env)
    try:
        report["first_seconds"] = round(
            wait_for(
                lambda: not Lead.objects.filter(status__in=["created", "processing"]).exists(),
                90,
                workers=(worker,),
            ),
            2,
        )
    finally:
        report["first_worker"] = stop(worker)
    calls = CallAttempt.objects.all()
    report["first_calls"] = calls.count()
    report["first_lost"] = calls.filter(outcome="lost").count()
    report["first_overlaps"] = processes.overlaps()
    report["shortest_call"] = min(
        ((c.ended_at - c.started_at).total_seconds() for c in calls if c.ended_at), default=0
    )
    # A worker killed mid-call: a second worker recovers every lead once the lease runs out.
    add_leads(campaign, 20, 1000)
    victim = start_worker(**env)
    try:
        wait_for(lambda: Lead.objects.filter(status=Status.PROCESSING).count() == 20, 60, workers=(victim,))
        victim.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        victim.communicate(timeout=30)
        rescuer = start_worker(**env)
        try:
            wait_for(
                lambda: not Lead.objects.filter(status=Status.PROCESSING).exists(), 90, workers=(rescuer,)
            )
            report["recovered_after_seconds"] = round(time.monotonic() - killed, 2)
        finally:
            report["rescuer"] = stop(rescuer)
    finally:
        if victim.poll() is None:
            victim.kill()
    report["recovered_lost_calls"] = CallAttempt.objects.filter(
        lead__phone__startswith="+1415300", outcome="lost"
    ).count()
    report["processing_left"] = Lead.objects.filter(status=Status.PROCESSING).count()
    report["overlaps"] = processes.overlaps()
    return report


def sigterm(grace: int) -> dict:
    from campaigns.models import RunnerHeartbeat
    from leads.models import CallAttempt, Lead, Status

    campaign = setup(concurrency=500, max_retries=3, retry_interval=dt.timedelta(days=1))
    add_leads(campaign, 10, 0)
    worker = start_worker(
        LEADMGR_SIMULATED_SPEEDUP="1",
        LEADMGR_SIMULATED_MIX="no_answer:1",  # 25-40 s: longer than the grace
        LEADMGR_RUNNER_TICK="1",
        LEADMGR_RUNNER_GRACE=str(grace),
    )
    try:
        wait_for(lambda: Lead.objects.filter(status=Status.PROCESSING).count() == 10, 60)
        wait_for(lambda: CallAttempt.objects.count() == 10, 60)
        sent = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=90)
        waited = time.monotonic() - sent
    finally:
        result = stop(worker)
    return {
        "worker": result,
        "waited_seconds": round(waited, 2),
        "processing_left": Lead.objects.filter(status=Status.PROCESSING).count(),
        "statuses": sorted(set(Lead.objects.values_list("status", flat=True))),
        "attempts": sorted(set(Lead.objects.values_list("attempts", flat=True))),
        "released_calls": CallAttempt.objects.filter(outcome="lost").count(),
        "heartbeats_left": RunnerHeartbeat.objects.count(),
    }


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadmgr.settings")
    import django

    django.setup()
    scenario, arg = sys.argv[1], int(sys.argv[2])
    print(json.dumps({"race": race, "long_calls": long_calls, "sigterm": sigterm}[scenario](arg)))
