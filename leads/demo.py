"""Demo and benchmark data: assistants, campaigns, and leads with contacts in every status.

``seed_demo`` builds a small, realistic data set through the real lifecycle (so the history is what
the runner and operators would have written). ``bulk_generate`` fills a database with up to a
million leads for the benchmarks, writing rows directly in large batches.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import Assistant, AssistantVariable, Campaign
from campaigns.providers import SUCCESS
from leadcounts import services as lead_counts
from leadmgr.storage import bulk as storage_bulk

from . import calls, lifecycle, textsearch, variable_names
from .attempts import finish_attempt, start_attempt
from .models import Lead, SecondaryContact, Status

# US area codes across all four mainland time zones, and London: phonenumbers accepts all of them.
US_AREAS = ["212", "312", "415", "512", "617", "646", "702", "713", "801", "206", "303", "404", "602", "305"]
# The demo's assistants (with their variables), and the names, companies and details its leads are
# drawn from: data, kept in demo_data.json beside this module.
DATA = json.loads(Path(__file__).with_name("demo_data.json").read_text(encoding="utf-8"))
ASSISTANTS = DATA["assistants"]
FIRST = DATA["first_names"]
LAST = DATA["last_names"]
COMPANIES = DATA["companies"]
INDUSTRIES = DATA["industries"]
INTERACTIONS = DATA["interactions"]
TIMES = DATA["contact_times"]
ROLES = [(r["role"], r["decision_authority"]) for r in DATA["roles"]]

CAMPAIGNS = [
    ("Spring demo follow-up", "Sales Qualifier", Campaign.State.RUNNING),
    ("Webinar leads", "Sales Qualifier", Campaign.State.DRAFT),
    ("Dental reminders", "Appointment Reminder", Campaign.State.PAUSED),
    ("Q3 renewals", "Renewal Outreach", Campaign.State.FINISHED),
]


# The running demo campaign calls around the clock (every day, 00:00–24:00) with short retries, so
# `make run` shows it moving at any hour: its leads' numbers are spread over time zones around the
# world (WORLD), so that some are always inside their local legal calling hours (compliance/hours.py:
# 08:00–21:00 by default), and it calls DEMO_CONCURRENCY at a time, so a few hundred leads keep it
# busy well past half an hour at `make run`'s real-time simulated calls (DEMO_SPEEDUP).
DEMO_RUNNING_FIELDS = {
    "calling_days": [0, 1, 2, 3, 4, 5, 6],
    "window_start": dt.time(0, 0),
    "window_end": dt.time.max,  # the end is exclusive: open to the last microsecond of the day
    "retry_interval": dt.timedelta(minutes=2),
    "max_retries": 2,
}
DEMO_CONCURRENCY = 2
# `seed_demo`'s default number of leads (the running campaign takes RUNNING_SHARE of them).
DEFAULT_LEADS = 1000
# The Makefile's `run` starts the runner with LEADMGR_SIMULATED_SPEEDUP=$(DEMO_SPEEDUP): calls last
# as long as real ones (the simulated provider's durations).
DEMO_SPEEDUP = 1
# The running campaign's share of the demo leads (the others share the rest).
RUNNING_SHARE = 0.6
# Numbers in twelve time zones (prefix, then the digits that follow, all valid for phonenumbers):
# New York, Chicago, Denver, Los Angeles (US states without stricter hours), São Paulo, London,
# Berlin, Johannesburg, Delhi, Tokyo, Sydney, Auckland.
WORLD = [
    ("+1212", "{exchange}{line}"),
    ("+1312", "{exchange}{line}"),
    ("+1303", "{exchange}{line}"),
    ("+1415", "{exchange}{line}"),
    ("+5511", "3{n7}"),
    ("+44203", "{n7}"),
    ("+4930", "2{n7}"),
    ("+2721", "4{n6}"),
    ("+9111", "2{n7}"),
    ("+813", "5{n7}"),
    ("+612", "9{n7}"),
    ("+649", "3{n6}"),
]


def world_phone_for(index: int) -> str:
    """A valid, distinct E.164 number for every index below 12 × 800,000, the zones taking turns."""
    prefix, rest = WORLD[index % len(WORLD)]
    k = index // len(WORLD)
    digits = rest.format(
        exchange=f"{200 + (k // 10_000) % 800:03d}",
        line=f"{k % 10_000:04d}",
        n7=f"{k:07d}",
        n6=f"{k % 10**6:06d}",
    )
    return prefix + digits


def phone_for(index: int) -> str:
    """A valid, distinct E.164 US number for every index below 14 × 8,000,000."""
    area = US_AREAS[index % len(US_AREAS)]
    rest = index // len(US_AREAS)
    exchange = 200 + (rest // 10_000) % 800
    line = rest % 10_000
    return f"+1{area}{exchange:03d}{line:04d}"


@transaction.atomic
def ensure_demo_campaigns() -> list[Campaign]:
    """The demo assistants and campaigns, created once (idempotent)."""
    assistants = {}
    for spec in ASSISTANTS:
        assistant, created = Assistant.objects.get_or_create(
            name=spec["name"],
            defaults={"description": spec["description"], "message_template": spec["message_template"]},
        )
        if created:
            AssistantVariable.objects.bulk_create(
                AssistantVariable(assistant=assistant, position=i, **variable)
                for i, variable in enumerate(spec["variables"])
            )
        assistants[spec["name"]] = assistant
    campaigns = []
    for name, assistant_name, state in CAMPAIGNS:
        campaign, _ = Campaign.objects.get_or_create(
            name=name,
            defaults={
                "assistant": assistants[assistant_name],
                "state": state,
                **(
                    DEMO_RUNNING_FIELDS | {"concurrency_limit": DEMO_CONCURRENCY}
                    if state == Campaign.State.RUNNING
                    else {}
                ),
            },
        )
        campaigns.append(campaign)
    return campaigns


def lead_values(rng: random.Random, assistant_name: str) -> dict[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    company = rng.choice(COMPANIES)
    if assistant_name == "Appointment Reminder":
        day = dt.date(2026, 12, 1) + dt.timedelta(days=rng.randrange(30))
        return {
            "customer_name": f"{first} {last}",
            "appointment_date": f"{day:%b %d} at {rng.randrange(9, 17)}:00",
        }
    if assistant_name == "Renewal Outreach":
        role, authority = rng.choice(ROLES)
        values = {"contact_name": f"{first} {last}", "company": company, "role": role}
        return values | ({"decision_authority": authority} if authority else {})
    return {
        "customer_name": f"{first} {last}",
        "company": company,
        "last_interaction": rng.choice(INTERACTIONS),
        "preferred_contact_time": rng.choice(TIMES),
        "industry": rng.choice(INDUSTRIES),
    }


def contact_values(rng: random.Random) -> dict[str, str]:
    role, authority = rng.choice(ROLES)
    values = {"contact_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}", "role": role}
    return values | ({"decision_authority": authority} if authority else {})


def demo_campaign_of(i: int, n_leads: int, campaigns: list[Campaign]) -> Campaign:
    """The running campaign takes RUNNING_SHARE of the leads, the others take turns with the rest."""
    running = [c for c in campaigns if c.state == Campaign.State.RUNNING]
    others = [c for c in campaigns if c.state != Campaign.State.RUNNING]
    if running and (not others or i < round(n_leads * RUNNING_SHARE)):
        return running[0]
    return others[i % len(others)]


def seed_demo(n_leads: int, *, seed: int = 7) -> int:
    """Add ``n_leads`` demo leads spread over the demo campaigns, through the real lifecycle, each
    in a status its campaign's state agrees with (see _walk_demo_lifecycle)."""
    rng = random.Random(seed)
    campaigns = ensure_demo_campaigns()
    offset = Lead.objects.count()
    now = timezone.now()
    created = 0
    with transaction.atomic():
        leads = []
        for i in range(n_leads):
            campaign = demo_campaign_of(i, n_leads, campaigns)
            running = campaign.state == Campaign.State.RUNNING
            leads.append(
                Lead(
                    campaign=campaign,
                    phone=world_phone_for(offset + i) if running else phone_for(offset + i),
                    variables=lead_values(rng, campaign.assistant.name),
                )
            )
        leads = Lead.objects.bulk_create(leads)
        contacts = []
        for i, lead in enumerate(leads):
            for position in range(rng.choice([0, 0, 1, 1, 2])):
                contacts.append(
                    SecondaryContact(
                        lead=lead,
                        phone=phone_for(10_000_000 + 3 * (offset + i) + position),
                        variables=contact_values(rng),
                        position=position,
                    )
                )
        SecondaryContact.objects.bulk_create(contacts)
        under_way = 0
        for lead in leads:
            under_way += _walk_demo_lifecycle(lead, rng, now, call_now=under_way == 0)
            created += 1
        textsearch.catch_up()
    return created


