from __future__ import annotations

import csv
import io

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import ActionLocation, IncorrectLookupParameters
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet
from django.template.response import TemplateResponse
from import_export import resources
from import_export.admin import ImportExportMixin
from import_export.formats import base_formats
from import_export.results import Error, Result, RowResult

from compliance.audit import record_export
from leadmgr.pagination import CappedCountPaginator
from webhooks import outbox

from . import lifecycle, selectors, services
from . import variables as lead_variables
from .csv import exporter
from .csv.columns import CORE_COLUMNS
from .csv.errors import CSVFileError
from .csv.importer import ImportOptions, import_leads
from .models import CallAttempt, Lead, SecondaryContact, Status, StatusChange
from .phones import InvalidPhone, normalize_phone


class PhoneFormMixin:
    def clean_phone(self) -> str:
        try:
            return normalize_phone(self.cleaned_data.get("phone"))
        except InvalidPhone as exc:
            raise ValidationError(exc.messages) from None


class SecondaryContactForm(PhoneFormMixin, forms.ModelForm):
    phone = forms.CharField(label="Phone number", max_length=40)

    class Meta:
        model = SecondaryContact
        fields = ["position", "phone", "variables"]

    def clean_variables(self):
        values = self.cleaned_data.get("variables")
        if isinstance(values, dict) and (errors := lead_variables.variable_errors(values)):
            raise ValidationError(errors)
        return values


class SecondaryContactFormSet(BaseInlineFormSet):
    """Secondary numbers are distinct from the primary and from each other."""

    def clean(self) -> None:
        super().clean()
        if self.instance.pk and any(form.has_changed() for form in self.forms):
            refusal = lifecycle.edit_refusal(lifecycle.lock_status(self.instance.pk) or "", ["contacts"])
            if refusal:
                raise ValidationError(refusal)
        primary = getattr(self.instance, "_admin_primary", None) or self.instance.phone
        phones = []
        for form in self.forms:
            if not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            phones.append((form, form.cleaned_data.get("phone")))
        _, _, errors = services.validate_phones(primary or "+0", [p or "" for _, p in phones])
        for i, (form, phone) in enumerate(phones):
            key = f"contacts-{i}"
            if phone and key in errors:
                form.add_error("phone", errors[key])


class SecondaryContactInline(admin.TabularInline):
    model = SecondaryContact
    form = SecondaryContactForm
    formset = SecondaryContactFormSet
    extra = 0
    ordering = ["position", "id"]
    fields = ["position", "phone", "variables"]


