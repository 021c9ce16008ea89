from __future__ import annotations

from django.urls import path

from . import testcall_views, views
from .controls import Action

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("pause-all/", views.pause_all, name="pause_all"),
    path("pause-all/confirm/", views.pause_all_confirm, name="pause_all_confirm"),
    path("new/", views.campaign_create, name="create"),
    path("<int:pk>/", views.campaign_detail, name="detail"),
    path("<int:pk>/edit/", views.campaign_edit, name="edit"),
    path("<int:pk>/live/", views.campaign_live, name="live"),
    path("<int:pk>/start-preview/", views.start_preview, name="start_preview"),
    # A test call from the campaign page (Staff): the panel, and the POST that places the call.
    path("<int:pk>/test-call/", testcall_views.test_call_panel, name="test_call"),
    path("<int:pk>/test-call/place/", testcall_views.test_call_place, name="test_call_place"),
    # Steering: a confirmation page (GET) and the POST-only change, one pair per control.
    *[
        p
        for action in Action
        for p in (
            path(f"<int:pk>/{action.value}/", views.control, {"action": action.value}, name=action.value),
            path(
                f"<int:pk>/{action.value}/confirm/",
                views.control_confirm,
                {"action": action.value},
                name=f"{action.value}_confirm",
            ),
        )
    ],
    path("callbacks/http/", views.http_callback, name="http_callback"),
]
