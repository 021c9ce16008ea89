"""Emitting events: the one line each home of a change calls, in that change's transaction.

Each function first asks which active subscriptions listen to its event type (one small query per
call, i.e. per transaction or batch, never per row) and returns at once when none does: an import
or a runner pass with no subscriber writes nothing more. Otherwise it writes one outbox row per
(event, subscription) with one INSERT per call ("fan-out at write time"): the worker then reads
ready-made, already serialised rows, and a subscription made later never receives older events.

Payload (the JSON body): ``{"id", "type", "created_at", "lead_id", "data"}``; ``data`` per type is
documented in the README (Webhooks).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from leadmgr.storage.bulk import insert_rows
from leadmgr.storage.locking import native_uuid_columns

from .models import TEST_EVENT, Delivery, Subscription

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def stamp(at: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as every time in a payload."""
    if at is None:
        return None
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# The outbox row of one event for one subscription, as ``write`` builds it.
_DELIVERY_COLUMNS = (
    "subscription_id",
    "event_id",
    "event_type",
    "lead_id",
    "body",
    "created_at",
    "state",
    "attempts",
    "next_attempt_at",
    "last_error",
)


def listeners(event_type: str) -> list[int]:
    """Ids of the active subscriptions that receive ``event_type`` (one query)."""
    return [
        pk
        for pk, events in Subscription.objects.filter(active=True).values_list("pk", "events")
        if isinstance(events, list) and event_type in events
    ]


def write(
    event_type: str,
    events: Iterable[tuple[int | None, Mapping[str, Any]]],
    subscriptions: Sequence[int],
    *,
    at: dt.datetime | None = None,
) -> int:
    """Write ``events`` ((lead id, data) pairs) for each subscription; returns the rows written."""
    at = at or timezone.now()
    ops = connection.ops
    at_db = ops.adapt_datetimefield_value(at)
    # The envelope's fixed part once; each event adds its id, lead and data (the C JSON encoder).
    head = '{"id":"%s","type":' + _encode(event_type) + ',"created_at":' + _encode(stamp(at)) + ',"lead_id":'
    native_uuid = native_uuid_columns()
    rows = []
    for lead_id, data in events:
        event_id = _uuid4_hex()
        dashed = f"{event_id[:8]}-{event_id[8:12]}-{event_id[12:16]}-{event_id[16:20]}-{event_id[20:]}"
        body = (
            (head % dashed)
            + ("null" if lead_id is None else str(int(lead_id)))
            + ',"data":'
            + _encode(data)
            + "}"
        )
        event_db = dashed if native_uuid else event_id  # as UUIDField stores it (SQLite: 32 hex digits)
        rows.extend(
            (sub, event_db, event_type, lead_id, body, at_db, Delivery.State.PENDING.value, 0, at_db, "")
            for sub in subscriptions
        )
    if rows:
        insert_rows(Delivery, _DELIVERY_COLUMNS, rows)
    return len(rows)


def _uuid4_hex() -> str:
    """A random (version 4) UUID as 32 hex digits: ``uuid.uuid4()`` without the object (a third of
    the cost of emitting an event in a big import)."""
    n = int.from_bytes(os.urandom(16))
    n = (n & ~(0xF000 << 64) | (4 << 76)) & ~(0xC000 << 48) | (0x8000 << 48)
    return f"{n:032x}"


def _user(user) -> dict | None:
    if user is None or not getattr(user, "pk", None):
        return None
    return {"id": user.pk, "username": user.get_username()}


# --- lead.created ------------------------------------------------------------------------------


def lead_created(lead) -> None:
    """A lead made by the form or the API (``leads.services.lead_create``), its contacts saved."""
    subs = listeners("lead.created")
    if not subs:
        return
    contacts = [
        {"phone": c.phone, "variables": c.variables} for c in lead.contacts.order_by("position", "id")
    ]
    data = _lead_data(
        lead.pk, lead.phone, lead.campaign_id, lead.campaign.name, lead.status, lead.variables, contacts
    )
    write("lead.created", [(lead.pk, data)], subs)


