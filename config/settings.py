"""Réactif settings: one file, driven by the environment (shared/CONTRACT.md).

Two modes share this file. With no DATABASE_URL / REDIS_URL the app runs
embedded (SQLite under var/, a filesystem Celery broker) so `make run` needs
nothing but Python. Production sets both URLs and DEBUG off.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("REACTIF_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=False)

# A development key is only acceptable while DEBUG is on; production refuses to
# start with no key or a short/guessable one (CONTRACT.md).
_DEV_SECRET_KEY = "django-insecure-reactif-development-only-never-in-production"  # noqa: S105 - refused below unless DEBUG
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off.")
    SECRET_KEY = _DEV_SECRET_KEY
elif not DEBUG and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or "insecure" in SECRET_KEY):
    raise ImproperlyConfigured("SECRET_KEY is too weak: use at least 50 random characters.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "inbox",
    "templates_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, so that a locked-out login never reaches the view.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "inbox.context_processors.availability",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'reactif.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded mode has a web server, a worker and beat writing at once:
    # WAL lets readers go on during a write, IMMEDIATE transactions take the
    # write lock up front (no deadlock on upgrade), and the timeout waits for it.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    # Parameters bound by the server, not quoted into the SQL by Python: a
    # statement has the same text whatever its values, and psycopg prepares
    # it from its fifth run on a connection, so PostgreSQL no longer parses
    # and plans it each time. The worker runs ~14 statements per message:
    # 10-20 % faster (bench, 1 M messages, in pairs). Django leaves both off
    # for connection poolers: behind PgBouncer in transaction mode, use
    # PgBouncer >= 1.21 with max_prepared_statements set (README).
    # Options in DATABASE_URL's query string (sslmode…) are kept.
    DATABASES["default"]["OPTIONS"] = {
        "server_side_binding": True,
        "prepare_threshold": 5,
        **DATABASES["default"].get("OPTIONS", {}),
    }
EMBEDDED = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery -----------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's RedisCache, keeping its redis-py client (config/redis_cache.py).
            "BACKEND": "config.redis_cache.ReusingRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "reactif"),
        }
    }
    CELERY_BROKER_URL = REDIS_URL
else:
    # Shared between the embedded web server, worker and beat processes, so
    # presence ("Marie is replying") and live-update versions work there too.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    CELERY_BROKER_URL = "filesystem://localhost//"
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Exchange bindings; kombu's default is ./control in the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # The worker polls the folder; 0.2 s keeps the demo feeling live.
        "polling_interval": 0.2,
    }

# Results are never read: every task writes its outcome to the database.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
# Tasks are idempotent (they re-fetch by id and claim work with a conditional
# UPDATE), so acknowledging after the task ran is safe and means a worker
# killed mid-task (SIGKILL, OOM) leaves the message to be redelivered.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One task at a time per process: a prefetched batch dies with its worker.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection before and after every
# task, so each delivery paid for a new PostgreSQL connection (a backend
# process forked and authenticated): the worker's largest cost after the task
# itself. It now closes them only every 1,000 tasks; in between, config/celery.py
# runs Django's own request-time check before and after each task
# (close_old_connections: CONN_MAX_AGE, and a health check before the next
# query), so a connection broken by a PostgreSQL restart is replaced, never reused.
CELERY_DB_REUSE_MAX = 1000
# Redis redelivers an unacknowledged message after this long. It must exceed
# the longest countdown/ETA we use (send retries back off up to 10 minutes),
# or a scheduled task would be delivered twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **globals().get("CELERY_BROKER_TRANSPORT_OPTIONS", {}),
    "visibility_timeout": 3600,
    # Publishing (a web request enqueueing on commit) tries the broker once
    # more, at once, instead of kombu's default ~2 s of retries: with the
    # broker down a webhook must still answer Meta well within its 5 s. The
    # worker's own reconnection loop (broker_connection_max_retries) is
    # unaffected.
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.1,
}
# A broker outage must not hang a web request: publishing gives up quickly and
# the periodic sweep re-finds the work from the database.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY = False
# One queue name per deployment (and per test run, so parallel runs sharing
# a Redis never take each other's tasks).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "reactif")
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# A task stuck on a dead connection must not hold a worker forever. A task
# killed at the hard limit is redelivered (late acks) and would be killed
# again: long loops (the delivery sweep) stop well before, on a budget of
# their own (inbox/tasks.py SWEEP_BUDGET_SECONDS; found by make chaos).
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # Re-process deliveries that no task finished (lost task, broker outage).
    "sweep-deliveries": {"task": "inbox.tasks.sweep_deliveries", "schedule": 30.0},
    # Marks at-risk and missed response opportunities within 5 s of the moment.
    "sweep-deadlines": {"task": "inbox.tasks.sweep_deadlines", "schedule": 2.0},
    # Keeps the daily rollups that 30-day views read (services/rollups.py).
    "refresh-rollups": {"task": "inbox.tasks.refresh_rollups", "schedule": 60.0},
    # Re-sends outbound messages whose task was lost before it claimed them.
    "sweep-outbox": {"task": "inbox.tasks.sweep_outbox", "schedule": 60.0},
    # Brings snoozed conversations back to the queue.
    "wake-snoozed": {"task": "inbox.tasks.wake_snoozed", "schedule": 15.0},
    # Lets /healthz tell whether a worker is alive.
    "worker-heartbeat": {"task": "inbox.tasks.heartbeat", "schedule": 10.0},
}

# --- Meta -----------------------------------------------------------------
META_APP_SECRET = os.environ.get("META_APP_SECRET", "")
META_VERIFY_TOKEN = os.environ.get("META_VERIFY_TOKEN", "")
META_APP_ID = os.environ.get("META_APP_ID", "")
META_GRAPH_URL = os.environ.get("META_GRAPH_URL", "https://graph.facebook.com/v25.0").rstrip("/")
# Meta allows 5 s for a webhook answer and the composer must never hang: the
# Graph API gets a short connect timeout and a bounded read.
META_GRAPH_TIMEOUT = float(os.environ.get("META_GRAPH_TIMEOUT", "8"))

# Comma-separated Fernet keys; the first encrypts, all decrypt (key rotation).
FIELD_ENCRYPTION_KEY = os.environ.get("FIELD_ENCRYPTION_KEY", "")
if not FIELD_ENCRYPTION_KEY:
    if not DEBUG and not EMBEDDED:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is required in production.")
    # Development only: derived from the development secret so that a restart
    # can still read the tokens it stored.
    FIELD_ENCRYPTION_KEY = "cmVhY3RpZi1kZXZlbG9wbWVudC1rZXktMzItYnl0ZXM="


def _is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except ValueError:
        return False


# Checked here rather than at the first token read: a typo must stop the
# deployment, not a reply hours later.
if not all(_is_fernet_key(key.strip()) for key in FIELD_ENCRYPTION_KEY.split(",") if key.strip()):
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64 bytes), comma-separated; make one with "
        '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.'
    )

# --- Auth -----------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "inbox:queue"
LOGOUT_REDIRECT_URL = "login"
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours: 15 minutes
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# A locked-out sign-in gets a page that says what happened and when to retry.
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- I18n -----------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("Français")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

# --- Static ---------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# `make test` collects into a fresh directory and swaps a symlink, so that
# concurrent test runs never see a half-collected tree.
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security -------------------------------------------------------------
# Scripts only from our own origin, never inline: customer text can never run.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "https:", "data:"],
    "media-src": [CSP.SELF, "https:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
SESSION_COOKIE_HTTPONLY = True
# Sessions read from the cache first: the inbox's live poll (every 2 s per
# open tab) then costs no database query when nothing changed.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Container and load-balancer probes call http://<container>:8000/healthz
# directly, without the proxy's X-Forwarded-Proto: never redirect them.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Password-reset e-mails. Development prints them on the console.
MAILERS = {
    "default": {
        "BACKEND": os.environ.get(
            "EMAIL_BACKEND",
            "django.core.mail.backends.console.EmailBackend"
            if DEBUG or EMBEDDED
            else "django.core.mail.backends.smtp.EmailBackend",
        ),
        "OPTIONS": {
            key: value
            for key, value in {
                "host": os.environ.get("EMAIL_HOST"),
                "port": int(os.environ["EMAIL_PORT"]) if os.environ.get("EMAIL_PORT") else None,
                "username": os.environ.get("EMAIL_HOST_USER"),
                "password": os.environ.get("EMAIL_HOST_PASSWORD"),
                "use_tls": env_bool("EMAIL_USE_TLS") if os.environ.get("EMAIL_USE_TLS") else None,
            }.items()
            if value is not None
        }
        if "smtp" in os.environ.get("EMAIL_BACKEND", "smtp")
        else {},
    }
}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Réactif <no-reply@localhost>")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
