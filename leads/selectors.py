"""Reads shared by the leads table, the export, bulk actions, the admin and the commands.

``lead_list`` is the one definition of "the leads matching these filters": the web filter set, the
export command and the bulk actions all build their queryset through it, so a filtered table, its
export and its bulk delete always agree on which rows they mean.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import connections
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from campaigns.models import Campaign, is_variable_name
from leadmgr.storage.jsonkeys import json_text_spellings

from . import textsearch, variable_names
from .models import Lead, SecondaryContact, Status

# Ids are positive 64-bit integers on every database; anything else names no row.
MAX_ID = 2**63 - 1


def parse_id(value: object) -> int | None:
    """``value`` as a row id: ASCII digits for a number in 1..2**63-1, else None (selects nothing).

    ``str.isdigit`` also accepts other scripts' digits ("٣", which ``int`` reads as 3) and
    superscripts ("²", which it cannot read at all); a larger number overflows the database.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and 0 < len(value) <= 19 and value.isascii() and value.isdigit():
        n = int(value)
    else:
        return None
    return n if 1 <= n <= MAX_ID else None


def _day_start(day: dt.date) -> dt.datetime | None:
    """Midnight starting ``day`` in the site's zone, or None when that instant is outside the
    datetimes the database is given (in UTC: before 0001-01-01 or after 9999-12-31), which is
    the case only at the calendar's ends."""
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    try:
        start.astimezone(dt.UTC)
    except OverflowError:
        return None
    return start


def created_range_q(created_from: dt.date | None, created_to: dt.date | None) -> Q:
    """Leads created on the days from ``created_from`` to ``created_to`` (inclusive, site zone).

    A bound at the calendar's end bounds nothing: no lead was created before 0001-01-01 or after
    9999-12-31, and those days' limits cannot be written as datetimes in every zone.
    """
    q = Q()
    if created_from:
        start = _day_start(created_from)
        if start is not None:
            q &= Q(created_at__gte=start)
    if created_to and created_to < dt.date.max:
        end = _day_start(created_to + dt.timedelta(days=1))
        if end is not None:
            q &= Q(created_at__lt=end)
    return q


def variables_contain_q(text: str) -> Q:
    """Leads whose variables (names or values) contain ``text``, ignoring case."""
    return _variables_text_q(text) & textsearch.candidates_q(text)


def search_q(text: str) -> Q:
    """Free text over the phone and the variables (names and values): the search bar."""
    text = text.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    q, texts = _variables_text_q(text), [text]
    if len(digits) >= 3:
        q |= Q(phone__contains=digits)
        texts.append(digits)
    return q & textsearch.candidates_q(*texts)


def _variables_text_q(text: str) -> Q:
    """The test itself: ``text`` inside the variables' JSON (names and values), ignoring case.

    SQLite keeps the JSON as Django wrote it, with non-ASCII characters and quotes escaped
    (``Chlo\\u00e9``), so the escaped spelling is matched too (``storage.jsonkeys``). On its own
    this scans every lead; ``textsearch.candidates_q`` narrows the rows it runs on.
    """
    first, *others = json_text_spellings(text)
    q = textsearch.variables_text_contains_q(first)
    for spelling in others:
        q |= textsearch.variables_text_contains_q(spelling)
    return q


def filter_leads(
    leads: QuerySet[Lead],
    *,
    campaign: Campaign | int | str | None = None,
    statuses: Iterable[str] | None = None,
    created_from: dt.date | None = None,
    created_to: dt.date | None = None,
    variable_key: str | None = None,
    variable_value: str | None = None,
    variables_text: str | None = None,
    search: str | None = None,
    ids: Iterable[int] | None = None,
) -> QuerySet[Lead]:
    """Narrow ``leads``; every argument left empty filters nothing.

    ``campaign`` is a Campaign, its id, or its name. Dates are inclusive days in the site's zone.
    ``ids``: only these leads among those matching (the rows checked in the table).
    """
    if ids:
        leads = leads.filter(pk__in=list(ids))
    if campaign not in (None, ""):
        if isinstance(campaign, Campaign):
            leads = leads.filter(campaign=campaign)
        elif isinstance(campaign, int) or str(campaign).isdigit():
            campaign_id = parse_id(campaign)
            if campaign_id is None:
                return leads.none()
            leads = leads.filter(campaign_id=campaign_id)
        else:
            leads = leads.filter(campaign__name=campaign)
    statuses = [s for s in (statuses or []) if s]
    if statuses:
        leads = leads.filter(status__in=statuses)
    if created_from or created_to:
        leads = leads.filter(created_range_q(created_from, created_to))
    if variable_key and not is_variable_name(variable_key):
        return leads.none()  # not a name any variable can have
    if variable_key:
        scope = variable_names.campaigns_using_q(variable_key)
        if scope is None:
            return leads.none()  # no lead uses the name
        leads = leads.filter(scope)
        if variable_value:
            lookup = {f"variables__{variable_key}__icontains": variable_value}
            leads = leads.filter(textsearch.json_candidates_q(variable_value, key=variable_key), **lookup)
        else:
            leads = leads.filter(textsearch.json_candidates_q(variable_key), variables__has_key=variable_key)
    elif variable_value:
        leads = leads.filter(variables_contain_q(variable_value))
    if variables_text:
        leads = leads.filter(variables_contain_q(variables_text))
    if search:
        leads = leads.filter(search_q(search))
    return leads


