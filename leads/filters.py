"""The leads table's filter set: a form over ``selectors.filter_leads``, never a second filter.

The URL parameters below are the leads table's public query string: the bulk actions and the CSV
export read the same parameters through this filter set, so all three mean the same rows.
"""

from __future__ import annotations

import django_filters
from django import forms

from campaigns.models import Campaign, variable_name_validator

from . import selectors
from .models import Lead, Status

E_DATES_INVERTED = "The end date ({to}) is before the start date ({start}): swap them or change one."


class LeadFilterForm(forms.Form):
    def clean(self):
        cleaned = super().clean()
        start, to = cleaned.get("created_from"), cleaned.get("created_to")
        if start and to and to < start:
            self.add_error("created_to", E_DATES_INVERTED.format(start=start, to=to))
        return cleaned


class LeadFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Search",
        widget=forms.TextInput(attrs={"placeholder": "Phone or variable content", "type": "search"}),
    )
    campaign = django_filters.ChoiceFilter(label="Campaign", empty_label="All campaigns")
    status = django_filters.MultipleChoiceFilter(
        label="Status", choices=Status.choices, widget=forms.CheckboxSelectMultiple
    )
    created_from = django_filters.DateFilter(
        label="Created from", widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = django_filters.DateFilter(label="Created to", widget=forms.DateInput(attrs={"type": "date"}))
    # A name no variable can have is a mistake to show, not a filter that quietly matches nothing.
    var = django_filters.CharFilter(
        label="Variable",
        widget=forms.TextInput(attrs={"placeholder": "e.g. company"}),
        validators=[variable_name_validator],
    )
    value = django_filters.CharFilter(
        label="Value", widget=forms.TextInput(attrs={"placeholder": "contains…"})
    )
    variables = django_filters.CharFilter(
        label="Any variable contains", widget=forms.TextInput(attrs={"placeholder": "free text"})
    )

    class Meta:
        model = Lead
        form = LeadFilterForm
        fields: list[str] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # One query for the choices, reused to validate the value (a ModelChoiceFilter costs two).
        self.filters["campaign"].extra["choices"] = list(Campaign.objects.values_list("pk", "name"))

    def filter_queryset(self, queryset):
        return selectors.filter_leads(queryset, **self.selector_arguments())

    def selector_arguments(self) -> dict:
        """The valid form's values as ``selectors.filter_leads`` arguments."""
        data = self.form.cleaned_data
        return {
            "campaign": data.get("campaign") or None,
            "statuses": data.get("status"),
            "created_from": data.get("created_from"),
            "created_to": data.get("created_to"),
            "variable_key": (data.get("var") or "").strip() or None,
            "variable_value": data.get("value") or None,
            "variables_text": data.get("variables") or None,
            "search": data.get("q") or None,
        }

    def by_campaign_and_status(self) -> tuple[int | None, list[str]] | None:
        """(campaign id or None, statuses) when the valid filter sets nothing but these two: the
        leads it matches are then counted by status (``leadcounts``), not one by one."""
        arguments = {key: value for key, value in self.selector_arguments().items() if value}
        if not arguments.keys() <= {"campaign", "statuses"}:
            return None
        campaign = arguments.get("campaign")
        return (int(campaign) if campaign else None), list(arguments.get("statuses") or [])

    def description(self) -> list[str]:
        """The valid filter in words, one part per filter set ("Status: Completed or Rescheduled")."""
        data = self.form.cleaned_data
        parts: list[str] = []
        if data.get("campaign"):
            names = dict(self.filters["campaign"].extra["choices"])
            parts.append(f"Campaign: {names.get(int(data['campaign']), data['campaign'])}")
        if data.get("status"):
            parts.append(f"Status: {_either([Status(s).label for s in data['status']])}")
        start, to = data.get("created_from"), data.get("created_to")
        if start and to:
            parts.append(f"Created: {start:%Y-%m-%d} to {to:%Y-%m-%d}")
        elif start or to:
            parts.append(
                f"Created: {'from ' + f'{start:%Y-%m-%d}' if start else 'until ' + f'{to:%Y-%m-%d}'}"
            )
        var, value = (data.get("var") or "").strip(), data.get("value")
        if var and value:
            parts.append(f"Variable {var} contains “{value}”")
        elif var:
            parts.append(f"Variable {var} is set")
        elif value:
            parts.append(f"A variable contains “{value}”")
        if data.get("variables"):
            parts.append(f"Any variable contains “{data['variables']}”")
        if data.get("q"):
            parts.append(f"Search: “{data['q']}”")
        return parts

    @property
    def is_filtered(self) -> bool:
        return self.is_bound and any(self.form.cleaned_data.get(name) for name in self.filters)


def _either(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} or {labels[-1]}"


# Query-string keys that belong to the filter (kept by bulk actions and the export link).
FILTER_PARAMS = tuple(LeadFilter.base_filters)
