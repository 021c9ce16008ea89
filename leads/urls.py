from __future__ import annotations

from django.urls import path

from . import csv_views, views

app_name = "leads"

urlpatterns = [
    path("", views.LeadListView.as_view(), name="list"),
    path("count/", views.lead_match_count, name="match_count"),
    path("delete/", views.bulk_delete, name="bulk_delete"),
    path("status/", views.bulk_status, name="bulk_status"),
    path("new/", views.lead_create, name="create"),
    path("form/variables/", views.lead_form_variables, name="form_variables"),
    path("<int:pk>/", views.lead_detail, name="detail"),
    path("<int:pk>/edit/", views.lead_edit, name="edit"),
    path("<int:pk>/status/", views.lead_status, name="status"),
    # CSV import and export
    path("import/", csv_views.import_upload, name="import"),
    path("import/<str:token>/confirm/", csv_views.import_confirm, name="import-confirm"),
    path("import/<str:token>/rejected.csv", csv_views.import_rejected, name="import-rejected"),
    path("import/jobs/<int:pk>/", csv_views.import_job, name="import-job"),
    path("import/jobs/<int:pk>/progress/", csv_views.import_job_progress, name="import-job-progress"),
    path("import/sample/<int:campaign_id>.csv", csv_views.import_sample, name="import-sample"),
    path("import/sample/<int:campaign_id>.xlsx", csv_views.import_sample_xlsx, name="import-sample-xlsx"),
    path("export/", csv_views.export, name="export"),
]
