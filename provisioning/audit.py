"""The audit writer and the one redactor. Services call ``record``; views never do.

The keys below are secrets in every provider of the Hono/Ditto family (Bosch's body
carries Hono's credential format) and in OAuth2 token answers, so one list serves all.
"""

import uuid

from django.utils import timezone

from provisioning.models import AuditEvent, display_name

REDACTED = "[redacted]"
# Keys whose values are secrets wherever they appear in a body (compared lower-case).
SECRET_KEYS = frozenset(
    {
        "password",
        "passwordbase64",
        "key",
        "pwdhash",
        "pwd-hash",
        "pwd-plain",
        "client_secret",
        "access_token",
        "refresh_token",
        "id_token",
        "authorization",
        "secret",
    }
)


def redact(value, *, mask=REDACTED, keep=frozenset()):
    """A deep copy of ``value`` with every secret-bearing key's value replaced by ``mask``
    (values in ``keep``, placeholders that are not secrets, stay)."""
    if isinstance(value, dict):
        return {
            k: (
                mask
                if str(k).lower() in SECRET_KEYS and v not in (None, "") and v not in keep
                else redact(v, mask=mask, keep=keep)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, mask=mask, keep=keep) for v in value]
    return value


MIN_SCRUBBED = 6  # shorter values are not hunted for in free text (too many false hits)


def secret_values(value):
    """The secret strings held in ``value`` (under a secret-bearing key), to scrub from free text."""
    found = set()

    def walk(item):
        if isinstance(item, dict):
            for k, v in item.items():
                if str(k).lower() in SECRET_KEYS and isinstance(v, str):
                    if len(v) >= MIN_SCRUBBED:
                        found.add(v)
                else:
                    walk(v)
        elif isinstance(item, list):
            for v in item:
                walk(v)

    walk(value)
    return found


def scrub(value, secrets):
    """``value`` with every occurrence of each secret inside its strings replaced.

    For providers that echo a secret in free text (an error description, a message),
    where redacting by key cannot find it.
    """
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    return value


def build(
    action,
    *,
    actor=None,
    team=None,
    config=None,
    phase=AuditEvent.Phase.EVENT,
    status="",
    target="",
    http_status=None,
    latency_ms=None,
    message="",
    request=None,
    response=None,
    correlation_id=None,
    secrets=(),
    at=None,
    template=None,
):
    """One audit row, redacted and ready to insert (``record`` inserts it; services append
    several at once). Bodies are redacted here, so no caller can forget to.

    ``secrets``: further values to scrub from every text of the row (the outcome row
    of a call passes the secrets of its request, which the response may echo).
    ``at``: when it happened, if not now (an outcome written a moment after its answer came).
    ``template``: the TemplateVersion the row is about (a device made from it, or its change).
    """
    secrets = set(secrets) | secret_values(request) | secret_values(response)
    event = AuditEvent(
        created_at=at or timezone.now(),
        correlation_id=correlation_id or uuid.uuid4(),
        phase=phase,
        action=action,
        status=status,
        actor_id=getattr(actor, "pk", None),
        actor_name=display_name(actor),
        team_id=getattr(team, "pk", None),
        team_name=getattr(team, "name", "") or "",
        client_ref=getattr(config, "pk", None),
        client_name=getattr(config, "name", "") or "",
        target=target[:300],
        http_status=http_status,
        latency_ms=latency_ms,
        message=scrub(message, secrets)[:1000],
        request=scrub(redact(request), secrets) if request is not None else None,
        response=scrub(redact(response), secrets) if response is not None else None,
    )
    if template is not None:
        event.template_ref = template.template_id
        event.template_version = template.number
        event.template_name = template.template.name
    return event


def record(action, **fields):
    """Insert one audit row (see ``build`` for the fields)."""
    (event,) = AuditEvent.objects.append([build(action, **fields)])
    return event
