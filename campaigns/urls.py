from __future__ import annotations

from django.urls import path

from . import views

app_name = "campaigns"

urlpatterns: list = [
    path("callbacks/http/", views.http_callback, name="http_callback"),
    path("<int:pk>/start-preview/", views.start_preview, name="start_preview"),
]
