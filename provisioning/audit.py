"""The audit writer and the redactor. Services call ``record``; views never do."""

import uuid

from provisioning.models import AuditEvent

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


def redact(value):
    """A deep copy of ``value`` with every secret-bearing key's value replaced."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if str(k).lower() in SECRET_KEYS and v not in (None, "") else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def record(
    action,
    *,
    actor=None,
    team=None,
    client=None,
    phase=AuditEvent.Phase.EVENT,
    status="",
    target="",
    http_status=None,
    latency_ms=None,
    message="",
    request=None,
    response=None,
    correlation_id=None,
):
    """Insert one audit row. Bodies are redacted here, so no caller can forget to."""
    return AuditEvent.objects.create(
        correlation_id=correlation_id or uuid.uuid4(),
        phase=phase,
        action=action,
        status=status,
        actor_id=getattr(actor, "pk", None),
        actor_name=getattr(actor, "username", "") or "",
        team_id=getattr(team, "pk", None),
        team_name=getattr(team, "name", "") or "",
        client_ref=getattr(client, "pk", None),
        client_name=getattr(client, "name", "") or "",
        target=target[:300],
        http_status=http_status,
        latency_ms=latency_ms,
        message=message[:1000],
        request=redact(request) if request is not None else None,
        response=redact(response) if response is not None else None,
    )
