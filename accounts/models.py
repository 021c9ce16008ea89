"""Each user's own settings: the time zone their pages and forms use."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Profile(models.Model):
    """A user's settings. A user without a row uses the site's ``TIME_ZONE``."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    # An IANA name (Europe/Berlin); checked against the zones Python knows by the form.
    time_zone = models.CharField(max_length=64, help_text="Times are shown and typed in this zone.")

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone})"
