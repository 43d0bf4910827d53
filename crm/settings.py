"""Kith settings. Every setting comes from the environment, with safe local defaults."""

from __future__ import annotations

import datetime
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("KITH_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    """A string from NAME, or from the file named by NAME_FILE (for secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        return Path(file_name).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# Salt of the keys that encrypt secrets at rest (encrypted_fields: Twilio auth tokens, sensitive
# custom fields); the key itself comes from SECRET_KEY (and SECRET_KEY_FALLBACKS when rotating).
SALT_KEY = env_list("KITH_ENCRYPTION_SALT", ["kith-field-encryption"])
DEBUG = env_bool("DEBUG", False)
KITH_PUBLIC_URL = os.environ.get("KITH_PUBLIC_URL", "").rstrip("/")
PRODUCTION = bool(KITH_PUBLIC_URL) and not DEBUG

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
if KITH_PUBLIC_URL:
    from urllib.parse import urlsplit

    _public_host = urlsplit(KITH_PUBLIC_URL).hostname
    if _public_host and _public_host not in ALLOWED_HOSTS:
        ALLOWED_HOSTS.append(_public_host)
    CSRF_TRUSTED_ORIGINS = [KITH_PUBLIC_URL]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.forms",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "guardian",
    "import_export",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "phonenumber_field",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_results",
    "axes",
    "crm",
    "companies",
    "contacts",
    "activities",
    "messaging",
]

MIDDLEWARE = [
    # A request id for the response header and every log line (crm.logs); first, so all see it.
    "crm.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The signed-in user's organization for row-level security (crm.rls), reset after the request.
    "crm.rls.OrganizationContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Members of an organization that requires two-factor sign-in enrol before anything else.
    "crm.twofactor.TwoFactorRequiredMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Dates in the member's own time zone (when they set one).
    "activities.middleware.MemberTimezoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records the signed-in user and URL on every audit row written during a request.
    "crm.audit.AuditContextMiddleware",
    # Locked-out sign-ins answer 429 (AXES_* below); last, as django-axes asks.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"
# Form widgets render through the template engine, so templates/django/forms/ can
# override the widget templates (options inline: see templates/django/forms/widgets/).
FORM_RENDERER = "crm.form_renderer.KithFormRenderer"
WSGI_APPLICATION = "crm.wsgi.application"

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
                "crm.context_processors.kith",
            ],
        },
    },
]

# Database: DATABASE_URL, else the embedded PostgreSQL under var/pgdata.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
else:
    from crm.embedded_db import DATABASE_NAME, ensure_server

    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": DATABASE_NAME,
            "USER": "postgres",
            "PASSWORD": "",
            "HOST": ensure_server(Path(os.environ.get("KITH_PGDATA", VAR_DIR / "pgdata"))),
            "PORT": "",
            "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 60),
        }
    }
DATABASES["default"].setdefault("TEST", {})
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# Row-level security (crm/rls.py). KITH_DB_ROLE=app (web, worker and beat in the Procfile): the
# default connection is the app role, subject to the per-organization policies, and the connection
# above (the owner, who ran the migrations) stays as the `platform` alias for platform staff in the
# Django admin. KITH_DB_ROLE=owner (the default: migrate, ensure_admin, create_org, seed_demo, tests'
# own process): the owner connection only. The app role connects to the same server and database as
# the owner with KITH_DB_APP_ROLE (+ KITH_DB_APP_PASSWORD), or wherever DATABASE_APP_URL says.
KITH_DB_ROLE = os.environ.get("KITH_DB_ROLE", "owner").strip().lower() or "owner"
if KITH_DB_ROLE not in {"app", "owner"}:
    raise ImproperlyConfigured(f"KITH_DB_ROLE={KITH_DB_ROLE!r} must be app or owner")
