"""itline settings: one file, configured only from environment variables.

Every variable has a safe default for the embedded first run (SQLite under ``var/``, DEBUG off,
e-mail printed to the console). Production secrets fail fast: with DEBUG off and no
``SECRET_KEY`` the process refuses to start, except for the embedded default which stores a
generated key under ``var/`` (see ``_secret_key``). Every variable is documented in
``docs/configuration.md``.
"""

from __future__ import annotations

import os
import secrets
from email.utils import parseaddr as _parseaddr
from pathlib import Path
from urllib.parse import unquote, urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ITLINE_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# pytest (>= 8.2) sets PYTEST_VERSION, so the suite gets test settings without a wrapper.
TESTING = env_bool("ITLINE_TESTING", bool(os.environ.get("PYTEST_VERSION")))


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if DEBUG or TESTING or env_bool("ITLINE_HELP_ONLY", False):
        return "insecure-development-key-" + "x" * 40
    # The embedded default (SQLite, no DATABASE_URL) is a single-machine install: a key
    # generated once and kept beside the database is as safe as an env var there. Any other
    # deployment must say its key explicitly.
    if not env_str("DATABASE_URL") and env_bool("ITLINE_EMBEDDED", False):
        path = VAR_DIR / "secret_key"
        if not path.exists():
            VAR_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(50))
            path.chmod(0o600)
        return path.read_text().strip()
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set the SECRET_KEY environment variable to a long random "
        "string (for example: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'), "
        "or set DEBUG=true for local development."
    )


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
if not SITE_URL.startswith(("http://", "https://")) or not urlparse(SITE_URL).hostname:
    raise ImproperlyConfigured(
        f"SITE_URL must be an http(s) URL such as https://itline.example.com, got {SITE_URL!r}"
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks_db",
    "crontask",
    "ninja",
    "itline.core",
    "itline.org",
    "itline.cmdb",
    "itline.relations",
    "itline.operation",
    "itline.transition",
    "itline.delivery",
]

MIDDLEWARE = [
    "itline.core.middleware.MetricsMiddleware",
    "itline.core.middleware.RejectNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "itline.core.middleware.ApiErrorBodyMiddleware",
]

ROOT_URLCONF = "itline.urls"
WSGI_APPLICATION = "itline.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "itline.core.context_processors.shell",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'itline.sqlite3'}")
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers work while one writer writes; IMMEDIATE transactions take the write
    # lock up front so two writers queue instead of failing with "database is locked".
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA busy_timeout=20000;"
        ),
    }
    # A file, not memory: tests then see the same locking and WAL behaviour as production
    # (concurrency tests, the live server of browser tests).
    _db["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME") or str(VAR_DIR / "test-itline.sqlite3")}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db["CONN_HEALTH_CHECKS"] = True
    _db.setdefault("TEST", {})["NAME"] = env_str("TEST_DATABASE_NAME", "") or None
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
LOGIN_RATE_LIMIT = env_int("LOGIN_RATE_LIMIT", 5)  # failed attempts per window
LOGIN_RATE_WINDOW = env_int("LOGIN_RATE_WINDOW", 900)  # seconds
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "en")
TIME_ZONE = env_str("TIME_ZONE", "Europe/Amsterdam")


def _check_locale() -> None:
    import zoneinfo

    from django.conf.global_settings import LANGUAGES

    try:
        zoneinfo.ZoneInfo(TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"TIME_ZONE {TIME_ZONE!r} is not a known time zone (e.g. Europe/Amsterdam, UTC)"
        ) from None
    if LANGUAGE_CODE not in {code for code, _ in LANGUAGES}:
        raise ImproperlyConfigured(
            f"LANGUAGE_CODE {LANGUAGE_CODE!r} is not a language Django knows (e.g. en, nl, de)"
        )


_check_locale()
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every start otherwise
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Tests and DEBUG serve from the app directories without collectstatic.
WHITENOISE_USE_FINDERS = DEBUG or TESTING


