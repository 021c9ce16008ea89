"""Calling compliance: do-not-call lists, calling rules (legal hours floor, frequency caps), region
rules, erasures and the export audit.

Asked by the runner before every dial and by every door a lead comes in through; nothing here
imports a lead model, so ``leads`` may ask it without a cycle.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from campaigns.models import E_CALLING_DAYS, Campaign, Weekday
from leadmgr.fields import done_by, starts_before_ends
from leads.phones import E164_RE

e164_validator = RegexValidator(E164_RE, "Store phone numbers in E.164, for example +14155551234.")
prefix_validator = RegexValidator(
    r"^\+[1-9]\d{0,6}$", "A prefix is + and the first digits of E.164 numbers, for example +1 or +1305."
)


def every_day() -> list[int]:
    return [0, 1, 2, 3, 4, 5, 6]


def clean_days(days: object) -> list[int]:
    if (
        not isinstance(days, list)
        or not days
        or any(not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= 6 for d in days)
    ):
        raise ValidationError({"days": E_CALLING_DAYS})
    return sorted(set(days))


class DoNotCallEntry(models.Model):
    """A number that must not be called: site-wide (no campaign) or for one campaign.

    An entry is never deleted: removing it stamps ``removed_*`` (who, when, why), so the list's
    history stays. An erasure's entry keeps no number, only its keyed hash (``compliance.hashing``).
    """

    class Source(models.TextChoices):
        # Who stamps each source:
        MANUAL = "manual", "Added by hand"  # the do-not-call page's form
        IMPORT = "import", "Imported list"  # a list's upload or import_dnc (dnc_csv)
        OPT_OUT = "opt_out", "Opt-out"  # the lead page's opt-out, a call's opt-out callback
        API = "api", "API"
        ERASURE = "erasure", "Erasure request"  # compliance.erasure

    # NULL, not '', when absent: the unique indexes below must let many erasures (no number) and
    # many plain entries (no hash) coexist, and only NULLs are distinct in a unique index.
    number = models.CharField(  # noqa: DJ001
        max_length=16, null=True, blank=True, validators=[e164_validator]
    )
    number_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    # Null: the site-wide list. The entries of a deleted campaign go with it.
    # Indexed by dnc_scope_number below: a plain index on campaign alone would hold a million
    # NULLs (the site-wide list), and SQLite, with no statistics, would pick it for the site probe.
    campaign = models.ForeignKey(
        Campaign,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="do_not_call_entries",
        db_index=False,
    )
    source = models.CharField(max_length=16, choices=Source, default=Source.MANUAL)
    reason = models.CharField(max_length=500, blank=True)
    added_by = done_by()
    added_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = done_by()
    removal_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "do-not-call entry"
        verbose_name_plural = "do-not-call entries"
        permissions = [
            ("import_donotcallentry", "Can import do-not-call lists"),
            ("export_donotcallentry", "Can export do-not-call lists"),
            ("opt_out_lead", "Can opt a lead's numbers out of calls"),
        ]
        # These unique indexes are also the lookups of ``selectors.blocked_numbers`` (one probe per
        # number and scope, 1M entries or not); a removed entry leaves them, so a number can be
        # listed again. Each costs about a second per million inserted entries.
        constraints = [
            models.UniqueConstraint(
                fields=["number"],
                condition=models.Q(campaign__isnull=True, removed_at__isnull=True),
                name="dnc_site_number_active",
                violation_error_message="This number is already on the site-wide do-not-call list.",
            ),
            models.UniqueConstraint(
                fields=["campaign", "number"],
                condition=models.Q(campaign__isnull=False, removed_at__isnull=True),
                name="dnc_campaign_number_active",
                violation_error_message="This number is already on this campaign's do-not-call list.",
            ),
            models.UniqueConstraint(
                fields=["number_hash"],
                condition=models.Q(number_hash__isnull=False, removed_at__isnull=True),
                name="dnc_hash_active",
            ),
            models.CheckConstraint(
                condition=models.Q(number__isnull=False) | models.Q(number_hash__isnull=False),
                name="dnc_number_or_hash",
            ),
        ]
        indexes = [
            # Every entry by scope and number (removed ones too): a campaign's delete cascades
            # through it, and the list page and the probes may use it as well as the partial ones.
            models.Index(fields=["campaign", "number"], name="dnc_scope_number"),
        ]

    def __str__(self) -> str:
        return self.number or "erased number"

    @property
    def active(self) -> bool:
        return self.removed_at is None

    @property
    def scope(self) -> str:
        return self.campaign.name if self.campaign_id else "Site-wide"


class CallingRules(models.Model):
    """The site's calling rules (one row, pk 1): the legal hours floor and the frequency caps.

    The floor is a window in the callee's local time that no campaign window can exceed; the caps
    count dials to one number across every campaign. A campaign may be stricter (CampaignCaps).
    """

    floor_days = models.JSONField(
        default=every_day, help_text="Weekdays calls may ever be placed, 0 = Monday … 6 = Sunday."
    )
    floor_start = models.TimeField(default=dt.time(8, 0), help_text="Callee's local time.")
    floor_end = models.TimeField(default=dt.time(21, 0), help_text="Callee's local time.")
    max_dials_per_day = models.PositiveIntegerField(
        null=True, blank=True, help_text="Dials to one number in any 24 hours, all campaigns (empty: no cap)."
    )
    max_dials_per_week = models.PositiveIntegerField(
        null=True, blank=True, help_text="Dials to one number in any 7 days, all campaigns (empty: no cap)."
    )
    min_gap = models.DurationField(
        null=True, blank=True, help_text="Least time between two dials to one number (empty: none)."
    )

    class Meta:
        verbose_name = "calling rules"
        verbose_name_plural = "calling rules"
        constraints = [
            starts_before_ends(
                "floor_start",
                "floor_end",
                name="calling_rules_floor_start_before_end",
                message="The legal calling hours must start before they end.",
            )
        ]

    def __str__(self) -> str:
        return "Calling rules"

    def clean(self) -> None:
        try:
            self.floor_days = clean_days(self.floor_days)
        except ValidationError:
            raise ValidationError({"floor_days": E_CALLING_DAYS}) from None


class CampaignCaps(models.Model):
    """A campaign's own frequency caps: only ever stricter than the site's (the lower value wins)."""

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="caps")
    max_dials_per_day = models.PositiveIntegerField(null=True, blank=True)
    max_dials_per_week = models.PositiveIntegerField(null=True, blank=True)
    min_gap = models.DurationField(null=True, blank=True)

    class Meta:
        verbose_name = "campaign frequency caps"
        verbose_name_plural = "campaign frequency caps"

    def __str__(self) -> str:
        return f"Caps of {self.campaign}"


class RegionRule(models.Model):
    """Stricter calling hours for numbers starting with one of ``prefixes`` (a country, or a
    country and its area codes). Several rules may name one prefix for different days; on a day
    none of them names, that prefix is not called."""

    name = models.CharField(max_length=120, help_text="For example Florida.")
    country = models.CharField(max_length=2, help_text="ISO 3166 code, for example US.")
    prefixes = models.TextField(
        help_text="E.164 prefixes, comma-separated: +1305,+1786 (area codes) or +44 (a whole country)."
    )
    days = models.JSONField(default=every_day, help_text="Weekdays, 0 = Monday … 6 = Sunday.")
    start = models.TimeField(help_text="Callee's local time.")
    end = models.TimeField(help_text="Callee's local time.")
    source = models.CharField(max_length=300, blank=True, help_text="The law or rule this follows.")

    class Meta:
        ordering = ["country", "name", "id"]
        constraints = [
            starts_before_ends(
                "start",
                "end",
                name="region_rule_start_before_end",
                message="The hours must start before they end.",
            )
        ]

    def __str__(self) -> str:
        days = ", ".join(Weekday(d).label[:3] for d in self.days)
        return f"{self.name}: {days} {self.start:%H:%M}–{self.end:%H:%M}"

    def prefix_list(self) -> list[str]:
        return [p.strip() for p in self.prefixes.split(",") if p.strip()]

    def clean(self) -> None:
        errors = {}
        try:
            self.days = clean_days(self.days)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        prefixes = self.prefix_list()
        if not prefixes:
            errors["prefixes"] = ["Name at least one prefix, for example +1305."]
        for prefix in prefixes:
            try:
                prefix_validator(prefix)
            except ValidationError:
                errors["prefixes"] = [f"{prefix!r}: {prefix_validator.message}"]
        if errors:
            raise ValidationError(errors)
        self.prefixes = ",".join(prefixes)


class Erasure(models.Model):
    """An erasure on request: who, when and how many rows; never the number itself."""

    performed_by = done_by()
    performed_at = models.DateTimeField()
    channel = models.CharField(max_length=16, help_text="web or command")
    leads_deleted = models.PositiveIntegerField(default=0)
    contacts_deleted = models.PositiveIntegerField(default=0)
    calls_scrubbed = models.PositiveIntegerField(default=0)
    history_scrubbed = models.PositiveIntegerField(default=0)
    entries_scrubbed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-performed_at", "-id"]
        permissions = [("erase_number", "Can erase a person's number everywhere")]

    def __str__(self) -> str:
        return f"Erasure {self.pk} at {self.performed_at:%Y-%m-%d %H:%M}"


class ExportRecord(models.Model):
    """One CSV export of leads (web, command or API): who, when, the filter, the columns, the rows."""

    class Channel(models.TextChoices):
        # A member without a label is labelled from its name ("Web").
        WEB = "web"
        COMMAND = "command"
        API = "api", "API"
        ADMIN = "admin"

    user = done_by()
    at = models.DateTimeField()
    channel = models.CharField(max_length=16, choices=Channel)
    filters = models.JSONField(default=dict, blank=True)
    columns = models.JSONField(default=list, blank=True)
    rows = models.PositiveBigIntegerField(default=0, validators=[MinValueValidator(0)])

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} export of {self.rows} rows at {self.at:%Y-%m-%d %H:%M}"