def lead_list(**filters) -> QuerySet[Lead]:
    """All leads matching ``filters`` (see ``filter_leads``), newest first."""
    return filter_leads(Lead.objects.all(), **filters)


def leads_by_phone(campaign_id: int, phones: Iterable[str]) -> QuerySet[Lead]:
    """The campaign's leads with these phones (an import's duplicate check): (phone, pk, variables).

    Unordered: a probe of the unique (campaign, phone) index per phone, not a walk of the campaign.
    """
    return (
        Lead.objects.filter(campaign_id=campaign_id, phone__in=phones)
        .order_by()
        .values_list("phone", "pk", "variables")
    )


def contact_count(leads: QuerySet[Lead]) -> int:
    """Secondary contacts of a filtered set of leads (what a bulk delete reports)."""
    return SecondaryContact.objects.filter(lead__in=leads.order_by().values("pk")).count()


def status_counts(campaign: Campaign | None = None) -> dict[str, int]:
    """Leads per status (every status present, zeros included), for one campaign or all."""
    leads = Lead.objects.all() if campaign is None else Lead.objects.filter(campaign=campaign)
    counts = dict(leads.order_by().values_list("status").annotate(n=Count("id")))
    return {status: counts.get(status, 0) for status in Status.values}


def status_counts_by_campaign() -> dict[int, dict[str, int]]:
    """Leads per status for every campaign in one grouped query (the campaigns list)."""
    counts: dict[int, dict[str, int]] = {}
    rows = Lead.objects.order_by().values_list("campaign_id", "status").annotate(n=Count("id"))
    for campaign_id, status, n in rows:
        counts.setdefault(campaign_id, dict.fromkeys(Status.values, 0))[status] = n
    return counts


def leads_for_user(user) -> QuerySet[Lead]:
    """The leads ``user`` may see: all of them with leads.view_lead, none otherwise (so a lead's
    pages answer 404 to an outsider rather than confirming it exists)."""
    return Lead.objects.all() if user.has_perm("leads.view_lead") else Lead.objects.none()


def campaigns_for_user(user) -> QuerySet[Campaign]:
    return Campaign.objects.all() if user.has_perm("campaigns.view_campaign") else Campaign.objects.none()


def count_capped(queryset: QuerySet, cap: int) -> int:
    """``min(count, cap + 1)``: how many rows, without counting past ``cap``."""
    return queryset.order_by()[: cap + 1].count()


# --- The runner's queue ---------------------------------------------------------------------------

# The order of due_leads(): the longest-waiting first (a Created lead never deferred has no time: it
# sorts first on SQLite and last on PostgreSQL; both are due now).
QUEUE_ORDER = ("next_attempt_at", "id")
# Counting due leads for the runner's decisions stops here: a tick's figure above it is recorded as it.
DUE_COUNT_CAP = 100_000


def due_q(now: dt.datetime) -> Q:
    """Leads the runner may call now: Created, and Scheduled/Rescheduled whose time has come.

    A Created lead deferred by the calling window carries the time its window opens.
    """
    return Q(status=Status.CREATED, next_attempt_at__isnull=True) | Q(
        status__in=[Status.CREATED, Status.SCHEDULED, Status.RESCHEDULED], next_attempt_at__lte=now
    )


def due_leads(campaign: Campaign | int, now: dt.datetime) -> QuerySet[Lead]:
    campaign_id = campaign if isinstance(campaign, int) else campaign.pk
    return Lead.objects.filter(due_q(now), campaign_id=campaign_id).order_by(*QUEUE_ORDER)


