"""The test-call panel of a campaign page (Staff): the form and the latest test calls, loaded and
posted with htmx (campaigns/testcalls.py places the call). Operators get 403; people who may not
see campaigns get 404, as for every campaign address."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from leads import selectors as lead_selectors
from leads.forms import phone_field
from leads.phones import normalize_phone

from . import testcalls
from .models import Campaign

PLACE = "campaigns.add_testcall"
M_PLACED = "Test call to {phone} placed through the {provider} provider{ref}."
M_REFUSED = "The {provider} provider did not take the test call to {phone}: {detail}"


class TestCallForm(forms.Form):
    __test__ = False  # not a test class

    phone = phone_field("Number to call", "International format, for example +14155551234.")
    lead = forms.CharField(
        label="Lead whose variables fill the message",
        max_length=40,
        help_text="A lead of this campaign: its id or its phone number.",
        widget=forms.TextInput(attrs={"class": "form-control", "autocomplete": "off"}),
    )

    def __init__(self, *args, campaign: Campaign, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.campaign = campaign

    def clean_phone(self) -> str:
        return normalize_phone(self.cleaned_data["phone"])

    def clean_lead(self):
        ref = self.cleaned_data["lead"]
        lead = testcalls.find_lead(self.campaign, ref)
        if lead is None:
            raise forms.ValidationError(testcalls.E_NO_LEAD.format(ref=ref))
        return lead


def _campaign(request: HttpRequest, pk: int) -> Campaign:
    campaign = get_object_or_404(
        lead_selectors.campaigns_for_user(request.user).select_related("assistant"), pk=pk
    )
    if not request.user.has_perm(PLACE):
        raise PermissionDenied
    return campaign


def _panel(request: HttpRequest, campaign: Campaign, form: TestCallForm, placed=None) -> HttpResponse:
    context = {"campaign": campaign, "form": form, "placed": placed, "test_calls": testcalls.latest(campaign)}
    return render(request, "campaigns/_test_call.html", context)


@require_GET
def test_call_panel(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk)
    return _panel(request, campaign, TestCallForm(campaign=campaign))


@require_POST
def test_call_place(request: HttpRequest, pk: int) -> HttpResponse:
    """Place the call; htmx gets the panel again (with the outcome), a plain POST goes back to the page."""
    campaign = _campaign(request, pk)
    form = TestCallForm(request.POST, campaign=campaign)
    placed = None
    if form.is_valid():
        try:
            placed = testcalls.place_test_call(
                campaign=campaign,
                phone=form.cleaned_data["phone"],
                lead=form.cleaned_data["lead"],
                user=request.user,
            )
        except testcalls.TestCallRefused as refused:
            form.add_error("phone", refused.message)
    if not request.htmx:
        if placed is not None:
            _tell(request, placed)
        else:
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
        return redirect("campaigns:detail", pk=campaign.pk)
    if placed is not None:
        form = TestCallForm(campaign=campaign)
    return _panel(request, campaign, form, placed)


def _tell(request: HttpRequest, call) -> None:
    if call.accepted:
        ref = f" (reference {call.provider_ref})" if call.provider_ref else ""
        messages.success(request, M_PLACED.format(phone=call.phone, provider=call.provider, ref=ref))
    else:
        messages.error(
            request, M_REFUSED.format(provider=call.provider, phone=call.phone, detail=call.detail)
        )
