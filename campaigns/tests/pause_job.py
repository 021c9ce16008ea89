"""A Pause pressed on the campaign page while a real ``run_campaigns`` worker dials; prints JSON.

``python -m campaigns.tests.pause_job LEADS`` with DATABASE_URL set (see ``processes``): the worker
dials leads with a secondary number each (every call goes unanswered, so each attempt goes on to
its next number); once calls are under way and further numbers are being dialled, an admin POSTs
Pause through the real view stack. Reported: the POST's round trip, the dials recorded after it
answered (none allowed), how the attempts under way ended and how long they took to drain.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time


def pause(leads: int) -> dict:
    from django.contrib.auth.models import User
    from django.db.models import Max
    from django.test import Client
    from django.test.utils import override_settings

    from campaigns.models import CampaignStateChange, RunnerDecision
    from campaigns.runner import DETAIL_NOT_RUNNING
    from campaigns.tests import processes
    from campaigns.tests.runner_job import add_leads, processes_ready, setup, start_worker, stop, wait_for
    from leads.models import CallAttempt, Lead, Status, StatusChange

    campaign = setup(concurrency=20, max_retries=0, retry_interval=dt.timedelta(days=1))
    campaign.concurrency_limit = 20
    campaign.save(update_fields=["concurrency_limit"])
    User.objects.filter(username="pauser").delete()
    admin = User.objects.create_superuser("pauser", password="x")
    add_leads(campaign, leads, 0, contacts=True)
    worker = start_worker(
        LEADMGR_SIMULATED_SPEEDUP="25",  # no_answer lasts 25-40 s: 1-1.6 s here, so calls are still under way when a slow POST answers
        LEADMGR_SIMULATED_MIX="no_answer:1",
        LEADMGR_RUNNER_TICK="1",
        LEADMGR_RUNNER_LEASE="30",
    )
    report: dict = {}
    processing = Lead.objects.filter(status=Status.PROCESSING)
    try:
        wait_for(processes_ready, 60, workers=(worker,))
        # Under way: attempts on their first numbers and attempts already on their second.
        wait_for(
            lambda: (
                CallAttempt.objects.filter(contact__isnull=False).count() >= 10 and processing.count() >= 10
            ),
            90,
            workers=(worker,),
        )
        client = Client()
        client.force_login(admin)
        with override_settings(ALLOWED_HOSTS=["testserver"]):
            sent = time.monotonic()
            response = client.post(f"/campaigns/{campaign.pk}/pause/", {"reason": "emergency"})
            answered = time.monotonic()
        last_before = CallAttempt.objects.aggregate(m=Max("id"))["m"]
        report["post_status"] = response.status_code
        report["pause_post_ms"] = round(1000 * (answered - sent), 1)
        report["under_way_at_pause"] = processing.count()
        report["drain_seconds"] = round(wait_for(lambda: not processing.exists(), 60, workers=(worker,)), 2)
        time.sleep(3)  # three more ticks of the worker: still nothing dialled
        report["dials_after_pause"] = CallAttempt.objects.filter(id__gt=last_before).count()
        report["worker_alive"] = worker.poll() is None
    finally:
        report["worker"] = stop(worker)
    report["state_changes"] = list(
        CampaignStateChange.objects.values_list("from_state", "to_state", "reason")
    )
    report["ended_not_running"] = StatusChange.objects.filter(reason__contains=DETAIL_NOT_RUNNING).count()
    report["open_calls"] = CallAttempt.objects.filter(outcome="").count()
    report["paused_decisions"] = RunnerDecision.objects.filter(reason=RunnerDecision.Reason.PAUSED).count()
    report["overlapping_calls"] = processes.overlaps()
    report["called_leads"] = Lead.objects.exclude(status=Status.CREATED).count()
    return report


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadmgr.settings")
    import django

    django.setup()
    print(json.dumps(pause(int(sys.argv[1]))))
