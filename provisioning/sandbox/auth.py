"""Who calls the Hono and Ditto endpoints: HTTP Basic or a bearer token of this sandbox.

- ``Authorization: Basic``: a BasicUser (seed.create_basic_user, seed.ensure_demo_hono_ditto).
  Ditto sees the caller as ``nginx:<username>``, as behind the nginx Ditto ships with
  (provisioning-api.md §11).
- ``Authorization: Bearer``: any unexpired, unrevoked token of the sandbox's token endpoints
  (Suite Auth or Nexeed style; scopes are not checked: Hono's registry does no per-tenant
  authorisation, §10). Ditto sees the caller as ``sandbox:<sub>``, as an OpenID Connect
  issuer configured under the key "sandbox" would make it.
"""

from dataclasses import dataclass

from provisioning.sandbox import knobs as knob_store
from provisioning.sandbox import oauth, storable
from provisioning.sandbox.models import BasicUser

BEARER_SUBJECT_PREFIX = "sandbox"
BASIC_SUBJECT_PREFIX = "nginx"


class Unauthenticated(Exception):
    """No credentials, or credentials this sandbox does not accept; the message says which."""


@dataclass(frozen=True)
class Caller:
    subject: str  # the Ditto policy subject of the caller


def authenticate(request, knobs):
    """The Caller of ``request``, or raise Unauthenticated."""
    header = request.META.get("HTTP_AUTHORIZATION", "").strip()
    scheme = header.partition(" ")[0].lower()
    if not header:
        raise Unauthenticated("The request carries no credentials.")
    if scheme == "basic":
        return _basic(request)
    if scheme == "bearer":
        try:
            claims = oauth.verify(
                oauth.bearer_token(request),
                now=knob_store.clock(knobs),
                revoked_through=knobs.tokens_revoked_through,
            )
        except oauth.InvalidToken as error:
            raise Unauthenticated(str(error)) from None
        return Caller(subject=f"{BEARER_SUBJECT_PREFIX}:{claims['sub']}")
    raise Unauthenticated("Only Basic and Bearer authentication are supported.")


def _basic(request):
    candidates = oauth.basic_credentials(request)
    if candidates == "malformed":
        raise Unauthenticated("The Basic credentials could not be decoded as user:password.")
    username, password = candidates[0]  # as sent; no form-decoding for a plain Basic user
    user = BasicUser.objects.filter(username=username).first() if storable.storable_text(username) else None
    if user is None or not user.check_password(password):
        raise Unauthenticated("The user name or password is wrong.")
    return Caller(subject=f"{BASIC_SUBJECT_PREFIX}:{user.username}")


CHALLENGE = 'Basic realm="sandbox", Bearer realm="sandbox"'
