from __future__ import annotations

from django import forms
from django.conf import settings

from campaigns.models import Campaign

SITE = "site"


def scope_choices(*, any_scope: bool = False) -> list[tuple[str, str]]:
    choices = [("", "Any list")] if any_scope else []
    choices.append((SITE, "Site-wide"))
    choices += [(str(pk), name) for pk, name in Campaign.objects.order_by("name").values_list("pk", "name")]
    return choices


class ScopeField(forms.ChoiceField):
    """The site-wide list or one campaign's: cleans to None or a Campaign."""

    def clean(self, value):
        value = super().clean(value)
        if value in ("", SITE):
            return None
        campaign = Campaign.objects.filter(pk=int(value)).first()
        if campaign is None:  # deleted since the form was shown
            raise forms.ValidationError("That campaign no longer exists: choose another list.")
        return campaign


class EntryForm(forms.Form):
    number = forms.CharField(label="Phone number", max_length=64)
    scope = ScopeField(label="List", required=False)
    reason = forms.CharField(max_length=500, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scope"].choices = scope_choices()


class RemoveForm(forms.Form):
    reason = forms.CharField(label="Why may it be called again?", max_length=500)


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text=f"CSV with a phone column and an optional reason column; at most "
        f"{settings.LEADMGR_MAX_UPLOAD_MB} MB (use manage.py import_dnc for bigger lists)."
    )
    scope = ScopeField(label="List", required=False)
    region = forms.CharField(
        max_length=2, required=False, help_text="For numbers without a country code, e.g. US."
    )
    skip_invalid = forms.BooleanField(required=False, label="Skip invalid rows (import the valid ones)")
    dry_run = forms.BooleanField(required=False, label="Check only (write nothing)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scope"].choices = scope_choices()


class OptOutForm(forms.Form):
    numbers = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, label="Numbers")
    reason = forms.CharField(max_length=500, initial="Asked not to be called again.")

    def __init__(self, *args, numbers: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["numbers"].choices = [(n, n) for n in numbers]
        self.fields["numbers"].initial = numbers


class EraseForm(forms.Form):
    number = forms.CharField(label="Phone number", max_length=64)
    confirm = forms.BooleanField(
        label="I understand: every lead and contact with this number is deleted in every campaign, "
        "and the number can never be added again."
    )