# --- E-mail ---------------------------------------------------------------------------------
def _mailer(url: str) -> dict[str, object]:
    """Parse EMAIL_URL into Django's MAILERS entry.

    Schemes: smtp://user:pass@host:port (plain), smtp+tls:// (STARTTLS, default port 587),
    smtp+ssl:// (implicit TLS, port 465), console:// (print mail, send nothing)."""
    parsed = urlparse(url)
    scheme = parsed.scheme
    if scheme == "console":
        return {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if scheme not in {"smtp", "smtp+tls", "smtp+ssl"}:
        raise ImproperlyConfigured(
            f"EMAIL_URL scheme must be smtp, smtp+tls, smtp+ssl or console, got {scheme!r}"
        )
    try:
        port = parsed.port or {"smtp": 25, "smtp+tls": 587, "smtp+ssl": 465}[scheme]
    except ValueError:
        raise ImproperlyConfigured("EMAIL_URL has an invalid port") from None
    return {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": parsed.hostname or "localhost",
            "port": port,
            "username": unquote(parsed.username or "") or None,
            "password": unquote(parsed.password or "") or None,
            "use_tls": scheme == "smtp+tls",
            "use_ssl": scheme == "smtp+ssl",
            "timeout": 10,
        },
    }


EMAIL_URL = env_str("EMAIL_URL", "console://")
MAILERS = {"default": _mailer(EMAIL_URL)}
# Printing mail is the embedded default's deliberate choice; `itline check` reports it as
# advice (itline.I001) instead of Django's deployment error.
_SILENCE_MAIL_CHECK = EMAIL_URL.startswith("console:")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "itline <itline@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Background tasks -----------------------------------------------------------------------
TASKS = {
    "default": {
        "BACKEND": (
            "django.tasks.backends.immediate.ImmediateBackend"
            if env_bool("TASKS_IMMEDIATE", TESTING)
            else "django_tasks_db.DatabaseBackend"
        ),
        "QUEUES": ["default"],
    }
}
# One scheduler per installation (docs/deployment.md); without Redis crontask needs no lock.
CRONTASK = {"REDIS_URL": None}

# Outbound webhooks (docs/webhooks.md): one attempt may take WEBHOOK_TIMEOUT seconds in all;
# retries wait WEBHOOK_RETRY_BASE seconds, doubling up to WEBHOOK_RETRY_MAX.
WEBHOOK_TIMEOUT = env_int("WEBHOOK_TIMEOUT", 10)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 10)
WEBHOOK_RETRY_BASE = env_int("WEBHOOK_RETRY_BASE", 60)
WEBHOOK_RETRY_MAX = env_int("WEBHOOK_RETRY_MAX", 6 * 3600)
WEBHOOK_DISABLE_AFTER = env_int("WEBHOOK_DISABLE_AFTER", 20)
for _name, _value in (
    ("WEBHOOK_TIMEOUT", WEBHOOK_TIMEOUT),
    ("WEBHOOK_MAX_ATTEMPTS", WEBHOOK_MAX_ATTEMPTS),
    ("WEBHOOK_RETRY_BASE", WEBHOOK_RETRY_BASE),
    ("WEBHOOK_RETRY_MAX", WEBHOOK_RETRY_MAX),
    ("WEBHOOK_DISABLE_AFTER", WEBHOOK_DISABLE_AFTER),
):
    if _value < 1:
        raise ImproperlyConfigured(f"{_name} must be a positive number, got {_value}")

# Demo data loaders, in dependency order (`itline demo`); each module has steps(),
# is_loaded(), reset() and optionally print_summary(console).
DEMO_MODULES = [
    "itline.org.demo",
    "itline.cmdb.demo",
    "itline.relations.demo",
    "itline.operation.demo",
    "itline.operation.demo_maintenance",
    "itline.operation.demo_alerts",
    "itline.transition.demo",
]
# `itline demo <name>`: live streams into the loaded demo (name -> function).
DEMO_STREAMS = {"events": "itline.operation.demo_stream.run_command"}
# Largest structure file `itline import` and the import API accept.
ITLINE_IMPORT_MAX_BYTES = env_int("ITLINE_IMPORT_MAX_BYTES", 256 * 1024 * 1024)
# Record types the global search looks in; each module has sources(user).
SEARCH_MODULES = [
    "itline.operation.search",
    "itline.transition.search",
    "itline.operation.problem_search",
    "itline.cmdb.search",
    "itline.org.search",
]

