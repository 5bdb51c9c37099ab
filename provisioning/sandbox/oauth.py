"""Access tokens of the simulated identity providers: HS256 JWTs, and what they cover.

The signing key is derived from SECRET_KEY with HMAC and a fixed label, so every
web process signs and checks alike without storing a key, and the key is not
SECRET_KEY itself. A token "covers" a service instance when:

- Suite Auth style: its ``scope`` holds both of the instance's service scopes,
  ``service:iot-hub-prod:t<sid-no-dashes>_hub/full-access`` and
  ``service:iot-things-eu-1:<sid>_things/full-access`` (the API needs full
  access to the Hub tenant and to the Things solution);
- Nexeed style: the instance is listed in the ``sbx_instances`` claim, which the
  token endpoint fills with the instances registered for the client (Nexeed
  scopes name an audience, not a subscription).

Private claims: ``sbx_style`` ("suite" or "nexeed"), ``sbx_serial`` (the
token's number, for expire_tokens) and ``sbx_instances`` (Nexeed only).
"""

import base64
import binascii
import functools
import hashlib
import hmac
import uuid
from urllib.parse import unquote_plus

from django.conf import settings
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from provisioning.sandbox.models import Style, hub_scope, things_scope

SIGNING_LABEL = b"provisioning.sandbox/jwt-signing-key/v1"
ISSUER = "provisioning-sandbox"


class InvalidToken(Exception):
    """The bearer token is missing, malformed, forged or expired; the message says which."""


@functools.lru_cache(maxsize=4)
def _key_for(secret_key):
    return OctKey.import_key(hmac.new(secret_key.encode(), SIGNING_LABEL, hashlib.sha256).digest())


def signing_key():
    return _key_for(settings.SECRET_KEY)


def issue(*, client_id, style, scope, audience, now, lifetime, serial, instances=()):
    """Sign a token; ``scope`` is the granted scope string, ``audience`` a list."""
    iat = int(now)
    claims = {
        "iss": ISSUER,
        "sub": client_id,
        "client_id": client_id,
        "iat": iat,
        "nbf": iat,
        "exp": iat + lifetime,
        "jti": uuid.uuid4().hex,
        "scope": scope,
        "sbx_style": style,
        "sbx_serial": serial,
    }
    if audience:
        claims["aud"] = audience[0] if len(audience) == 1 else list(audience)
    if style == Style.NEXEED:
        claims["sbx_instances"] = list(instances)
    return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, signing_key())


def bearer_token(request):
    """The token of an ``Authorization: Bearer`` header, or None."""
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def verify(token, *, now, revoked_through):
    """Return the claims of a valid token, or raise InvalidToken."""
    if token is None:
        raise InvalidToken("The JWT was missing.")
    try:
        claims = jwt.decode(token, signing_key(), algorithms=["HS256"]).claims
    except (JoseError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise InvalidToken("The JWT could not be verified.") from None
    if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
        raise InvalidToken("The JWT was not issued by this sandbox.")
    exp, serial = claims.get("exp"), claims.get("sbx_serial")
    if not _is_int(exp) or not _is_int(serial) or not isinstance(claims.get("sub"), str):
        raise InvalidToken("The JWT is malformed.")
    if exp <= now:
        raise InvalidToken("The JWT has expired.")
    if serial <= revoked_through:
        raise InvalidToken("The JWT has expired.")
    return claims


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def covers(claims, sid):
    """True when the token gives access to the service instance ``sid``."""
    if claims.get("sbx_style") == Style.NEXEED:
        instances = claims.get("sbx_instances")
        return isinstance(instances, list) and sid in instances
    scope = claims.get("scope")
    scopes = scope.split() if isinstance(scope, str) else []
    return hub_scope(sid) in scopes and things_scope(sid) in scopes


def basic_credentials(request):
    """Client credentials of an ``Authorization: Basic`` header.

    Returns None without such a header, "malformed" when it cannot be read, or a
    list of (client_id, secret) candidates: as sent, and form-urldecoded as RFC
    6749 §2.3.1 asks. Clients differ on the encoding, and trying both accepts
    either without guessing (a secret with '+' or '%' decodes differently).
    """
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return "malformed"
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        return "malformed"
    candidates = [(client_id, secret)]
    unquoted = (unquote_plus(client_id), unquote_plus(secret))
    if unquoted != candidates[0]:
        candidates.append(unquoted)
    return candidates
