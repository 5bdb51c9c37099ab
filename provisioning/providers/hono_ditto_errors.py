"""What Eclipse Hono's and Eclipse Ditto's error answers mean, in the family of
provisioning.errors, with plain words, a next step and, for a 400, the field at fault.

Hono's registry answers ``{"error": "<words>"}`` (provisioning-api.md §10); Ditto answers
``{"status", "error": "<code>", "message", "description", "href"}`` (§11). Anything else
(HTML from an nginx in front, an empty or cut-off body) is read as "no explanation":
nothing here raises on a body.
"""

import json
import re

from provisioning.errors import (
    ConfigurationError,
    Conflict,
    OutcomeUnknown,
    Refused,
    Unauthorized,
    Unavailable,
)
from provisioning.providers import bosch
from provisioning.providers.hono_ditto import DITTO, HONO

MAX_WORDS = 300  # characters of the provider's own words in a message
SERVICES = {HONO: "Eclipse Hono", DITTO: "Eclipse Ditto"}
FIELD_LABELS = {
    "name": "the device name",
    "namespace": "the namespace",
    "auth_id": "the auth id",
    "secret": "the password or key",
    "credentials_type": "the credentials",
    "via": "the gateway",
    "enabled": "the enabled switch",
    "definition": "the definition",
    "features": "the features",
    "attributes": "the attributes",
    "policy_id": "the policy id",
}
# Hono names the property it did not take (Jackson: 'Unrecognized field "x"'); ours, by field.
HONO_PROPERTY_RE = re.compile(r"""(?:unrecognized field|unknown property|property)\s+["'“]?([\w-]+)""", re.I)
HONO_PROPERTIES = {
    "enabled": "enabled",
    "via": "via",
    "auth-id": "auth_id",
    "type": "credentials_type",
    "secrets": "secret",
    "pwd-plain": "secret",
    "key": "secret",
}
DITTO_CODES = {**bosch.ERROR_CODES, "things:thing.notcreatable": "policy_id"}
QUOTED_RE = re.compile(r"'[^']*'|\"[^\"]*\"")  # ids quoted in a message are not words about a field


def parse_body(body):
    """The error body as a dict, or None: ``body`` may be a dict, bytes, text or None."""
    if isinstance(body, dict):
        return body
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("utf-8", errors="replace")
    if not isinstance(body, str) or not body.strip():
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def provider_words(details):
    """The provider's own explanation, shortened: Hono's ``error``, Ditto's message and
    description (its ``error`` is a code, not words). "" when there is none."""
    if not isinstance(details, dict):
        return ""
    if isinstance(details.get("message"), str):
        keys = ("message", "description")
    else:
        keys = ("error", "description")
    parts = [
        details[key].strip() for key in keys if isinstance(details.get(key), str) and details[key].strip()
    ]
    text = " ".join(part if part[-1] in ".!?" else part + "." for part in parts)
    return text if len(text) <= MAX_WORDS else text[: MAX_WORDS - 1] + "…"


def provider_field(step, details):
    """The device builder's field an error body of ``step`` points at, or None."""
    if not isinstance(details, dict):
        return None
    code = details.get("error")
    if step.endpoint == DITTO and isinstance(code, str) and code in DITTO_CODES:
        field = DITTO_CODES[code]
        # The generated policy has the device's id: a bad policy id there is a bad name.
        return "name" if field == "policy_id" and step.name == "policy" else field
    texts = [details.get(key) for key in ("error", "message", "description")]
    texts = [
        QUOTED_RE.sub(" ", text) if step.endpoint == DITTO else text
        for text in texts
        if isinstance(text, str)
    ]
    if step.endpoint == HONO:
        for text in texts:
            match = HONO_PROPERTY_RE.search(text)
            if match and match.group(1).lower() in HONO_PROPERTIES:
                return HONO_PROPERTIES[match.group(1).lower()]
    for text in texts:
        for pattern, field in bosch.WORDS:
            if pattern.search(text):
                return field
    return None


def is_already(step, status):
    """Whether ``status`` means ``step``'s work was done before: the device (Hono 409), the
    policy or thing (Ditto 412 on a create-only PUT) exists; a part to delete is gone (404)."""
    return step.already is not None and status == step.already


def error_for(step, status, body, *, retry_after=None):
    """The ProviderError for ``step``'s answer ``status`` with ``body`` (any bytes), or None
    for a success or for a part to delete that is already gone. ``details`` is the parsed
    body (None when it was not a JSON object)."""
    if 200 <= status < 300 or (is_already(step, status) and step.method == "DELETE"):
        return None
    details = parse_body(body)
    service = SERVICES[step.endpoint]
    action = step.title[0].lower() + step.title[1:]
    said = provider_words(details)
    said = f" {service} said: {said}" if said else ""
    where = {"step": "api", "url": step.url, "http_status": status, "details": details}

    if is_already(step, status):
        what = {"device": "The Hono device", "policy": "The policy", "thing": "The twin"}[step.name]
        return Conflict(
            f"{what} already exists at {service} and was left as it is.{said}",
            next_step="If an earlier attempt made it, check it at the provider and send again to "
            "continue; otherwise choose another name.",
            **where,
        )
    if status == 401:
        return Unauthorized(
            f"{service} refused this connection's credentials (401) when asked to {action}.",
            next_step=f"Check the {service} user and password or token settings of the connection, "
            "then use Test connection.",
            **where,
        )
    if status == 403 and step.name == "policy" and step.method == "PUT":
        return Refused(
            f"{service} refused to {action} (403): the policy would lock this connection out, "
            f"or the connection may not create policies.{said}",
            next_step="Check the connection's own subject: it must be the one Ditto sees for it.",
            **where,
        )
    if status == 403:
        return Unauthorized(
            f"{service} does not let this connection {action} (403).{said}",
            next_step=f"Give the connection's {service} user this right, or use another connection.",
            **where,
        )
    if status == 409:
        return Conflict(
            f"{service} refused to {action}: something with this id already exists (409).{said}",
            next_step=_fix(
                provider_field(step, details) or ("auth_id" if step.name == "credentials" else "name")
            ),
            **where,
        )
    if status == 429 or (status == 503 and retry_after is not None):
        return Unavailable(
            f"{service} is busy (HTTP {status}) and did not {action}.",
            retry_after=retry_after,
            **where,
        )
    if status == 404 and step.endpoint == HONO and step.method != "DELETE":
        return Refused(
            f"{service} did not find the tenant or the device (404) when asked to {action}.{said}",
            next_step="Check the connection's tenant: it must exist in the Hono registry.",
            **where,
        )
    if status == 413:
        return Refused(
            f"The request to {action} is too large for {service} (413).",
            next_step="Use fewer or smaller attributes and features, then send again.",
            **where,
        )
    if 300 <= status < 400:
        return ConfigurationError(
            f"{service} answered with a redirect ({status}); redirects are not followed.",
            next_step=f"Check the {service} base URL of the connection.",
            **where,
        )
    if 400 <= status < 500 and status != 424:
        field = provider_field(step, details)
        return Refused(
            f"{service} refused to {action} (HTTP {status}).{said}",
            next_step=_fix(field) if field else Refused.next_step,
            **where,
        )
    return OutcomeUnknown(
        f"{service} failed (HTTP {status}) when asked to {action}; it may or may not have done it.{said}",
        **where,
    )


def _fix(field):
    return f"Fix {FIELD_LABELS.get(field, 'what the provider names')}, then send again."
