"""Webhook delivery and emission against same-run baselines.

    .venv/bin/python bench/webhooks_delivery.py [--events 5000] [--rows 20000] [--repeat 3]

A receiver (``http.server.ThreadingHTTPServer``, keep-alive, answers 200) runs in a child process on
127.0.0.1. Measured on a fresh SQLite database (bench/data/webhooks.sqlite3), medians printed:

- baseline: a bare loop of signed POSTs of the same bodies with the worker's own HTTP client
  (``webhooks.http.Client``) and thread pool size: no database at all;
- one worker: ``Worker.drain()`` over an outbox of ``--events`` events on distinct leads (claim,
  POST, record each batch), events/s and its ratio to the baseline;
- the same with 5 events per lead (order per lead lets one of them out per claim);
- emission: ``importer.import_leads`` of ``--rows`` rows with one subscription to ``lead.created`` and
  ``import.finished`` vs none (rows/s, ratio).

Target (issue 16): ≥ 500 events/s delivered by one worker.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _harness

DATA = Path(__file__).resolve().parent / "data"
DB = DATA / "webhooks.sqlite3"
os.environ["DEBUG"] = "0"


def serve(port_queue) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # as any production server: its answer leaves at once

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    DATA.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)
    _harness.setup_django(f"sqlite:///{DB}")
    from django.conf import settings
    from django.core.management import call_command

    from campaigns.models import Assistant, Campaign
    from campaigns.providers import signing
    from leads.csv import importer
    from leads.models import Lead
    from webhooks import outbox, services
    from webhooks.delivery import Worker
    from webhooks.http import Client
    from webhooks.models import Delivery, DeliveryAttempt, Subscription

    call_command("migrate", verbosity=0)
    ports = multiprocessing.Queue()
    receiver = multiprocessing.Process(target=serve, args=(ports,), daemon=True)
    receiver.start()
    url = f"http://127.0.0.1:{ports.get(timeout=10)}/hook"
    sub = services.subscription_create(url=url, events=["lead.created", "import.finished"])
    n = args.events
    concurrency = settings.LEADMGR_WEBHOOK_CONCURRENCY
    print(f"{n:,} events, {concurrency} POSTs at once, batches of {settings.LEADMGR_WEBHOOK_BATCH}")

    def fill(per_lead: int) -> None:
        Delivery.objects.all().delete()
        DeliveryAttempt.objects.all().delete()
        data = {"lead": {"id": 0, "phone": "+14155550100", "status": "created", "variables": {"a": "b"}}}
        outbox.write("lead.created", [(i // per_lead, data) for i in range(n)], [sub.pk])

    def baseline() -> float:
        fill(1)
        bodies = [(b.encode()) for b in Delivery.objects.values_list("body", flat=True)]
        client = Client(timeout=10)

        def post(body: bytes) -> int:
            return client.post(url, body, signing.headers(sub.secret, int(time.time()), body)).status

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            statuses = list(pool.map(post, bodies))
        elapsed = time.perf_counter() - started
        assert statuses.count(200) == n, statuses[:5]
        return n / elapsed

    def worker(per_lead: int) -> float:
        fill(per_lead)
        w = Worker()
        try:
            started = time.perf_counter()
            report = w.drain()
            elapsed = time.perf_counter() - started
        finally:
            w.close()
        assert report.delivered == n, report
        return n / elapsed

    base = statistics.median(baseline() for _ in range(args.repeat))
    one = statistics.median(worker(1) for _ in range(args.repeat))
    five = statistics.median(worker(5) for _ in range(args.repeat))
    print(f"baseline (bare signed POSTs, same client): {base:,.0f} events/s")
    print(f"one worker, distinct leads:                {one:,.0f} events/s  ({one / base:.2f}x baseline)")
    print(f"one worker, 5 events per lead:             {five:,.0f} events/s  ({five / base:.2f}x baseline)")

    # Emission: what an import pays for writing its events.
    assistant = Assistant.objects.create(name="Bench")
    rows = args.rows
    csv_bytes = (
        "phone,customer_name\n"
        + "".join(f"+1415{200 + i // 10_000:03d}{i % 10_000:04d},N{i}\n" for i in range(rows))
    ).encode()

    def import_once(listening: bool) -> float:
        Subscription.objects.update(active=listening)
        Delivery.objects.all().delete()
        Lead.objects.all().delete()
        Campaign.objects.all().delete()
        campaign = Campaign.objects.create(name="Bench", assistant=assistant)
        started = time.perf_counter()
        result = importer.import_leads(io.BytesIO(csv_bytes), importer.ImportOptions(campaign=campaign))
        elapsed = time.perf_counter() - started
        assert result.created == rows
        assert Delivery.objects.count() == (rows + 1 if listening else 0)
        return rows / elapsed

    none = statistics.median(import_once(False) for _ in range(args.repeat))
    with_sub = statistics.median(import_once(True) for _ in range(args.repeat))
    print(f"import of {rows:,} rows, no subscription:    {none:,.0f} rows/s")
    print(f"import of {rows:,} rows, one subscription:   {with_sub:,.0f} rows/s  ({with_sub / none:.2f}x)")
    receiver.terminate()


if __name__ == "__main__":
    sys.exit(main())
