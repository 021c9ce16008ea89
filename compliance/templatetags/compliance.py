from __future__ import annotations

from django import template

from compliance.hours import campaign_exceeds_floor
from compliance.selectors import site_rules

register = template.Library()


@register.inclusion_tag("compliance/_floor_note.html")
def floor_note(campaign, rules=None) -> dict:
    """The campaign page's note when its window is wider than the legal calling hours (one query,
    none when the page read ``rules`` with the campaign)."""
    rules = rules or site_rules()
    return {"wider": campaign_exceeds_floor(campaign, rules), "rules": rules}
