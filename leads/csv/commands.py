"""What the management commands that read or write these files share: the import options they all
take, and the campaign named with ``--campaign``."""

from __future__ import annotations

from django.core.management.base import CommandError

from campaigns.models import Campaign

# Formatted with the name given ({name}) and the campaigns there are ({names}).
E_NO_SUCH_CAMPAIGN = "Campaign {name!r} does not exist: use the exact name of a campaign."


def add_import_options(parser, *, campaign_help: str) -> None:
    """The options every import command takes, under the same names and with the same meaning."""
    parser.add_argument("--campaign", help=campaign_help)
    parser.add_argument("--region", help="Region for national phone numbers, e.g. US or GB.")
    parser.add_argument("--dry-run", action="store_true", help="Check every row, write nothing.")
    parser.add_argument(
        "--skip-invalid", action="store_true", help="Write the valid rows and report the rest."
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="Processes checking phone numbers (default: 2 for files over 1 MB, else none).",
    )


def campaign_named(name: str | None, error: str = E_NO_SUCH_CAMPAIGN) -> Campaign | None:
    """The campaign of that exact name (None without a name); a ``CommandError`` saying ``error``
    when there is none."""
    if not name:
        return None
    campaign = Campaign.objects.filter(name=name).first()
    if campaign is None:
        names = ", ".join(repr(n) for n in Campaign.objects.values_list("name", flat=True)) or "none"
        raise CommandError(error.format(name=name, names=names))
    return campaign