def _walk_demo_lifecycle(lead: Lead, rng: random.Random, now: dt.datetime, *, call_now: bool = False) -> int:
    """Move a demo lead to a status drawn from a realistic mix its campaign's state agrees with,
    writing history (and the calls) as it goes; 1 when the lead is left in a call under way.

    Draft: never called (Created). Running: every status, one call under way at most (``call_now``).
    Paused: no call under way. Finished: nothing waits (Completed or Max Retries only).
    """
    state = lead.campaign.state
    if state == Campaign.State.DRAFT:
        return 0
    roll = rng.random()
    if state == Campaign.State.FINISHED:
        roll = rng.choice([0.6, 0.9])  # nothing waits: Completed or Max Retries
    if roll < 0.35:
        return 0  # Created
    if roll < 0.45:
        at = now + dt.timedelta(hours=rng.randrange(1, 72))
        lifecycle.set_status(lead, Status.SCHEDULED, reason="Asked for a callback", scheduled_at=at, now=now)
        return 0
    at = now - dt.timedelta(hours=rng.randrange(2, 200))
    if roll < 0.55:
        if not (call_now and state == Campaign.State.RUNNING):
            return 0  # Created: only the running campaign has a call under way, and one only
        start_attempt(lead, lease=dt.timedelta(minutes=10), now=now)
        _record_call(lead, now, "")
        return 1
    outcomes = ["completed"] if roll < 0.7 else ["no_answer"]  # Completed, else Rescheduled
    if roll >= 0.85:
        outcomes += ["busy"] * lead.campaign.max_retries  # until Max Retries
    for outcome in outcomes:
        start_attempt(lead, lease=dt.timedelta(minutes=10), now=at)
        ended = _record_call(lead, at, outcome, rng)
        finish_attempt(lead, succeeded=outcome == SUCCESS, outcome=outcome.replace("_", " "), now=ended)
        at += lead.campaign.retry_interval
    return 0


