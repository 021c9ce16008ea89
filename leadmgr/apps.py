from __future__ import annotations

from django.apps import AppConfig


class LeadmgrConfig(AppConfig):
    name = "leadmgr"

    def ready(self) -> None:
        from leadmgr import checks  # noqa: F401  (registers the system checks)
        from leadmgr.adaptations import remember_render_signatures

        remember_render_signatures()  # library adaptations: leadmgr/adaptations.py
