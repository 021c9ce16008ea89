from __future__ import annotations

from django.urls import path

from . import views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("<int:pk>/", views.campaign_detail, name="detail"),
    path("<int:pk>/start-preview/", views.start_preview, name="start_preview"),
    path("callbacks/http/", views.http_callback, name="http_callback"),
]
