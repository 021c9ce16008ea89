from __future__ import annotations

from django import template
from django.utils.html import format_html

from leads.tables import STATUS_BADGES

register = template.Library()


@register.simple_tag
def status_badge(lead) -> str:
    return format_html(
        '<span class="badge {}" data-status="{}">{}</span>',
        STATUS_BADGES.get(lead.status, ""),
        lead.status,
        lead.get_status_display(),
    )
