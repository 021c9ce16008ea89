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

    @property
    def is_filtered(self) -> bool:
        return self.is_bound and any(self.form.cleaned_data.get(name) for name in self.filters)


# Query-string keys that belong to the filter (kept by bulk actions and the export link).
FILTER_PARAMS = tuple(LeadFilter.base_filters)
