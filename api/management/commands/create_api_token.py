from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api import tokens


class Command(BaseCommand):
    help = "Create an API token for USERNAME; prints the new key alone on the last line (shown only once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="what the token is for")

    def handle(self, *args, username: str, name: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive: its token would be refused.")
        try:
            token, key = tokens.token_create(user=user, name=name)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Token {token.name!r} for {username} (store the key now: it cannot be shown again):"
        )
        self.stdout.write(key)