# --- Security -------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SILENCED_SYSTEM_CHECKS = ["mail.E001"] if _SILENCE_MAIL_CHECK else []
if not HTTPS:
    # Plain-HTTP installs (the embedded default, or TLS ended elsewhere without HTTPS=true)
    # would get these four warnings on every `itline check`; docs/deployment.md covers HTTPS.
    SILENCED_SYSTEM_CHECKS += ["security.W004", "security.W008", "security.W012", "security.W016"]
if env_bool("BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

_LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
for _name in ("LOG_LEVEL",):
    if env_str(_name) and env_str(_name).upper() not in _LOG_LEVELS:
        raise ImproperlyConfigured(f"{_name} must be one of {', '.join(sorted(_LOG_LEVELS))}")

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING").upper()},
    "loggers": {"itline": {"level": env_str("LOG_LEVEL", "INFO").upper(), "propagate": True}},
}

# --- Recurring-incident detection (itline.operation.recurrence, docs/problems.md) ----------
# N incidents within the window on one component or service whose texts are at least this
# similar (TF-IDF cosine, percent) are proposed as a problem; the scan runs on the schedule.
RECURRENCE_MIN_INCIDENTS = env_int("RECURRENCE_MIN_INCIDENTS", 3)
RECURRENCE_WINDOW_DAYS = env_int("RECURRENCE_WINDOW_DAYS", 14)
RECURRENCE_SIMILARITY_PERCENT = env_int("RECURRENCE_SIMILARITY_PERCENT", 35)
RECURRENCE_SCHEDULE = env_str("RECURRENCE_SCHEDULE", "47 * * * *")
if RECURRENCE_MIN_INCIDENTS < 2:
    raise ImproperlyConfigured("RECURRENCE_MIN_INCIDENTS must be at least 2")
if not 1 <= RECURRENCE_WINDOW_DAYS <= 366:
    raise ImproperlyConfigured("RECURRENCE_WINDOW_DAYS must be between 1 and 366")
if not 1 <= RECURRENCE_SIMILARITY_PERCENT <= 100:
    raise ImproperlyConfigured("RECURRENCE_SIMILARITY_PERCENT must be between 1 and 100")
if len(RECURRENCE_SCHEDULE.split()) != 5:
    raise ImproperlyConfigured(
        f"RECURRENCE_SCHEDULE must be a cron expression of five fields, got {RECURRENCE_SCHEDULE!r}"
    )

# --- Service desk mail (itline mail, notifications; docs/email.md) -------------------------
# `itline mail` listens for SMTP here (behind your MTA); --imap polls IMAP_URL as well.
MAIL_LISTEN = env_str("MAIL_LISTEN", "127.0.0.1:2525")
# The address requesters write and reply to; default: the address in DEFAULT_FROM_EMAIL.
MAIL_REPLY_ADDRESS = env_str("MAIL_REPLY_ADDRESS", "") or _parseaddr(DEFAULT_FROM_EMAIL)[1]
# Right-hand side of the Message-IDs itline writes; mail carrying it again is a loop.
MAIL_DOMAIN = env_str("MAIL_DOMAIN", "") or (urlparse(SITE_URL).hostname or "localhost")
# Mail from an address no person has: "accept" creates the person, "reject" bounces (550).
MAIL_UNKNOWN_SENDERS = env_str("MAIL_UNKNOWN_SENDERS", "accept").strip().lower()
# Largest file stored from an upload or an e-mail; larger e-mail attachments are dropped
# with a note on the message, the rest of the mail is kept.
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
# Largest whole e-mail the listener takes (SMTP SIZE); larger ones are refused with 552.
MAIL_MAX_BYTES = env_int("MAIL_MAX_BYTES", 64 * 1024 * 1024)
# More Received headers than this means the mail is circling: recorded, not answered.
MAIL_MAX_RECEIVED = env_int("MAIL_MAX_RECEIVED", 30)
# imap://user:pass@host/INBOX, imaps:// (TLS, port 993) or imap+starttls://; empty: no polling.
IMAP_URL = env_str("IMAP_URL", "")
IMAP_POLL_SECONDS = env_int("IMAP_POLL_SECONDS", 60)
# What happens to a fetched mail once it is safely stored: "seen" flags it, "delete" removes it.
IMAP_AFTER = env_str("IMAP_AFTER", "seen").strip().lower()
if MAIL_UNKNOWN_SENDERS not in {"accept", "reject"}:
    raise ImproperlyConfigured(
        f"MAIL_UNKNOWN_SENDERS must be accept or reject, got {MAIL_UNKNOWN_SENDERS!r}"
    )
