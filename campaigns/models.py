"""Assistants (the AI voice agents and their variables) and campaigns (calling jobs and their policy)."""

from __future__ import annotations

import datetime as dt
import re

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from compliance import skips
from leadmgr.fields import Timestamped, done_by, starts_before_ends, unique_within

# The one rule for variable names, wherever a name comes in: the assistant's definitions, the lead
# form, the admin's JSON, an import's header, the table's variable filter. A name a spreadsheet could
# run as a formula (=HYPERLINK(...)) can never become an export's header cell.
VARIABLE_NAME_MAX_LENGTH = 64
VARIABLE_NAME_RE = re.compile(rf"^[A-Za-z][A-Za-z0-9_]{{0,{VARIABLE_NAME_MAX_LENGTH - 1}}}\Z")
E_VARIABLE_NAME = (
    "A variable name starts with a letter and uses letters, digits and underscores, at most "
    f"{VARIABLE_NAME_MAX_LENGTH} characters (for example customer_name)."
)


def is_variable_name(name: object) -> bool:
    return isinstance(name, str) and VARIABLE_NAME_RE.match(name) is not None


def validate_variable_name(name: object) -> None:
    """Raise ValidationError unless ``name`` is a valid variable name."""
    if not is_variable_name(name):
        raise ValidationError(E_VARIABLE_NAME, code="invalid_variable_name")


variable_name_validator = validate_variable_name

# Names the CSV format gives a meaning of its own; a variable cannot use them.
RESERVED_VARIABLE_NAMES = frozenset(
    {
        "id",
        "phone",
        "campaign",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "updated_at",
    }
)
E_RESERVED_NAME = "{name!r} is a column of its own in leadmgr; choose another variable name."
E_VARIABLE_TAKEN = "This assistant already has a variable with this name."


