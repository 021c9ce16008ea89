from __future__ import annotations

from django.urls import path

from . import views

app_name = "compliance"

# The do-not-call lists: /compliance/do-not-call/<route> answered by dnc_<name>.
DO_NOT_CALL = {
    "list": "",
    "add": "add/",
    "remove": "<int:pk>/remove/",
    "import": "import/",
    "export": "export/",
}

urlpatterns = [
    *(
        path(f"do-not-call/{route}", getattr(views, f"dnc_{n}"), name=f"dnc_{n}")
        for n, route in DO_NOT_CALL.items()
    ),
    path("leads/<int:pk>/opt-out/", views.lead_opt_out, name="lead_opt_out"),
    path("phone-check/", views.phone_check, name="phone_check"),
    # Admins only:
    path("erase/", views.erase, name="erase"),
    path("exports/", views.export_log, name="export_log"),
]