if IMAP_AFTER not in {"seen", "delete"}:
    raise ImproperlyConfigured(f"IMAP_AFTER must be seen or delete, got {IMAP_AFTER!r}")
if "@" not in MAIL_REPLY_ADDRESS:
    raise ImproperlyConfigured(
        f"MAIL_REPLY_ADDRESS must be an e-mail address, got {MAIL_REPLY_ADDRESS!r}"
    )
if IMAP_URL and urlparse(IMAP_URL).scheme not in {"imap", "imaps", "imap+starttls"}:
    raise ImproperlyConfigured("IMAP_URL scheme must be imap, imaps or imap+starttls")
for _name, _value in (
    ("ATTACHMENT_MAX_BYTES", ATTACHMENT_MAX_BYTES),
    ("MAIL_MAX_BYTES", MAIL_MAX_BYTES),
    ("MAIL_MAX_RECEIVED", MAIL_MAX_RECEIVED),
    ("IMAP_POLL_SECONDS", IMAP_POLL_SECONDS),
):
    if _value < 1:
        raise ImproperlyConfigured(f"{_name} must be a positive number, got {_value}")

# --- Incidents (itline.operation; docs/incidents.md) ---------------------------------------
# A resolved incident may be reopened for this many days; after that the auto-close task
# closes it and a recurrence becomes a new incident.
INCIDENT_REOPEN_DAYS = env_int("INCIDENT_REOPEN_DAYS", 10)
if INCIDENT_REOPEN_DAYS < 0:
    raise ImproperlyConfigured(
        f"INCIDENT_REOPEN_DAYS must be 0 or more, got {INCIDENT_REOPEN_DAYS}"
    )

# --- Alert console and node panels (owner: E3; docs/alerts.md) ---------------------------
# Sections the component and service pages show from other apps, in order: functions
# (request, node) -> HTML (itline.core.panels). An entry that cannot be imported is logged
# and skipped.
NODE_PANELS = [
    "itline.operation.node_panels.open_records_panel",
    "itline.operation.node_panels.alerts_panel",
    "itline.operation.node_panels.maintenance_panel",
    "itline.transition.node_panels.changes_panel",
]
# The alert console re-reads its table this often (HTMX polling; 0 turns it off).
ALERT_CONSOLE_REFRESH_SECONDS = env_int("ALERT_CONSOLE_REFRESH_SECONDS", 5)
if ALERT_CONSOLE_REFRESH_SECONDS < 0:
    raise ImproperlyConfigured(
        f"ALERT_CONSOLE_REFRESH_SECONDS must be 0 or more, got {ALERT_CONSOLE_REFRESH_SECONDS}"
    )

# --- Deployments, reviews, change-caused incidents, change metrics (owner: T3; docs/deployments.md)
# Environments whose deployments must be covered by a change (else they are flagged
# unplanned) and that count as production for the DORA figures.
DEPLOYMENT_PRODUCTION_ENVIRONMENTS = [
    e.strip().lower() for e in env_list("DEPLOYMENT_PRODUCTION_ENVIRONMENTS", ["production"])
]
# An incident on a touched component (or what depends on it, up to the depth) opened within
# this many hours after a change was implemented is suggested as caused by the change.
CHANGE_CAUSED_INCIDENT_HOURS = env_int("CHANGE_CAUSED_INCIDENT_HOURS", 72)
CHANGE_CAUSED_INCIDENT_DEPTH = env_int("CHANGE_CAUSED_INCIDENT_DEPTH", 2)
# The drafted post-implementation review looks at the window plus this margin after it.
CHANGE_REVIEW_MARGIN_MINUTES = env_int("CHANGE_REVIEW_MARGIN_MINUTES", 120)
for _name, _value in (
    ("CHANGE_CAUSED_INCIDENT_HOURS", CHANGE_CAUSED_INCIDENT_HOURS),
    ("CHANGE_CAUSED_INCIDENT_DEPTH", CHANGE_CAUSED_INCIDENT_DEPTH),
    ("CHANGE_REVIEW_MARGIN_MINUTES", CHANGE_REVIEW_MARGIN_MINUTES),
):
    if _value < 0:
        raise ImproperlyConfigured(f"{_name} must be 0 or more, got {_value}")
