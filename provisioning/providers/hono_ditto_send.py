"""Sending one step of a Hono + Ditto or Ditto plan, and what its answer means.

A plan (``hono_ditto.plan``) is several calls; the attempt that sends them one by one, audits
each and undoes what a refusal leaves half-made is ``provisioning.hono_ditto_service``. Here
is only the wire: the step goes through ``api.exchange`` (the shared outbound session, the
401-once refresh, the Retry-After waits) with its endpoint's authentication, and its answer
is read with ``hono_ditto_errors``.

Authentication is per endpoint (Hono and Ditto may use different credentials):
``api.BasicAuth(user, password)``, or ``api.BearerAuth(fetch)`` where ``fetch(reject)``
returns an access token (``reject``: the token a 401 refused, None at first), so the
OAuth2 token cache plugs in as it does for Bosch.
"""

from dataclasses import dataclass, field

from provisioning import api
from provisioning.api import BasicAuth, BearerAuth, EndpointAuth
from provisioning.providers.hono_ditto import HONO
from provisioning.providers.hono_ditto_errors import SERVICES, error_for, is_already

__all__ = ["Auths", "BasicAuth", "BearerAuth", "EndpointAuth", "Sent", "send"]


@dataclass(frozen=True)
class Auths:
    """The authentication of each endpoint of a connection; ``hono`` is None for Ditto alone."""

    ditto: EndpointAuth
    hono: EndpointAuth | None = None

    def for_endpoint(self, endpoint):
        auth = self.hono if endpoint == HONO else self.ditto
        if auth is None:
            raise ValueError(f"No authentication is set for the {endpoint} endpoint.")
        return auth


@dataclass
class Sent:
    """A step's definite, acceptable answer: done (2xx), or ``already`` done before (the
    step's "already" status: Hono's 409 for the device, Ditto's 412 for a create-only PUT,
    404 for a part to delete)."""

    status: int
    already: bool
    latency_ms: int
    retries: int = 0
    waited: int = 0
    body: dict | None = field(default=None, repr=False)


def send(step, auths, *, correlation_id=None):
    """Send ``step`` with its endpoint's authentication; a Sent, or the ProviderError of
    ``hono_ditto_errors.error_for`` (OutcomeUnknown when it went out and no answer came)."""
    answer = api.exchange(
        step.method,
        step.url,
        auth=auths.for_endpoint(step.endpoint),
        json_body=step.body,
        headers=step.headers,
        correlation_id=correlation_id,
        service=SERVICES[step.endpoint],
    )
    response = answer.response
    sent = Sent(
        status=answer.status,
        already=is_already(step, answer.status),
        latency_ms=response.latency_ms,
        retries=response.retries,
        waited=response.waited,
        body=answer.body,
    )
    if sent.already or 200 <= answer.status < 300:
        # A 2xx is definite whatever its body (Hono's credentials PUT has none).
        return sent
    raise error_for(step, answer.status, answer.data, retry_after=answer.retry_after)


def refusal_of_already(step, sent):
    """The Conflict for a create step whose "already" answer cannot be taken as ours."""
    return error_for(step, sent.status, sent.body)