def leads_imported(rows: Sequence, ids: Mapping[tuple[int, str], int], *, at: dt.datetime) -> None:
    """The leads one import batch created (``leads.csv.writer``): one INSERT for the whole batch."""
    subs = listeners("lead.created")
    if not subs:
        return
    events = []
    for r in rows:
        lead_id = ids[(r.campaign.pk, r.phone)]
        contacts = [{"phone": c.phone, "variables": c.variables} for c in r.contacts]
        events.append(
            (
                lead_id,
                _lead_data(lead_id, r.phone, r.campaign.pk, r.campaign.name, r.status, r.variables, contacts),
            )
        )
    write("lead.created", events, subs, at=at)


def _lead_data(pk, phone, campaign_id, campaign_name, status, variables, contacts) -> dict:
    return {
        "lead": {
            "id": pk,
            "phone": phone,
            "campaign": {"id": campaign_id, "name": campaign_name},
            "status": str(status),
            "variables": variables,
            "secondary_contacts": contacts,
        }
    }


# --- lead.status_changed -----------------------------------------------------------------------


def status_changed(changes: Sequence) -> None:
    """History rows just written (``leads.lifecycle``, the only writer of statuses)."""
    if not changes:
        return
    subs = listeners("lead.status_changed")
    if not subs:
        return
    from leads.models import Lead  # the domain imports this module, not the other way round

    leads = {
        pk: (phone, campaign_id)
        for pk, phone, campaign_id in Lead.objects.filter(pk__in={c.lead_id for c in changes}).values_list(
            "pk", "phone", "campaign_id"
        )
    }
    events = []
    for change in changes:
        phone, campaign_id = leads.get(change.lead_id, ("", None))
        user = change.user if change.user_id else None
        events.append(
            (
                change.lead_id,
                {
                    "lead": {"id": change.lead_id, "phone": phone, "campaign_id": campaign_id},
                    "from": change.from_status or None,
                    "to": str(change.to_status),
                    "automatic": change.automatic,
                    "reason": change.reason,
                    "user": _user(user),
                    "at": stamp(change.at),
                },
            )
        )
    write("lead.status_changed", events, subs, at=changes[0].at)


# --- call.ended --------------------------------------------------------------------------------


def calls_ended(calls: Iterable | QuerySet) -> None:
    """Dials that just ended (the runner's results, recovery of lost calls). A queryset is read
    only when someone listens."""
    subs = listeners("call.ended")
    if not subs:
        return
    events = []
    for call in calls:
        duration = None
        if call.ended_at and call.started_at:
            duration = round((call.ended_at - call.started_at).total_seconds(), 3)
        events.append(
            (
                call.lead_id,
                {
                    "call": {
                        "id": call.pk,
                        "lead_id": call.lead_id,
                        "attempt": call.attempt_number,
                        "number": call.phone,
                        "contact_id": call.contact_id,
                        "outcome": call.outcome,
                        "started_at": stamp(call.started_at),
                        "ended_at": stamp(call.ended_at),
                        "duration_seconds": duration,
                        "provider": call.provider,
                        "provider_ref": call.provider_ref,
                        "detail": call.detail,
                    }
                },
            )
        )
    write("call.ended", events, subs)


# --- import.finished ---------------------------------------------------------------------------


def import_finished(counts: Mapping[str, int], *, campaign=None, user=None) -> None:
    """An import's rows were written (``leads.csv.importer``, inside its transaction)."""
    subs = listeners("import.finished")
    if not subs:
        return
    data = {
        "counts": dict(counts),
        "campaign": {"id": campaign.pk, "name": campaign.name} if campaign is not None else None,
        "user": _user(user),
    }
    write("import.finished", [(None, data)], subs)


# --- the page's "Send a test event" -----------------------------------------------------------


def send_test(subscription: Subscription, *, user=None) -> None:
    write(
        TEST_EVENT,
        [(None, {"message": "A test event from leadmgr.", "user": _user(user)})],
        [subscription.pk],
    )
