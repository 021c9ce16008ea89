from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from compliance.erasure import erase_number


class Command(BaseCommand):
    help = (
        "Erase a person's number everywhere: every lead and secondary contact with it, in every campaign, "
        "is deleted, and the number can never be added again. The erasure is recorded without the number."
    )

    def add_arguments(self, parser):
        parser.add_argument("number")

    def handle(self, number, **opts):
        try:
            erasure = erase_number(number=number, channel="command")
        except ValidationError as exc:
            raise CommandError(exc.messages[0]) from None
        self.stdout.write(
            f"Erased: {erasure.leads_deleted} lead(s) and {erasure.contacts_deleted} secondary contact(s) "
            f"deleted, {erasure.calls_scrubbed} call(s) and {erasure.history_scrubbed} history row(s) "
            f"cleared of the number. Erasure {erasure.pk} recorded."
        )
