from __future__ import annotations

from django.apps import AppConfig


class LeadcountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "leadcounts"
    verbose_name = "Lead counts per campaign and status"
