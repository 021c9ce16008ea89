"""Writes of the compliance app: list and unlist numbers, opt-outs, imports of a list."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from campaigns.models import Campaign
from leads.phones import normalize_phone

from .models import DoNotCallEntry

E_ALREADY_LISTED = "{number} is already on the {scope} do-not-call list."
E_REMOVAL_REASON = "Say why the number may be called again (the removal is recorded)."
E_ALREADY_REMOVED = "This entry was already removed."
E_OPT_OUT_REASON = "Say why (for example: asked not to be called again, on a call)."
E_OPT_OUT_NUMBERS = "Choose at least one of the lead's numbers."

Source = DoNotCallEntry.Source


def _scope(campaign: Campaign | None) -> str:
    return f"{campaign.name!r}" if campaign else "site-wide"


@transaction.atomic
def dnc_add(
    *,
    number: str,
    campaign: Campaign | None = None,
    source: str = Source.MANUAL,
    reason: str = "",
    user=None,
    region: str | None = None,
    now: dt.datetime | None = None,
) -> DoNotCallEntry:
    """List one number (any human form; normalised to E.164). Raises ValidationError when the
    number is invalid or already listed in that scope."""
    e164 = normalize_phone(number, region)
    try:
        with transaction.atomic():
            return DoNotCallEntry.objects.create(
                number=e164,
                campaign=campaign,
                source=source,
                reason=reason[:500],
                added_by=user if getattr(user, "pk", None) else None,
                added_at=now or timezone.now(),
            )
    except IntegrityError:
        raise ValidationError(E_ALREADY_LISTED.format(number=e164, scope=_scope(campaign))) from None


@transaction.atomic
def dnc_remove(*, entry: DoNotCallEntry, user, reason: str, now: dt.datetime | None = None) -> DoNotCallEntry:
    """Unlist a number: the entry stays, stamped with who, when and why."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(E_REMOVAL_REASON)
    updated = DoNotCallEntry.objects.filter(pk=entry.pk, removed_at__isnull=True).update(
        removed_at=now or timezone.now(),
        removed_by=user if getattr(user, "pk", None) else None,
        removal_reason=reason[:500],
    )
    if not updated:
        raise ValidationError(E_ALREADY_REMOVED)
    entry.refresh_from_db()
    return entry


@transaction.atomic
def dnc_add_many(
    *,
    numbers: Iterable[str],
    campaign: Campaign | None = None,
    source: str = Source.MANUAL,
    reason: str = "",
    user=None,
    now: dt.datetime | None = None,
) -> int:
    """List E.164 numbers (already normalised) in one scope; those already listed are left as they
    are. Returns how many were added."""
    numbers = list(dict.fromkeys(numbers))
    if not numbers:
        return 0
    stamp = connection.ops.adapt_datetimefield_value(now or timezone.now())
    user_id = getattr(user, "pk", None)
    campaign_id = campaign.pk if campaign else None
    # Plain multi-row INSERTs, as the lead import writes (Django's bulk_create builds each row's SQL
    # in Python: most of the time of a million-number list). A number already listed in the scope
    # meets the partial unique index and is skipped (ON CONFLICT DO NOTHING); the row count says
    # how many were added (sqlite3 and psycopg both sum it over executemany).
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {connection.ops.quote_name(DoNotCallEntry._meta.db_table)} "
            "(number, campaign_id, source, reason, added_by_id, added_at, removal_reason) "
            "VALUES (%s, %s, %s, %s, %s, %s, '') ON CONFLICT DO NOTHING",
            [(n, campaign_id, source, reason[:500], user_id, stamp) for n in numbers],
        )
        return cursor.rowcount


def opt_out(*, lead, numbers: Iterable[str], user=None, reason: str, source: str = Source.OPT_OUT) -> int:
    """A person asked not to be called: list the chosen numbers of ``lead`` site-wide."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(E_OPT_OUT_REASON)
    own = {lead.phone, *lead.contacts.values_list("phone", flat=True)}
    chosen = [n for n in numbers if n in own]
    if not chosen:
        raise ValidationError(E_OPT_OUT_NUMBERS)
    return dnc_add_many(numbers=chosen, source=source, reason=f"Lead {lead.pk}: {reason}", user=user)


REASON_CALL_OPT_OUT = "Asked not to be called again, on call {call_id} (reported by the provider)."


def opt_out_call(*, call_id: int) -> int:
    """The provider reported that the callee opted out on this call: list the number dialled."""
    from leads.models import CallAttempt

    phone = CallAttempt.objects.filter(pk=call_id).values_list("phone", flat=True).first()
    if not phone:
        return 0
    return dnc_add_many(
        numbers=[phone], source=Source.OPT_OUT, reason=REASON_CALL_OPT_OUT.format(call_id=call_id)
    )