KITH_DB_APP_ROLE = os.environ.get("KITH_DB_APP_ROLE", "kith_app")
if KITH_DB_ROLE == "app":
    _owner = DATABASES["default"]
    if os.environ.get("DATABASE_APP_URL"):
        import dj_database_url

        _app = dj_database_url.parse(os.environ["DATABASE_APP_URL"], conn_max_age=_owner.get("CONN_MAX_AGE", 60))
        _app.setdefault("TEST", {})
        _app["CONN_HEALTH_CHECKS"] = True
    else:
        _app = {**_owner, "USER": KITH_DB_APP_ROLE, "PASSWORD": env_str("KITH_DB_APP_PASSWORD"),
                "OPTIONS": dict(_owner.get("OPTIONS", {})), "TEST": dict(_owner.get("TEST", {}))}
    DATABASES = {"default": _app, "platform": {**_owner, "TEST": {"MIRROR": "default"}}}
    DATABASE_ROUTERS = ["crm.rls.PlatformRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "crm.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out email + address before the password is even checked.
    "crm.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # no guardian anonymous user: anonymous visitors see nothing

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
# Hashed, compressed static files once `collectstatic` has written its manifest (make run
# does, with KITH_COLLECTSTATIC=1); before that (a bare runserver, tests) plain storage,
# and whitenoise serves files straight from the finders outside production.
_manifest_ready = (STATIC_ROOT / "staticfiles.json").exists() or env_bool("KITH_COLLECTSTATIC")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if _manifest_ready or PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# Shared store for caches, throttles and locks: Redis when REDIS_URL is set,
# otherwise the database cache (never per-process memory).
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "kith_cache"}}

# Email: console by default; SMTP when EMAIL_HOST is set.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Kith <kith@localhost>")

# Celery: CELERY_BROKER_URL (Redis/RabbitMQ) in production, otherwise kombu's
# filesystem transport under var/celery so `make run` has a real worker without a server.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
if not CELERY_BROKER_URL:
    _celery_dir = VAR_DIR / "celery"
    for _sub in ("queue", "processed", "control"):
        (_celery_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        "control_folder": str(_celery_dir / "control"),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "kith")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = False
# Health (crm.health, /healthz): workers write a heartbeat this often; one older than
# KITH_WORKER_STALE_SECONDS makes the health "degraded". The broker check gives up after the timeout.
KITH_WORKER_HEARTBEAT_SECONDS = env_int("KITH_WORKER_HEARTBEAT_SECONDS", 30)
KITH_WORKER_STALE_SECONDS = env_int("KITH_WORKER_STALE_SECONDS", 120)
KITH_HEALTH_BROKER_TIMEOUT = float(os.environ.get("KITH_HEALTH_BROKER_TIMEOUT", "2"))
# Load balancers probe /healthz over plain http on the internal address: no redirect to https.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
from celery.schedules import crontab  # noqa: E402

