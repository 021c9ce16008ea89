from __future__ import annotations

from django.urls import path

from . import views

app_name = "compliance"

urlpatterns = [
    path("do-not-call/", views.dnc_list, name="dnc_list"),
    path("do-not-call/add/", views.dnc_add, name="dnc_add"),
    path("do-not-call/<int:pk>/remove/", views.dnc_remove, name="dnc_remove"),
    path("do-not-call/import/", views.dnc_import, name="dnc_import"),
    path("do-not-call/export/", views.dnc_export, name="dnc_export"),
    path("leads/<int:pk>/opt-out/", views.lead_opt_out, name="lead_opt_out"),
    path("phone-check/", views.phone_check, name="phone_check"),
    path("erase/", views.erase, name="erase"),
    path("exports/", views.export_log, name="export_log"),
]
