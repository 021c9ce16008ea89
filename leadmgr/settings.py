"""leadmgr settings, read from the environment (see .env.example).

Every setting a deployment may change comes from an environment variable read through one of the
strict helpers below: a malformed value stops start-up with a message naming the variable.
Unsafe production combinations stop start-up here, at import, so that a WSGI server (which runs no
system checks) refuses to serve them too; ``leadmgr/checks.py`` reports the same for ``manage.py``.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

# The key used when SECRET_KEY is not set. Fine on a laptop; refused below (and by the system
# check leadmgr.E001) whenever DEBUG is off.
DEVELOPMENT_SECRET_KEY = "django-insecure-leadmgr-development-key-do-not-use-in-production"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


# An empty variable counts as unset, so a copied .env.example with blanks means "the defaults".


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, "").strip() or default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {raw!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
# Refused here, not only by the system checks: gunicorn imports the settings but runs no checks.
if not DEBUG:
    # Every unsafe production value at once, so one failed start names all there is to fix.
    from leadmgr.checks import E_DEV_SECRET, E_NO_HOSTS

    _unsafe = [
        *([f"{E_DEV_SECRET} (leadmgr.E001)"] if SECRET_KEY == DEVELOPMENT_SECRET_KEY else []),
        *([f"{E_NO_HOSTS} (leadmgr.E002)"] if not ALLOWED_HOSTS else []),
    ]
    if _unsafe:
        raise ImproperlyConfigured(" ".join(_unsafe))
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # Django's admin, its ModelAdmin modules imported by the URLconf rather than at start-up.
    "leadmgr.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_filters",
    "django_tables2",
    "django_htmx",
    "import_export",
    "django_tasks_db",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served from this site (no CDN; CSP 'self')
    "leadmgr",
    "campaigns",
    "leads",
    "api",
    "webhooks",
    "leadcounts",
    "compliance",
    "accounts",
]

# CSPMiddleware right after SecurityMiddleware: every response gets the policy, whatever a later
# middleware answers. AxesMiddleware last, as django-axes requires: it turns a locked-out sign-in
# into the lockout page.
MIDDLEWARE = [
    # First, so every answer (static files and redirects too) gets its request id and log line.
    "leadmgr.requestlog.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    # Before anything reads the body: an upload over LEADMGR_MAX_UPLOAD_MB is refused unread.
    "leadmgr.middleware.UploadLimitMiddleware",
    # Static files from STATIC_ROOT (collectstatic), before sessions: no session work for a CSS file.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # The signed-in user's time zone, from their session, for the view and its templates.
    "accounts.middleware.TimeZoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "leadmgr.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "leadmgr.wsgi.application"

# DATABASE_URL: sqlite:///path/to/file.sqlite3 or postgres://user:pass@host:5432/name.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
try:
    # Production (DEBUG=0) keeps each process's connection for a minute instead of opening one per
    # request: under 50 users at 1M leads that halved the server's own p95 on PostgreSQL (bench/load/).
    # The development server starts a thread per request, so it keeps none.
    _default_db = dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("CONN_MAX_AGE", 0 if DEBUG else 60),
        conn_health_checks=True,
    )
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
if _default_db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers carry on while the runner or an import writes; IMMEDIATE transactions take
    # the write lock up front, so two writers queue (busy timeout) instead of failing to upgrade.
    _default_db.setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
elif _default_db["ENGINE"] == "django.db.backends.postgresql":
    # An unreachable server fails a request (and /healthz) after this many seconds instead of hanging.
    _default_db.setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5)
    )
    # No JIT compilation: the planner compiles a query whose estimated cost passes jit_above_cost,
    # and a filter it cannot estimate (a variable's value, the leads past a mark) looks costly while
    # reading a few rows: 10 ms compiling a 0.1 ms query, 45 ms on a leads page (bench/README.md).
    _options = _default_db["OPTIONS"]
    _options["options"] = f"{_options.get('options', '')} -c jit=off".strip()
DATABASES = {"default": _default_db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-axes counts failed sign-ins (on /accounts/login/ and /admin/login/ alike, since both go
# through authenticate()); its backend comes first so a locked-out user is refused before any
# password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# After this many failed sign-ins for one username, or from one client address, sign-in is locked...
LEADMGR_LOGIN_FAILURE_LIMIT = env_int("LEADMGR_LOGIN_FAILURE_LIMIT", 5)
# ...for this many minutes after the last failure (`manage.py axes_reset` lifts every lockout now).
LEADMGR_LOGIN_LOCKOUT_MINUTES = env_int("LEADMGR_LOGIN_LOCKOUT_MINUTES", 15)
# How many reverse proxies in front of the site append to X-Forwarded-For (0: none, the client's
# address is REMOTE_ADDR and the header is ignored, since any client can write it).
LEADMGR_PROXY_COUNT = env_int("LEADMGR_PROXY_COUNT", 0)
if LEADMGR_LOGIN_FAILURE_LIMIT < 1 or LEADMGR_LOGIN_LOCKOUT_MINUTES < 1 or LEADMGR_PROXY_COUNT < 0:
    raise ImproperlyConfigured(
        "LEADMGR_LOGIN_FAILURE_LIMIT and LEADMGR_LOGIN_LOCKOUT_MINUTES must be at least 1, "
        "LEADMGR_PROXY_COUNT at least 0."
    )
AXES_FAILURE_LIMIT = LEADMGR_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = dt.timedelta(minutes=LEADMGR_LOGIN_LOCKOUT_MINUTES)
# Either one locks: many passwords against one user, or many users tried from one address.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# No start-up banner: commands and workers keep stderr for errors (tests assert it stays empty).
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "leadmgr.security.client_ip"
AXES_LOCKOUT_CALLABLE = "leadmgr.security.lockout_response"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "leads:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# Production (DEBUG off): hashed, compressed copies made by collectstatic, served by whitenoise with
# far-future cache headers. With DEBUG, or STATIC_MANIFEST=0 (benchmarks), plain names that need no
# collectstatic.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "leadmgr.adaptations.GzipManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST", not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Production hardening; each defaults to "on" when DEBUG is off so that `check --deploy` is clean.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
# The preload flag only allows submitting the domain to browsers' preload list; it enrolls nothing.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
# A load balancer asks /healthz over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy on every response (django-csp): scripts, styles, fonts and images come
# from this site only, never inline. Bootstrap draws its icons with data: SVG images.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# The region assumed for phone numbers written without a country code ("(415) 555-1234").
# Empty: such numbers are refused with a message asking for the country code.
LEADMGR_DEFAULT_REGION = env_str("LEADMGR_DEFAULT_REGION", "").upper() or None

# The most distinct variables one lead (or one secondary contact) may carry: every export of a
# campaign has a column per variable any of its leads sets, so one wide file would widen them all.
LEADMGR_MAX_VARIABLES_PER_LEAD = env_int("LEADMGR_MAX_VARIABLES_PER_LEAD", 200)

# Compliance (compliance/): the key of the hash an erased number leaves behind (default: derived from
# SECRET_KEY; set a stable one in production, since changing it forgets which numbers were erased),
# and how many days call attempts and status history are kept (`manage.py purge_history`; 0 keeps all).
LEADMGR_ERASURE_KEY = env_str("LEADMGR_ERASURE_KEY", "")
LEADMGR_HISTORY_RETENTION_DAYS = env_int("LEADMGR_HISTORY_RETENTION_DAYS", 0)
if LEADMGR_HISTORY_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("LEADMGR_HISTORY_RETENTION_DAYS must be 0 (keep everything) or more.")

# Where an uploaded CSV waits between its preview and its confirmation (removed after a day), with
# the progress of its background jobs. Readable by this user only (0700, files 0600); every web
# process and every `db_worker` must see the same directory.
LEADMGR_IMPORT_DIR = Path(env_str("LEADMGR_IMPORT_DIR", str(Path(tempfile.gettempdir()) / "leadmgr-imports")))
# The largest upload accepted (a request body over it is refused with 413 before it is read).
LEADMGR_MAX_UPLOAD_MB = env_int("LEADMGR_MAX_UPLOAD_MB", 200)
# Uploads from this size on are previewed and imported by a background job (`manage.py db_worker`)
# with a progress bar; smaller ones in the request.
LEADMGR_IMPORT_BACKGROUND_BYTES = env_int("LEADMGR_IMPORT_BACKGROUND_BYTES", 2 * 1024 * 1024)
# An every-column web export of more leads than this finds its columns in a background job first.
LEADMGR_EXPORT_BACKGROUND_ROWS = env_int("LEADMGR_EXPORT_BACKGROUND_ROWS", 200_000)

# Background jobs (Django's tasks framework), kept in the database and run by `manage.py db_worker`.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

# The JSON API (api/): Django REST framework, its OpenAPI schema by drf-spectacular. Bearer tokens
# (api.ApiToken) for scripts, the session for the docs page; JSON in and out, every error as RFC 9457
# problem details (api/errors.py). The browsable renderer is left out: its pages use inline scripts.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.ModelPermissions"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONBodyParser"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.problem_handler",
    # ?format= is the export's own parameter (csv or ndjson), not DRF's renderer switch.
    "URL_FORMAT_OVERRIDE": None,
}
# The largest JSON body the API reads (a bulk request of 10,000 leads with contacts is ~3 MB).
LEADMGR_API_MAX_BODY_MB = env_int("LEADMGR_API_MAX_BODY_MB", 32)
SPECTACULAR_SETTINGS = {
    "TITLE": "leadmgr API",
    "DESCRIPTION": "Leads and campaigns of leadmgr, and the Autocalls-compatible lead endpoints.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"LeadStatus": "leads.models.Status"},
}

# django-tables2 renders with Bootstrap 5 markup (vendored under static/).
DJANGO_TABLES2_TEMPLATE = "django_tables2/bootstrap5.html"

# django-import-export: imports and exports in the admin check the model's permissions.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"

# --- Production serving: logs, health (leadmgr/requestlog.py, leadmgr/health.py, bin/serve) ---
# One line per request (leadmgr.request) and per runner event (campaigns.runner), each with the
# request id; LOG_FORMAT=json writes one JSON object per line.
LOG_FORMAT = env_str("LOG_FORMAT", "text").lower()
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json; got {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "leadmgr.requestlog.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "leadmgr.requestlog.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Django's "django.server" (runserver) and "django.request" (4xx/5xx) go through the root too;
    # the runner's logger is named so that a LOG_LEVEL change never silences it by accident.
    "loggers": {"campaigns.runner": {"level": env_str("LOG_LEVEL", "INFO")}},
}
# whitenoise reads STATIC_ROOT once at start-up; with DEBUG it looks files up per request (no
# collectstatic needed, and the tests, which turn DEBUG off at run time, keep that).
WHITENOISE_AUTOREFRESH = DEBUG
# /healthz/detail fails its upload_space check below this many MB free where uploads are written.
LEADMGR_HEALTH_MIN_FREE_MB = env_int("LEADMGR_HEALTH_MIN_FREE_MB", 512)
# /healthz/detail reports a backlog over this many waiting background jobs as a problem.
LEADMGR_HEALTH_MAX_JOB_BACKLOG = env_int("LEADMGR_HEALTH_MAX_JOB_BACKLOG", 100)

# --- The campaign runner and its telephony provider (campaigns/runner.py, campaigns/providers/) ---
# simulated: no outside service, outcomes drawn from LEADMGR_SIMULATED_MIX (the default, for demos);
# http: POST each call to LEADMGR_PROVIDER_URL, results come back signed on /campaigns/callbacks/http/.
LEADMGR_PROVIDERS = ("simulated", "http")
LEADMGR_PROVIDER = env_str("LEADMGR_PROVIDER", "simulated").lower()
if LEADMGR_PROVIDER not in LEADMGR_PROVIDERS:
    raise ImproperlyConfigured(
        f"LEADMGR_PROVIDER must be one of {', '.join(LEADMGR_PROVIDERS)}; got {LEADMGR_PROVIDER!r}."
    )
LEADMGR_PROVIDER_URL = env_str("LEADMGR_PROVIDER_URL", "")
# Shared with the provider: signs the call requests we send and the results it sends back.
LEADMGR_PROVIDER_SECRET = env_str("LEADMGR_PROVIDER_SECRET", "")
# The public base URL of this site, for the callback URL sent with each call (https://leads.example.com).
LEADMGR_CALLBACK_BASE_URL = env_str("LEADMGR_CALLBACK_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# Seconds to wait for the provider to accept a call request.
LEADMGR_PROVIDER_TIMEOUT = env_int("LEADMGR_PROVIDER_TIMEOUT", 10)
# A signed callback older (or newer) than this many seconds is refused as stale.
LEADMGR_CALLBACK_MAX_AGE = env_int("LEADMGR_CALLBACK_MAX_AGE", 300)
# How long a worker's claim on a lead lasts without news before another worker recovers it.
LEADMGR_RUNNER_LEASE = env_int("LEADMGR_RUNNER_LEASE", 900)
# Seconds between two passes of `run_campaigns` over the running campaigns.
LEADMGR_RUNNER_TICK = env_int("LEADMGR_RUNNER_TICK", 2)
# On SIGTERM/Ctrl-C: seconds a worker waits for the calls it holds before releasing them to the queue.
LEADMGR_RUNNER_GRACE = env_int("LEADMGR_RUNNER_GRACE", 30)
# Simulated provider: outcome weights, the seed, and how much faster than real time calls run
# (10: a 2-minute call ends after 12 s; 0: every result at once, as the tests use).
LEADMGR_SIMULATED_MIX = env_str(
    "LEADMGR_SIMULATED_MIX", "completed:30,no_answer:30,busy:15,voicemail:15,failed:10"
)
LEADMGR_SIMULATED_SEED = env_int("LEADMGR_SIMULATED_SEED", 42)
LEADMGR_SIMULATED_SPEEDUP = env_int("LEADMGR_SIMULATED_SPEEDUP", 10)


# --- Webhooks (webhooks/): the outbox and its delivery worker, `manage.py deliver_webhooks` ---
def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number of seconds; got {raw!r}.") from None
    if not value >= 0:
        raise ImproperlyConfigured(f"{name} must be a number of seconds >= 0; got {raw!r}.")
    return value


# Seconds to wait for a receiver's answer to one POST.
LEADMGR_WEBHOOK_TIMEOUT = _env_seconds("LEADMGR_WEBHOOK_TIMEOUT", 10)
# Seconds between a failed attempt and the next one; after the last, the delivery is given up and
# its subscription marked failing. The default doubles from 10 s and adds up to about 24 hours.
_delays = env_list(
    "LEADMGR_WEBHOOK_RETRY_DELAYS",
    ["10", "20", "40", "80", "160", "320", "640", "1280", "2560", "5120", "10240", "20480", "44600"],
)
try:
    LEADMGR_WEBHOOK_RETRY_DELAYS = [float(v) for v in _delays]
except ValueError:
    raise ImproperlyConfigured(
        f"LEADMGR_WEBHOOK_RETRY_DELAYS must be seconds separated by commas; got {_delays!r}."
    ) from None
if any(not delay >= 0 for delay in LEADMGR_WEBHOOK_RETRY_DELAYS):
    raise ImproperlyConfigured(f"LEADMGR_WEBHOOK_RETRY_DELAYS must be seconds >= 0; got {_delays!r}.")
# POSTs in flight at once per worker, and deliveries one claim takes.
LEADMGR_WEBHOOK_CONCURRENCY = env_int("LEADMGR_WEBHOOK_CONCURRENCY", 8)
LEADMGR_WEBHOOK_BATCH = env_int("LEADMGR_WEBHOOK_BATCH", 100)
# Seconds an idle worker waits before looking for due deliveries again.
LEADMGR_WEBHOOK_POLL = _env_seconds("LEADMGR_WEBHOOK_POLL", 1)
# Days delivered and given-up deliveries (and their log) are kept.
LEADMGR_WEBHOOK_KEEP_DAYS = env_int("LEADMGR_WEBHOOK_KEEP_DAYS", 7)
if LEADMGR_WEBHOOK_CONCURRENCY < 1 or LEADMGR_WEBHOOK_BATCH < 1 or LEADMGR_WEBHOOK_TIMEOUT <= 0:
    raise ImproperlyConfigured(
        "LEADMGR_WEBHOOK_CONCURRENCY and LEADMGR_WEBHOOK_BATCH must be at least 1, "
        "LEADMGR_WEBHOOK_TIMEOUT more than 0."
    )