class Assistant(Timestamped):
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    message_template = models.TextField(
        blank=True,
        help_text="What the assistant says first; {{variable_name}} is replaced by the lead's value.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AssistantVariable(models.Model):
    """A variable an assistant uses: its default pre-fills new leads; a required one must be set."""

    assistant = models.ForeignKey(Assistant, on_delete=models.CASCADE, related_name="variables")
    name = models.CharField(max_length=64, validators=[variable_name_validator])
    default = models.TextField(blank=True)
    required = models.BooleanField(default=False)
    description = models.CharField(max_length=255, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["assistant", "position", "id"]
        constraints = [
            unique_within(
                "assistant", "name", name="assistant_variable_unique_name", message=E_VARIABLE_TAKEN
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.name in RESERVED_VARIABLE_NAMES or self.name.startswith("secondary_"):
            raise ValidationError({"name": E_RESERVED_NAME.format(name=self.name)})


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


def default_calling_days() -> list[int]:
    return [0, 1, 2, 3, 4]


E_CALLING_DAYS = "Choose at least one calling day, each a weekday number from 0 (Monday) to 6 (Sunday)."


class Campaign(Timestamped):
    class State(models.TextChoices):
        # What each state means to the runner; the moves between them are campaigns.controls'.
        DRAFT = "draft"  # never started: not called
        RUNNING = "running"  # its due leads are called inside its window
        PAUSED = "paused"  # no new call; calls under way finish
        FINISHED = "finished"  # ended for good: never called again

    name = models.CharField(max_length=120, unique=True)
    assistant = models.ForeignKey(Assistant, on_delete=models.PROTECT, related_name="campaigns")
    state = models.CharField(max_length=16, choices=State, default=State.DRAFT)
    max_retries = models.PositiveSmallIntegerField(
        default=3, help_text="Retries after the first attempt (3 means at most 4 attempts)."
    )
    retry_interval = models.DurationField(
        default=dt.timedelta(minutes=60), help_text="Time between a failed attempt and the next one."
    )
    calling_days = models.JSONField(
        default=default_calling_days,
        blank=True,  # emptiness is reported by clean() with a message that says what to choose
        help_text="Weekdays calls may be placed, 0 = Monday … 6 = Sunday, in the callee's local time.",
    )
    window_start = models.TimeField(default=dt.time(9, 0), help_text="Callee's local time.")
    window_end = models.TimeField(default=dt.time(17, 0), help_text="Callee's local time.")
    concurrency_limit = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1)], help_text="Calls under way at once, at most."
    )

    class Meta:
        ordering = ["name"]
        # Steering a campaign (campaigns/controls.py): the roles grant these (leads/roles.py).
        permissions = [
            ("control_campaign", "Can start, pause and resume campaigns"),
            ("finish_campaign", "Can finish campaigns"),
            ("pause_all_campaigns", "Can pause every running campaign at once"),
        ]
        constraints = [
            starts_before_ends(
                "window_start",
                "window_end",
                name="campaign_window_start_before_end",
                message="The calling window must start before it ends.",
            ),
            models.CheckConstraint(
                condition=models.Q(concurrency_limit__gte=1),
                name="campaign_concurrency_at_least_one",
                violation_error_message="The concurrency limit must be at least 1.",
            ),
            models.CheckConstraint(
                condition=models.Q(retry_interval__gt=dt.timedelta(0)),
                name="campaign_retry_interval_positive",
                violation_error_message="The retry interval must be longer than zero.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        days = self.calling_days
        if (
            not isinstance(days, list)
            or not days
            or any(not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= 6 for d in days)
        ):
            raise ValidationError({"calling_days": E_CALLING_DAYS})
        self.calling_days = sorted(set(days))

    @property
    def max_attempts(self) -> int:
        """The first attempt plus the retries."""
        return 1 + self.max_retries

    @property
    def calling_days_display(self) -> str:
        return ", ".join(Weekday(d).label[:3] for d in sorted(self.calling_days))


class CampaignStateChange(models.Model):
    """One change of a campaign's state: who, when, from, to and why (written by campaigns/controls)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="state_changes")
    from_state = models.CharField(max_length=16, choices=Campaign.State)
    to_state = models.CharField(max_length=16, choices=Campaign.State)
    changed_by = done_by()
    reason = models.CharField(max_length=500, blank=True)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            # The campaign page's "State changes" list: the latest changes of one campaign.
            models.Index(fields=["campaign", "-changed_at", "-id"], name="campaign_state_change_latest")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.from_state} → {self.to_state}"


class RunnerDecision(models.Model):
    """Why the runner did not call due leads now, aggregated per campaign, reason and hour.

    One row per (campaign, reason, hour) keeps the record cheap at scale: a tick adds to the row's
    counts instead of writing a row per lead. ``leads`` sums the leads skipped over the hour's ticks;
    ``last_leads`` is how many the latest tick skipped.
    """

    class Reason(models.TextChoices):
        OUTSIDE_WINDOW = "outside_window", "Outside the calling window"
        TZ_AMBIGUOUS = "tz_ambiguous", "Time zone ambiguous"
        PAUSED = "paused", "Campaign paused"
        CONCURRENCY_FULL = "concurrency_full", "Concurrency full"
        # Deleted (or its contact removed) while its attempt was under way: the dial was skipped.
        LEAD_GONE = "lead_gone", "Lead deleted mid-attempt"
        # A required variable (with no default) is not set: never dialled with a hole in the message.
        MISSING_VARIABLE = "missing_variable", "Required variable missing"
        # Asked of compliance/ before every dial: the number is listed, or dialled too often.
        DO_NOT_CALL = skips.DO_NOT_CALL, "On the do-not-call list"
        FREQUENCY_CAP = skips.FREQUENCY_CAP, "Frequency cap reached"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runner_decisions")
    reason = models.CharField(max_length=24, choices=Reason)
    hour = models.DateTimeField(help_text="The hour (UTC) the decisions fall in.")
    ticks = models.PositiveIntegerField(default=0)
    leads = models.PositiveBigIntegerField(default=0)
    last_leads = models.PositiveIntegerField(default=0)
    last_at = models.DateTimeField()

    class Meta:
        ordering = ["-hour", "campaign", "reason"]
        constraints = [
            # The runner adds to the row of the hour; the unique key is also its lookup index.
            models.UniqueConstraint(fields=["campaign", "hour", "reason"], name="runner_decision_unique_hour")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.reason} {self.hour:%Y-%m-%d %H:00}: {self.leads}"


class CallbackReceipt(models.Model):
    """A signed provider callback already received: the same signature again is a replay."""

    signature = models.CharField(max_length=128, unique=True)
    received_at = models.DateTimeField(db_index=True)  # old receipts are pruned by age

    def __str__(self) -> str:
        return self.signature[:16]


class RunnerHeartbeat(models.Model):
    """One row per live ``run_campaigns`` worker: written at each pass and each heartbeat.

    Removed when the worker exits cleanly; a row whose ``last_seen`` is old belongs to a worker that
    died (``campaigns.selectors.live_runners`` counts only the recent ones).
    """

    worker_id = models.CharField(max_length=200, unique=True, help_text="host:pid of the worker.")
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField()
    last_pass_at = models.DateTimeField(null=True, blank=True)
    calls_held = models.PositiveIntegerField(default=0, help_text="Attempts under way in this worker.")

    class Meta:
        ordering = ["worker_id"]

    def __str__(self) -> str:
        return self.worker_id


class TestCall(models.Model):
    """One call placed by hand from a campaign page (campaigns/testcalls.py): to a number typed in,
    saying the assistant's message rendered from a chosen lead's variables, through the configured
    provider. Never one of the lead's attempts: no lead's status, attempts or calls change, so the
    lead is kept by id and number only (no key the bulk delete would have to mind)."""

    __test__ = False  # a model, not a test class for the test runner to collect

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="test_calls")
    placed_by = done_by()
    placed_at = models.DateTimeField()
    phone = models.CharField(max_length=16, help_text="The number dialled (E.164).")
    source_lead_id = models.BigIntegerField(
        null=True, blank=True, help_text="The lead whose variables were used."
    )
    source_lead_phone = models.CharField(max_length=16, blank=True)
    message = models.TextField(blank=True)
    provider = models.CharField(max_length=32)
    accepted = models.BooleanField(default=False, help_text="Whether the provider took the call.")
    provider_ref = models.CharField(max_length=128, blank=True)
    outcome = models.CharField(
        max_length=16, blank=True, help_text="Known when the provider answered at once."
    )
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        indexes = [models.Index(fields=["campaign", "placed_at"], name="test_call_campaign_placed")]

    def __str__(self) -> str:
        return f"Test call to {self.phone} at {self.placed_at:%Y-%m-%d %H:%M}"
