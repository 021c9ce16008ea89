"""Template filters of the project's own (``{% load words %}``)."""

from django import template

register = template.Library()


@register.filter
def split(value: str, separator: str = "|") -> list[str]:
    """ "Lead|Number|Started" → the column names of a table (templates/_table.html)."""
    return str(value).split(separator)