CELERY_BEAT_SCHEDULE = {
    "recount-tag-usage": {"task": "crm.tasks.recount_all_tag_usage", "schedule": 3600.0},
    "requeue-stale-jobs": {"task": "crm.tasks.requeue_stale_jobs", "schedule": 60.0},
    "purge-expired-exports": {"task": "contacts.tasks.purge_expired_exports", "schedule": 3600.0},
    "notify-due-tasks": {"task": "activities.tasks.notify_due_tasks", "schedule": 300.0},
    "send-daily-digests": {"task": "activities.tasks.send_daily_digests",
                           "schedule": crontab(minute=0, hour=env_int("KITH_DIGEST_HOUR", 7))},
    "send-due-messages": {"task": "messaging.tasks.send_due_messages", "schedule": 60.0},
    # Catch-all for writers that bypass save() (imports, bulk edits, tag changes).
    "embed-pending": {"task": "contacts.tasks.embed_pending", "schedule": 60.0},
    # Webhook retries that fell due, and events of writers that queue no delivery themselves.
    "deliver-webhooks": {"task": "crm.tasks.deliver_webhooks", "schedule": 5.0},
    "purge-webhook-events": {"task": "crm.tasks.purge_webhook_events", "schedule": crontab(minute=30, hour=3)},
    # GDPR: expired subject access exports and the 30-day request log; trash retention.
    "purge-privacy": {"task": "contacts.tasks.purge_privacy", "schedule": 3600.0},
    # Hourly, at most 1,000 contacts a run, so a backlog drains without one long transaction chain.
    "purge-trash": {"task": "contacts.tasks.purge_trash", "schedule": crontab(minute=30)},
    # Lead scoring: the queue of contacts whose inputs changed (catch-all for writers that bypass
    # save()), and the nightly recompute of every organization (recency decay).
    "score-pending": {"task": "contacts.tasks.score_pending", "schedule": 60.0},
    "nightly-rescore": {"task": "contacts.tasks.nightly_rescore",
                        "schedule": crontab(minute=30, hour=env_int("KITH_SCORING_HOUR", 2))},
}
# Subject access exports (contacts.privacy) are downloadable this long, then deleted.
KITH_PRIVACY_EXPORT_TTL_SECONDS = env_int("KITH_PRIVACY_EXPORT_TTL_SECONDS", 3 * 86400)
# Days the privacy request log keeps an entry.
KITH_PRIVACY_LOG_DAYS = env_int("KITH_PRIVACY_LOG_DAYS", 30)
# Key of the erasure tombstones' HMAC (empty: SECRET_KEY). Set it to keep tombstones working
# across a SECRET_KEY rotation.
KITH_TOMBSTONE_KEY = env_str("KITH_TOMBSTONE_KEY") or ""
# Lead scoring: how long a contact's score history is kept (its latest row always is).
KITH_SCORE_HISTORY_DAYS = env_int("KITH_SCORE_HISTORY_DAYS", 365)
# Long jobs (crm.models.Job) send a heartbeat after every batch; one silent this long is re-queued.
KITH_JOB_STALE_SECONDS = env_int("KITH_JOB_STALE_SECONDS", 300)
KITH_JOB_MAX_ATTEMPTS = env_int("KITH_JOB_MAX_ATTEMPTS", 5)
# Queued SMS untouched this long are handed to the send task again (messaging.services.requeue_stale).
KITH_SMS_STALE_SECONDS = env_int("KITH_SMS_STALE_SECONDS", 600)
# Admin exports (django-import-export) neutralize cells that spreadsheets would run as formulas.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
# Contact imports: the largest file accepted (enough for 1,048,576 rows of 20 columns).
KITH_IMPORT_MAX_BYTES = env_int("KITH_IMPORT_MAX_BYTES", 512 * 1024 * 1024)
# Uploads past this size are streamed to a temporary file, not held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("KITH_FILE_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)
# A request body other than file uploads (form fields, JSON) larger than this is refused (400),
# as is a form with more fields, or more files, than these.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("KITH_DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("KITH_DATA_UPLOAD_MAX_NUMBER_FIELDS", 2000)
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("KITH_DATA_UPLOAD_MAX_NUMBER_FILES", 20)
# Hourly quotas (crm/quotas.py), per member and per organization; 0 turns one off. Over a
# quota the API answers 429 with Retry-After, the pages 429 with the form and the message.
KITH_QUOTA_IMPORTS_PER_HOUR = env_int("KITH_QUOTA_IMPORTS_PER_HOUR", 30)
KITH_QUOTA_IMPORTS_PER_HOUR_ORG = env_int("KITH_QUOTA_IMPORTS_PER_HOUR_ORG", 300)
KITH_QUOTA_EXPORTS_PER_HOUR = env_int("KITH_QUOTA_EXPORTS_PER_HOUR", 30)
KITH_QUOTA_EXPORTS_PER_HOUR_ORG = env_int("KITH_QUOTA_EXPORTS_PER_HOUR_ORG", 300)
# Texts, single and bulk (a bulk send counts its recipients).
KITH_QUOTA_SMS_PER_HOUR = env_int("KITH_QUOTA_SMS_PER_HOUR", 500)
KITH_QUOTA_SMS_PER_HOUR_ORG = env_int("KITH_QUOTA_SMS_PER_HOUR_ORG", 5000)
# Export download links (and the files behind them) expire this long after the export finished.
KITH_EXPORT_TTL_SECONDS = env_int("KITH_EXPORT_TTL_SECONDS", 86400)
# Contacts per export step (one transaction, one part file, one heartbeat).
KITH_EXPORT_CHUNK_SIZE = env_int("KITH_EXPORT_CHUNK_SIZE", 5000)

