"""Model declarations the apps share: when a row was made and changed, who did something, a window
of the day, one value per parent."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Timestamped(models.Model):
    """A row that keeps when it was created and last saved."""

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def done_by() -> models.ForeignKey:
    """The user who did what the row records: null once that user is deleted (the record stays),
    and no reverse accessor on the user."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )


def starts_before_ends(start: str, end: str, *, name: str, message: str) -> models.CheckConstraint:
    """The constraint of a window of the day held in two time fields: ``start`` strictly before
    ``end`` (no window runs across midnight)."""
    return models.CheckConstraint(
        condition=models.Q(**{f"{start}__lt": models.F(end)}), name=name, violation_error_message=message
    )


def unique_within(parent: str, field: str, *, name: str, message: str) -> models.UniqueConstraint:
    """No two rows of one ``parent`` share a ``field`` value; ``message`` is what a form says when one
    would (the constraint's index starts with ``parent``, so it also serves its rows' lookups)."""
    return models.UniqueConstraint(fields=[parent, field], name=name, violation_error_message=message)
