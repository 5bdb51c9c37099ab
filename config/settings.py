"""Provisioner settings: one file, every value from the environment.

The README's "Configuration" section lists each variable; keep the two in step.
"""

import ipaddress
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str
from provisioning.crypto import SecretBoxError, parse_key_ring
from provisioning.outbound import METADATA_HOSTS, check_ca_bundle

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set SECRET_KEY or SECRET_KEY_FILE "
        "(`make run` generates one in var/ for local use)."
    )

# The key ring for secrets at rest: "kid:base64key,kid:base64key", newest first.
# Kept apart from SECRET_KEY so rotating one does not touch the other.
ENCRYPTION_KEYS = env_str("ENCRYPTION_KEYS", "")
if not ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "ENCRYPTION_KEYS is not set. Generate a key with "
        "`python -m provisioning.crypto new-key k1` and set ENCRYPTION_KEYS or ENCRYPTION_KEYS_FILE."
    )
try:
    # Check the ring's shape now, so a typo stops start-up instead of the first save.
    _ENCRYPTION_KEY_IDS = [kid for kid, _ in parse_key_ring(ENCRYPTION_KEYS)]
except SecretBoxError as exc:
    raise ImproperlyConfigured(str(exc)) from None

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Outbound calls (token endpoints, provisioning API) must use https, except to these
# hosts, which may use plain http. Link-local and metadata addresses are always refused.
OUTBOUND_ALLOWED_HOSTS = env_list("OUTBOUND_ALLOWED_HOSTS", [])
OUTBOUND_CONNECT_TIMEOUT = env_int("OUTBOUND_CONNECT_TIMEOUT", 5, minimum=1, maximum=60)
OUTBOUND_READ_TIMEOUT = env_int("OUTBOUND_READ_TIMEOUT", 30, minimum=1, maximum=300)
# A PEM file of CA certificates trusted for token and API calls in addition to the default
# bundle (certifi's): a TLS-inspecting proxy's CA, or a company PKI's.
OUTBOUND_CA_BUNDLE = env_str("OUTBOUND_CA_BUNDLE", "")
if OUTBOUND_CA_BUNDLE:
    try:
        check_ca_bundle(OUTBOUND_CA_BUNDLE)
    except ValueError as exc:
        raise ImproperlyConfigured(f"OUTBOUND_CA_BUNDLE: {exc}") from None

SANDBOX_ENABLED = env_bool("SANDBOX_ENABLED", False)
# The base URL at which this server reaches its own sandbox (used when seeding the demo).
SANDBOX_BASE_URL = env_str("SANDBOX_BASE_URL", "http://127.0.0.1:8000/sandbox")

# Bulk CSV uploads (provisioning.bulk): the largest file and the most rows one upload may hold.
BULK_MAX_UPLOAD_MB = env_int("BULK_MAX_UPLOAD_MB", 20, minimum=1, maximum=1024)
BULK_MAX_ROWS = env_int("BULK_MAX_ROWS", 100_000, minimum=1, maximum=10_000_000)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # For PostgreSQL's trigram index (history search); on SQLite it adds only a few lookups.
    "django.contrib.postgres",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "csp",
    "axes",
    "django_tasks",
    "django_tasks_db",
    "provisioning",
    "provisioning.sandbox",
    "provisioning.bulk",
]

MIDDLEWARE = [
    # First: the container's health probe must not depend on ALLOWED_HOSTS or sessions.
    "provisioning.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before the idle timeout, which answers htmx requests differently and leaves a message.
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "provisioning.middleware.IdleTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
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
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "provisioning.context_processors.teams",
                "provisioning.context_processors.theme",
                "provisioning.context_processors.sandbox",
            ],
        },
    },
]


