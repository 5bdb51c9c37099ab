"""Test connection for an Eclipse Hono + Ditto or an Eclipse Ditto connection: each endpoint
checked the cheapest honest way, each reported on its own, the whole audited once.

- Hono: read the connection's tenant (GET /v1/tenants/{tenant}). 200 means the credentials
  work and the tenant exists; 404 means the tenant does not.
- Ditto: read a thing that need not exist (GET /api/2/things/{PROBE_THING}). Ditto answers
  401 before it looks for the thing, so 404 (or 200) means the credentials work.
An endpoint on OAuth2 fetches its token through the shared cache, as a Send would.
"""

import time
from dataclasses import dataclass, field

from django.utils import timezone

from provisioning import audit, crypto
from provisioning.api import exchange
from provisioning.errors import ConfigurationError, OutcomeUnknown, ProviderError
from provisioning.models import Connection
from provisioning.providers import hono_ditto as hd
from provisioning.providers.hono_ditto_connection import endpoint_auth, settings_for
from provisioning.providers.hono_ditto_errors import SERVICES, error_for
from provisioning.services import note_config_result

PROBE_THING = "org.eclipse.provisioner:connection-test"


@dataclass
class EndpointCheck:
    endpoint: str  # hd.HONO or hd.DITTO
    what: str  # what was read, in words
    url: str
    ok: bool = False
    http_status: int | None = None
    latency_ms: int | None = None
    message: str = ""
    next_step: str = ""

    @property
    def service(self):
        return SERVICES[self.endpoint]


@dataclass
class EndpointsCheck:
    """What Test connection found at each endpoint (the view's ``check``)."""

    endpoints: list = field(default_factory=list)
    claims: None = None  # a Bosch check's token claims; none here

    @property
    def ok(self):
        return all(check.ok for check in self.endpoints)


def _probes(settings):
    """(Step, what, statuses that mean "works") of each endpoint, Hono first."""
    probes = []
    if settings.has_hono:
        url = hd.hono_tenant_url(settings)
        step = hd.Step(name="tenant", title="Read the tenant", endpoint=hd.HONO, method="GET", url=url)
        probes.append((step, f"the tenant {settings.tenant}", (200,)))
    step = hd.Step(
        name="thing",
        title="Read a thing",
        endpoint=hd.DITTO,
        method="GET",
        url=hd.thing_url(settings, PROBE_THING),
    )
    probes.append((step, "a thing (404 after authentication is the answer expected)", (200, 404)))
    return probes


def _check_one(connection, step, what, works):
    check = EndpointCheck(endpoint=step.endpoint, what=what, url=step.url)
    started = time.monotonic()
    try:
        auth = endpoint_auth(connection, step.endpoint)
        answer = exchange("GET", step.url, auth=auth, service=SERVICES[step.endpoint])
    except crypto.SecretBoxError as exc:
        check.message = f"The {check.service} password cannot be opened: {exc}"
        check.next_step = f"Type the {check.service} password again in the connection's settings."
        return check
    except ProviderError as error:
        check.http_status, check.message, check.next_step = error.http_status, error.message, error.next_step
        return check
    finally:
        check.latency_ms = int((time.monotonic() - started) * 1000)
    check.http_status = answer.status
    if answer.status in works:
        check.ok = True
        check.message = f"{check.service} answered {answer.status} to a read of {what.split(' (')[0]}."
        return check
    error = error_for(step, answer.status, answer.data, retry_after=answer.retry_after)
    if isinstance(error, OutcomeUnknown):  # a read changes nothing: no "may have done it"
        error = ConfigurationError(f"{check.service} failed (HTTP {answer.status}) to answer a read.")
    check.message, check.next_step = error.message, error.next_step
    return check


def check_connection(*, actor, team, config):
    """Check each endpoint of ``config`` (a Hono + Ditto or Ditto connection); audit the result
    as one ``client.test`` row, as Bosch's token test is."""
    started = time.monotonic()
    result = EndpointsCheck()
    for step, what, works in _probes(settings_for(config)):
        result.endpoints.append(_check_one(config, step, what, works))
    words = " ".join(
        f"{c.service}: {'ok' if c.ok else 'failed'} (HTTP {c.http_status or '-'}, {c.latency_ms} ms)."
        + ("" if c.ok else f" {c.message}")
        for c in result.endpoints
    )
    failed = next((c for c in result.endpoints if not c.ok), None)
    if failed is None:
        note_config_result(config, force=True)
    else:
        Connection.objects.filter(pk=config.pk).update(last_error=words[:500], last_error_at=timezone.now())
    audit.record(
        "client.test",
        actor=actor,
        team=team,
        config=config,
        status="ok" if failed is None else "failed",
        target=config.name,
        http_status=failed.http_status if failed else None,
        latency_ms=int((time.monotonic() - started) * 1000),
        message=words[:1000],
    )
    return result
