"""Lead forms: the lead form (phone, campaign, variables, secondary contacts, status) and status forms.

The forms only collect input: the view hands ``LeadEditor.arguments()`` to one service call
(``services.lead_create`` / ``lead_update``, which check the rules in ``validation`` and change the
status through ``lifecycle``) and shows its typed errors with ``LeadEditor.add_errors``.
"""

from __future__ import annotations

import json

from django import forms
from django.core.exceptions import ValidationError
from django.utils.functional import cached_property

from accounts import zones
from campaigns.models import Assistant, Campaign, variable_name_validator
from leadmgr.forms import typed_rows

from . import lifecycle, validation
from . import variables as lead_variables
from .lifecycle import TransitionError
from .models import Lead, Status

DATETIME_LOCAL = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def check_schedule(form: forms.Form, status: str | None) -> None:
    """A change to Scheduled needs a time in ``scheduled_at``, and not one in the past (the lead
    form and the bulk status form)."""
    if status != Status.SCHEDULED:
        return
    if not form.cleaned_data.get("scheduled_at"):
        form.add_error("scheduled_at", lifecycle.E_SCHEDULED_NEEDS_TIME)
    else:
        zones.refuse_past(form, "scheduled_at")


def phone_field(label: str, help_text: str) -> forms.CharField:
    """A number to type in: as typed (spaces, dashes, a national form) up to 40 characters, which
    ``normalize_phone`` then makes E.164; no autocomplete (a browser's guesses are other people's)."""
    widget = forms.TextInput(attrs={"class": "form-control", "autocomplete": "off"})
    return forms.CharField(label=label, max_length=40, help_text=help_text, widget=widget)


class VariableForm(forms.Form):
    name = forms.CharField(
        max_length=64,
        validators=[variable_name_validator],
        widget=forms.TextInput(attrs={"class": "form-control form-control-sm", "placeholder": "name"}),
    )
    value = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"class": "form-control form-control-sm", "placeholder": "value"}),
    )


class BaseVariableFormSet(forms.BaseFormSet):
    """At most LEADMGR_MAX_VARIABLES_PER_LEAD variables (rows being removed do not count)."""

    def clean(self) -> None:
        super().clean()
        names = {
            (f.cleaned_data.get("name") or "").strip()
            for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        }
        if len(names) > lead_variables.max_variables():
            raise ValidationError(
                lead_variables.E_TOO_MANY_VARIABLES.format(
                    limit=lead_variables.max_variables(), count=len(names)
                )
            )


VariableFormSet = forms.formset_factory(VariableForm, formset=BaseVariableFormSet, extra=0, can_delete=True)


def variable_rows(values: dict | None) -> list[dict]:
    return [{"name": k, "value": v} for k, v in (values or {}).items()]


def formset_values(formset) -> dict[str, str]:
    """The variables a bound, valid formset describes (deleted rows left out)."""
    values: dict[str, str] = {}
    for form in formset.forms:
        if not form.cleaned_data or form.cleaned_data.get("DELETE"):
            continue
        values[form.cleaned_data["name"].strip()] = form.cleaned_data.get("value", "")
    return values


def removed_names(formset) -> list[str]:
    """Names of the rows the operator removed (Remove ticks a row's DELETE box) and kept nowhere."""
    kept = set(formset_values(formset))
    names = []
    for form in formset.forms:
        name = (form.cleaned_data.get("name") or "").strip() if form.cleaned_data else ""
        if name and form.cleaned_data.get("DELETE") and name not in kept and name not in names:
            names.append(name)
    return names


def raw_values(data, prefix: str) -> dict[str, str]:
    """Variables as typed, read straight from the submitted rows (for the htmx partial)."""
    return {name: data.get(f"{row}value", "") for name, row in typed_rows(data, prefix, limit=1000)}


def prefill(assistant: Assistant, current: dict[str, str], previous_defaults: dict[str, str]):
    """The variable rows after choosing ``assistant``: its variables first, pre-filled with defaults.

    Values already typed are kept; a default pre-filled for a previous choice and left untouched,
    or a row left empty, is dropped when the new assistant does not use it: the rows are always
    the chosen assistant's variables and what the operator typed. Returns (rows, the defaults now
    pre-filled).
    """
    rows: dict[str, str] = {}
    filled: dict[str, str] = {}
    for definition in lead_variables.definitions(assistant):
        typed = current.get(definition.name, "")
        if lead_variables.is_set(typed):
            rows[definition.name] = typed
        else:
            rows[definition.name] = definition.default
            if definition.default:
                filled[definition.name] = definition.default
    for name, value in current.items():
        if name in rows or previous_defaults.get(name) == value or not lead_variables.is_set(value):
            continue
        rows[name] = value
    return variable_rows(rows), filled


