"""The reads of a campaign page (/campaigns/<id>/) that are not live: the campaign with its assistant,
the assistant's variables and the site's legal calling-hours floor, in ONE query.

The page has a budget of 8 queries (session, user, the user's and groups' permissions, this read,
the status counts, the state history, the results over time). The variables come as a LEFT JOIN
(one row per variable, the campaign's columns repeated: a handful of rows) and the floor as
subqueries of the one CallingRules row, so neither costs a query of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, JSONField, QuerySet, Subquery

from compliance.models import CallingRules

from .models import AssistantVariable, Campaign

VARIABLE_FIELDS = ("id", "name", "default", "required", "description", "position")
FLOOR_FIELDS = ("floor_days", "floor_start", "floor_end")


@dataclass(frozen=True)
class PageCampaign:
    campaign: Campaign
    variables: list[AssistantVariable]
    floor: CallingRules  # the site's rules as far as the page needs them (the floor)


def campaign_for_page(pk: int, campaigns: QuerySet[Campaign]) -> PageCampaign | None:
    """The campaign ``pk`` among ``campaigns`` (the user's), or None."""
    rules = CallingRules.objects.filter(pk=1)
    floor = {
        name: Subquery(rules.values(name)[:1], output_field=JSONField() if name == "floor_days" else None)
        for name in FLOOR_FIELDS
    }
    variables = {f"var_{name}": F(f"assistant__variables__{name}") for name in VARIABLE_FIELDS}
    rows = list(
        campaigns.filter(pk=pk)
        .select_related("assistant")
        .annotate(**{f"site_{k}": v for k, v in floor.items()}, **variables)
        .order_by("assistant__variables__position", "assistant__variables__id")
    )
    if not rows:
        return None
    campaign = rows[0]
    found = [
        AssistantVariable(
            assistant=campaign.assistant, **{n: getattr(row, f"var_{n}") for n in VARIABLE_FIELDS}
        )
        for row in rows
        if row.var_id is not None
    ]
    if (
        campaign.site_floor_start is None
    ):  # the row is gone: the defaults hold (compliance.selectors.site_rules)
        rules_now = CallingRules(pk=1)
    else:
        rules_now = CallingRules(pk=1, **{name: getattr(campaign, f"site_{name}") for name in FLOOR_FIELDS})
    return PageCampaign(campaign=campaign, variables=found, floor=rules_now)