# Outbound webhooks (crm/webhooks.py): private, loopback and reserved targets are refused in
# production; an endpoint is disabled after this many failed deliveries in a row (or an event
# that could not be delivered in 72 hours).
KITH_WEBHOOK_ALLOW_PRIVATE = env_bool("KITH_WEBHOOK_ALLOW_PRIVATE", not PRODUCTION)
KITH_WEBHOOK_DISABLE_AFTER_FAILURES = env_int("KITH_WEBHOOK_DISABLE_AFTER_FAILURES", 100)
KITH_WEBHOOK_CONNECT_TIMEOUT = 3.0
KITH_WEBHOOK_READ_TIMEOUT = float(env_int("KITH_WEBHOOK_READ_TIMEOUT", 10))
# Events and their delivery log are kept this long (pending ones until they are done).
KITH_WEBHOOK_RETENTION_DAYS = env_int("KITH_WEBHOOK_RETENTION_DAYS", 30)

# Twilio platform defaults (an organization may override them).
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
TWILIO_MESSAGING_SERVICE_SID = os.environ.get("TWILIO_MESSAGING_SERVICE_SID", "")
TWILIO_FROM_NUMBER = os.environ.get("TWILIO_FROM_NUMBER", "")
# SMS backend when an organization keeps the platform default: "console" (stored and printed,
# nothing leaves the machine) unless set to "twilio".
KITH_SMS_BACKEND = os.environ.get("KITH_SMS_BACKEND", "console")
# Text embeddings for search by meaning (crm.embeddings): a class with `dimensions` and `encode(texts)`.
KITH_EMBEDDING_BACKEND = os.environ.get("KITH_EMBEDDING_BACKEND", "crm.embeddings.MiniLMBackend")
# Threads a worker's embedding batch may use (default: one per core); a search query uses one.
KITH_EMBEDDING_THREADS = env_int("KITH_EMBEDDING_THREADS", 0) or None
# Dotted path of a twilio.http.http_client.TwilioHttpClient subclass the Twilio Client uses
# (empty: the SDK's own); tests put a fake answering at the HTTP layer here.
KITH_TWILIO_HTTP_CLIENT = os.environ.get("KITH_TWILIO_HTTP_CLIENT", "")

# Contact enrichment (contacts.enrichment): the providers, in order (dotted paths of classes with
# `name` and `enrich(contact) -> findings`; add a paid data provider here), when it runs, how
# failed providers are retried, and the DNS (MX) check of email domains.
KITH_ENRICHMENT_PROVIDERS = env_list("KITH_ENRICHMENT_PROVIDERS", [
    "contacts.enrichment.PhoneProvider",
    "contacts.enrichment.TwilioLookupProvider",
    "contacts.enrichment.EmailProvider",
    "contacts.enrichment.EmailDNSProvider",
    "contacts.enrichment.CompanyProvider",
    "contacts.enrichment.SocialProvider",
    "contacts.enrichment.TimeZoneProvider",
])
KITH_ENRICHMENT_ON_SAVE = env_bool("KITH_ENRICHMENT_ON_SAVE", True)
KITH_ENRICHMENT_ON_IMPORT = env_bool("KITH_ENRICHMENT_ON_IMPORT", True)
# A failed provider is retried up to this many times, after base × 2^n seconds.
KITH_ENRICHMENT_MAX_RETRIES = env_int("KITH_ENRICHMENT_MAX_RETRIES", 3)
KITH_ENRICHMENT_RETRY_BACKOFF = env_int("KITH_ENRICHMENT_RETRY_BACKOFF", 30)
# MX lookups: off with KITH_ENRICHMENT_DNS=0 ("not checked"); nameservers "ip" or "ip:port"
# (empty: the system's); seconds before a lookup counts as "not checked".
KITH_ENRICHMENT_DNS = env_bool("KITH_ENRICHMENT_DNS", True)
KITH_ENRICHMENT_NAMESERVERS = env_list("KITH_ENRICHMENT_NAMESERVERS", [])
KITH_ENRICHMENT_DNS_TIMEOUT = float(os.environ.get("KITH_ENRICHMENT_DNS_TIMEOUT", "2"))