class ContactForm(forms.Form):
    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    phone = forms.CharField(
        label="Phone number",
        max_length=40,
        widget=forms.TextInput(attrs={"class": "form-control", "placeholder": "+14155551234"}),
    )


class BaseContactFormSet(forms.BaseFormSet):
    """Each contact form carries its own variables formset, prefixed ``contacts-<i>-vars``."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        initial = form.initial.get("variables") if form.initial else None
        prefix = f"{form.prefix}-vars"
        # A contact posted without variable rows (no management form) simply has none.
        bound = self.is_bound and f"{prefix}-TOTAL_FORMS" in self.data
        form.variables = VariableFormSet(
            self.data if bound else None,
            prefix=prefix,
            initial=None if self.is_bound else variable_rows(initial),
        )
        return form

    @property
    def empty_form(self):
        form = super().empty_form
        form.variables = VariableFormSet(prefix=f"{form.prefix}-vars")
        return form

    def is_valid(self) -> bool:
        valid = super().is_valid()
        return all([valid, *(f.variables.is_valid() for f in self.forms)])

    @property
    def forms_in_order(self) -> list[ContactForm]:
        """The contact forms in the calling order last set (a re-shown form keeps the operator's order)."""

        def position(form) -> tuple[int, int]:
            try:
                return (0, int(form["ORDER"].value()))
            except (TypeError, ValueError):
                return (1, 0)

        return sorted(self.forms, key=position)

    def kept_forms(self) -> list[ContactForm]:
        """Contacts not removed, in the calling order the operator set."""
        return [f for f in self.ordered_forms if f.cleaned_data.get("phone")]


ContactFormSet = forms.formset_factory(
    ContactForm, formset=BaseContactFormSet, extra=0, can_delete=True, can_order=True
)


class LeadForm(forms.Form):
    phone = phone_field("Phone number", "International format without spaces, for example +14155551234.")
    campaign = forms.ModelChoiceField(
        label="Campaign",
        queryset=Campaign.objects.select_related("assistant"),
        empty_label="Choose a campaign…",
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    status = forms.ChoiceField(
        label="Status", required=False, widget=forms.Select(attrs={"class": "form-select"})
    )
    scheduled_at = forms.DateTimeField(
        label="Scheduled for", required=False, widget=DATETIME_LOCAL, help_text="Needed for Scheduled."
    )
    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=500,
        widget=forms.TextInput(
            attrs={"class": "form-control", "placeholder": "optional, kept in the history"}
        ),
    )

    def __init__(self, *args, lead: Lead | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lead = lead
        self.fields["scheduled_at"].widget.attrs["class"] = "form-control"
        self.fields["scheduled_at"].label = zones.zoned_label("Scheduled at")  # read in the user's zone
        if lead is None:
            for name in ("status", "scheduled_at", "reason"):
                del self.fields[name]
        else:
            keep = [("", f"{lead.get_status_display()} (no change)")]
            self.fields["status"].choices = keep + [
                (t, Status(t).label) for t in lifecycle.allowed_manual_targets(lead.status)
            ]

    def clean(self):
        cleaned = super().clean()
        check_schedule(self, cleaned.get("status"))
        return cleaned

    @cached_property
    def campaign_choices(self) -> list:
        """The campaign options in one query (the template's loop would count them first)."""
        return [choice for choice in self.fields["campaign"].choices]  # noqa: C416 (list() would count)


class LeadEditor:
    """The lead form with its variables and secondary contacts, as one service call's arguments."""

    def __init__(self, data=None, *, lead: Lead | None = None) -> None:
        self.lead = lead
        initial = {}
        contacts_initial = []
        values = {}
        rows: list[dict] = []
        if lead is not None:
            initial = {"phone": lead.phone, "campaign": lead.campaign_id}
            values = lead.variables
            rows = variable_rows(values)
            # What the lead inherits is shown too, empty with the default as its placeholder
            # (empty means "inherit"), so that it can be removed like any other variable.
            assistant = lead.campaign.assistant
            for name, default in lead_variables.inherited(assistant, lead.removed_variables).items():
                if name not in values:
                    rows.append({"name": name, "value": "", "inherited": default})
            contacts_initial = [
                {"id": c.pk, "phone": c.phone, "variables": c.variables, "ORDER": i + 1}
                for i, c in enumerate(lead.contacts.all())
            ]
        self.form = LeadForm(data, lead=lead, initial=initial)
        self.variables = VariableFormSet(data, prefix="vars", initial=None if data else rows)
        self.contacts = ContactFormSet(data, prefix="contacts", initial=None if data else contacts_initial)
        self.variable_errors: list[str] = []
        self.duplicate_of: int | None = None  # the lead that already has this primary number

    @property
    def campaign(self) -> Campaign | None:
        if self.form.is_bound:
            return self.form.cleaned_data.get("campaign") if hasattr(self.form, "cleaned_data") else None
        return self.lead.campaign if self.lead else None

    @property
    def required_names(self) -> set[str]:
        campaign = self.campaign
        return set(lead_variables.required_names(campaign.assistant)) if campaign else set()

    def is_valid(self) -> bool:
        return all([self.form.is_valid(), self.variables.is_valid(), self.contacts.is_valid()])

    def arguments(self) -> dict:
        """The service's keyword arguments (``services.lead_create`` / ``lead_update``) for the valid
        input: the lead's fields, its contacts in the calling order set, and for an edit the status
        change asked for."""
        data = self.form.cleaned_data
        contacts = [
            validation.ContactInput(
                phone=f.cleaned_data["phone"],
                variables=formset_values(f.variables),
                id=f.cleaned_data.get("id"),
            )
            for f in self.contacts.kept_forms()
        ]
        arguments = {
            "campaign": data["campaign"],
            "phone": data["phone"],
            "variables": formset_values(self.variables),
            "removed_variables": removed_names(self.variables),
            "contacts": contacts,
        }
        if self.lead is not None:
            arguments |= {
                "status": data.get("status") or "",
                "reason": data.get("reason", ""),
                "scheduled_at": data.get("scheduled_at"),
            }
        return arguments

    def add_errors(self, exc: validation.LeadInvalid | TransitionError) -> None:
        """Show the service's refusal: each rule's error on its field, a status refusal on Status."""
        if isinstance(exc, TransitionError):
            self.form.add_error("status", exc.message)
            return
        kept = self.contacts.kept_forms()
        for error in exc.lead_errors:
            if error.field == validation.PHONE:
                self.form.add_error("phone", error.message)
                if error.existing_pk is not None:
                    self.duplicate_of = error.existing_pk
            elif error.field == validation.CONTACT_PHONE:
                kept[error.contact].add_error("phone", error.message)
            elif error.field == validation.VARIABLES:
                self.variable_errors.append(error.message)
            else:
                self.form.add_error(None, error.message)


E_BULK_LEAVING_QUEUE = "These leads leave the calling queue: the campaign will not call them again. {label}?"


class StatusForm(forms.Form):
    """A manual status override, for one lead or a filtered set."""

    # Starts with no status chosen: a bulk change is never one click away from a default.
    target = forms.ChoiceField(
        label="New status",
        choices=[("", "Choose a status…"), *((t, Status(t).label) for t in lifecycle.MANUAL_TARGETS)],
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    scheduled_at = forms.DateTimeField(label="Scheduled for", required=False, widget=DATETIME_LOCAL)
    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scheduled_at"].widget.attrs["class"] = "form-control"
        self.fields["scheduled_at"].label = zones.zoned_label("Scheduled at")  # read in the user's zone

    @property
    def target_options(self) -> list[dict]:
        """The target select's options with what each does, and a question where leads leave the queue."""
        chosen = self["target"].value() or ""
        options = []
        for value, label in self.fields["target"].choices:
            leaves = bool(value) and not lifecycle.is_queued(value)
            options.append(
                {
                    "value": value,
                    "label": label,
                    "selected": value == chosen,
                    "explained": lifecycle.MANUAL_EXPLAINED.get(value, ""),
                    "confirm": E_BULK_LEAVING_QUEUE.format(label=label) if leaves else "",
                }
            )
        return options

    def change(self) -> dict:
        """The lifecycle's keyword arguments for the valid change, beside its target."""
        return {"reason": self.cleaned_data["reason"], "scheduled_at": self.cleaned_data["scheduled_at"]}

    def clean(self):
        cleaned = super().clean()
        check_schedule(self, cleaned.get("target"))
        return cleaned


def parse_prefilled(raw: str | None) -> dict[str, str]:
    try:
        value = json.loads(raw or "{}")
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse: ignored
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
