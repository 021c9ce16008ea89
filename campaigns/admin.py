from __future__ import annotations

from django import forms
from django.contrib import admin

from leadmgr.admin import RecordAdmin
from leads.models import E_CAMPAIGN_HAS_LEADS, Lead

from .models import Assistant, AssistantVariable, Campaign, RunnerDecision, TestCall, Weekday


class AssistantVariableInline(admin.TabularInline):
    model = AssistantVariable
    extra = 1
    fields = ["position", "name", "default", "required", "description"]
    ordering = ["position", "id"]


@admin.register(Assistant)
class AssistantAdmin(admin.ModelAdmin):
    list_display = ["name", "variable_names", "updated_at"]
    search_fields = ["name", "description"]
    inlines = [AssistantVariableInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("variables")

    @admin.display(description="Variables")
    def variable_names(self, obj: Assistant) -> str:
        return ", ".join(f"{v.name}*" if v.required else v.name for v in obj.variables.all())


class CampaignAdminForm(forms.ModelForm):
    calling_days = forms.TypedMultipleChoiceField(
        choices=Weekday.choices, coerce=int, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Campaign
        fields = [
            "name",
            "assistant",
            "state",
            "max_retries",
            "retry_interval",
            "calling_days",
            "window_start",
            "window_end",
            "concurrency_limit",
        ]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = [
        "name",
        "assistant",
        "state",
        "max_retries",
        "retry_interval",
        "calling_days_display",
        "window_start",
        "window_end",
        "concurrency_limit",
    ]
    list_filter = ["state", "assistant"]
    list_select_related = ["assistant"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "assistant", "state"]}),
        ("Retry policy", {"fields": ["max_retries", "retry_interval"]}),
        ("Calling window", {"fields": ["calling_days", "window_start", "window_end", "concurrency_limit"]}),
    ]

    def get_deleted_objects(self, objs, request):
        # Leads refer to campaigns without a collector-level PROTECT (see leads.models); list the
        # campaigns that still have leads as "protected" so the admin refuses with its usual page.
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        for campaign in objs:
            n = Lead.objects.filter(campaign=campaign).count()
            if n:
                protected.append(E_CAMPAIGN_HAS_LEADS.format(campaign=campaign.name, n=n))
        return deleted, model_count, perms_needed, protected


@admin.register(RunnerDecision)
class RunnerDecisionAdmin(RecordAdmin):
    """Why the runner did not call due leads, per campaign, reason and hour (written by the runner)."""

    list_display = ["hour", "campaign", "reason", "leads", "ticks", "last_leads", "last_at"]
    list_filter = ["reason", "campaign"]
    list_select_related = ["campaign"]
    date_hierarchy = "hour"


@admin.register(TestCall)
class TestCallAdmin(RecordAdmin):
    """Test calls placed from campaign pages (campaigns/testcalls.py): a record, read only."""

    list_display = [
        "placed_at",
        "campaign",
        "placed_by",
        "phone",
        "source_lead_id",
        "provider",
        "accepted",
        "outcome",
    ]
    list_filter = ["provider", "accepted", "campaign"]
    search_fields = ["phone", "provider_ref"]
    list_select_related = ["campaign", "placed_by"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in TestCall._meta.fields]
