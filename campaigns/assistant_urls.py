"""/assistants/: the AI voice agents and their variables (the campaigns app owns them)."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.assistant_list, name="assistant_list"),
    path("new/", views.assistant_create, name="assistant_create"),
    path("preview/", views.assistant_preview, name="assistant_preview"),
    path("<int:pk>/edit/", views.assistant_edit, name="assistant_edit"),
]
