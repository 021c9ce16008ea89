from __future__ import annotations

from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.subscription_list, name="list"),
    path("new/", views.subscription_create, name="create"),
    path("<int:pk>/", views.subscription_detail, name="detail"),
    # One subscription's form and changes: /webhooks/<pk>/<name>/ answered by subscription_<name>.
    *(
        path(f"<int:pk>/{name}/", getattr(views, f"subscription_{name}"), name=name)
        for name in ("edit", "deactivate", "activate", "delete", "test")
    ),
]
