from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _after_migrate(sender, using, verbosity=1, **kwargs) -> None:
    from . import services, textsearch, variable_names

    textsearch.ensure(using, verbosity)
    variable_names.ensure(using, verbosity)
    services.refresh_statistics(using)


class LeadsConfig(AppConfig):
    name = "leads"

    def ready(self) -> None:
        # The search index and the planner's statistics are derived from the leads: brought up to
        # date after every migrate and flush.
        post_migrate.connect(_after_migrate, sender=self)
