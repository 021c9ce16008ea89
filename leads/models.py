"""Leads, their secondary contacts, their status history and their call attempts.

Lead.status is written only by ``leads.lifecycle``; phones are E.164 strings made by
``leads.phones.normalize_phone``. Phones are stored as plain strings rather than through
django-phonenumber-field because that field parses every value read back (about 35k/s), which
would cap exports and list pages at a million rows; the normaliser runs on input instead.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.urls import reverse

from campaigns.models import Campaign
from compliance import skips
from leadmgr.fields import Timestamped, unique_within

from .phones import E164_RE

e164_validator = RegexValidator(E164_RE, "Store phone numbers in E.164, for example +14155551234.")
E_PHONE_TAKEN = "This campaign already has a lead with this phone number."
E_CONTACT_TAKEN = "This lead already has a secondary contact with this number."


class Status(models.TextChoices):
    # The labels are Django's from the names: "Created" … "Max Retries".
    CREATED = "created"
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    RESCHEDULED = "rescheduled"
    COMPLETED = "completed"
    MAX_RETRIES = "max_retries"


# The leads table's sort by next attempt puts leads without one last in both directions: these
# lead its two indexes and its ORDER BY (leads.tables.NEXT_ATTEMPT_ORDER).
NEXT_ATTEMPT_MISSING = ExpressionWrapper(Q(next_attempt_at__isnull=True), output_field=BooleanField())
NEXT_ATTEMPT_KNOWN = ExpressionWrapper(Q(next_attempt_at__isnull=False), output_field=BooleanField())


class Lead(Timestamped):
    Status = Status

    # DO_NOTHING leaves the guard to the database's foreign key (a campaign with leads cannot be
    # deleted): Python-level PROTECT cannot sit in the same chain as the database-level cascades
    # below, and those are what make deleting 100k leads cheap.
    # No index of its own: every lead index and the unique (campaign, phone) start with campaign.
    campaign = models.ForeignKey(Campaign, on_delete=models.DO_NOTHING, related_name="leads", db_index=False)
    phone = models.CharField("phone number", max_length=16, validators=[e164_validator])
    status = models.CharField(max_length=16, choices=Status, default=Status.CREATED)
    variables = models.JSONField(default=dict, blank=True)
    # The assistant's defaults this lead no longer inherits (names an operator removed), or null
    # for none: defaults are inherited live (leads.variables), so a removal must be kept. Nullable
    # so that adding the column rewrites no row.
    removed_variables = models.JSONField(null=True, blank=True, editable=False)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # While Processing: when the attempt's claim runs out and another worker may recover the lead.
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # created_at and updated_at: Timestamped.

    class Meta:
        ordering = ["-id"]  # newest first: ids rise with created_at
        permissions = [
            ("import_lead", "Can import leads from CSV"),
            ("export_lead", "Can export leads to CSV"),
            ("bulk_delete_lead", "Can delete leads in bulk"),
        ]
        constraints = [
            unique_within("campaign", "phone", name="lead_unique_phone_per_campaign", message=E_PHONE_TAKEN),
        ]
        # Every index is paid for on each insert and delete: 100k deleted leads cost about 0.1 s per
        # index on SQLite. So the lists sort by id, the creation order (created_at is set once, on
        # insert, and ids only grow), which lets the primary key serve "newest first".
        indexes = [
            # The leads table filtered by campaign and status, newest first; the runner's new leads.
            models.Index(fields=["campaign", "status", "id"], name="lead_campaign_status"),
            # The leads table filtered by campaign alone, newest first (and sorted by campaign).
            models.Index(fields=["campaign", "id"], name="lead_campaign"),
            # The leads table filtered by status alone (any campaign), newest first; lease recovery
            # (the few Processing leads).
            models.Index(fields=["status", "id"], name="lead_status"),
            # The leads table filtered by a created date range.
            models.Index(fields=["created_at"], name="lead_created"),
            # The runner's queue: leads waiting for a time (scheduled, retries, deferred new leads).
            # Whole, not only the leads with a time: the leads table filtered by campaign and
            # statuses and sorted by next attempt reads its sort keys here, not from 100k rows.
            models.Index(fields=["campaign", "status", "next_attempt_at"], name="lead_queue"),
            # The leads table over every lead sorted by attempts (either way): the first page reads
            # 25 entries here instead of sorting a million rows (at 1M: MEASURED_ATTEMPTS).
            models.Index(fields=["attempts", "id"], name="lead_attempts"),
            # The leads table filtered by status (a campaign too, or not) sorted by attempts: the
            # walk of every lead by attempts meets none of them when they sit at its other end
            # (Created leads, never attempted, most attempted first: 380 ms at 1M, then 20 ms).
            models.Index(fields=["status", "attempts", "id"], name="lead_status_attempts"),
            # The leads table over every lead sorted by phone (the unique (campaign, phone) serves
            # only one campaign at a time).
            models.Index(fields=["phone"], name="lead_phone"),
            # The leads table over every lead sorted by next attempt, empty last (tables.
            # next_attempt_order), in the direction where the database puts NULL last itself
            # (SQLite descending, PostgreSQL ascending). The other direction reads an index on
            # (NEXT_ATTEMPT_MISSING or NEXT_ATTEMPT_KNOWN, next_attempt_at, id) that migration 0010
            # creates for its database only: lead_next_attempt_missing on SQLite,
            # lead_next_attempt_known on PostgreSQL (each would be dead weight on the other). A later
            # migration that rebuilds this table on SQLite would drop it: test_query_plans says so.
            models.Index(fields=["next_attempt_at", "id"], name="lead_next_attempt"),
        ]

    def __str__(self) -> str:
        return f"{self.phone} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("leads:detail", args=[self.pk])


class SecondaryContact(models.Model):
    """Another number for the same lead, called after the primary in ``position`` order."""

    # Indexed by the unique (lead, phone) constraint, which starts with lead.
    lead = models.ForeignKey(Lead, on_delete=models.DB_CASCADE, related_name="contacts", db_index=False)
    phone = models.CharField("phone number", max_length=16, validators=[e164_validator])
    variables = models.JSONField(default=dict, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["lead", "position", "id"]
        constraints = [
            unique_within("lead", "phone", name="contact_unique_phone_per_lead", message=E_CONTACT_TAKEN),
        ]

    def __str__(self) -> str:
        return self.phone


class StatusChange(models.Model):
    """One row of a lead's history: every status change, automatic or manual."""

    # Indexed by status_change_lead_at, which starts with lead.
    lead = models.ForeignKey(Lead, on_delete=models.DB_CASCADE, related_name="history", db_index=False)
    from_status = models.CharField(max_length=16, choices=Status, blank=True)
    to_status = models.CharField(max_length=16, choices=Status)
    at = models.DateTimeField()
    automatic = models.BooleanField(default=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DB_SET_NULL,
        related_name="lead_status_changes",
    )
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["lead", "at", "id"]
        # The lead page lists its history in order.
        indexes = [models.Index(fields=["lead", "at"], name="status_change_lead_at")]

    def __str__(self) -> str:
        return f"{self.from_status or '—'} → {self.to_status}"