def _database_from_url(url):
    """Parse sqlite:///path or postgres://user:pass@host:port/name into Django's shape."""
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        # sqlite:///relative.db -> "relative.db"; sqlite:////abs/path.db -> "/abs/path.db"
        name = path[1:] if path.startswith("/") else path
        db_path = Path(name) if name.startswith("/") else BASE_DIR / name
        db_path.parent.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": db_path,
            # A file, not memory: tests start worker processes that share the test database.
            "TEST": {"NAME": db_path.with_name(f"test-{db_path.name}")},
            # Kept per thread for a minute, as on PostgreSQL: no new connection (and its
            # pragmas) per request.
            "CONN_MAX_AGE": 60,
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    if parts.scheme in ("postgres", "postgresql"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL must start with sqlite:// or postgres://, not {parts.scheme or url!r}."
    )


DATABASES = {"default": _database_from_url(env_str("DATABASE_URL", "sqlite:///var/db.sqlite3"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _email_from_url(url, password):
    """Parse EMAIL_URL (smtp://user:pass@host:587?tls=true, smtps://…, console://) into Django's
    EMAIL_* settings. ``password`` (EMAIL_PASSWORD or its _FILE) stands in for one in the URL."""
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    if parts.scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if parts.scheme not in ("smtp", "smtps"):
        raise ImproperlyConfigured(
            f"EMAIL_URL must start with smtp://, smtps:// or console://, not {parts.scheme or url!r}."
        )
    if not parts.hostname:
        raise ImproperlyConfigured("EMAIL_URL names no mail server: smtp://user@host:587?tls=true.")
    if parts.password and password:
        raise ImproperlyConfigured("Give the mail password in EMAIL_URL or in EMAIL_PASSWORD, not both.")
    unknown = set(options) - {"tls", "ssl", "timeout"}
    if unknown:
        raise ImproperlyConfigured(f"EMAIL_URL: unknown option {sorted(unknown)[0]!r} (tls, ssl, timeout).")
    flags = {}
    for name in ("tls", "ssl"):
        value = options.get(name, "true" if name == "ssl" and parts.scheme == "smtps" else "false")
        if value not in ("true", "false"):
            raise ImproperlyConfigured(f"EMAIL_URL: {name} must be true or false, not {value!r}.")
        flags[name] = value == "true"
    if flags["tls"] and flags["ssl"]:
        raise ImproperlyConfigured("EMAIL_URL: choose tls=true (STARTTLS) or ssl (smtps://), not both.")
    try:
        timeout = int(options.get("timeout", "10"))
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured("EMAIL_URL: the port and timeout must be whole numbers.") from None
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port or (465 if flags["ssl"] else 587 if flags["tls"] else 25),
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": password or unquote(parts.password or ""),
        "EMAIL_USE_TLS": flags["tls"],
        "EMAIL_USE_SSL": flags["ssl"],
        "EMAIL_TIMEOUT": timeout,
    }


# E-mail (password reset links). Without EMAIL_URL: printed to the console with DEBUG (local
# use); otherwise none is sent, and the dashboard says e-mail is not set up.
EMAIL_URL = env_str("EMAIL_URL", "console://" if DEBUG else "")
EMAIL_ENABLED = bool(EMAIL_URL)
_EMAIL = (
    _email_from_url(EMAIL_URL, env_str("EMAIL_PASSWORD", ""))
    if EMAIL_ENABLED
    else {"EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend"}
)
EMAIL_BACKEND = _EMAIL["EMAIL_BACKEND"]
EMAIL_HOST = _EMAIL.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _EMAIL.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _EMAIL.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _EMAIL.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _EMAIL.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _EMAIL.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = _EMAIL.get("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "provisioner@localhost")
# The reset link in an e-mail works for this long (Django's token generator).
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_HOURS", 24, minimum=1, maximum=24 * 7) * 3600


REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "provisioner",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "provisioner_cache",
            "KEY_PREFIX": "provisioner",
        }
    }

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
    }
}

