"""The sign-in forms, held to the username's length before anyone is asked to authenticate."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm

E_USERNAME_TOO_LONG = "A username has at most {n} characters."


def _checked_username(form: AuthenticationForm) -> str:
    """Django's sign-in form only tells the browser the username's limit; a longer one reached
    authenticate() and the lockout's failure record, which PostgreSQL refused with a 500."""
    username = form.cleaned_data.get("username") or ""
    limit = get_user_model()._meta.get_field("username").max_length
    if len(username) > limit:
        raise forms.ValidationError(E_USERNAME_TOO_LONG.format(n=limit), code="max_length")
    return username


class SignInForm(AuthenticationForm):
    def clean_username(self) -> str:
        return _checked_username(self)


class AdminSignInForm(AdminAuthenticationForm):
    def clean_username(self) -> str:
        return _checked_username(self)
