from __future__ import annotations

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from campaigns.controls import Action

from . import autocalls, token_views, views

app_name = "api"


urlpatterns = [
    path("v1/leads/", views.LeadListView.as_view(), name="lead-list"),
    path("v1/leads/bulk/", views.LeadBulkView.as_view(), name="lead-bulk"),
    path("v1/leads/export/", views.LeadExportView.as_view(), name="lead-export"),
    path("v1/leads/<int:pk>/", views.LeadDetailView.as_view(), name="lead-detail"),
    path("v1/leads/<int:pk>/status/", views.LeadStatusView.as_view(), name="lead-status"),
    path("v1/campaigns/", views.CampaignListView.as_view(), name="campaign-list"),
    path("v1/campaigns/<int:pk>/", views.CampaignDetailView.as_view(), name="campaign-detail"),
    *(
        path(
            f"v1/campaigns/<int:pk>/{action.value}/",
            views.control_view(action),
            name=f"campaign-{action.value}",
        )
        for action in (Action.START, Action.PAUSE, Action.RESUME)
    ),
    # Autocalls-compatible (no trailing slash, as that API's paths).
    re_path(r"^user/lead$", autocalls.AutocallsLeadCreateView.as_view(), name="autocalls-lead-create"),
    re_path(r"^user/leads$", autocalls.AutocallsLeadListView.as_view(), name="autocalls-lead-list"),
    # The schema and its docs page are public: they hold no data, and every endpoint asks for a token.
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api:schema", template_name="api/swagger_ui.html", permission_classes=[AllowAny]
        ),
        name="docs",
    ),
    # The tokens page (the web UI).
    path("tokens/", token_views.token_list, name="tokens"),
    path("tokens/new/", token_views.token_create, name="token-create"),
    path("tokens/<int:pk>/revoke/", token_views.token_revoke, name="token-revoke"),
    # Last: any other /api/ address answers a problem-details 404 (scripts read JSON, not HTML).
    re_path(r"^(?!tokens/).*$", views.NotFoundView.as_view(), name="not-found"),
]