def _record_call(lead: Lead, at: dt.datetime, outcome: str, rng: random.Random | None = None) -> dt.datetime:
    """The dial of an attempt, as the runner records it (the campaign page's results chart reads
    these); returns when it ended."""
    from campaigns.providers.simulated import DURATIONS

    ended = at + dt.timedelta(seconds=rng.randint(*DURATIONS[outcome])) if outcome else None
    call = calls.dial(lead.pk, None, lead.attempts, lead.phone, provider="simulated", now=at)
    call.ended_at, call.outcome = ended, outcome
    calls.insert([call])
    return ended or at


# --- Benchmark data ---------------------------------------------------------------------------

STATUS_MIX = [
    (Status.CREATED, 0.40),
    (Status.SCHEDULED, 0.08),
    (Status.RESCHEDULED, 0.20),
    (Status.COMPLETED, 0.22),
    (Status.MAX_RETRIES, 0.10),
]


IMPORT_BLOCK = 5_000


def _rows(
    start: int, n: int, campaigns: list[Campaign], rng: random.Random, now: dt.datetime, newest: int
) -> Iterator[tuple]:
    """Leads ``start`` … ``start + n - 1``; lead ``newest`` is created at ``now``, each earlier id 30 s before.

    Creation times rise with the id, as they do when leads are added over time (and as the indexes
    on ``created_at`` see them in production). Campaigns take turns in blocks of ``IMPORT_BLOCK``
    leads, as lists are imported one campaign at a time.
    """
    statuses = [s for s, _ in STATUS_MIX]
    weights = [w for _, w in STATUS_MIX]
    for i in range(start, start + n):
        campaign = campaigns[i // IMPORT_BLOCK % len(campaigns)]
        status = rng.choices(statuses, weights)[0]
        created = now - dt.timedelta(seconds=(newest - i) * 30)
        next_at = now + dt.timedelta(hours=1) if status in (Status.SCHEDULED, Status.RESCHEDULED) else None
        attempts = 0 if status in (Status.CREATED, Status.SCHEDULED) else rng.randint(1, 4)
        yield (i, campaign, status, created, next_at, attempts)


_GENERATED_LEAD_COLUMNS = (
    "id",
    "campaign_id",
    "phone",
    "status",
    "variables",
    "attempts",
    "next_attempt_at",
    "last_attempt_at",
    "lease_expires_at",
    "created_at",
    "updated_at",
)


def bulk_generate(n_leads: int, *, seed: int = 11, batch: int = 5_000, progress=None) -> int:
    """Append ``n_leads`` leads (each with 0–2 contacts) in batches (``storage.bulk.insert_rows``).

    Statuses are written directly, as an import would: this is data for benchmarks, not history.
    """
    rng = random.Random(seed)
    campaigns = ensure_demo_campaigns()
    names = {c.pk: c.assistant.name for c in campaigns}
    lead_table, contact_table = Lead._meta.db_table, SecondaryContact._meta.db_table
    start = (Lead.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    now = timezone.now()
    done = 0
    while done < n_leads:
        size = min(batch, n_leads - done)
        rows = _rows(start + done, size, campaigns, rng, now, newest=start + n_leads - 1)
        leads, contacts = _generated_batch(rows, rng, names)
        counts = Counter((lead[1], lead[3]) for lead in leads)  # (campaign id, status)
        with transaction.atomic():
            # The counts take the batch in one statement, as the import's do (not a delta a lead).
            with lead_counts.bulk_inserted(counts):
                storage_bulk.insert_rows(Lead, _GENERATED_LEAD_COLUMNS, leads)
            storage_bulk.insert_rows(
                SecondaryContact, ("lead_id", "phone", "variables", "position"), contacts
            )
            textsearch.catch_up()
            variable_names.catch_up()
        done += size
        if progress:
            progress(done)
    # Explicit ids bypassed the id sequence; the planner's statistics describe the new rows.
    storage_bulk.after_generated_rows(explicit_ids=[lead_table], analyze=[lead_table, contact_table])
    return done


def _generated_batch(rows, rng: random.Random, names: dict[int, str]) -> tuple[list[tuple], list[tuple]]:
    """The INSERT parameters of a batch of generated leads (``_rows``) and their 0–2 contacts."""
    adapt = connection.ops.adapt_datetimefield_value
    leads, contacts = [], []
    for i, campaign, status, created, next_at, attempts in rows:
        values = json.dumps(lead_values(rng, names[campaign.pk]), ensure_ascii=False)
        created_db, next_db = adapt(created), adapt(next_at)
        last = created_db if attempts else None
        leads.append(
            (
                i,
                campaign.pk,
                phone_for(i),
                status,
                values,
                attempts,
                next_db,
                last,
                None,
                created_db,
                created_db,
            )
        )
        for position in range(rng.choice((0, 1, 1, 2))):
            contacts.append(
                (
                    i,
                    phone_for(50_000_000 + 2 * i + position),
                    json.dumps(contact_values(rng), ensure_ascii=False),
                    position,
                )
            )
    return leads, contacts
