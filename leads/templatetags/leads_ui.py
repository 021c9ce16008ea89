from __future__ import annotations

from collections.abc import Iterator

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

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


@register.filter
def cells_with_td_attrs(row) -> Iterator[tuple[SafeString, object]]:
    """(the <td> attributes, the cell) for each cell of a row of a table with ``td_attrs``."""
    td_attrs = row.table.td_attrs
    for column, cell in row.items():
        yield td_attrs[column.name], cell