class StatusChangeInline(admin.TabularInline):
    model = StatusChange
    extra = 0
    can_delete = False
    fields = ["at", "from_status", "to_status", "automatic", "user", "reason"]
    readonly_fields = fields
    ordering = ["-at", "-id"]
    verbose_name_plural = "Status history"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class CallAttemptInline(admin.TabularInline):
    model = CallAttempt
    extra = 0
    can_delete = False
    fields = ["attempt_number", "phone", "started_at", "ended_at", "outcome", "provider_ref"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ScheduleForm(forms.Form):
    scheduled_at = forms.DateTimeField(
        label="Call at",
        help_text="Site time, YYYY-MM-DD HH:MM.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    reason = forms.CharField(required=False, max_length=200)


class LeadAdminForm(PhoneFormMixin, forms.ModelForm):
    phone = forms.CharField(
        label="Phone number", max_length=40, help_text="International format: +14155551234."
    )

    class Meta:
        model = Lead
        fields = ["phone", "campaign", "variables"]

    def clean(self):
        cleaned = super().clean()
        campaign, values = cleaned.get("campaign"), cleaned.get("variables")
        phone = cleaned.get("phone")
        if campaign is None:
            return cleaned
        if not isinstance(values, dict):
            self.add_error("variables", "Variables are a JSON object of names and values.")
            return cleaned
        values = services.clean_variables(values)
        cleaned["variables"] = values
        if errors := lead_variables.variable_errors(values):
            for error in errors:
                self.add_error("variables", error)
            return cleaned
        moving = self.instance.pk and self.instance.campaign_id != campaign.pk
        if self.instance.pk:
            # Under the row lock (the admin saves in one transaction): the runner cannot claim the
            # lead between this check and the save.
            changes = {"campaign"} if moving else set()
            if phone and phone != self.instance.phone:
                changes.add("phone")
            refusal = lifecycle.edit_refusal(lifecycle.lock_status(self.instance.pk) or "", changes)
            if refusal:
                self.add_error(None, refusal)
        if moving:
            check = lead_variables.check_move(values, campaign.assistant)
            if check.error:
                self.add_error("variables", check.error)
            self.move_warning = check.warning
        else:
            missing = lead_variables.missing_required(campaign.assistant, values)
            if missing:
                self.add_error(
                    "variables", lead_variables.E_MISSING_REQUIRED.format(names=", ".join(missing))
                )
        if phone:
            clash = Lead.objects.filter(campaign=campaign, phone=phone).exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error(
                    "phone", services.E_DUPLICATE_PRIMARY.format(phone=phone, campaign=campaign.name)
                )
            # The contact formset validates against the primary being saved, not the stored one.
            self.instance._admin_primary = phone
        return cleaned


class LeadResource(resources.ModelResource):
    """django-import-export's view of leads, in the contract's CSV format and through ``leads.csv``.

    Import hands the uploaded rows to ``importer.import_leads`` (the one set of rules: strict, so the
    admin's confirm step writes all rows or none) and reports its rows and errors in the admin's
    terms; export writes what ``exporter.export_csv`` writes.
    """

    class Meta:
        model = Lead
        fields = ("phone", "campaign", "status", "next_attempt_at", "variables")

    def import_data(self, dataset, dry_run=False, raise_errors=False, **kwargs) -> Result:
        result = Result()
        headers = [str(h or "") for h in (dataset.headers or [])]
        result.diff_headers = [*CORE_COLUMNS[1:4], "variables", "secondary contacts"]
        result.add_dataset_headers(headers)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(headers)
        writer.writerows(["" if v is None else str(v) for v in row] for row in dataset)
        try:
            outcome = import_leads(
                io.BytesIO(buffer.getvalue().encode("utf-8")),
                ImportOptions(dry_run=dry_run, user=kwargs.get("user"), preview_rows=len(dataset)),
                delimiter=",",  # written just above: nothing to detect
            )
        except CSVFileError as exc:
            result.append_base_error(Error(exc))
            return result
        for row in outcome.preview:
            row_result = RowResult()
            row_result.import_type = {
                "create": RowResult.IMPORT_TYPE_NEW,
                "update": RowResult.IMPORT_TYPE_UPDATE,
            }.get(row.action, RowResult.IMPORT_TYPE_SKIP)
            row_result.object_repr = row.phone
            row_result.diff = [
                row.phone,
                row.campaign.name,
                row.status,
                ", ".join(f"{k}={v}" for k, v in row.variables.items()),
                ", ".join(c.phone for c in row.contacts),
            ]
            result.append_row_result(row_result)
            result.increment_row_result_total(row_result)
        for rejected in outcome.rejected:
            errors: dict[str, list[str]] = {}
            for error in rejected.errors:
                errors.setdefault(error.column or "__all__", []).append(f"line {error.line}: {error.message}")
            result.append_invalid_row(
                rejected.line,
                dict(zip(headers, rejected.cells, strict=False)),
                ValidationError(errors),
            )
            result.totals[RowResult.IMPORT_TYPE_INVALID] += 1
        result.total_rows = outcome.rows
        return result

    def export(self, queryset=None, **kwargs):
        import tablib

        leads = queryset if queryset is not None else Lead.objects.all()
        text = "".join(exporter.export_csv(leads, with_secondary=True))
        # The resource is not told who asks: the admin's own log names the user of the action.
        record_export(None, {"admin": "selection"}, None, max(text.count("\r\n") - 1, 0), "admin")
        rows = csv.reader(io.StringIO(text, newline=""))
        data = tablib.Dataset(headers=next(rows))
        for row in rows:
            data.append(row)
        return data


E_EXPORT_FILTER = "The export's filter is not one the change list offers."


@admin.register(Lead)
class LeadAdmin(ImportExportMixin, admin.ModelAdmin):
    form = LeadAdminForm
    # Import and export in the contract's CSV format, checked by leads.csv; the permissions are
    # leads.import_lead and leads.export_lead (IMPORT_EXPORT_*_PERMISSION_CODE in settings).
    resource_classes = [LeadResource]
    formats = [base_formats.CSV]
    skip_export_form = True
    skip_admin_log = True
    list_display = ["phone", "campaign", "status", "attempts", "next_attempt_at", "created_at"]
    list_filter = ["campaign", "status", "created_at"]
    list_select_related = ["campaign"]
    search_fields = ["phone", "variables"]  # shows the search box; get_search_results does the search
    readonly_fields = ["status", "attempts", "next_attempt_at", "last_attempt_at", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["phone", "campaign", "variables"]}),
        ("Calling", {"fields": readonly_fields}),
    ]
    inlines = [SecondaryContactInline, StatusChangeInline, CallAttemptInline]
    # At a million leads: no second COUNT for "N total", and the one count is capped.
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50
    actions = [
        "delete_leads",
        "reset_to_created",
        "mark_scheduled",
        "mark_completed",
        "mark_rescheduled",
        "mark_max_retries",
    ]

    def get_export_queryset(self, request):
        # The change list turns a query string it cannot filter by into "?e=1"; the export, built on
        # the same change list, let the error through as a server error.
        try:
            return super().get_export_queryset(request)
        except IncorrectLookupParameters:
            raise BadRequest(E_EXPORT_FILTER) from None

    def get_search_results(self, request, queryset, search_term):
        # The table's search bar, with its index (leads/textsearch.py), not one icontains per field.
        if not search_term.strip():
            return queryset, False
        return queryset.filter(selectors.search_q(search_term)), False

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location=action_location)
        # Django's delete_selected collects and lists every object; ours counts and deletes in SQL.
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        warning = getattr(form, "move_warning", None)
        if warning:
            self.message_user(request, warning, messages.WARNING)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change:  # its contacts saved, in the admin's transaction: the lead.created event
            outbox.lead_created(form.instance)

    @admin.action(description="Delete selected leads", permissions=["delete"])
    def delete_leads(self, request, queryset):
        if request.POST.get("post") == "yes":
            if not self.has_delete_permission(request):
                raise PermissionDenied
            leads, contacts = services.leads_delete(queryset)
            self.message_user(
                request, f"Deleted {leads} leads and {contacts} secondary contacts.", messages.SUCCESS
            )
            return None
        lead_count = queryset.order_by().count()
        contact_count = selectors.contact_count(queryset)
        context = {
            **self.admin_site.each_context(request),
            "title": "Delete leads?",
            "opts": self.model._meta,
            "lead_count": lead_count,
            "contact_count": contact_count,
            # Selected ids are re-posted only for a hand-picked selection; "select all" re-posts the
            # filter (the changelist's query string) instead of 100k ids.
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/leads/lead/delete_leads_confirmation.html", context)

    def _status_action(self, request, queryset, target: str) -> None:
        result = lifecycle.bulk_set_status(queryset, target, user=request.user, reason="Admin action")
        self._report(request, result, target)

    def _report(self, request, result: lifecycle.BulkResult, target: str) -> None:
        self.message_user(
            request, f"{result.changed} lead(s) set to {lifecycle.label(target)}.", messages.SUCCESS
        )
        for reason, n in result.refused.items():
            self.message_user(request, f"{n} lead(s) left unchanged: {reason}", messages.WARNING)

    @admin.action(description="Reset to Created (back in the queue)", permissions=["change"])
    def reset_to_created(self, request, queryset):
        self._status_action(request, queryset, Status.CREATED)

    @admin.action(description="Schedule at a chosen time…", permissions=["change"])
    def mark_scheduled(self, request, queryset):
        form = ScheduleForm(request.POST if "scheduled_at" in request.POST else None)
        if form.is_valid():
            result = lifecycle.bulk_set_status(
                queryset,
                Status.SCHEDULED,
                user=request.user,
                reason=form.cleaned_data["reason"] or "Admin action",
                scheduled_at=form.cleaned_data["scheduled_at"],
            )
            self._report(request, result, Status.SCHEDULED)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Schedule leads",
            "opts": self.model._meta,
            "form": form,
            "lead_count": queryset.order_by().count(),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/leads/lead/schedule_leads.html", context)

    @admin.action(description="Set to Completed (out of the queue)", permissions=["change"])
    def mark_completed(self, request, queryset):
        self._status_action(request, queryset, Status.COMPLETED)

    @admin.action(description="Set to Rescheduled (restart the retry timer)", permissions=["change"])
    def mark_rescheduled(self, request, queryset):
        self._status_action(request, queryset, Status.RESCHEDULED)

    @admin.action(description="Set to Max Retries (mark exhausted)", permissions=["change"])
    def mark_max_retries(self, request, queryset):
        self._status_action(request, queryset, Status.MAX_RETRIES)


@admin.register(StatusChange)
class StatusChangeAdmin(admin.ModelAdmin):
    list_display = ["lead", "from_status", "to_status", "at", "automatic", "user", "reason"]
    list_filter = ["automatic", "to_status"]
    list_select_related = ["lead", "user"]
    raw_id_fields = ["lead", "user"]
    show_full_result_count = False
    paginator = CappedCountPaginator

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CallAttempt)
class CallAttemptAdmin(admin.ModelAdmin):
    list_display = ["lead", "phone", "attempt_number", "started_at", "ended_at", "outcome", "provider"]
    list_filter = ["outcome", "provider"]
    list_select_related = ["lead"]
    raw_id_fields = ["lead", "contact"]
    show_full_result_count = False
    paginator = CappedCountPaginator

    def has_change_permission(self, request, obj=None) -> bool:
        return False
