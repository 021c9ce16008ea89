from __future__ import annotations

from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.subscription_list, name="list"),
    path("new/", views.subscription_create, name="create"),
    path("<int:pk>/", views.subscription_detail, name="detail"),
    path("<int:pk>/edit/", views.subscription_edit, name="edit"),
    path("<int:pk>/deactivate/", views.subscription_deactivate, name="deactivate"),
    path("<int:pk>/activate/", views.subscription_activate, name="activate"),
    path("<int:pk>/delete/", views.subscription_delete, name="delete"),
    path("<int:pk>/test/", views.subscription_test, name="test"),
]