PHONENUMBER_DEFAULT_REGION = os.environ.get("PHONENUMBER_DEFAULT_REGION", "US")
PHONENUMBER_DB_FORMAT = "E164"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "crm.rls.TokenAuthentication",  # DRF's, plus the token user's organization (crm.rls)
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Requests per API token (per user for session sign-in), and per client address without
    # sign-in; over a rate: 429 with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": [
        "crm.api.throttling.TokenRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "token": os.environ.get("KITH_API_RATE_TOKEN", "") or os.environ.get("KITH_API_RATE_USER", "6000/hour"),
        "anon": os.environ.get("KITH_API_RATE_ANON", "60/hour"),
        # POST /api/auth/token/ (password guessing), per client address.
        "login": os.environ.get("KITH_API_RATE_LOGIN", "20/min"),
    },
    # Django ValidationErrors raised by services become 400s naming the field.
    "EXCEPTION_HANDLER": "crm.api.exceptions.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kith CRM API",
    "DESCRIPTION": "Contacts, companies, activities and more, scoped to what the caller may see.",
    "VERSION": "1",
    # Swagger UI and Redoc from our own static files (drf-spectacular-sidecar), no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies get their own components (…Request), so responses can differ: with ?fields= a
    # response holds only the fields asked for (crm/api/schema.py).
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation documents the errors it can answer (crm/api/schema.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "crm.api.schema.document_errors",
                            "crm.api.schema.sparse_fieldsets"],
    # One name for the choice set that several fields share (email/sms/call consent).
    "ENUM_NAME_OVERRIDES": {"ConsentStatusEnum": "contacts.models.ConsentStatus",
                            "JobStatusEnum": "crm.models.Job.Status",
                            "MergeKindEnum": "contacts.models.Merge.Kind",
                            "DuplicateStatusEnum": "contacts.models.DuplicateStatus",
                            "ChannelEnum": "contacts.models.Channel",
                            "SourceEnum": "contacts.models.Source",
                            "ConsentSourceEnum": "contacts.models.ConsentEvent.Source"},
}

# Logs (crm.logs): one console handler; request ids on every line; LOG_FORMAT json (one JSON
# object a line, the default in production) or text. Our own loggers mask email addresses and
# phone numbers (crm.logmask).
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if PRODUCTION else "text")
from crm.logs import logging_settings  # noqa: E402

LOGGING = logging_settings(LOG_FORMAT, os.environ.get("LOG_LEVEL", "INFO"), (
    "kith", "kith.sms", "kith.audit", "kith.privacy", "kith.request", "kith.health", "crm.jobs", "contacts.imports",
    "contacts.semantic"))

# Security headers on every response (SecurityMiddleware, XFrameOptionsMiddleware, CSPMiddleware).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Our pages load scripts, styles, fonts and images from our own origin only: no inline scripts,
# no eval (htmx runs with allowEval off, see base.html), images also as data: URLs (QR codes).
# Inline style attributes stay allowed (progress bars, chart heights, indentation depth).
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Sessions and CSRF: cookies out of reach of scripts and of cross-site requests; a session ends
# this many seconds after sign-in (KITH_SESSION_AGE); both cookies HTTPS-only in production.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("KITH_SESSION_AGE", 12 * 3600)
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False

# Sign-in lockout (django-axes): after KITH_LOGIN_FAILURE_LIMIT failed sign-ins for one email from
# one address, that pair is refused for KITH_LOGIN_COOLOFF_MINUTES (429 with Retry-After), on the
# sign-in page and on POST /api/auth/token/ alike. A successful sign-in resets the count.
AXES_ENABLED = env_bool("KITH_LOGIN_LOCKOUT", True)
AXES_FAILURE_LIMIT = env_int("KITH_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env_int("KITH_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "crm.lockout.username_of"
AXES_LOCKOUT_CALLABLE = "crm.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_IPWARE_PROXY_COUNT = env_int("KITH_PROXY_COUNT", 0) or None
AXES_VERBOSE = False

# Production hardening: on when KITH_PUBLIC_URL is set and DEBUG is off.
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

# Audit trail: database triggers record inserts, updates (including bulk updates)
# and deletes of tracked models with the request/task context.
import pghistory  # noqa: E402

PGHISTORY_DEFAULT_TRACKERS = (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
PGHISTORY_OBJ_FIELD = pghistory.ObjForeignKey(db_index=True)

# Key of the blind index (HMAC-SHA256 of an E.164 number) that finds encrypted phones by exact
# number (contacts.phones); derived from SECRET_KEY when unset. Changing it: manage.py reencrypt_fields.
KITH_BLIND_INDEX_KEY = env_str("KITH_BLIND_INDEX_KEY")
