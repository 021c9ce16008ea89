"""The Staff pages at /webhooks/: roles, the secret shown once, edit, (de)activate, delete, test, log."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from leadmgr.testing import PERSONAS
from webhooks.models import Delivery, DeliveryAttempt, Subscription
from webhooks.views import E_INACTIVE_TEST

from .conftest import subscribe

pytestmark = pytest.mark.django_db


# Personas: leadmgr.testing (PERSONAS, as_persona).


@pytest.fixture
def subscription(db) -> Subscription:
    return subscribe("https://crm.example/hook", events=["lead.created"])


FORM = {"url": "https://crm.example/other", "events": ["call.ended"], "description": "CRM", "active": "on"}

# (method, url, data) → expected status for outsider, operator, staff, admin; anonymous always goes
# to the sign-in page. 404 on a subscription for those who may not know it exists.
MATRIX = [
    ("get", "/webhooks/", None, (403, 403, 200, 200)),
    ("get", "/webhooks/new/", None, (403, 403, 200, 200)),
    ("post", "/webhooks/new/", FORM, (403, 403, 302, 302)),
    ("get", "/webhooks/{sub}/", None, (404, 404, 200, 200)),
    ("get", "/webhooks/{sub}/edit/", None, (404, 404, 200, 200)),
    ("post", "/webhooks/{sub}/edit/", FORM, (404, 404, 302, 302)),
    ("post", "/webhooks/{sub}/deactivate/", {}, (404, 404, 302, 302)),
    ("post", "/webhooks/{sub}/activate/", {}, (404, 404, 302, 302)),
    ("post", "/webhooks/{sub}/test/", {}, (404, 404, 302, 302)),
    ("get", "/webhooks/{sub}/delete/", None, (404, 404, 200, 200)),
    ("post", "/webhooks/{sub}/delete/", {}, (404, 404, 302, 302)),
]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("method", "url", "data", "expected"), MATRIX)
def test_role_matrix(as_persona, subscription, persona, method, url, data, expected):
    response = getattr(as_persona(persona), method)(url.format(sub=subscription.pk), data)
    if persona == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
        return
    assert response.status_code == expected[PERSONAS.index(persona) - 1]
    if method == "post" and url.endswith("/delete/"):
        assert Subscription.objects.filter(pk=subscription.pk).exists() == (response.status_code != 302)


@pytest.mark.parametrize(
    "url", ["/webhooks/{sub}/deactivate/", "/webhooks/{sub}/test/", "/webhooks/{sub}/activate/"]
)
def test_changes_are_post_only(client, staff, subscription, url):
    client.force_login(staff)
    assert client.get(url.format(sub=subscription.pk)).status_code == 405


def test_the_top_bar_links_webhooks_for_staff_only(client, staff, operator):
    client.force_login(operator)
    assert reverse("webhooks:list") not in client.get("/leads/").content.decode()
    client.force_login(staff)
    assert f'href="{reverse("webhooks:list")}"' in client.get("/leads/").content.decode()


def test_creating_shows_the_secret_once(client, staff):
    client.force_login(staff)
    response = client.post("/webhooks/new/", FORM)
    sub = Subscription.objects.get()
    assert response["Location"] == f"/webhooks/{sub.pk}/"
    assert (sub.url, sub.events, sub.description, sub.active) == (
        "https://crm.example/other",
        ["call.ended"],
        "CRM",
        True,
    )
    assert sub.secret.startswith("whsec_") and len(sub.secret) > 40
    first = client.get(response["Location"]).content.decode()
    assert sub.secret in first and "shown only now" in first
    again = client.get(response["Location"]).content.decode()
    assert sub.secret not in again


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({**FORM, "events": []}, "events", "Choose at least one event."),
        (
            {**FORM, "events": ["lead.deleted"]},
            "events",
            "Select a valid choice. lead.deleted is not one of the available choices.",
        ),
        ({**FORM, "url": "ftp://crm.example/"}, "url", "Enter an http:// or https:// URL."),
        ({**FORM, "url": "javascript:alert(1)"}, "url", "Enter a valid URL."),
        (
            {**FORM, "url": "https://x.example/" + "a" * 2000},
            "url",
            "Ensure this value has at most 2000 characters (it has 2018).",
        ),
    ],
)
def test_bad_input_is_a_form_error(client, staff, data, field, message):
    client.force_login(staff)
    response = client.post("/webhooks/new/", data)
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    assert Subscription.objects.count() == 0


def test_editing_keeps_the_secret(client, staff, subscription):
    client.force_login(staff)
    secret = subscription.secret
    response = client.post(f"/webhooks/{subscription.pk}/edit/", {**FORM, "active": ""})
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.url, subscription.events, subscription.active, subscription.secret) == (
        "https://crm.example/other",
        ["call.ended"],
        False,
        secret,
    )
    assert secret not in client.get(f"/webhooks/{subscription.pk}/edit/").content.decode()


def test_deactivate_and_activate(client, staff, subscription):
    client.force_login(staff)
    client.post(f"/webhooks/{subscription.pk}/deactivate/")
    subscription.refresh_from_db()
    assert subscription.active is False
    assert "Inactive" in client.get("/webhooks/").content.decode()
    client.post(f"/webhooks/{subscription.pk}/activate/")
    subscription.refresh_from_db()
    assert subscription.active is True


def test_delete_asks_first_then_removes_the_deliveries(client, staff, subscription):
    client.force_login(staff)
    client.post(f"/webhooks/{subscription.pk}/test/")
    page = client.get(f"/webhooks/{subscription.pk}/delete/").content.decode()
    assert "1 event(s) still waiting to be sent to it will be dropped" in page
    assert Subscription.objects.filter(pk=subscription.pk).exists()
    client.post(f"/webhooks/{subscription.pk}/delete/")
    assert not Subscription.objects.exists() and not Delivery.objects.exists()


def test_send_a_test_event_queues_one_for_this_subscription_only(client, staff, subscription):
    other = subscribe("https://other.example/hook")
    client.force_login(staff)
    response = client.post(f"/webhooks/{subscription.pk}/test/", follow=True)
    assert "Test event queued" in response.content.decode()
    delivery = Delivery.objects.get()
    body = json.loads(delivery.body)
    assert (delivery.subscription_id, delivery.event_type, body["type"], body["lead_id"]) == (
        subscription.pk,
        "webhook.test",
        "webhook.test",
        None,
    )
    assert body["data"]["user"] == {"id": staff.pk, "username": "sam"}
    assert not other.deliveries.exists()


def test_an_inactive_subscription_gets_no_test_event(client, staff, subscription):
    Subscription.objects.filter(pk=subscription.pk).update(active=False)
    client.force_login(staff)
    response = client.post(f"/webhooks/{subscription.pk}/test/", follow=True)
    assert E_INACTIVE_TEST in response.content.decode()
    assert not Delivery.objects.exists()


def _log_rows(subscription: Subscription, n: int) -> None:
    client_post = Delivery.objects.create(
        subscription=subscription,
        event_id="00000000-0000-4000-8000-000000000001",
        event_type="lead.created",
        lead_id=7,
        body="{}",
        created_at="2026-03-02T15:00:00Z",
        next_attempt_at="2026-03-02T15:00:00Z",
        state="delivered",
    )
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(
            delivery=client_post,
            subscription=subscription,
            number=i + 1,
            at="2026-03-02T15:00:00Z",
            status_code=500 if i % 2 else 200,
            error="HTTP 500" if i % 2 else "",
        )
        for i in range(n)
    )


def test_the_list_costs_five_queries(client, staff, django_assert_num_queries):
    for i in range(5):
        subscribe(f"https://crm{i}.example/hook")
    client.force_login(staff)
    # session, user, the user's permissions, its groups' permissions, the subscriptions
    with django_assert_num_queries(5):
        response = client.get("/webhooks/")
    assert response.status_code == 200 and len(response.context["subscriptions"]) == 5


def test_the_page_shows_the_last_100_attempts_and_failing_in_six_queries(
    client, staff, subscription, django_assert_num_queries
):
    _log_rows(subscription, 120)
    Subscription.objects.filter(pk=subscription.pk).update(
        failing=True,
        failing_since="2026-03-02T16:00:00Z",
        failure_reason="Gave up lead.created x after 14 attempts: HTTP 500",
    )
    client.force_login(staff)
    # session, user, the user's permissions, its groups' permissions, the subscription, the log
    # (attempts joined to their deliveries)
    with django_assert_num_queries(6):
        response = client.get(f"/webhooks/{subscription.pk}/")
    page = response.content.decode()
    log = response.context["log"]
    assert len(log) == 100 and log[0].number == 120  # newest first
    assert "This subscription is failing" in page and "after 14 attempts: HTTP 500" in page
    assert "Failing" in client.get("/webhooks/").content.decode()


def test_hostile_values_are_escaped(client, staff):
    subscribe("https://crm.example/<script>alert(1)</script>")
    Subscription.objects.update(description="<b>bold</b>")
    client.force_login(staff)
    page = client.get("/webhooks/").content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page


def test_the_form_and_confirmation_pages_have_query_budgets(
    client, staff, subscription, django_assert_num_queries
):
    client.force_login(staff)
    # session, user, the user's permissions, its groups' permissions
    with django_assert_num_queries(4):
        assert client.get("/webhooks/new/").status_code == 200
    # ... and the subscription
    with django_assert_num_queries(5):
        assert client.get(f"/webhooks/{subscription.pk}/edit/").status_code == 200
    # ... the subscription and the count of its pending events
    with django_assert_num_queries(6):
        assert client.get(f"/webhooks/{subscription.pk}/delete/").status_code == 200
