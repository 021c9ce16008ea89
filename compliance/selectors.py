"""Reads of the compliance rules that the runner, the importer, the forms and the pages share."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from campaigns.models import Campaign
from leadmgr.storage.membership import among

from .hashing import number_hashes
from .models import CallingRules, DoNotCallEntry

# What an import row, a form or the runner says about a number on the list.
REASON_LISTED = "on the do-not-call list"
REASON_ERASED = "erased on request: this number may not be added again"


def _campaign_id(campaign: Campaign | int | None) -> int | None:
    return campaign if isinstance(campaign, int) or campaign is None else campaign.pk


def active_entries() -> QuerySet[DoNotCallEntry]:
    return DoNotCallEntry.objects.filter(removed_at__isnull=True)


def blocked_numbers(numbers: Iterable[str], campaign: Campaign | int | None = None) -> dict[str, str]:
    """Which of ``numbers`` (E.164) may not be called in ``campaign``: number → source.

    Listed site-wide, on the campaign's own list, or erased (matched by keyed hash). One query, a
    UNION of three probes of the partial unique indexes (number for the site, campaign + number,
    hash), so its cost follows the batch, not the size of the list.
    """
    numbers = list(dict.fromkeys(n for n in numbers if n))
    if not numbers:
        return {}
    hashes = number_hashes(numbers)
    live = active_entries().order_by()
    fields = ("number", "number_hash", "source")
    site = live.filter(among("number", numbers), campaign__isnull=True).values_list(*fields)
    others = [live.filter(among("number_hash", hashes)).values_list(*fields)]
    campaign_id = _campaign_id(campaign)
    if campaign_id is not None:
        others.append(live.filter(among("number", numbers), campaign_id=campaign_id).values_list(*fields))
    parts = site.union(*others, all=True)
    blocked: dict[str, str] = {}
    for number, digest, source in parts.order_by():
        key = number or hashes.get(digest)
        if key and (key not in blocked or source == DoNotCallEntry.Source.ERASURE):
            blocked[key] = source
    return blocked


def block_reason(source: str) -> str:
    return REASON_ERASED if source == DoNotCallEntry.Source.ERASURE else REASON_LISTED


def search_entries(
    *, text: str = "", campaign: Campaign | int | None | str = "", removed: bool = False
) -> QuerySet[DoNotCallEntry]:
    """The list page: entries matching a piece of the number, in one scope ('' any, 'site', or a
    campaign), newest first. Removed entries only with ``removed``."""
    entries = DoNotCallEntry.objects.select_related("campaign", "added_by", "removed_by")
    entries = entries if removed else entries.filter(removed_at__isnull=True)
    digits = "".join(ch for ch in text if ch.isdigit())
    if digits:
        entries = entries.filter(number__contains=digits)
    if campaign == "site":
        entries = entries.filter(campaign__isnull=True)
    elif campaign not in ("", None):
        entries = entries.filter(campaign_id=_campaign_id(campaign))
    return entries.order_by("-id")


def entries_for_export(campaign: Campaign | int | None) -> QuerySet[DoNotCallEntry]:
    """Active listed numbers of one scope (None: site-wide), oldest first; erased hashes stay out."""
    q = Q(campaign__isnull=True) if campaign is None else Q(campaign_id=_campaign_id(campaign))
    return active_entries().filter(q, number__isnull=False).order_by("id")


def site_rules() -> CallingRules:
    """The site's calling rules (the row the migration made, or the defaults when it is gone)."""
    return CallingRules.objects.filter(pk=1).first() or CallingRules(pk=1)
