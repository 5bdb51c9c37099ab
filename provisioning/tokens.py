"""OAuth2 client-credentials tokens, fetched by authlib and shared by every process.

One token per (connection, config version) lives in the Django cache
(DatabaseCache or Redis), sealed with the secret box so the cache never holds a
readable token. When a token must be fetched, a ``cache.add`` lock lets one
process do it while the others wait and re-read the cache. A token is renewed
when less than ``min(60 s, expires_in / 2)`` of its life is left; while it is
still valid, processes that lose the lock race keep using it instead of waiting.

Token endpoints: provisioning-api.md §4 (Suite Auth, Nexeed IAM, RFC 6749 §5.2 errors).
"""

import base64
import logging
import random
import time
import uuid
from dataclasses import dataclass
from urllib.parse import quote_plus

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from django.core.cache import cache

from provisioning import crypto
from provisioning.errors import ConfigurationError, TokenError
from provisioning.http import (
    certificate_words,
    checked,
    is_connect_failure,
    parse_json,
    read_capped,
    timeouts,
    trusted_cas,
)
from provisioning.models import AuthMethod

logger = logging.getLogger(__name__)

DEFAULT_LIFETIME = 300  # seconds, for a token that says nothing about its lifetime
RENEW_MARGIN = 60  # seconds; renew earlier for short-lived tokens (half their life)
LOCK_TTL = 30  # seconds a fetch lock lives if its holder dies
USABLE_FLOOR = 5  # seconds: a token this close to expiry is not handed out at all

# RFC 6749 §5.2 error codes: (message, next step) in plain words. Never include the provider's
# own text verbatim for invalid_client: some servers echo the client id and secret back.
CHECK_CLIENT = (
    "Check the client id and secret (and the client authentication method), then use Test connection."
)
ERROR_MESSAGES = {
    "invalid_client": ("The token endpoint refused the client id or secret.", CHECK_CLIENT),
    "unauthorized_client": (
        "This client is not allowed to use the client-credentials grant.",
        "Allow the client-credentials grant for this client at the identity provider, or use another client.",
    ),
    "invalid_scope": (
        "The token endpoint refused the requested scope.",
        "Check the scope: it must be one this client was granted "
        "(for Nexeed, aud:<target-client-id> openid).",
    ),
    "invalid_grant": ("The token endpoint refused the grant.", CHECK_CLIENT),
    "unsupported_grant_type": (
        "The token endpoint does not support the client-credentials grant.",
        "Check the token URL: it must be a token endpoint that offers the client-credentials grant.",
    ),
    "invalid_request": (
        "The token endpoint rejected the request as malformed.",
        "Check the client authentication method, the scope and the audience, then use Test connection.",
    ),
}
UNKNOWN_REFUSAL = "Check the client id, secret, scope and audience, then use Test connection."
TRY_LATER = (
    "The token endpoint has a problem of its own; the connection's settings may well be right. "
    "Try again in a few minutes, and if it lasts, ask the identity provider's operators."
)
CHECK_TOKEN_URL = "Check the token URL: it must be the token endpoint itself, not a login page or portal."


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: float
    lifetime: int
    scope: str
    token_type: str
    obtained_at: float

    def remaining(self, now=None):
        return self.expires_at - (time.time() if now is None else now)

    def needs_renewal(self, now=None):
        return self.remaining(now) < min(RENEW_MARGIN, self.lifetime / 2)

    def usable(self, now=None):
        return self.remaining(now) > min(USABLE_FLOOR, self.lifetime / 4)


def cache_key(config):
    return f"oauth-token:{config.public_id}:{config.config_version}"


def _aad(config):
    return f"token:{config.public_id}:{config.config_version}"


def _store(config, token):
    sealed = {
        "sealed": crypto.seal(token.access_token, _aad(config)),
        "expires_at": token.expires_at,
        "lifetime": token.lifetime,
        "scope": token.scope,
        "token_type": token.token_type,
        "obtained_at": token.obtained_at,
    }
    cache.set(cache_key(config), sealed, timeout=max(1, int(token.remaining())))


