"""Sign-in with the company's identity provider (OpenID Connect), through authlib's Django client.

authlib does the protocol: it reads the provider's discovery document, sends the browser to the
authorization endpoint with state, nonce and a PKCE challenge (S256), exchanges the code, and
verifies the ID token's signature (with the provider's published keys), issuer, audience, expiry
and nonce. This module configures it from the settings, checks the provider's URLs like every
other outbound URL, and turns each failure into a SignInError that says what happened in plain
words. Tokens are never logged, stored or shown: the claims of the verified ID token are all that
leaves this module.

A client is built per request (``client()``): nothing is kept between requests, so a provider's
new keys or endpoints are picked up at the next sign-in.

Why authlib and not mozilla-django-oidc: the issue asks for configuration from the issuer's
discovery document, which mozilla-django-oidc does not read (each endpoint, the JWKS URL and the
signing algorithm are settings of their own there); authlib reads it, is already a dependency
(the token cache uses it), and checks the ID token's claims itself.
"""

import logging

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.django_client import OAuth
from django.conf import settings
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError

from provisioning.http import timeouts
from provisioning.outbound import UnsafeURL, check_url

logger = logging.getLogger(__name__)

NAME = "oidc"
SUBJECT_MAX = 255  # ExternalIdentity.subject
# The provider's endpoints this server calls itself (the authorization endpoint is the browser's).
CALLED_ENDPOINTS = ("token_endpoint", "jwks_uri")

CLAIM_PROBLEMS = {
    "iss": "The ID token was issued by another identity provider than the one configured (OIDC_ISSUER).",
    "aud": "The ID token was issued for another application (its audience is not OIDC_CLIENT_ID).",
    "nonce": "The ID token does not belong to this sign-in (its nonce does not match). Sign in again.",
}


class SignInError(Exception):
    """A sign-in that failed. ``str()`` says what happened in plain words; ``status`` is the HTTP
    status of the page that says so (502 when the provider could not be reached)."""

    def __init__(self, message, *, status=400):
        super().__init__(message)
        self.status = status


def discovery_url():
    return settings.OIDC_ISSUER.rstrip("/") + "/.well-known/openid-configuration"


def client():
    """authlib's Django client for the configured provider, new for this request."""
    oauth = OAuth()
    oauth.register(
        NAME,
        client_id=settings.OIDC_CLIENT_ID,
        client_secret=settings.OIDC_CLIENT_SECRET,
        server_metadata_url=discovery_url(),
        client_kwargs={
            "scope": settings.OIDC_SCOPES,
            "code_challenge_method": "S256",
            # As provisioning.http: fixed timeouts, no redirects, no proxies or .netrc from the environment.
            "default_timeout": timeouts(),
            "max_redirects": 0,
            "trust_env": False,
        },
    )
    return oauth.create_client(NAME)


def _unreachable(exc):
    logger.warning("OIDC: the identity provider could not be reached: %s", type(exc).__name__)
    return SignInError(
        "The identity provider could not be reached, or did not answer as expected. "
        "Try again in a moment; if it stays down, a superuser can still sign in with a password.",
        status=502,
    )


def _checked(url):
    try:
        return check_url(url, resolve=True)
    except UnsafeURL as exc:
        logger.error("OIDC: refused to call %s: %s", url, exc)
        raise SignInError(
            f"This server may not call the identity provider at {url}: {exc}", status=502
        ) from None


def _metadata(app):
    """The provider's discovery document, its URLs checked as every outbound URL is."""
    _checked(discovery_url())
    try:
        metadata = app.load_server_metadata()
    except (requests.RequestException, ValueError, TypeError) as exc:  # TypeError: JSON, not an object
        raise _unreachable(exc) from None
    for key in CALLED_ENDPOINTS:
        url = metadata.get(key)
        if not isinstance(url, str) or not url:
            raise SignInError(f"The identity provider's discovery document names no {key}.", status=502)
        _checked(url)
    return metadata


def start(request, redirect_uri):
    """The redirect that sends the browser to the provider; state, nonce and PKCE verifier are kept
    in the session by authlib."""
    app = client()
    _metadata(app)
    return app.authorize_redirect(request, redirect_uri)


def finish(request):
    """The verified claims of the ID token the provider issued for this sign-in (a dict)."""
    app = client()
    metadata = _metadata(app)
    # authlib checks the issuer on its own, but the audience only through azp: an ID token for
    # another client that names this one in azp would pass. So both are pinned here, with its
    # claims_options (the issuer as its default would be).
    claims_options = {
        "iss": {"essential": True, "values": [metadata.get("issuer")]},
        "aud": {"essential": True, "values": [settings.OIDC_CLIENT_ID]},
    }
    try:
        token = app.authorize_access_token(request, claims_options=claims_options)
    except MismatchingStateError:
        raise _failed(
            "This sign-in was not started in this browser, or was already used (the state does not "
            "match). Start again from the sign-in page."
        ) from None
    except OAuthError as exc:
        # The provider's own refusal (?error=access_denied, or the token endpoint's answer).
        raise _failed(f"The identity provider did not sign you in: {_printable(exc.error)}.") from None
    except ExpiredTokenError:
        raise _failed(
            "The ID token has expired. Sign in again; if this keeps happening, this server's clock "
            "and the identity provider's disagree."
        ) from None
    except ClaimError as exc:
        problem = CLAIM_PROBLEMS.get(exc.claim, f"The ID token's claim {exc.claim} is not valid.")
        raise _failed(problem) from None
    except JoseError as exc:
        raise _failed(
            f"The ID token could not be verified with the identity provider's keys ({exc.error})."
        ) from None
    except (requests.RequestException, ValueError) as exc:
        raise _unreachable(exc) from None
    claims = token.get("userinfo")
    if not claims:
        raise _failed("The identity provider sent no ID token. Is openid among OIDC_SCOPES?")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= SUBJECT_MAX:
        raise _failed("The ID token names no subject (sub) this server can store.")
    return dict(claims)


def _printable(code):
    """An error code from the provider (or from whoever crafted the link), safe for a log line."""
    return "".join(ch for ch in str(code)[:100] if ch.isprintable())


def _failed(message):
    logger.warning("OIDC sign-in failed: %s", message)
    return SignInError(message)


def groups(claims):
    """The group names in the claim OIDC_GROUPS_CLAIM (a list of strings, or one string)."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return sorted({item for item in value if isinstance(item, str) and item})


def logout_url(post_logout_redirect_uri):
    """The provider's end-session URL (RP-initiated logout), or None when it offers none or cannot
    be reached. No ID token is kept, so ``client_id`` names the application instead of
    ``id_token_hint`` (some providers then ask the person to confirm)."""
    app = client()
    try:
        metadata = _metadata(app)
    except SignInError:
        return None
    if not metadata.get("end_session_endpoint"):
        return None
    return app.create_logout_url(
        post_logout_redirect_uri=post_logout_redirect_uri, client_id=settings.OIDC_CLIENT_ID
    )["url"]
