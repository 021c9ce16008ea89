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

from . import lifecycle, selectors, services, validation
from . import variables as lead_variables
from .csv import exporter
from .csv.columns import CORE_COLUMNS
from .csv.errors import CSVFileError
from .csv.importer import ImportOptions, import_leads
from .models import CallAttempt, Lead, SecondaryContact, Status, StatusChange
from .phones import InvalidPhone, normalize_phone

E_VARIABLES_NOT_OBJECT = "Variables are a JSON object of names and values."


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
        values = {} if values is None else values
        if not isinstance(values, dict):  # the lead service reads names and values
            raise ValidationError(E_VARIABLES_NOT_OBJECT)
        if errors := lead_variables.variable_errors(values):
            raise ValidationError(errors)
        return values


class SecondaryContactFormSet(BaseInlineFormSet):
    """The lead's contacts in the calling order they will be saved in, checked by ``validation``
    (numbers distinct from the primary being saved and from each other, not erased; no change while
    a call is under way)."""

    def clean(self) -> None:
        super().clean()
        lead = self.instance
        # The primary being saved (the lead form's, when valid), not the stored one.
        primary = getattr(lead, "_admin_primary", None) or lead.phone or None
        entries = self.entries()
        _, errors = validation.check_contacts(
            primary, [c for _, c in entries], lead=lead if lead.pk else None
        )
        for error in errors:
            if error.field == validation.LEAD:
                raise ValidationError(error.message)
            form = entries[error.contact][0]
            if form is not None and form.cleaned_data.get("phone"):
                form.add_error("phone", error.message)

    def entries(self) -> list[tuple[forms.Form | None, validation.ContactInput]]:
        """(form, contact) for each contact kept, in calling order (position, then as stored); a
        stored contact the post did not include is kept as it is (form None)."""
        rows: list[tuple[int, float, int, forms.Form | None, validation.ContactInput]] = []
        shown: set[int] = set()
        for i, form in enumerate(self.forms):
            pk = form.instance.pk
            if pk:
                shown.add(pk)
            data = form.cleaned_data
            if not data or data.get("DELETE"):
                continue
            contact = validation.ContactInput(data.get("phone") or "", data.get("variables") or {}, pk)
            rows.append((data.get("position") or 0, pk or float("inf"), i, form, contact))
        if self.instance.pk:
            for stored in self.get_queryset():
                if stored.pk not in shown:
                    contact = validation.ContactInput(stored.phone, stored.variables, stored.pk)
                    rows.append((stored.position, stored.pk, -1, None, contact))
        return [(form, contact) for *_, form, contact in sorted(rows, key=lambda r: r[:3])]

    def record_for_log(self) -> None:
        """What ``save()`` would have noted for the admin's history (the lead service saves instead)."""
        deleted = self.deleted_forms if self.can_delete else []
        kept = [f for f in self.forms if f not in deleted and f.has_changed()]
        self.new_objects = [f.instance for f in kept if not f.instance.pk]
        self.changed_objects = [(f.instance, f.changed_data) for f in kept if f.instance.pk]
        self.deleted_objects = [f.instance for f in deleted if f.instance.pk]


class SecondaryContactInline(admin.TabularInline):
    model = SecondaryContact
    form = SecondaryContactForm
    formset = SecondaryContactFormSet
    extra = 0
    ordering = ["position", "id"]
    fields = ["position", "phone", "variables"]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class StatusChangeInline(ReadOnlyInline):
    model = StatusChange
    fields = ["at", "from_status", "to_status", "automatic", "user", "reason"]
    readonly_fields = fields
    ordering = ["-at", "-id"]
    verbose_name_plural = "Status history"


class CallAttemptInline(ReadOnlyInline):
    model = CallAttempt
    fields = ["attempt_number", "phone", "started_at", "ended_at", "outcome", "provider_ref"]
    readonly_fields = fields


class ScheduleForm(forms.Form):
    scheduled_at = forms.DateTimeField(
        label="Call at",
        help_text="Site time, YYYY-MM-DD HH:MM.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    reason = forms.CharField(required=False, max_length=200)


class LeadAdminForm(PhoneFormMixin, forms.ModelForm):
    """The lead's fields, checked by ``validation`` (its contacts by their inline's formset)."""

    phone = forms.CharField(
        label="Phone number", max_length=40, help_text="International format: +14155551234."
    )

    class Meta:
        model = Lead
        fields = ["phone", "campaign", "variables"]

    def clean(self):
        cleaned = super().clean()
        campaign, values = cleaned.get("campaign"), cleaned.get("variables")
        if campaign is None:
            return cleaned
        if not isinstance(values, dict):
            self.add_error("variables", E_VARIABLES_NOT_OBJECT)
            return cleaned
        values = cleaned["variables"] = validation.clean_variables(values)
        if errors := lead_variables.variable_errors(values):
            for error in errors:
                self.add_error("variables", error)
            return cleaned
        # Under the row lock (the admin saves in one transaction): the runner cannot claim the
        # lead between this check and the save.
        checked = validation.check_lead(
            campaign=campaign,
            phone=cleaned.get("phone") or self.instance.phone or "",
            variables=values,
            contacts=None,  # the inline's formset checks them
            lead=self.instance if self.instance.pk else None,
        )
        if cleaned.get("phone"):
            # The contact inline checks its numbers against this one, even when it is refused.
            self.instance._admin_primary = cleaned["phone"]
        for error in checked.errors:
            if error.field == validation.PHONE and "phone" in self.errors:
                continue  # the number itself is wrong: said once, by clean_phone
            self.add_error(None if error.field == validation.LEAD else error.field, error.message)
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
        """Nothing yet: the lead is saved with its contacts, in ``save_related``."""

    def save_related(self, request, form, formsets, change):
        """The lead and its contacts through the lead services, as every other door saves them
        (their checks passed in the forms, in this transaction, under the lead's row lock)."""
        contacts_formset = next(f for f in formsets if isinstance(f, SecondaryContactFormSet))
        data, lead = form.cleaned_data, form.instance
        fields = {
            "campaign": data["campaign"],
            "phone": data["phone"],
            "variables": data["variables"],
            "contacts": [contact for _, contact in contacts_formset.entries()],
        }
        if change:
            # As stored: the form has already set its new values on ``lead`` (the move check
            # compares the campaigns).
            result = services.lead_update(lead=Lead.objects.get(pk=lead.pk), **fields)
        else:
            result = services.lead_create(**fields)
        for f in Lead._meta.concrete_fields:  # the admin logs and redirects to this object
            setattr(lead, f.attname, getattr(result.lead, f.attname))
        lead._state.adding = False
        for warning in result.warnings:
            self.message_user(request, warning, messages.WARNING)
        contacts_formset.record_for_log()
        for formset in formsets:
            if formset is not contacts_formset:  # read-only inlines: nothing to save
                formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

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