class CallAttempt(models.Model):
    """One dial of one number during an attempt; an attempt dials numbers in order until one succeeds."""

    class Outcome(models.TextChoices):
        # A member without a label is labelled from its name ("Completed").
        COMPLETED = "completed"
        NO_ANSWER = "no_answer", "No answer"
        BUSY = "busy"
        VOICEMAIL = "voicemail"
        FAILED = "failed"
        LOST = "lost", "Lost (worker stopped)"
        # Not dialled: the runner skipped the number (compliance/); kept so the lead's calls say why.
        DO_NOT_CALL = skips.DO_NOT_CALL, "Skipped: do-not-call list"
        FREQUENCY_CAP = skips.FREQUENCY_CAP, "Skipped: frequency cap"

    # Indexed by call_attempt_lead_started, which starts with lead.
    lead = models.ForeignKey(Lead, on_delete=models.DB_CASCADE, related_name="calls", db_index=False)
    # Null when the primary number was dialled.
    contact = models.ForeignKey(
        SecondaryContact, null=True, blank=True, on_delete=models.DB_SET_NULL, related_name="calls"
    )
    attempt_number = models.PositiveIntegerField()
    phone = models.CharField(max_length=16)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome, blank=True)
    provider = models.CharField(max_length=32, blank=True)
    provider_ref = models.CharField(max_length=128, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["lead", "started_at", "id"]
        indexes = [
            # The lead page lists its calls in order.
            models.Index(fields=["lead", "started_at"], name="call_attempt_lead_started"),
            # The frequency caps (compliance/caps.py): one number's dials of the last 7 days, across
            # campaigns, before each dial; and an erasure's scrub of one number's calls.
            models.Index(fields=["phone", "started_at"], name="call_attempt_phone_started"),
            # A campaign page's results over time (campaigns/results.py): the calls of the last 14
            # days, whatever the size of the campaign (through its leads it was every lead's probe:
            # 36 ms at 200k leads, 0.1 ms this way with the bench's calls).
            models.Index(fields=["started_at"], name="call_attempt_started"),
        ]

    def __str__(self) -> str:
        return f"{self.phone} {self.outcome or 'in progress'}"


E_CAMPAIGN_HAS_LEADS = (
    "Campaign {campaign!r} still has {n} lead(s): delete them or move them to another campaign first."
)


@receiver(pre_delete, sender=Campaign, dispatch_uid="leads.protect_campaigns_with_leads")
def protect_campaigns_with_leads(sender, instance: Campaign, **kwargs) -> None:
    """PROTECT for Lead.campaign, which must stay DO_NOTHING at the model level (see Lead.campaign).

    The database's foreign key refuses the delete too, but only at commit; this says why, at once.
    """
    n = Lead.objects.filter(campaign=instance).count()
    if n:
        raise models.ProtectedError(
            E_CAMPAIGN_HAS_LEADS.format(campaign=instance.name, n=n),
            set(Lead.objects.filter(campaign=instance)[:10]),
        )


class CsvJob(models.Model):
    """A CSV preview, import or export-column scan, run in the request (small files) or by a
    background worker (``leads.jobs``). Its live progress is a small file beside the upload
    (``leads.jobs.read_progress``): on SQLite the import's transaction holds the write lock, so no
    other connection could update a row while it runs.

    An import's row turns ``done`` inside the import's own transaction, so a row still ``running``
    whose worker is gone (``leads.jobs.refresh``) means that import wrote nothing."""

    class Kind(models.TextChoices):
        PREVIEW = "preview"
        IMPORT = "import"
        EXPORT_COLUMNS = "export_columns", "Export columns"

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    kind = models.CharField(max_length=16, choices=Kind)
    state = models.CharField(max_length=8, choices=State, default=State.QUEUED)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # The upload's token (preview and import), shared by every job of one upload.
    token = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=255, blank=True)  # the uploaded file's name
    options = models.JSONField(default=dict)  # what the job runs with (path, campaign, filters, …)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_read = models.PositiveIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One confirm per upload: a second one (double click, Back, another tab, another web
            # process) fails to insert its row and is told the file is already imported. A failed
            # import wrote nothing, so confirming it again is allowed.
            models.UniqueConstraint(
                fields=["token"],
                condition=models.Q(kind="import") & ~models.Q(state="failed"),
                name="csv_job_one_import_per_upload",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name or self.pk} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)
