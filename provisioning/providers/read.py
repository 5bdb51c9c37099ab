"""Reading one part of a device back from a provider (a GET), and what its answer means.

Used by "Check at provider" (provisioning.drift) and by a resumed Hono + Ditto attempt that
is told a part "already exists". Reads go through ``api.exchange`` like every call (the shared
session, the URL check, timeouts, the 401-once refresh, the Retry-After waits). A read
changes nothing, so a failure never means "it may have done it": it is a ReadFailed with
plain words and a next step, and the caller knows nothing about the part.

- Eclipse Hono: ``GET /v1/devices/{tenant}/{id}`` and ``GET /v1/credentials/{tenant}/{id}``
  (metadata only: the registry never returns a secret). A 404 is the device missing, unless
  Hono's words say the tenant is unknown.
- A 404 whose body is not JSON (a proxy's page: a wrong base URL) says nothing about the part.
- Eclipse Ditto and Bosch IoT Things: ``GET /api/2/things/{id}`` and
  ``GET /api/2/policies/{id}``; a 404 is "missing or not readable by this connection".
"""

import json
from dataclasses import dataclass

from provisioning import api
from provisioning.errors import OutcomeUnknown, ProviderError
from provisioning.providers.hono_ditto_errors import parse_body, provider_words


class ReadFailed(Exception):
    """A read that gave no usable answer; ``message`` and ``next_step`` say why and what to do.

    ``kind`` is the kind of ProviderError it stands for (provisioning.errors), when it says more
    than "no usable answer": "unavailable" (busy or unreachable: ``retry_after`` seconds, if the
    provider said), "token", "configuration" or "unauthorized" (the connection's credentials),
    so that a bulk check can wait, or stop for the operator, instead of failing every device."""

    def __init__(self, message, next_step="", http_status=None, *, kind="", retry_after=None):
        super().__init__(message)
        self.message = message
        self.next_step = next_step
        self.http_status = http_status
        self.kind = kind
        self.retry_after = retry_after


@dataclass
class Found:
    """A definite answer: the part exists (``body``: its JSON) or it does not."""

    exists: bool
    http_status: int
    body: object = None
    latency_ms: int | None = None


def read(url, auth, *, service, what, hono_tenant=None, correlation_id=None):
    """GET ``url`` with ``auth``; a Found, or raise ReadFailed.

    ``service`` names the far end ("Eclipse Hono"), ``what`` the part ("the Hono device");
    ``hono_tenant``, for a Hono read, tells a 404 for an unknown tenant from a missing device.
    """
    try:
        answer = api.exchange("GET", url, auth=auth, correlation_id=correlation_id, service=service)
    except OutcomeUnknown as error:  # sent, no answer: for a read, only "no answer"
        raise ReadFailed(
            f"{error.message} It was a read of {what}: nothing was changed.",
            "Try the check again in a moment.",
        ) from None
    except ProviderError as error:
        raise ReadFailed(
            error.message, error.next_step, error.http_status, kind=error.kind, retry_after=error.retry_after
        ) from None
    status, latency = answer.status, answer.response.latency_ms
    if status == 200:
        if answer.truncated:
            raise ReadFailed(
                f"{service} answered the read of {what} with more than this server reads; "
                "it was not compared.",
                http_status=status,
            )
        try:
            body = json.loads(answer.data)
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict | list):
            raise ReadFailed(
                f"{service} answered 200 to the read of {what}, but its body is not JSON.",
                f"Check that the connection's base URL points at {service} itself, "
                "not at a page in front of it.",
                http_status=status,
            )
        return Found(exists=True, http_status=status, body=body, latency_ms=latency)
    details = parse_body(answer.data)
    said = provider_words(details)
    said = f" {service} said: {said}" if said else ""
    if status == 404 and details is None and answer.data.strip():
        # A page that is not the API's (a proxy's "Not Found" for a wrong base URL) says nothing
        # about the part: taken as "missing", it could settle an attempt wrongly.
        raise ReadFailed(
            f"{service} answered 404 to the read of {what} with a body that is not JSON, "
            f"so it may not be {service} that answered.",
            f"Check the {service} base URL of the connection.",
            http_status=status,
        )
    if status == 404:
        words = " ".join(str(value) for value in (details or {}).values() if isinstance(value, str))
        if hono_tenant is not None and "tenant" in words.lower():
            raise ReadFailed(
                f"{service} does not know the tenant {hono_tenant} (404).{said}",
                "Check the connection's Hono tenant: it must exist in the registry.",
                http_status=status,
            )
        return Found(exists=False, http_status=status, latency_ms=latency)
    raise ReadFailed(
        *_refusal(status, service, what, answer.retry_after),
        http_status=status,
        kind=_refusal_kind(status, answer.retry_after),
        retry_after=answer.retry_after,
    ) from None


def _refusal_kind(status, retry_after):
    """The ProviderError kind a read answered ``status`` stands for ("" when none says more)."""
    if status in (401, 403):
        return "unauthorized"
    if status == 429 or (status == 503 and retry_after is not None):
        return "unavailable"
    return ""


def _refusal(status, service, what, retry_after):
    """(message, next step) for a read answered with ``status``."""
    if status == 401:
        return (
            f"{service} refused this connection's credentials (401) when asked to read {what}.",
            f"Check the {service} user and password or token settings of the connection, "
            "then use Test connection.",
        )
    if status == 403:
        return (
            f"{service} does not let this connection read {what} (403).",
            f"Give the connection's {service} user the right to read it, or use another connection.",
        )
    if status == 429 or (status == 503 and retry_after is not None):
        return (
            f"{service} is busy (HTTP {status}) and did not answer the read of {what}.",
            "Try again in a moment.",
        )
    if 300 <= status < 400:
        return (
            f"{service} answered the read of {what} with a redirect ({status}); redirects are not followed.",
            f"Check the {service} base URL of the connection.",
        )
    if status >= 500:
        return (
            f"{service} failed (HTTP {status}) to answer the read of {what}; nothing was changed.",
            "Try the check again later.",
        )
    return (f"{service} refused to read {what} (HTTP {status}).", "Check the connection's settings.")