def _load(config):
    entry = cache.get(cache_key(config))
    if not isinstance(entry, dict):
        return None
    try:
        access_token = crypto.open_sealed(entry["sealed"], _aad(config))
    except (crypto.SecretBoxError, KeyError):
        return None  # e.g. the key ring changed: fetch a new one
    return Token(
        access_token=access_token,
        expires_at=entry["expires_at"],
        lifetime=entry["lifetime"],
        scope=entry["scope"],
        token_type=entry["token_type"],
        obtained_at=entry["obtained_at"],
    )


# This process's copy of the tokens it used last, so a request does not read the
# shared cache every time. Only a token that needs no renewal is served from here;
# fetching always goes through the shared cache and its lock.
_local_tokens = {}


def _remember(config, token):
    _local_tokens[cache_key(config)] = token
    return token


def is_cached(config):
    """True when the shared cache holds a token of ``config``."""
    return cache.get(cache_key(config)) is not None


def forget(config):
    """Drop the cached token of ``config`` (the shared cache and this process's copy)."""
    _local_tokens.pop(cache_key(config), None)
    cache.delete(cache_key(config))


def get_token(config, *, reject=None):
    """A valid token for ``config``, from the shared cache or freshly fetched.

    ``reject`` is an access token the provider just refused (401): it is not
    handed out again, but a newer token another process already fetched is.
    """
    local = _local_tokens.get(cache_key(config))
    if local and local.access_token != reject and not local.needs_renewal():
        return local
    token = _load(config)
    if token and token.access_token != reject:
        if not token.needs_renewal():
            return _remember(config, token)
        if token.usable():
            # Renew early if we win the lock; otherwise keep using the valid token.
            return _remember(config, _fetch_locked(config, reject, fallback=token))
    return _remember(config, _fetch_locked(config, reject, fallback=None))


def _fetch_locked(config, reject, fallback):
    lock = f"{cache_key(config)}:lock"
    owner = uuid.uuid4().hex
    wait_until = time.monotonic() + sum(timeouts()) + 5
    while True:
        if cache.add(lock, owner, timeout=LOCK_TTL):
            try:
                # Re-check: another process may have stored a token while we waited.
                token = _load(config)
                if token and token.access_token != reject and not token.needs_renewal():
                    return token
                token = fetch_token(config)
                _store(config, token)
                return token
            finally:
                if cache.get(lock) == owner:
                    cache.delete(lock)
        if fallback is not None:
            return fallback
        time.sleep(0.05 + random.random() * 0.1)  # jitter: waiters do not wake in step
        token = _load(config)
        if token and token.access_token != reject and token.usable():
            return token
        if time.monotonic() > wait_until:
            raise TokenError(
                "Timed out waiting for another process to fetch the token.",
                step="token",
                url=config.token_url,
                next_step="Try again in a moment.",
            )


def _basic_form_encoded(client, method, uri, headers, body):
    """HTTP Basic with id and secret form-encoded first (RFC 6749 §2.3.1).

    authlib's client_secret_basic sends them raw, which strict servers refuse
    when the secret holds '+', '%', ':' or non-ASCII characters.
    """
    user = quote_plus(client.client_id)
    password = quote_plus(client.client_secret or "")
    headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return uri, headers, body


@dataclass(frozen=True)
class TokenAnswer:
    """What the compliance hook below hands on to authlib in place of the response: the
    status and the JSON object read from the capped body (authlib reads ``json()``)."""

    status_code: int
    body: dict

    def json(self):
        return self.body

    def raise_for_status(self):
        """Nothing to raise: the hook lets only JSON objects below 500 through."""


def _check_token_response(response):
    """authlib compliance hook: read a capped body and turn non-OAuth answers into TokenError."""
    data, truncated = read_capped(response)
    status = response.status_code
    where = {"step": "token", "url": response.url, "http_status": status}
    if 300 <= status < 400:
        raise TokenError(
            f"The token endpoint answered with a redirect ({status}); redirects are not followed.",
            next_step=CHECK_TOKEN_URL,
            **where,
        )
    if status >= 500:
        raise TokenError(f"The token endpoint is unavailable (HTTP {status}).", next_step=TRY_LATER, **where)
    body = None if truncated else parse_json(data)
    if body is None:
        raise TokenError(
            f"The token endpoint is unavailable: it answered HTTP {status} with something that is "
            "not a JSON object.",
            next_step=CHECK_TOKEN_URL,
            **where,
        )
    if "error" in body:
        return TokenAnswer(status, body)  # authlib raises OAuthError with the RFC 6749 error code
    if status != 200:
        raise TokenError(
            f"The token endpoint refused the request (HTTP {status}).", next_step=UNKNOWN_REFUSAL, **where
        )
    if not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise TokenError(
            "The token endpoint answered without an access token.", next_step=CHECK_TOKEN_URL, **where
        )
    return TokenAnswer(status, body)


