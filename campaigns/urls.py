from __future__ import annotations

from django.urls import include, path

from . import testcall_views, views
from .controls import Action

app_name = "campaigns"

# /campaigns/<pk>/...: one campaign's page, its form, its refreshing parts, and its controls.
one_campaign = [
    path("", views.campaign_detail, name="detail"),
    path("edit/", views.campaign_edit, name="edit"),
    path("live/", views.campaign_live, name="live"),
    path("start-preview/", views.start_preview, name="start_preview"),
    # A test call from the campaign page (Staff): the panel, and the POST that places the call.
    path("test-call/", testcall_views.test_call_panel, name="test_call"),
    path("test-call/place/", testcall_views.test_call_place, name="test_call_place"),
    # Steering: a confirmation page (GET) and the POST-only change, one pair per control.
    *[
        p
        for action in Action
        for p in (
            path(f"{action.value}/", views.control, {"action": action.value}, name=action.value),
            path(
                f"{action.value}/confirm/",
                views.control_confirm,
                {"action": action.value},
                name=f"{action.value}_confirm",
            ),
        )
    ],
]

urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_create, name="create"),
    path("pause-all/", views.pause_all, name="pause_all"),
    path("pause-all/confirm/", views.pause_all_confirm, name="pause_all_confirm"),
    path("<int:pk>/", include(one_campaign)),
    path("callbacks/http/", views.http_callback, name="http_callback"),
]