def due_count(campaign: Campaign | int, now: dt.datetime, *, cap: int | None = DUE_COUNT_CAP) -> int:
    """How many leads are due, up to ``cap`` (None: every one).

    Each of ``due_branches`` is counted on its own index range and the counts added, in one query:
    one count with their OR read every lead of the campaign in lead_queue, the due and the rest
    (PostgreSQL, 120k due of 250k: 84 -> 21 ms).
    """
    parts, params = [], []
    for branch in due_branches(campaign, now):
        ids = branch.order_by().values("pk")
        sql, branch_params = (ids if cap is None else ids[:cap]).query.sql_with_params()
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) due)")
        params.extend(branch_params)
    with connections[Lead.objects.db].cursor() as cursor:
        cursor.execute("SELECT " + " + ".join(parts), params)
        (total,) = cursor.fetchone()
    return total if cap is None else min(total, cap)


def due_branches(campaign: Campaign | int, now: dt.datetime) -> list[QuerySet[Lead]]:
    """The due leads as four index ranges: three of lead_queue (campaign, status, next_attempt_at),
    then new leads with no time, oldest first (lead_campaign_status or lead_queue).

    Together they are exactly ``due_leads``; each is read in index order, so taking the first n
    costs n rows, where one query with the OR sorts every due lead (350 ms at a million). The
    runner takes them in this order: callbacks asked for (Scheduled), retries, deferred new leads,
    then new leads.
    """
    campaign_id = campaign if isinstance(campaign, int) else campaign.pk
    leads = Lead.objects.filter(campaign_id=campaign_id)
    return [
        leads.filter(status=Status.SCHEDULED, next_attempt_at__lte=now).order_by("next_attempt_at"),
        leads.filter(status=Status.RESCHEDULED, next_attempt_at__lte=now).order_by("next_attempt_at"),
        leads.filter(status=Status.CREATED, next_attempt_at__lte=now).order_by("next_attempt_at"),
        leads.filter(status=Status.CREATED, next_attempt_at__isnull=True).order_by("id"),
    ]


def take_due(
    campaign: Campaign | int,
    now: dt.datetime,
    limit: int,
    fields: Iterable[str],
    *,
    exclude: Iterable[int] = (),
    lock=None,
) -> list[tuple]:
    """The first ``limit`` due leads (``fields`` of each) through ``due_branches``.

    ``exclude``: ids already taken; ``lock``: a function applied to each queryset (row locks).
    """
    rows: list[tuple] = []
    exclude = list(exclude)
    for branch in due_branches(campaign, now):
        if len(rows) >= limit:
            break
        if exclude:
            branch = branch.exclude(pk__in=exclude)
        if lock is not None:
            branch = lock(branch)
        rows.extend(branch.values_list(*fields)[: limit - len(rows)])
    return rows


def processing_count(campaign: Campaign | int) -> int:
    """Calls under way in a campaign (what its concurrency limit counts)."""
    campaign_id = campaign if isinstance(campaign, int) else campaign.pk
    return Lead.objects.filter(campaign_id=campaign_id, status=Status.PROCESSING).count()


def numbers_of(lead_ids: Iterable[int]) -> dict[int, list[str]]:
    """Every number of these leads, primary first then the contacts in calling order."""
    ids = list(lead_ids)
    numbers: dict[int, list[str]] = {
        pk: [phone] for pk, phone in Lead.objects.filter(pk__in=ids).values_list("pk", "phone")
    }
    contacts = SecondaryContact.objects.filter(lead_id__in=ids).order_by("lead_id", "position", "id")
    for lead_id, phone in contacts.values_list("lead_id", "phone"):
        if lead_id in numbers:
            numbers[lead_id].append(phone)
    return numbers


def leads_elsewhere(phones: Iterable[str]) -> dict[str, list[tuple[int, str, int]]]:
    """Leads with these phones in any campaign: phone → [(campaign id, campaign name, lead id)].

    ``campaign IN (every campaign)`` lets the unique (campaign, phone) index answer, one probe per
    campaign and phone, where ``phone`` alone would scan the leads.
    """
    phones = list(dict.fromkeys(phones))
    if not phones:
        return {}
    campaigns = dict(Campaign.objects.values_list("pk", "name"))
    found: dict[str, list[tuple[int, str, int]]] = {}
    rows = Lead.objects.filter(campaign_id__in=list(campaigns), phone__in=phones).order_by()
    for phone, campaign_id, pk in rows.values_list("phone", "campaign_id", "pk"):
        found.setdefault(phone, []).append((campaign_id, campaigns[campaign_id], pk))
    return found
