"""A real ``run_campaigns`` worker against the do-not-call list and the frequency caps; prints what
the tests assert, as JSON.

``python -m compliance.tests.compliance_job SCENARIO`` with DATABASE_URL set (campaigns.tests.processes):
- ``dnc``: 300 leads with a secondary contact each; a third of the primaries and a third of the
  secondaries listed before the worker starts, a tenth of the leads with both; then, while the
  worker calls (each lead retried several times), every remaining number of 60 leads is listed.
- ``caps``: one number is a lead in three campaigns; the site allows one dial per number a day.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time

from campaigns.tests.runner_job import add_leads, setup, start_worker, stop, wait_for

N = 300


def _real_dials_after(numbers_at: dict[str, dt.datetime]) -> int:
    """Dials (not skips) of a listed number that started after the number's listing committed."""
    from compliance.dialing import SKIP_OUTCOMES
    from leads.models import CallAttempt

    n = 0
    rows = CallAttempt.objects.exclude(outcome__in=SKIP_OUTCOMES).values_list("phone", "started_at")
    for phone, started_at in rows.iterator(chunk_size=5000):
        listed_at = numbers_at.get(phone)
        if listed_at is not None and started_at > listed_at:
            n += 1
    return n


def dnc() -> dict:
    from django.utils import timezone

    from campaigns.tests import processes
    from compliance import services
    from compliance.models import DoNotCallEntry
    from leads.models import CallAttempt, Lead, SecondaryContact, Status, StatusChange

    campaign = setup(concurrency=50, max_retries=3, retry_interval=dt.timedelta(milliseconds=300))
    DoNotCallEntry.objects.all().delete()
    add_leads(campaign, N, 0, contacts=True)
    leads = list(Lead.objects.filter(campaign=campaign).order_by("pk"))
    secondaries = dict(SecondaryContact.objects.values_list("lead_id", "phone"))
    for i, lead in enumerate(leads):
        if i % 3 == 0 or i % 10 == 1:
            services.dnc_add(number=lead.phone)
        if i % 3 == 1 or i % 10 == 1:
            services.dnc_add(number=secondaries[lead.pk], campaign=campaign)
    epoch = timezone.now()
    before = dict.fromkeys(
        DoNotCallEntry.objects.values_list("number", flat=True), epoch - dt.timedelta(days=1)
    )
    all_listed = {lead.pk for i, lead in enumerate(leads) if i % 10 == 1}
    worker = start_worker(
        LEADMGR_SIMULATED_SPEEDUP="0",
        LEADMGR_SIMULATED_MIX="no_answer:1",
        LEADMGR_RUNNER_TICK="1",
        LEADMGR_RUNNER_LEASE="30",
    )
    report: dict = {}
    during: dict[str, dt.datetime] = {}
    try:
        wait_for(
            lambda: CallAttempt.objects.filter(outcome="no_answer").count() >= 100, 60, workers=(worker,)
        )
        # Listed while the campaign runs: the remaining numbers of 60 leads still being retried.
        late = [lead for i, lead in enumerate(leads) if i % 3 == 2 and i % 10 != 1][:60]
        for lead in late:
            for number in (lead.phone, secondaries[lead.pk]):
                services.dnc_add(number=number, source="api")
                during[number] = timezone.now()  # after the commit
        wait_for(
            lambda: not Lead.objects.filter(status__in=["created", "processing", "rescheduled"]).exists(),
            120,
            workers=(worker,),
        )
    finally:
        report["worker"] = stop(worker)
    report["dials_to_numbers_listed_before"] = _real_dials_after(before)
    report["dials_to_numbers_listed_during"] = _real_dials_after(during)
    report["all_listed_statuses"] = sorted(
        set(Lead.objects.filter(pk__in=all_listed).values_list("status", flat=True))
    )
    report["all_listed_reasons"] = sorted(
        set(StatusChange.objects.filter(lead_id__in=all_listed).values_list("reason", flat=True))
    )
    report["all_listed_dials"] = CallAttempt.objects.filter(lead_id__in=all_listed).count()
    late_ids = [lead.pk for lead in late]
    report["late_statuses"] = sorted(
        set(Lead.objects.filter(pk__in=late_ids).values_list("status", flat=True))
    )
    report["late_completed_listed"] = StatusChange.objects.filter(
        lead_id__in=late_ids, to_status="completed", reason="all numbers on the do-not-call list"
    ).count()
    report["skips_recorded"] = CallAttempt.objects.filter(outcome="do_not_call").count()
    from campaigns.models import RunnerDecision

    report["decisions"] = sorted(set(RunnerDecision.objects.values_list("reason", flat=True)))
    report["processing_left"] = Lead.objects.filter(status=Status.PROCESSING).count()
    report["overlaps"] = processes.overlaps()
    return report


def caps() -> dict:
    from campaigns.models import Campaign
    from compliance.models import CallingRules
    from leads.models import CallAttempt, Lead

    first = setup(concurrency=10, max_retries=0, retry_interval=dt.timedelta(minutes=1))
    CallingRules.objects.filter(pk=1).update(max_dials_per_day=1)  # setup() opened the legal hours
    campaigns = [first]
    for name in ("Second", "Third"):
        campaigns.append(
            Campaign.objects.create(
                name=name,
                assistant=first.assistant,
                state=Campaign.State.RUNNING,
                calling_days=first.calling_days,
                window_start=first.window_start,
                window_end=first.window_end,
                max_retries=0,
            )
        )
    for campaign in campaigns:
        add_leads(campaign, 5, 0)  # the same five numbers in each campaign
    worker = start_worker(
        LEADMGR_SIMULATED_SPEEDUP="0", LEADMGR_SIMULATED_MIX="no_answer:1", LEADMGR_RUNNER_TICK="1"
    )
    report: dict = {}
    try:
        wait_for(lambda: CallAttempt.objects.count() >= 5, 60, workers=(worker,))
        time.sleep(4)  # a few more passes: nothing else may be dialled
    finally:
        report["worker"] = stop(worker)
    dials = CallAttempt.objects.exclude(outcome__in=["do_not_call", "frequency_cap"])
    report["dials"] = dials.count()
    report["numbers_dialled"] = dials.values("phone").distinct().count()
    report["waiting"] = Lead.objects.filter(status="created", next_attempt_at__isnull=False).count()
    report["decisions"] = sorted(set(first.runner_decisions.model.objects.values_list("reason", flat=True)))
    return report


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadmgr.settings")
    import django

    django.setup()
    print(json.dumps({"dnc": dnc, "caps": caps}[sys.argv[1]](), default=str))