# Sign-in with the company's identity provider (OpenID Connect): off unless OIDC_ISSUER is set.
# The issuer is the provider's own URL (its discovery document is at
# {OIDC_ISSUER}/.well-known/openid-configuration); it is trusted like any operator setting, and
# is checked against OUTBOUND_ALLOWED_HOSTS and the metadata refusals at each sign-in.
OIDC_ISSUER = env_str("OIDC_ISSUER", "")
OIDC_ENABLED = bool(OIDC_ISSUER)
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID", "")
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET", "")
OIDC_SCOPES = env_str("OIDC_SCOPES", "openid email profile")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
# The name on the sign-in button ("Sign in with ...").
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "your company account")
# Password sign-in for superusers only (everyone else signs in with the identity provider).
LOCAL_LOGIN_SUPERUSERS_ONLY = env_bool("LOCAL_LOGIN_SUPERUSERS_ONLY", False)
if OIDC_ENABLED:
    if not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
        raise ImproperlyConfigured(
            "OIDC_ISSUER is set, so OIDC_CLIENT_ID and OIDC_CLIENT_SECRET (or OIDC_CLIENT_SECRET_FILE) "
            "must be set too."
        )
    _issuer = urlsplit(OIDC_ISSUER)
    if _issuer.scheme not in ("https", "http") or not _issuer.hostname or _issuer.query or _issuer.fragment:
        raise ImproperlyConfigured(
            f"OIDC_ISSUER must be the identity provider's issuer URL (https://...), not {OIDC_ISSUER!r}."
        )
    if "openid" not in OIDC_SCOPES.split():
        raise ImproperlyConfigured(f"OIDC_SCOPES must contain openid, not {OIDC_SCOPES!r}.")
    if not OIDC_GROUPS_CLAIM:
        raise ImproperlyConfigured("OIDC_GROUPS_CLAIM may not be empty (the default is groups).")
elif LOCAL_LOGIN_SUPERUSERS_ONLY:
    raise ImproperlyConfigured(
        "LOCAL_LOGIN_SUPERUSERS_ONLY=true needs OIDC_ISSUER: without an identity provider only "
        "superusers could sign in."
    )

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
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

# Login lockout: 5 failures for one username from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Renders registration/locked_out.html (429). Unlock early: manage.py axes_reset_username USERNAME
AXES_LOCKOUT_CALLABLE = "provisioning.views.locked_out"
AXES_SENSITIVE_PARAMETERS = ["password", "client_secret", "secret"]

SESSION_COOKIE_AGE = env_int("SESSION_IDLE_MINUTES", 30, minimum=1) * 60
# The idle timeout: IdleTimeoutMiddleware renews the session (and its cookie) once a minute.
SESSION_SAVE_EVERY_REQUEST = False
# Django's database sessions; with Redis configured, read through the shared cache first.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db" if REDIS_URL else "django.contrib.sessions.backends.db"
)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# "preload" only consents to the browsers' preload list; nothing happens until the owner of
# the registrable domain submits it at hstspreload.org. Set false to withhold that consent.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

if OIDC_ENABLED:
    # Signing out posts the header's form to this server, which answers with a redirect to the
    # provider's end-session endpoint; browsers hold that redirect to form-action too.
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(f"{_issuer.scheme}://{_issuer.netloc}")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
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

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR"):
    raise ImproperlyConfigured(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {LOG_LEVEL!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # urllib3 logs request lines at DEBUG; never let it print query strings or headers.
        "urllib3": {"level": "WARNING"},
        "authlib": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# The first admin created by `manage.py bootstrap` when none exists.
ADMIN_USERNAME = env_str("ADMIN_USERNAME", "admin")
ADMIN_PASSWORD = env_str("ADMIN_PASSWORD", "")


def _refuse_metadata_hosts(hosts):
    for host in hosts:
        if host.lower().rstrip(".") in METADATA_HOSTS:
            raise ImproperlyConfigured(f"OUTBOUND_ALLOWED_HOSTS may not list the metadata host {host}.")
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            continue
        if address.is_link_local or str(address) in METADATA_HOSTS:
            raise ImproperlyConfigured(
                f"OUTBOUND_ALLOWED_HOSTS may not list the link-local or metadata address {host}."
            )


_refuse_metadata_hosts(OUTBOUND_ALLOWED_HOSTS)
