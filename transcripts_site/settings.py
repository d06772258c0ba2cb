"""Transcript Vault settings: one module, driven by environment variables.

With no environment at all it runs: SQLite in WAL mode under DATA_DIR, the django-q2
ORM broker, the built-in Genesys emulator on 127.0.0.1:8787 and a filesystem
compliance archive. Every helper below raises ImproperlyConfigured naming the
variable when a value is malformed, so a typo never silently falls back.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no/on/off, got {raw!r}")


def envint(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def envfloat(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def envchoice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name) or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def envlist(name: str, default: str = "") -> list[str]:
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def envsecret(name: str, default: str = "") -> str:
    """Read NAME, or the contents of the file named by NAME_FILE (Docker/systemd secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE points at {file_name!r}, which cannot be read: {exc}") from None
    return os.environ.get(name, default)


def envurl(name: str, default: str = "") -> str:
    value = os.environ.get(name) or default
    if value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ImproperlyConfigured(f"{name} must be an http(s) URL such as https://example.com, got {value!r}")
    return value.rstrip("/")


def database_from_url(name: str, url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(f"{name} must start with postgres:// or postgresql://, got scheme {parts.scheme!r}")
    if not parts.path.strip("/"):
        raise ImproperlyConfigured(f"{name} must name a database, e.g. postgresql://user@host:5432/dbname")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": envint("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"NAME": envstr("DATABASE_TEST_NAME", "test_transcript_vault")},
    }


# Core Django
DEBUG = envbool("DEBUG", False)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
SITE_ROOT = envurl("SITE_ROOT", "http://localhost:8000")

DATA_DIR = Path(envstr("DATA_DIR", str(BASE_DIR / "var"))).resolve()
try:
    DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)  # owner-only: it holds the vault
except OSError as exc:
    raise ImproperlyConfigured(f"DATA_DIR {str(DATA_DIR)!r} cannot be created: {exc}") from None


INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_q",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
    "reviews",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below WhiteNoise: every response Django renders is no-store; static files keep their cache headers.
    "reviews.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Before the second-factor check: a session left idle is signed out, not asked for a TOTP code.
    "reviews.middleware.IdleSessionTimeoutMiddleware",
    # Compliance officers and admins reach nothing but the second-factor pages until they verified a TOTP code.
    "reviews.mfa.require_second_factor",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes requires: it turns a lockout raised during authentication into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "transcripts_site.urls"
FORM_RENDERER = "reviews.form_renderer.JinjaWidgetRenderer"
WSGI_APPLICATION = "transcripts_site.wsgi.application"

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
    }
]

