from __future__ import annotations

app_name = "leads"

urlpatterns: list = []
