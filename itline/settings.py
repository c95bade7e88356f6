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

# Demo data loaders, in dependency order (`itline demo`); each module has steps(),
# is_loaded(), reset() and optionally print_summary(console).
DEMO_MODULES = ["itline.org.demo", "itline.cmdb.demo"]
# Largest structure file `itline import` and the import API accept.
ITLINE_IMPORT_MAX_BYTES = env_int("ITLINE_IMPORT_MAX_BYTES", 256 * 1024 * 1024)
# Record types the global search looks in; each module has sources(user).
SEARCH_MODULES = ["itline.cmdb.search", "itline.org.search"]

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
