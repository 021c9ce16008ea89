from __future__ import annotations

from django import forms

from .models import EVENT_TYPES, Subscription

E_NO_EVENTS = "Choose at least one event."
E_SCHEME = "Enter an http:// or https:// URL."


class SubscriptionForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=2000,
        assume_scheme="https",
        help_text="Where each event is POSTed as JSON (http or https).",
    )
    events = forms.MultipleChoiceField(
        choices=list(EVENT_TYPES.items()),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": E_NO_EVENTS},
    )

    class Meta:
        model = Subscription
        fields = ["url", "events", "description", "active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url.lower().startswith(("http://", "https://")):
            raise forms.ValidationError(E_SCHEME)
        return url