# Database: SQLite in WAL mode by default; DATABASE_URL switches to PostgreSQL.
DATABASE_URL = envstr("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": database_from_url("DATABASE_URL", DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "transcript_vault.sqlite3",
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so a read-then-write transaction
                # waits on busy_timeout instead of failing at once with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": envint("SQLITE_BUSY_TIMEOUT_SECONDS", 20, minimum=1),
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA temp_store=MEMORY;"
                    "PRAGMA mmap_size=134217728;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: django-q2 broker and shared Genesys rate limiter across machines.
REDIS_URL = envstr("REDIS_URL")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"REDIS_URL must start with redis://, rediss:// or unix://, got {REDIS_URL!r}")

# Secrets. SECRET_KEY signs sessions, CSRF tokens and django-q2's task pickles: anyone who knows it and can write
# to the broker runs code in the worker, so a published key is refused. VAULT_ENCRYPTION_KEY encrypts what the
# vault holds at rest (reviews/encryption.py). On embedded defaults (one machine, SQLite) a missing secret is
# generated once into DATA_DIR/secrets (0600); with DATABASE_URL or REDIS_URL (several machines share the data)
# every process must be given the same secrets, so a missing one stops start-up.
PUBLISHED_SECRET_KEYS = frozenset({"django-insecure-transcript-vault-local-development-key-do-not-deploy"})
SHARED_DEPLOYMENT = bool(DATABASE_URL or REDIS_URL)


def local_secret(name: str, generate) -> str:
    """NAME's value from DATA_DIR/secrets/NAME, created (0600, race-free) by the first process that needs it."""
    if SHARED_DEPLOYMENT:
        raise ImproperlyConfigured(
            f"{name} (or {name}_FILE) must be set: with DATABASE_URL or REDIS_URL every web and worker process "
            f"needs the same value (see docs/deploy.md)"
        )
    directory = DATA_DIR / "secrets"
    target = directory / name.lower()
    if not target.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        staged = directory / f".{target.name}.{os.getpid()}"
        descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(generate())
        try:
            os.link(staged, target)  # fails if another process won the race: theirs is used
        except FileExistsError:
            pass
        finally:
            staged.unlink()
    return target.read_text().strip()


def secret_key_text() -> str:
    import secrets

    return secrets.token_urlsafe(50)


def vault_key_text() -> str:
    from reviews.encryption import generate_key_text

    return generate_key_text()


SECRET_KEY = envsecret("SECRET_KEY") or local_secret("SECRET_KEY", secret_key_text)
if SECRET_KEY in PUBLISHED_SECRET_KEYS and not DEBUG:
    raise ImproperlyConfigured(
        "SECRET_KEY is the published development key; with DEBUG off set a secret one "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    )
VAULT_ENCRYPTION_KEY = envsecret("VAULT_ENCRYPTION_KEY") or local_secret("VAULT_ENCRYPTION_KEY", vault_key_text)
# Retired keys, kept only to read what they sealed until `manage.py rotate_key` re-encrypted it.
VAULT_ENCRYPTION_OLD_KEYS = envsecret("VAULT_ENCRYPTION_OLD_KEYS").replace(",", " ").split()


def _validated_keyring():
    from reviews.encryption import keyring_from  # fails loudly here, at start-up, on a malformed key

    return keyring_from(VAULT_ENCRYPTION_KEY, VAULT_ENCRYPTION_OLD_KEYS)


_validated_keyring()

Q_CLUSTER_WORKERS = envint("Q_CLUSTER_WORKERS", 2, minimum=1)
Q_CLUSTER_TIMEOUT = envint("Q_CLUSTER_TIMEOUT", 600, minimum=10)
Q_CLUSTER = {
    "name": envstr("Q_CLUSTER_NAME", "transcript-vault"),
    "workers": Q_CLUSTER_WORKERS,
    "timeout": Q_CLUSTER_TIMEOUT,
    # retry must exceed timeout or a slow task is handed to a second worker.
    "retry": Q_CLUSTER_TIMEOUT + 300,
    "max_attempts": envint("Q_CLUSTER_MAX_ATTEMPTS", 5, minimum=1),
    "save_limit": 500,
    "queue_limit": Q_CLUSTER_WORKERS * 4,
    "recycle": 200,
    "max_rss": envint("Q_CLUSTER_MAX_RSS_KB", 512_000, minimum=64_000),
    "catch_up": False,
    "poll": envfloat("Q_CLUSTER_POLL_SECONDS", 0.5, minimum=0.05),
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

# Auth
# django-axes first: it counts failed logins (web and admin) and refuses a locked-out client before the password
# is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"  # reviews/views/search.py home: "My queue" or search, by role
LOGOUT_REDIRECT_URL = "login"
# Lockout (django-axes) counts failed passwords and failed second-factor codes per username, from any address,
# and per client address, for any username: the first bounds guessing one account however many addresses an
# attacker has, the second stops spraying one password over many accounts (ASVS 6.3.1). Unknown usernames
# count like real ones, so a lockout says nothing about which accounts exist. Hammering a locked account does
# not extend its lockout (its owner signs in once the cool-off has passed), and a user's count is reset only
# once a whole sign-in (second factor included) succeeded: reviews/auth_events.py. Behind a proxy set
# SECURE_PROXY_SSL (docs/deploy.md) or every client shares the proxy's address, and its lockout.
LOGIN_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_LOCKOUT_MINUTES = envint("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = False
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_CALLABLE = "reviews.views.account.locked_out"
# The same client address as the audit log (X-Forwarded-For's last hop only behind a declared proxy).
AXES_CLIENT_IP_CALLABLE = "reviews.audit.client_ip"
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_token"]
# Sign-ins and sign-outs are AuditEvents already; a second, unpruned log of them is not kept.
AXES_DISABLE_ACCESS_LOG = True
# Its start-up banner would repeat in every command's output.
AXES_VERBOSE = False
# TOTP second factor (django-otp) for compliance officers and admins, or for everyone: reviews/mfa.py.
MFA_REQUIRED_FOR_EVERYONE = envbool("MFA_REQUIRED_FOR_EVERYONE", False)
OTP_TOTP_ISSUER = envstr("OTP_TOTP_ISSUER", "Transcript Vault")
# API tokens expire: API_TOKEN_LIFETIME_DAYS by default, never more than API_TOKEN_MAX_LIFETIME_DAYS.
API_TOKEN_MAX_LIFETIME_DAYS = 365
API_TOKEN_LIFETIME_DAYS = envint("API_TOKEN_LIFETIME_DAYS", 90, minimum=1)
if API_TOKEN_LIFETIME_DAYS > API_TOKEN_MAX_LIFETIME_DAYS:
    raise ImproperlyConfigured(
        f"API_TOKEN_LIFETIME_DAYS must be at most {API_TOKEN_MAX_LIFETIME_DAYS}, got {API_TOKEN_LIFETIME_DAYS}"
    )
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if envbool("STATIC_MANIFEST", not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Security (production values come from the environment, see docs/deploy.md)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if envbool("SECURE_PROXY_SSL", False) else None
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", False)
SESSION_COOKIE_HTTPONLY = True
# The pages send the CSRF token from the template (hx-headers), so no script needs to read the cookie.
CSRF_COOKIE_HTTPONLY = True
# Absolute session lifetime; SESSION_IDLE_TIMEOUT_SECONDS ends a session earlier once it goes unused
# (reviews/middleware.py).
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", 8 * 3600, minimum=60)
SESSION_IDLE_TIMEOUT_SECONDS = envint("SESSION_IDLE_TIMEOUT_SECONDS", 30 * 60, minimum=120)
if SESSION_IDLE_TIMEOUT_SECONDS > SESSION_COOKIE_AGE:
    raise ImproperlyConfigured(
        f"SESSION_IDLE_TIMEOUT_SECONDS ({SESSION_IDLE_TIMEOUT_SECONDS}) must not exceed SESSION_COOKIE_AGE "
        f"({SESSION_COOKIE_AGE}), the absolute session lifetime"
    )
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
# django-csp 4: no inline script or style, no eval (templates/base.html sets htmx's allowEval off to match),
# nothing may frame the vault, forms post only to it. Audio responses carry their own sandboxing policy.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],  # the MFA enrolment QR code is inline SVG markup, not a data: URL
        "media-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
# Browser features the vault never uses, each sent as `feature=()` (reviews/middleware.py).
PERMISSIONS_POLICY_DISABLED = (
    "accelerometer",
    "browsing-topics",
    "camera",
    "display-capture",
    "geolocation",
    "gyroscope",
    "hid",
    "magnetometer",
    "microphone",
    "midi",
    "payment",
    "screen-wake-lock",
    "serial",
    "usb",
    "xr-spatial-tracking",
)
# Rejected API bearer tokens per client address and minute; beyond it the API answers 429 (reviews/api_auth.py).
API_TOKEN_FAILURES_PER_MINUTE = envint("API_TOKEN_FAILURES_PER_MINUTE", 30, minimum=1)

# Genesys Cloud. With no client id configured the product talks to the built-in
# emulator (python manage.py genesys_emulator) using its documented demo credentials.
EMULATOR_CLIENT_ID = "transcript-vault-demo"
EMULATOR_CLIENT_SECRET = "transcript-vault-demo-secret"
EMULATOR_URL = "http://127.0.0.1:8787"
GENESYS_CLIENT_ID = envsecret("GENESYS_CLIENT_ID")
GENESYS_CLIENT_SECRET = envsecret("GENESYS_CLIENT_SECRET")
GENESYS_USES_EMULATOR = not GENESYS_CLIENT_ID
if GENESYS_USES_EMULATOR:
    GENESYS_CLIENT_ID = EMULATOR_CLIENT_ID
    GENESYS_CLIENT_SECRET = GENESYS_CLIENT_SECRET or EMULATOR_CLIENT_SECRET
GENESYS_REGION = envstr("GENESYS_REGION", "mypurecloud.com").strip().lower()
if not GENESYS_REGION or "/" in GENESYS_REGION or GENESYS_REGION.startswith(("api.", "login.")):
    raise ImproperlyConfigured(
        f"GENESYS_REGION must be a region domain such as mypurecloud.com or usw2.pure.cloud, got {GENESYS_REGION!r}"
    )
GENESYS_API_URL = envurl("GENESYS_API_URL", EMULATOR_URL if GENESYS_USES_EMULATOR else f"https://api.{GENESYS_REGION}")
GENESYS_LOGIN_URL = envurl(
    "GENESYS_LOGIN_URL", GENESYS_API_URL if GENESYS_USES_EMULATOR else f"https://login.{GENESYS_REGION}"
)
GENESYS_TIMEOUT_SECONDS = envfloat("GENESYS_TIMEOUT_SECONDS", 30.0, minimum=1.0)
GENESYS_MAX_RETRIES = envint("GENESYS_MAX_RETRIES", 5, minimum=0)
GENESYS_MAX_RETRY_SECONDS = envfloat("GENESYS_MAX_RETRY_SECONDS", 120.0, minimum=1.0)
GENESYS_RATE_LIMIT_PER_MINUTE = envint("GENESYS_RATE_LIMIT_PER_MINUTE", 300, minimum=1)
# Fraction of the allowance we actually use, leaving room for other clients and retries.
GENESYS_RATE_LIMIT_HEADROOM = envfloat("GENESYS_RATE_LIMIT_HEADROOM", 0.9, minimum=0.1)
GENESYS_RATE_LIMIT_BACKEND = envchoice(
    "GENESYS_RATE_LIMIT_BACKEND", "redis" if REDIS_URL else "database", ("memory", "database", "redis")
)
if GENESYS_RATE_LIMIT_BACKEND == "redis" and not REDIS_URL:
    raise ImproperlyConfigured("GENESYS_RATE_LIMIT_BACKEND=redis needs REDIS_URL")
# Where worker processes share the Genesys access token (reviews/token_cache.py).
GENESYS_TOKEN_CACHE = envchoice("GENESYS_TOKEN_CACHE", "redis" if REDIS_URL else "database", ("database", "redis"))
if GENESYS_TOKEN_CACHE == "redis" and not REDIS_URL:
    raise ImproperlyConfigured("GENESYS_TOKEN_CACHE=redis needs REDIS_URL")

# Ingestion pipeline
DISCOVERY_INTERVAL_MINUTES = envint("DISCOVERY_INTERVAL_MINUTES", 5, minimum=1)
DISCOVERY_OVERLAP_MINUTES = envint("DISCOVERY_OVERLAP_MINUTES", 30, minimum=0)
DISCOVERY_INITIAL_LOOKBACK_HOURS = envint("DISCOVERY_INITIAL_LOOKBACK_HOURS", 24, minimum=1)
RECONCILE_INTERVAL_MINUTES = envint("RECONCILE_INTERVAL_MINUTES", 60, minimum=5)
RECONCILE_WINDOW_HOURS = envint("RECONCILE_WINDOW_HOURS", 72, minimum=1)
TRANSCRIPT_POLL_BASE_SECONDS = envfloat("TRANSCRIPT_POLL_BASE_SECONDS", 30.0, minimum=0.01)
TRANSCRIPT_POLL_MAX_SECONDS = envfloat("TRANSCRIPT_POLL_MAX_SECONDS", 900.0, minimum=0.01)
# Genesys writes most transcripts within minutes of hang-up: calls younger than this are polled at the
# base interval; after it the interval doubles with every doubling of the call's age, up to the max.
TRANSCRIPT_POLL_FRESH_SECONDS = envfloat("TRANSCRIPT_POLL_FRESH_SECONDS", 300.0, minimum=0.01)
TRANSCRIPT_DEADLINE_SECONDS = envfloat("TRANSCRIPT_DEADLINE_SECONDS", 48 * 3600.0, minimum=0.01)
if TRANSCRIPT_POLL_MAX_SECONDS < TRANSCRIPT_POLL_BASE_SECONDS:
    raise ImproperlyConfigured("TRANSCRIPT_POLL_MAX_SECONDS must be at least TRANSCRIPT_POLL_BASE_SECONDS")
PIPELINE_MAX_ATTEMPTS = envint("PIPELINE_MAX_ATTEMPTS", 8, minimum=1)
PIPELINE_LEASE_SECONDS = envint("PIPELINE_LEASE_SECONDS", 900, minimum=10)
RECORDING_FORMAT = envchoice("RECORDING_FORMAT", "WAV", ("WAV", "WEBM", "WAV_ULAW", "OGG_VORBIS", "OGG_OPUS", "MP3"))
# The org's transcription languages (e.g. en-us,es-us). When set, every transcript search sends them as its
# `language` criterion; when empty it is sent only once Genesys answers that the field is required, with the
# languages of the transcripts already stored (genesys-api.md §5, §12).
GENESYS_TRANSCRIPT_LANGUAGES = [value.lower() for value in envlist("GENESYS_TRANSCRIPT_LANGUAGES")]
# After a failed transcript search, the search is skipped (conversations are probed directly) for this long,
# doubling with each further failure up to SEARCH_COOLDOWN_MAX_SECONDS.
SEARCH_COOLDOWN_SECONDS = envfloat("SEARCH_COOLDOWN_SECONDS", 60.0, minimum=0.0)
SEARCH_COOLDOWN_MAX_SECONDS = envfloat("SEARCH_COOLDOWN_MAX_SECONDS", 3600.0, minimum=0.0)
# Once one part of a call with consult/transfer/callback legs is stored, how long to keep looking for the others.
TRANSCRIPT_PART_WAIT_SECONDS = envfloat("TRANSCRIPT_PART_WAIT_SECONDS", 3600.0, minimum=0.0)
# A recording that stays 202 (transcoding), UPLOADING or RESTORING is waited for this long, then given up.
AUDIO_WAIT_MAX_SECONDS = envfloat("AUDIO_WAIT_MAX_SECONDS", 6 * 3600.0, minimum=1.0)
# How long an archived recording stays restored (the PUT's archiveDate) so the vault can fetch it.
AUDIO_RESTORE_DAYS = envint("AUDIO_RESTORE_DAYS", 7, minimum=1)
# Incremental discovery reaches back this far for calls that started before its window (long calls, calls
# that crossed midnight UTC: analytics lists only calls that started on a day the interval touches).
DISCOVERY_MAX_CALL_HOURS = envint("DISCOVERY_MAX_CALL_HOURS", 12, minimum=1)
LOW_CONFIDENCE_THRESHOLD = envfloat("LOW_CONFIDENCE_THRESHOLD", 0.6, minimum=0.0)
PII_PHONE_REGIONS = envlist("PII_PHONE_REGIONS", "US,GB,AU,CA,DE,FR,IE")

# Local speech-to-text of audio-only calls (reviews/asr, docs/pipeline.md "Local speech-to-text").
ASR_ENABLED = envbool("ASR_ENABLED", True)
# How many calls the whole cluster transcribes at once (a lease in the database); each one occupies a worker.
ASR_CONCURRENCY = envint("ASR_CONCURRENCY", 1, minimum=1)
# The recogniser runs in a child process at this nice level, under this address-space cap, for at most this long.
ASR_NICE = envint("ASR_NICE", 10, minimum=0)
ASR_MEMORY_MB = envint("ASR_MEMORY_MB", 1024, minimum=256)
ASR_TIMEOUT_SECONDS = envint("ASR_TIMEOUT_SECONDS", 1800, minimum=10)
# An engine crash or timeout is retried this many times in all (with backoff); then the call is `failed`.
ASR_MAX_ATTEMPTS = envint("ASR_MAX_ATTEMPTS", 3, minimum=1)
# The language model: "archive" (default) estimates one from the vault's own Genesys transcripts and the watch
# phrases (reviews/asr/vocabulary.py), "general" uses pocketsphinx's bundled en-us model.
ASR_LANGUAGE_MODEL = envchoice("ASR_LANGUAGE_MODEL", "archive", ("archive", "general"))
# Phrases speech-to-text must be able to hear (comma-separated), besides the evaluation forms' phrase rules.
ASR_PHRASES = envlist(
    "ASR_PHRASES",
    "complaint,formal complaint,speak to a manager,close my account,cancel my account,fraud,card number,ombudsman",
)
# The archive model learns from the newest this-many Genesys utterances; below the minimum the general model is used.
ASR_LANGUAGE_MODEL_SENTENCES = envint("ASR_LANGUAGE_MODEL_SENTENCES", 50_000, minimum=1)
ASR_LANGUAGE_MODEL_MIN_SENTENCES = envint("ASR_LANGUAGE_MODEL_MIN_SENTENCES", 500, minimum=1)
# Each machine rebuilds its copy (under DATA_DIR/asr) when it is older than this, or the watch phrases changed.
ASR_LANGUAGE_MODEL_MAX_AGE_HOURS = envint("ASR_LANGUAGE_MODEL_MAX_AGE_HOURS", 24, minimum=1)
if ASR_LANGUAGE_MODEL_MIN_SENTENCES > ASR_LANGUAGE_MODEL_SENTENCES:
    raise ImproperlyConfigured(
        f"ASR_LANGUAGE_MODEL_MIN_SENTENCES ({ASR_LANGUAGE_MODEL_MIN_SENTENCES}) must not exceed "
        f"ASR_LANGUAGE_MODEL_SENTENCES ({ASR_LANGUAGE_MODEL_SENTENCES}): the archive model would never be used"
    )
if ASR_ENABLED and ASR_CONCURRENCY >= Q_CLUSTER_WORKERS:
    raise ImproperlyConfigured(
        f"ASR_CONCURRENCY ({ASR_CONCURRENCY}) must be below Q_CLUSTER_WORKERS ({Q_CLUSTER_WORKERS}) so Genesys "
        "ingestion always has a free worker; raise Q_CLUSTER_WORKERS or set ASR_ENABLED=false"
    )
# An audio-only call is still checked for a late Genesys transcript (which replaces the vault's own) for this long
# after it fell back to audio, at intervals growing with the wait.
LATE_TRANSCRIPT_WINDOW_HOURS = envint("LATE_TRANSCRIPT_WINDOW_HOURS", 72, minimum=0)

# Compliance sync
COMPLIANCE_ARCHIVE_DIR = Path(envstr("COMPLIANCE_ARCHIVE_DIR", str(DATA_DIR / "compliance"))).resolve()
COMPLIANCE_FILESYSTEM_ENABLED = envbool("COMPLIANCE_FILESYSTEM_ENABLED", True)
COMPLIANCE_WEBHOOK_URL = envurl("COMPLIANCE_WEBHOOK_URL")
COMPLIANCE_WEBHOOK_SECRET = envsecret("COMPLIANCE_WEBHOOK_SECRET")
if COMPLIANCE_WEBHOOK_URL and not COMPLIANCE_WEBHOOK_SECRET.startswith("whsec_"):
    raise ImproperlyConfigured(
        "COMPLIANCE_WEBHOOK_SECRET must be set to a whsec_… secret when COMPLIANCE_WEBHOOK_URL is set"
    )
COMPLIANCE_WEBHOOK_TIMEOUT_SECONDS = envfloat("COMPLIANCE_WEBHOOK_TIMEOUT_SECONDS", 10.0, minimum=0.1)
COMPLIANCE_S3_BUCKET = envstr("COMPLIANCE_S3_BUCKET")
COMPLIANCE_S3_REGION = envstr("COMPLIANCE_S3_REGION", "us-east-1")
COMPLIANCE_S3_ENDPOINT_URL = envurl("COMPLIANCE_S3_ENDPOINT_URL")
COMPLIANCE_S3_PREFIX = envstr("COMPLIANCE_S3_PREFIX", "transcript-vault/")
COMPLIANCE_S3_RETENTION_DAYS = envint("COMPLIANCE_S3_RETENTION_DAYS", 2555, minimum=1)
COMPLIANCE_S3_MODE = envchoice("COMPLIANCE_S3_MODE", "COMPLIANCE", ("COMPLIANCE", "GOVERNANCE"))
COMPLIANCE_MAX_ATTEMPTS = envint("COMPLIANCE_MAX_ATTEMPTS", 10, minimum=1)
COMPLIANCE_RETRY_BASE_SECONDS = envfloat("COMPLIANCE_RETRY_BASE_SECONDS", 10.0, minimum=0.01)
COMPLIANCE_RETRY_MAX_SECONDS = envfloat("COMPLIANCE_RETRY_MAX_SECONDS", 3600.0, minimum=0.01)
# How long a relay holds a row it is delivering. Longer than any one delivery (webhook timeout, an S3 PUT of a
# large document), so a lease only expires when its relay died; the row is then claimable again.
COMPLIANCE_LEASE_SECONDS = envint("COMPLIANCE_LEASE_SECONDS", 600, minimum=10)
COMPLIANCE_SINKS = [
    name
    for name, enabled in (
        ("filesystem", COMPLIANCE_FILESYSTEM_ENABLED),
        ("webhook", bool(COMPLIANCE_WEBHOOK_URL)),
        ("s3", bool(COMPLIANCE_S3_BUCKET)),
    )
    if enabled
]

# Metrics and logging
METRICS_BEARER_TOKEN = envsecret("METRICS_BEARER_TOKEN")
PROMETHEUS_MULTIPROC_DIR = envstr("PROMETHEUS_MULTIPROC_DIR")
if PROMETHEUS_MULTIPROC_DIR:
    try:
        Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"PROMETHEUS_MULTIPROC_DIR {PROMETHEUS_MULTIPROC_DIR!r} cannot be created: {exc}"
        ) from None
LOG_FORMAT = envchoice("LOG_FORMAT", "text", ("text", "json"))
LOG_LEVEL = envchoice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "reviews.logging.JsonFormatter"},
    },
    "filters": {"no_query_strings": {"()": "reviews.logging.QueryStringFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Request lines lose their query strings: search terms travel in ?q= (reviews/logging.py).
        "django.server": {
            "handlers": ["console"],
            "level": "INFO",
            "propagate": False,
            "filters": ["no_query_strings"],
        },
        "django.request": {"filters": ["no_query_strings"]},
        "django.db.backends": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "django-q": {"level": envstr("Q_LOG_LEVEL", "WARNING")},
    },
}

# Compliance workspace: audit log (issue 12 §1)
# How often the audit trail's hash chain is checked (reviews.tasks.audit_verify_task): nightly by default.
AUDIT_VERIFY_INTERVAL_MINUTES = envint("AUDIT_VERIFY_INTERVAL_MINUTES", 1440, minimum=5)

# Compliance workspace: retention and legal hold (issue 12 §3)
# Default retention in the vault, in days from the call's start, for conversations no RetentionRule covers.
# 0 keeps forever (the default): nothing is ever purged until an operator chooses a period. The compliance archive
# keeps its own retention (COMPLIANCE_S3_RETENTION_DAYS, WORM) and is never purged by the vault.
RETENTION_TRANSCRIPT_DAYS = envint("RETENTION_TRANSCRIPT_DAYS", 0, minimum=0)
RETENTION_AUDIO_DAYS = envint("RETENTION_AUDIO_DAYS", 0, minimum=0)
# How often the purge runs (daily) and the most items one run deletes (the rest wait for the next run).
RETENTION_PURGE_INTERVAL_MINUTES = envint("RETENTION_PURGE_INTERVAL_MINUTES", 1440, minimum=1)
RETENTION_PURGE_MAX_ITEMS = envint("RETENTION_PURGE_MAX_ITEMS", 5000, minimum=1)

# Compliance workspace: data-subject requests (issue 12 §4)
# What the law makes the firm keep whatever a data subject asks (GDPR Art. 17(3)(b): e.g. MiFID II keeps call
# records 5 years, 1826 days): an erasure request keeps calls younger than this and says until when. 0: no minimum.
# A RetentionRule's minimum_days overrides it for its division or queue.
RETENTION_MINIMUM_DAYS = envint("RETENTION_MINIMUM_DAYS", 0, minimum=0)

# Compliance workspace: escalations (issue 12 §2)

# Audio with every call (issue 13 §1)
# A transcribed call's recording is fetched from Genesys in the background when someone opens the call for review
# (reviews/pipeline/audio_cache.py) and cached in the vault, encrypted, for this many hours after the fetch; the
# audio cache sweep then deletes it (Genesys still holds the original, and the next review fetches it again).
AUDIO_CACHE_HOURS = envint("AUDIO_CACHE_HOURS", 24, minimum=1)
# fallback: the vault keeps audio for good only when it is the call's record (no usable transcript), as before.
# all: every recording the vault fetches is kept for good and archived to the compliance sinks like fallback audio
# (retention still applies to it).
AUDIO_ARCHIVE = envchoice("AUDIO_ARCHIVE", "fallback", ("fallback", "all"))
