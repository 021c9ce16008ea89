"""Forms the apps share: the sign-in forms, held to the username's length before anyone is asked
to authenticate, and a formset's rows read as typed (for the htmx partials that follow a form)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

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


def typed_rows(data: Mapping, prefix: str, *, limit: int) -> Iterator[tuple[str, str]]:
    """A formset's rows as typed, not yet valid: (name, the row's field prefix) of each named row
    not marked for removal, at most ``limit`` rows read whatever TOTAL_FORMS claims."""
    try:
        total = int(data.get(f"{prefix}-TOTAL_FORMS", 0))
    except ValueError:
        total = 0
    for i in range(max(min(total, limit), 0)):
        row = f"{prefix}-{i}-"
        name = (data.get(f"{row}name") or "").strip()
        if name and not data.get(f"{row}DELETE"):
            yield name, row
