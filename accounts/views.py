"""The profile page: each user picks the time zone their pages and forms use."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from . import zones
from .forms import TimeZoneForm
from .models import Profile

M_SAVED = "Your time zone is now {zone}: times are shown and read in it."


@require_http_methods(["GET", "POST"])
def time_zone(request: HttpRequest) -> HttpResponse:
    """Every signed-in user may change their own zone (LoginRequiredMiddleware signs others in)."""
    form = TimeZoneForm(request.POST or None, initial={"time_zone": zones.current_name()})
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["time_zone"]
        Profile.objects.update_or_create(user=request.user, defaults={"time_zone": name})
        zones.remember(request, name)
        messages.success(request, M_SAVED.format(zone=name))
        return redirect("time_zone")
    context = {"form": form, "now": timezone.now(), "site_zone": zones.site_zone()}
    return render(request, "accounts/time_zone.html", context)
