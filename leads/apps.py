from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_search_index(sender, using, verbosity=1, **kwargs) -> None:
    from . import textsearch

    textsearch.ensure(using, verbosity)


class LeadsConfig(AppConfig):
    name = "leads"

    def ready(self) -> None:
        from .tables import remember_render_signatures

        # The search index is derived from the leads: (re)installed after every migrate and flush.
        post_migrate.connect(_ensure_search_index, sender=self)
        remember_render_signatures()
