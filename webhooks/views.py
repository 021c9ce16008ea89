"""Webhook subscriptions for Staff: list, create (the secret shown once), edit, (de)activate, delete,
the delivery log and a test event. Others get 403 on the list and 404 on a subscription, as the
rest of the site answers those who may not know an object exists."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leadmgr import access

from . import selectors, services
from .forms import SubscriptionForm
from .models import EVENT_TYPES, Subscription

SECRET_SESSION_KEY = "webhooks.new_secret"
E_INACTIVE_TEST = "This subscription is inactive: activate it to send a test event."


def _get_subscription_for_user(request: HttpRequest, pk: int, *, perm: str) -> Subscription:
    """404 for those who may not see subscriptions; 403 for those who may see but not ``perm``."""
    visible = Subscription.objects.all()
    if not request.user.has_perm("webhooks.view_subscription"):
        visible = visible.none()
    return access.get_for_user(request, visible, pk, perm=perm)


@require_GET
def subscription_list(request: HttpRequest) -> HttpResponse:
    access.require(request, "webhooks.view_subscription")
    subscriptions = list(Subscription.objects.order_by("id"))
    return render(
        request,
        "webhooks/subscription_list.html",
        {"subscriptions": subscriptions, "event_types": EVENT_TYPES},
    )


@require_http_methods(["GET", "POST"])
def subscription_create(request: HttpRequest) -> HttpResponse:
    access.require(request, "webhooks.add_subscription")
    form = SubscriptionForm(request.POST or None, initial={"active": True})
    if request.method == "POST" and form.is_valid():
        subscription = services.subscription_create(**form.cleaned_data, user=request.user)
        # Shown once, on the next page, then never again.
        request.session[SECRET_SESSION_KEY] = [subscription.pk, subscription.secret]
        messages.success(request, "Subscription created. Copy its secret now: it is shown only once.")
        return redirect("webhooks:detail", pk=subscription.pk)
    return render(request, "webhooks/subscription_form.html", {"form": form, "subscription": None})


@require_GET
def subscription_detail(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _get_subscription_for_user(request, pk, perm="webhooks.view_subscription")
    secret = None
    shown = request.session.get(SECRET_SESSION_KEY)
    if shown and shown[0] == subscription.pk:
        secret = shown[1]
        del request.session[SECRET_SESSION_KEY]
    return render(
        request,
        "webhooks/subscription_detail.html",
        {
            "subscription": subscription,
            "secret": secret,
            "log": list(selectors.delivery_log(subscription)),
            "event_types": EVENT_TYPES,
            "log_size": selectors.LOG_SIZE,
        },
    )


@require_http_methods(["GET", "POST"])
def subscription_edit(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _get_subscription_for_user(request, pk, perm="webhooks.change_subscription")
    form = SubscriptionForm(request.POST or None, instance=subscription)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Subscription saved.")
        return redirect("webhooks:detail", pk=subscription.pk)
    return render(request, "webhooks/subscription_form.html", {"form": form, "subscription": subscription})


M_ACTIVE = {
    False: "Subscription deactivated: no events are written or sent for it.",
    True: "Subscription activated.",
}


def _set_active(request: HttpRequest, pk: int, *, active: bool) -> HttpResponse:
    subscription = _get_subscription_for_user(request, pk, perm="webhooks.change_subscription")
    services.subscription_set_active(subscription, active=active)
    messages.success(request, M_ACTIVE[active])
    return redirect("webhooks:detail", pk=subscription.pk)


@require_POST
def subscription_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _set_active(request, pk, active=False)


@require_POST
def subscription_activate(request: HttpRequest, pk: int) -> HttpResponse:
    return _set_active(request, pk, active=True)


@require_http_methods(["GET", "POST"])
def subscription_delete(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _get_subscription_for_user(request, pk, perm="webhooks.delete_subscription")
    if request.method == "POST":
        url = subscription.url
        subscription.delete()  # its deliveries and log go with it (database cascade)
        messages.success(request, f"Subscription to {url} deleted.")
        return redirect("webhooks:list")
    pending = subscription.deliveries.filter(state="pending").count()
    return render(
        request,
        "webhooks/subscription_confirm_delete.html",
        {"subscription": subscription, "pending": pending},
    )


@require_POST
def subscription_test(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _get_subscription_for_user(request, pk, perm="webhooks.change_subscription")
    if not subscription.active:
        messages.error(request, E_INACTIVE_TEST)
    else:
        services.subscription_send_test(subscription, user=request.user)
        messages.success(request, "Test event queued: it appears in the log below once the worker sends it.")
    return redirect("webhooks:detail", pk=subscription.pk)
