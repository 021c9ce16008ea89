from __future__ import annotations

from django.urls import path

from . import csv_views

app_name = "leads"

urlpatterns: list = []

# --- CSV import and export (issue 4) ------------------------------------------------------------
urlpatterns += [
    path("import/", csv_views.import_upload, name="import"),
    path("import/<str:token>/confirm/", csv_views.import_confirm, name="import-confirm"),
    path("import/<str:token>/rejected.csv", csv_views.import_rejected, name="import-rejected"),
    path("import/sample/<int:campaign_id>.csv", csv_views.import_sample, name="import-sample"),
    path("export/", csv_views.export, name="export"),
]
