"""Forms of the campaign pages: a campaign's policy and window, an assistant and its variables."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError

from .models import (
    E_RESERVED_NAME,
    RESERVED_VARIABLE_NAMES,
    Assistant,
    AssistantVariable,
    Campaign,
    Weekday,
    variable_name_validator,
)

TIME_INPUT = forms.TimeInput(attrs={"type": "time", "class": "form-control"}, format="%H:%M")
E_RETRY_MINUTES = "The retry interval is a whole number of minutes, at least 1."
MAX_RETRY_MINUTES = 60 * 24 * 365  # a year: anything longer is a typo


class CampaignForm(forms.ModelForm):
    """Name, assistant, retry policy, calling window and concurrency; the model's clean() and
    constraints check the whole (days chosen, window start before end, limit at least 1)."""

    calling_days = forms.TypedMultipleChoiceField(
        choices=Weekday.choices,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text="The weekdays calls may be placed, in each callee's local time.",
    )
    retry_minutes = forms.IntegerField(
        label="Retry interval (minutes)",
        min_value=1,
        max_value=MAX_RETRY_MINUTES,
        error_messages={"min_value": E_RETRY_MINUTES, "invalid": E_RETRY_MINUTES},
        help_text="How long after a failed attempt the lead is called again.",
        widget=forms.NumberInput(attrs={"class": "form-control"}),
    )

    class Meta:
        model = Campaign
        fields = [
            "name",
            "assistant",
            "max_retries",
            "calling_days",
            "window_start",
            "window_end",
            "concurrency_limit",
        ]
        labels = {
            "max_retries": "Retries after the first attempt",
            "window_start": "Calls from",
            "window_end": "Calls until",
        }
        help_texts = {
            "name": "Unique; imports and exports name the campaign by it.",
            "assistant": "The AI voice agent that speaks; its variables fill the message.",
            "max_retries": "0 means one attempt only; 3 means at most 4 attempts per lead.",
            "window_start": (
                "Each callee's local time, from the time zone of the number dialled: 09:00 means 09:00 "
                "in New York for a New York number and 09:00 in London for a London number."
            ),
            "window_end": "Callee's local time; a call is not started at or after this time.",
            "concurrency_limit": "The most calls this campaign has under way at once.",
        }
        widgets = {
            "name": forms.TextInput(attrs={"class": "form-control"}),
            "assistant": forms.Select(attrs={"class": "form-select"}),
            "max_retries": forms.NumberInput(attrs={"class": "form-control"}),
            "window_start": TIME_INPUT,
            "window_end": TIME_INPUT,
            "concurrency_limit": forms.NumberInput(attrs={"class": "form-control"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["retry_minutes"].initial = int(self.instance.retry_interval.total_seconds() // 60)
        # model_to_dict leaves a JSONField out of the initial data: the days are given here.
        self.initial.setdefault("calling_days", list(self.instance.calling_days or []))

    def _post_clean(self) -> None:
        minutes = self.cleaned_data.get("retry_minutes")
        if minutes:
            self.instance.retry_interval = dt.timedelta(minutes=minutes)
        super()._post_clean()


class AssistantForm(forms.ModelForm):
    class Meta:
        model = Assistant
        fields = ["name", "description", "message_template"]
        help_texts = {
            "message_template": (
                "What the assistant says first. Write {{customer_name}} where a lead's value goes; a "
                "variable a lead leaves empty takes its default."
            ),
        }
        widgets = {
            "name": forms.TextInput(attrs={"class": "form-control"}),
            "description": forms.Textarea(attrs={"class": "form-control", "rows": 2}),
            "message_template": forms.Textarea(attrs={"class": "form-control font-monospace", "rows": 4}),
        }


class VariableDefinitionForm(forms.Form):
    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    name = forms.CharField(max_length=64, validators=[variable_name_validator])
    default = forms.CharField(required=False)
    required = forms.BooleanField(required=False)
    description = forms.CharField(required=False, max_length=255)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if name in RESERVED_VARIABLE_NAMES or name.startswith("secondary_"):
            raise ValidationError(E_RESERVED_NAME.format(name=name))
        return name


class BaseVariableDefinitionFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        super().clean()
        seen: set[str] = set()
        for form in self.forms:
            if not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            name = form.cleaned_data.get("name")
            if name is None:
                continue  # its own error is shown on the row
            if name in seen:
                raise ValidationError(f"Two variables are named {name!r}: each name once.")
            seen.add(name)

    def definitions(self) -> list[dict]:
        """The kept rows in the order chosen (ORDER), each {id, name, default, required, description}."""
        rows = [
            f.cleaned_data for f in self.ordered_forms if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]
        return [{k: row.get(k) for k in ("id", "name", "default", "required", "description")} for row in rows]


VariableDefinitionFormSet = forms.formset_factory(
    VariableDefinitionForm,
    formset=BaseVariableDefinitionFormSet,
    extra=0,
    can_delete=True,
    can_order=True,
    max_num=200,
    validate_max=True,
)


def definition_rows(assistant: Assistant | None) -> list[dict]:
    if assistant is None or assistant.pk is None:
        return []
    return [
        {
            "id": v.pk,
            "name": v.name,
            "default": v.default,
            "required": v.required,
            "description": v.description,
            "ORDER": i + 1,
        }
        for i, v in enumerate(
            AssistantVariable.objects.filter(assistant=assistant).order_by("position", "id")
        )
    ]
