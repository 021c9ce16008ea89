from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Accounts (each user's settings)"

    def ready(self) -> None:
        from . import zones  # noqa: F401  (connects the sign-in receiver)