def _lifetime(body, access_token):
    expires_in = body.get("expires_in")
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        return int(expires_in)
    # Fallback: the JWT's own exp claim, if the token is a JWT.
    claims = peek_claims(access_token)
    exp = claims.get("exp") if claims else None
    if isinstance(exp, int | float) and exp > time.time():
        return int(exp - time.time())
    return DEFAULT_LIFETIME


def fetch_token(config):
    """Ask the token endpoint for a new token (no cache). Raises TokenError or ConfigurationError."""
    url = checked(config.token_url, "token")
    where = {"step": "token", "url": url}
    try:
        secret = config.get_secret()
    except crypto.SecretBoxError as exc:
        raise ConfigurationError(
            f"The {config.secret_words} cannot be read: {exc}",
            next_step=f"Type the {config.secret_words} again on the connection, or restore the key "
            "that sealed it to ENCRYPTION_KEYS.",
            **where,
        ) from None

    method = config.auth_method
    session = OAuth2Session(
        client_id=config.client_id,
        client_secret=secret,
        token_endpoint_auth_method=method,
        scope=config.scope or None,
    )
    session.trust_env = False
    if method == AuthMethod.BASIC_ENCODED:
        session.register_client_auth_method((AuthMethod.BASIC_ENCODED.value, _basic_form_encoded))
    session.register_compliance_hook("access_token_response", _check_token_response)
    extra = {"audience": config.audience} if config.audience else {}
    started = time.time()
    try:
        body = session.fetch_token(
            url,
            grant_type="client_credentials",
            timeout=timeouts(),
            allow_redirects=False,
            stream=True,
            verify=trusted_cas(),
            headers={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
            **extra,
        )
    except OAuthError as exc:
        code = exc.error or ""
        message, next_step = ERROR_MESSAGES.get(
            code, (f"The token endpoint refused the request ({code or 'no reason'}).", UNKNOWN_REFUSAL)
        )
        logger.warning("token request for %s refused: %s", config.token_label, code)
        raise TokenError(message, details={"error": code}, next_step=next_step, **where) from None
    except requests.exceptions.Timeout:
        logger.warning("token request for %s timed out", config.token_label)
        raise TokenError(
            "The token endpoint is unavailable: it did not answer in time.",
            next_step="Try again in a moment; if it keeps happening, check that this server can reach "
            "the token URL's host (firewall, proxy).",
            **where,
        ) from None
    except requests.exceptions.RequestException as exc:
        logger.warning("token request for %s failed: %s", config.token_label, type(exc).__name__)
        certificate = certificate_words(exc, url)
        if certificate:
            message, next_step = certificate
            raise TokenError(message, next_step=next_step, **where) from None
        if is_connect_failure(exc):
            raise TokenError(
                "The token endpoint is unavailable: it could not be reached.",
                next_step="Check the token URL's host and port, and that this server can reach it "
                "(DNS, firewall).",
                **where,
            ) from None
        raise TokenError(
            "The token endpoint is unavailable: the connection failed.", next_step=TRY_LATER, **where
        ) from None
    finally:
        session.close()
    access_token = body["access_token"]
    lifetime = _lifetime(body, access_token)
    logger.info("token fetched for %s (lifetime %ss)", config.token_label, lifetime)
    return Token(
        access_token=access_token,
        expires_at=started + lifetime,
        lifetime=lifetime,
        scope=str(body.get("scope") or ""),
        token_type=str(body.get("token_type") or "bearer"),
        obtained_at=started,
    )


def peek_claims(access_token):
    """The JWT's claims, unverified (for display and the exp fallback), or None if opaque."""
    from joserfc import jws
    from joserfc.errors import JoseError

    if access_token.count(".") != 2:
        return None
    try:
        compact = jws.extract_compact(access_token.encode())
    except (JoseError, ValueError):
        return None
    claims = parse_json(compact.payload)
    return claims
