"""The API's JSON shapes. Input serializers check shape only (types, required fields); the rules of
a lead are ``leads.validation``'s, run by the importer (``api.rows``) for new leads and by
``leads.services`` for edits; status changes are ``leads.lifecycle``'s."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.models import Campaign
from leads import lifecycle
from leads.models import CallAttempt, Lead, SecondaryContact, Status, StatusChange

from .rows import Item, OnDuplicate

BULK_MAX = 10_000
E_BULK_TOO_MANY = f"Send at most {BULK_MAX:,} leads per request; split the list."
E_BULK_EMPTY = "Send at least one lead in items."

VARIABLES_SCHEMA = {
    "type": "object",
    "additionalProperties": {
        "oneOf": [{"type": "string", "nullable": True}, {"type": "number"}, {"type": "boolean"}]
    },
    "description": "Variable name → value (text, number or true/false; empty or null means not set).",
}


def phone_field(**kwargs) -> serializers.CharField:
    """A phone number as sent (its rules are ``leads.validation``'s)."""
    return serializers.CharField(max_length=64, **kwargs)


def id_field(**kwargs) -> serializers.IntegerField:
    """An object's id: anything a database id column cannot hold is refused here."""
    return serializers.IntegerField(min_value=1, max_value=2**63 - 1, **kwargs)


@extend_schema_field(VARIABLES_SCHEMA)
class VariablesField(serializers.DictField):
    """A JSON object of variables; names and values are checked by the lead rules, not here."""


# --- Output ---------------------------------------------------------------------------------------


class ContactSerializer(serializers.ModelSerializer):
    phone_number = serializers.CharField(source="phone")
    variables = serializers.DictField()

    class Meta:
        model = SecondaryContact
        fields = ["id", "phone_number", "variables", "position"]


class LeadSerializer(serializers.ModelSerializer):
    phone_number = serializers.CharField(source="phone")
    campaign = serializers.IntegerField(source="campaign_id")
    status = serializers.ChoiceField(choices=Status.choices)
    variables = serializers.DictField()
    secondary_contacts = ContactSerializer(source="contacts", many=True)

    class Meta:
        model = Lead
        fields = [
            "id",
            "phone_number",
            "campaign",
            "status",
            "variables",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "created_at",
            "updated_at",
            "secondary_contacts",
        ]


class HistorySerializer(serializers.ModelSerializer):
    from_status = serializers.CharField(help_text="Empty for the lead's first status.")
    to_status = serializers.ChoiceField(choices=Status.choices)
    user = serializers.CharField(source="user.username", allow_null=True, default=None)

    class Meta:
        model = StatusChange
        fields = ["from_status", "to_status", "at", "automatic", "user", "reason"]


class CallSerializer(serializers.ModelSerializer):
    phone_number = serializers.CharField(source="phone")
    contact = serializers.IntegerField(source="contact_id", allow_null=True)
    outcome = serializers.CharField()

    class Meta:
        model = CallAttempt
        fields = [
            "id",
            "attempt_number",
            "phone_number",
            "contact",
            "started_at",
            "ended_at",
            "outcome",
            "provider",
            "provider_ref",
            "detail",
        ]


class LeadDetailSerializer(LeadSerializer):
    history = HistorySerializer(many=True)
    calls = CallSerializer(many=True)

    class Meta(LeadSerializer.Meta):
        fields = [*LeadSerializer.Meta.fields, "history", "calls"]


class CampaignSerializer(serializers.ModelSerializer):
    assistant = serializers.IntegerField(source="assistant_id")
    state = serializers.ChoiceField(choices=Campaign.State.choices)
    status_counts = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = ["id", "name", "assistant", "state", "max_retries", "retry_interval", "status_counts"]

    @extend_schema_field(
        {
            "type": "object",
            "properties": {s: {"type": "integer"} for s in Status.values},
            "required": list(Status.values),
        }
    )
    def get_status_counts(self, campaign: Campaign) -> dict[str, int]:
        return self.context["counts"].get(campaign.pk, dict.fromkeys(Status.values, 0))


class CampaignStateChangeSerializer(serializers.Serializer):
    campaign = CampaignSerializer()
    from_state = serializers.CharField()
    to_state = serializers.CharField()


# --- Input ----------------------------------------------------------------------------------------


class ContactInputSerializer(serializers.Serializer):
    phone_number = phone_field()
    variables = VariablesField(required=False, default=dict)


class LeadInputSerializer(serializers.Serializer):
    phone_number = phone_field()
    campaign = id_field()
    status = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=32,
        help_text="created (default), scheduled, rescheduled, completed or max_retries; as the CSV import.",
    )
    next_attempt_at = serializers.CharField(
        required=False, allow_blank=True, max_length=64, help_text="ISO 8601, with scheduled or rescheduled."
    )
    variables = VariablesField(required=False, default=dict)
    secondary_contacts = ContactInputSerializer(many=True, required=False, default=list)


def item_from(data: dict) -> Item:
    return Item(
        phone=data["phone_number"],
        campaign_id=data["campaign"],
        status=data.get("status", ""),
        next_attempt_at=data.get("next_attempt_at", ""),
        variables=dict(data.get("variables") or {}),
        contacts=[
            (c["phone_number"], dict(c.get("variables") or {})) for c in data.get("secondary_contacts", [])
        ],
    )


class LeadCreateSerializer(LeadInputSerializer):
    on_duplicate = serializers.ChoiceField(
        choices=OnDuplicate.CHOICES,
        default=OnDuplicate.ERROR,
        help_text="A lead with this phone already in the campaign: error (409), skip (200 with it) or "
        "update (merge its variables, as the import's update mode).",
    )


class LeadUpdateSerializer(serializers.Serializer):
    phone_number = phone_field(required=False)
    campaign = id_field(required=False)
    variables = VariablesField(required=False, help_text="Merged into the lead's (null removes one).")
    variables_mode = serializers.ChoiceField(choices=["merge", "replace"], default="merge")
    secondary_contacts = ContactInputSerializer(many=True, required=False, help_text="Replaces the list.")


class StatusChangeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[(t.value, t.label) for t in lifecycle.MANUAL_TARGETS])
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate(self, data):
        if data["status"] == Status.SCHEDULED and not data.get("scheduled_at"):
            raise serializers.ValidationError({"scheduled_at": [lifecycle.E_SCHEDULED_NEEDS_TIME]})
        return data


def validated(serializer_class: type[serializers.Serializer], data) -> dict:
    """``data`` through ``serializer_class``: its validated data, or the API's 400 with each problem."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class BulkSerializer(serializers.Serializer):
    items = serializers.ListField(child=serializers.DictField(), allow_empty=True)
    skip_invalid = serializers.BooleanField(default=False)
    on_duplicate = serializers.ChoiceField(
        choices=[OnDuplicate.SKIP, OnDuplicate.UPDATE],
        default=OnDuplicate.SKIP,
        help_text="A lead already in its campaign: skip it (as the import does) or update (merge variables).",
    )

    def validate_items(self, items):
        if not items:
            raise serializers.ValidationError(E_BULK_EMPTY)
        if len(items) > BULK_MAX:
            raise serializers.ValidationError(E_BULK_TOO_MANY)
        return items


class BulkItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    id = serializers.IntegerField(allow_null=True)
    action = serializers.CharField(
        help_text="created, updated, skipped, or empty when rejected / not written"
    )
    errors = serializers.ListField(child=serializers.DictField())


class BulkResultSerializer(serializers.Serializer):
    written = serializers.BooleanField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    skipped = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = BulkItemResultSerializer(many=True)
