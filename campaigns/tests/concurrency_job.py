"""Many workers over many due leads, several rounds; prints what the test asserts, as JSON.

Run by ``test_concurrency.py`` in a subprocess with DATABASE_URL set to the database to use:
``python -m campaigns.tests.concurrency_job LEADS WORKERS ROUNDS``. Each round lets WORKERS
processes of the real command (simulated provider, instant
results) over LEADS due leads, then reads back the CallAttempt rows and the history. The same
WORKERS processes of ``manage.py run_campaigns`` serve every round; between rounds every lead is put
back to Created through the lifecycle (the operators' reset, which keeps the attempt count).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(n_leads: int, n_workers: int, rounds: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadmgr.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db.models import Count

    from campaigns.models import Assistant, Campaign
    from campaigns.tests import processes
    from leads import lifecycle
    from leads.models import CallAttempt, Lead, Status, StatusChange

    call_command("migrate", verbosity=0)
    Lead.objects.all().delete()
    Campaign.objects.all().delete()
    Assistant.objects.all().delete()
    assistant = Assistant.objects.create(name="Concurrency", message_template="Hi {{customer_name}}")
    from leadmgr.testing import open_legal_hours

    open_legal_hours()  # any hour of the real clock
    campaign = Campaign.objects.create(
        name="Concurrency",
        assistant=assistant,
        state=Campaign.State.RUNNING,
        calling_days=[0, 1, 2, 3, 4, 5, 6],
        window_start=dt.time(0, 0),
        window_end=dt.time(23, 59, 59, 999999),
        concurrency_limit=10_000,
        max_retries=rounds + 1,
        retry_interval=dt.timedelta(days=1),
    )
    Lead.objects.bulk_create(
        [
            Lead(
                campaign=campaign,
                phone=f"+1415{200 + i // 10_000:03d}{i % 10_000:04d}",
                variables={"customer_name": f"L{i}"},
            )
            for i in range(n_leads)
        ],
        batch_size=2000,
    )
    env = {
        **os.environ,
        "LEADMGR_PROVIDER": "simulated",
        "LEADMGR_SIMULATED_SPEEDUP": "0",
        "LEADMGR_SIMULATED_MIX": "completed:50,no_answer:30,busy:20",
    }
    report: dict = {"rounds": []}
    # The workers run the real command for all rounds (its loop, one pass a second).
    workers = [
        subprocess.Popen(
            processes.worker_command(),
            cwd=ROOT,
            env={**env, "LEADMGR_RUNNER_TICK": "1", "LOG_LEVEL": "WARNING"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n_workers)
    ]
    busy = Lead.objects.filter(status__in=[Status.CREATED, Status.PROCESSING])
    try:
        for r in range(rounds):
            if r:
                lifecycle.bulk_set_status(Lead.objects.all(), Status.CREATED, reason=f"Round {r + 1}")
            started = time.monotonic()
            while busy.exists():
                if time.monotonic() - started > 120 or any(w.poll() is not None for w in workers):
                    raise RuntimeError("the workers stopped or stalled")
                time.sleep(0.1)
            attempt = r + 1
            calls = CallAttempt.objects.filter(attempt_number=attempt)
            per_lead = calls.values("lead_id").annotate(n=Count("id")).values_list("n", flat=True)
            histogram: dict[int, int] = {}
            for n in per_lead:
                histogram[n] = histogram.get(n, 0) + 1
            claims = StatusChange.objects.filter(
                to_status=Status.PROCESSING, reason=f"Call attempt {attempt} started."
            )
            report["rounds"].append(
                {
                    "seconds": round(time.monotonic() - started, 2),
                    "calls_per_lead": histogram,
                    "leads_with_other_attempt_count": Lead.objects.exclude(attempts=attempt).count(),
                    "processing_left": Lead.objects.filter(status=Status.PROCESSING).count(),
                    "claims_in_history": claims.count(),
                }
            )
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        outputs = [w.communicate(timeout=60) for w in workers]
    report["exit_codes"] = [w.returncode for w in workers]
    report["stderr"] = [err[-2000:] for _, err in outputs if err.strip()]
    # Each worker's summary line: how many leads it claimed over all rounds.
    report["claimed_per_worker"] = [int(out.split("Claimed ")[1].split()[0]) for out, _ in outputs]
    # Never two calls to one lead at once; its history alternates claim → end.
    report["overlapping_calls"] = processes.overlaps()
    report["consecutive_claims"] = processes.double_claims()
    report["leads"] = Lead.objects.count()
    return report


if __name__ == "__main__":
    leads, workers, rounds = (int(a) for a in sys.argv[1:4])
    print(json.dumps(main(leads, workers, rounds)))
