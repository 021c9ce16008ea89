from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.views import LoginView
from django.urls import include, path
from django.views.generic import RedirectView

from accounts import views as account_views
from leadmgr import views
from leadmgr.forms import AdminSignInForm, SignInForm

# The admin modules are imported here, with the URLs that serve them, not at start-up (leadmgr/apps.py).
admin.autodiscover()
# A write that lost the wait for SQLite's lock answers 503 with a message, not a 500 (views.py).
handler500 = views.server_error
# The admin's sign-in refuses an over-long username too (leadmgr/forms.py).
admin.site.login_form = AdminSignInForm

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="leads:list", permanent=False), name="home"),
    # Before auth's own URLs: the same view, with a form that refuses an over-long username.
    path("accounts/login/", LoginView.as_view(authentication_form=SignInForm), name="login"),
    path("accounts/time-zone/", account_views.time_zone, name="time_zone"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("leads/", include("leads.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("api/", include("api.urls")),
    path("webhooks/", include("webhooks.urls")),
    # A namespace of its own: as a second instance of "campaigns", a page under /assistants/ would
    # reverse "campaigns:..." names among the assistants' routes.
    path("assistants/", include(("campaigns.assistant_urls", "assistants"))),
    path("compliance/", include("compliance.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("healthz/detail", views.healthz_detail, name="healthz-detail"),
]