if not DEPLOYMENT_PRODUCTION_ENVIRONMENTS:
    raise ImproperlyConfigured("DEPLOYMENT_PRODUCTION_ENVIRONMENTS must name an environment")

# --- Change risk, collisions and the deployment gate (owner: T2; docs/change-risk.md) -----


def _env_mapping(name: str, default: dict[str, str]) -> dict[str, str]:
    """``key=value,key=value`` from the environment, over ``default``."""
    raw = os.environ.get(name, "").strip()
    found = dict(default)
    for item in filter(None, (p.strip() for p in raw.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ImproperlyConfigured(f"{name} must look like key=value,key=value; got {raw!r}")
        found[key.strip().lower()] = value.strip().lower()
    return found


# Other changes, maintenance windows on nodes this many relations away (up or down) collide.
CHANGE_COLLISION_DEPTH = env_int("CHANGE_COLLISION_DEPTH", 2)
# Weight of each risk factor (points it gives at full value); the score is capped at 100.
_RISK_FACTORS = (
    "breadth",
    "criticality",
    "change_type",
    "history",
    "open_work",
    "collisions",
    "lead_time",
)
_weights = _env_mapping(
    "CHANGE_RISK_WEIGHTS",
    {
        "breadth": "20",
        "criticality": "20",
        "change_type": "10",
        "history": "15",
        "open_work": "10",
        "collisions": "15",
        "lead_time": "10",
    },
)
for _factor, _weight in _weights.items():
    if not _weight.isdigit():
        raise ImproperlyConfigured(
            f"CHANGE_RISK_WEIGHTS: {_factor} must be a whole number, got {_weight!r}"
        )
CHANGE_RISK_WEIGHTS = {k: int(v) for k, v in _weights.items()}
# Score from which a change is medium / high risk.
CHANGE_RISK_MEDIUM_AT = env_int("CHANGE_RISK_MEDIUM_AT", 30)
CHANGE_RISK_HIGH_AT = env_int("CHANGE_RISK_HIGH_AT", 60)
# Approval path per risk level (standard within template: none; emergency: ecab).
CHANGE_APPROVAL_PATHS = _env_mapping(
    "CHANGE_APPROVAL_PATHS", {"low": "change_manager", "medium": "change_manager", "high": "cab"}
)
# Closed changes this far back count for the failure-rate factor.
CHANGE_RISK_HISTORY_DAYS = env_int("CHANGE_RISK_HISTORY_DAYS", 365)
# Submitted less than SHORT hours before the window: full lead-time risk; OK hours or more: none.
CHANGE_RISK_LEAD_SHORT_HOURS = env_int("CHANGE_RISK_LEAD_SHORT_HOURS", 24)
CHANGE_RISK_LEAD_OK_HOURS = env_int("CHANGE_RISK_LEAD_OK_HOURS", 120)
# The gate lets a deployment through this many minutes before/after the change's window.
CHANGE_GATE_GRACE_MINUTES = env_int("CHANGE_GATE_GRACE_MINUTES", 15)
if set(CHANGE_RISK_WEIGHTS) - set(_RISK_FACTORS):
    raise ImproperlyConfigured(
        f"CHANGE_RISK_WEIGHTS knows {', '.join(_RISK_FACTORS)}; "
        f"got {', '.join(sorted(set(CHANGE_RISK_WEIGHTS) - set(_RISK_FACTORS)))}"
    )
if set(CHANGE_APPROVAL_PATHS) - {"low", "medium", "high"} or set(CHANGE_APPROVAL_PATHS.values()) - {
    "change_manager",
    "cab",
}:
    raise ImproperlyConfigured(
        "CHANGE_APPROVAL_PATHS maps low/medium/high to change_manager or cab, "
        f"got {CHANGE_APPROVAL_PATHS}"
    )
if not 0 < CHANGE_RISK_MEDIUM_AT <= CHANGE_RISK_HIGH_AT <= 100:
    raise ImproperlyConfigured(
        "Need 0 < CHANGE_RISK_MEDIUM_AT <= CHANGE_RISK_HIGH_AT <= 100, got "
        f"{CHANGE_RISK_MEDIUM_AT} and {CHANGE_RISK_HIGH_AT}"
    )
for _name, _value in (
    ("CHANGE_COLLISION_DEPTH", CHANGE_COLLISION_DEPTH),
    ("CHANGE_RISK_HISTORY_DAYS", CHANGE_RISK_HISTORY_DAYS),
    ("CHANGE_RISK_LEAD_SHORT_HOURS", CHANGE_RISK_LEAD_SHORT_HOURS),
    ("CHANGE_GATE_GRACE_MINUTES", CHANGE_GATE_GRACE_MINUTES),
):
    if _value < 0:
        raise ImproperlyConfigured(f"{_name} must be 0 or more, got {_value}")
if CHANGE_RISK_LEAD_OK_HOURS <= CHANGE_RISK_LEAD_SHORT_HOURS:
    raise ImproperlyConfigured(
        "CHANGE_RISK_LEAD_OK_HOURS must be more than CHANGE_RISK_LEAD_SHORT_HOURS"
    )

# --- correlation (owner: E2; docs/correlation.md) ------------------------------------------
# Alerts whose components are related within this many steps of the structure (either
# direction) and fire within the window of a group's last alert join that group.
CORRELATION_DEPTH = env_int("CORRELATION_DEPTH", 3)
CORRELATION_WINDOW_SECONDS = env_int("CORRELATION_WINDOW_SECONDS", 600)
# The longest silence an agent may set on an alert.
ALERT_SILENCE_MAX_DAYS = env_int("ALERT_SILENCE_MAX_DAYS", 30)
if not 1 <= CORRELATION_DEPTH <= 20:
    raise ImproperlyConfigured(f"CORRELATION_DEPTH must be 1 to 20, got {CORRELATION_DEPTH}")
if CORRELATION_WINDOW_SECONDS < 1:
    raise ImproperlyConfigured(
        f"CORRELATION_WINDOW_SECONDS must be 1 or more, got {CORRELATION_WINDOW_SECONDS}"
    )
if ALERT_SILENCE_MAX_DAYS < 1:
    raise ImproperlyConfigured(
        f"ALERT_SILENCE_MAX_DAYS must be 1 or more, got {ALERT_SILENCE_MAX_DAYS}"
    )


# --- Event ingestion (owner: E1; docs/events.md) -------------------------------------------
# Largest body POST /api/v1/events* accepts (413 above it, before parsing).
EVENTS_MAX_BYTES = env_int("EVENTS_MAX_BYTES", 5 * 1024 * 1024)
# Event times further ahead than this (clock skew) or older than this many days are a 422.
EVENTS_MAX_FUTURE_SECONDS = env_int("EVENTS_MAX_FUTURE_SECONDS", 900)
EVENTS_MAX_AGE_DAYS = env_int("EVENTS_MAX_AGE_DAYS", 365)
for _name, _value in (
    ("EVENTS_MAX_BYTES", EVENTS_MAX_BYTES),
    ("EVENTS_MAX_FUTURE_SECONDS", EVENTS_MAX_FUTURE_SECONDS),
    ("EVENTS_MAX_AGE_DAYS", EVENTS_MAX_AGE_DAYS),
):
    if _value < 1:
        raise ImproperlyConfigured(f"{_name} must be a positive number, got {_value}")

# --- Event correlation runner (docs/events.md, docs/correlation.md) ------------------------
# Ingestion commits and answers; right after the commit a correlator thread in each web
# process is woken and correlates in batches (off the request's critical path; the minute
# sweep takes up whatever a crash left pending). EVENTS_CORRELATE_INLINE=true correlates in
# the request instead (tests, for determinism); EVENTS_CORRELATOR_THREAD=false leaves
# everything to the minute sweep.
EVENTS_CORRELATE_INLINE = env_bool("EVENTS_CORRELATE_INLINE", TESTING)
EVENTS_CORRELATOR_THREAD = env_bool("EVENTS_CORRELATOR_THREAD", True)
