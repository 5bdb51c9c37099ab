"""What the dashboard does with the provider, each action in one place.

Every outbound action writes its audit rows here, the same way every time:
an intent row before the call (if it cannot be written, nothing is sent), then an
outcome row after it. A crash between the two leaves the intent without an
outcome, which history shows as "outcome unknown".
"""

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import DatabaseError, transaction
from django.utils import timezone

from provisioning import audit, client, tokens
from provisioning.errors import Conflict, OutcomeUnknown, ProviderError, Refused
from provisioning.models import AuditEvent, OAuthClient, OpenAttempt

logger = logging.getLogger(__name__)


class AuditUnavailable(Exception):
    """The intent row could not be written, so the provider was not called."""

    message = "The audit log could not be written, so nothing was sent to the provider. Try again shortly."


@dataclass
class Outcome:
    status: str  # created, conflict, refused, failed, unknown
    correlation_id: uuid.UUID
    http_status: int | None = None
    latency_ms: int | None = None
    message: str = ""
    next_step: str = ""
    # The provider's raw 201/200 body. It may hold the device password: it is only
    # handed to the show-once panel and is never stored or logged.
    body: dict | None = None
    error: ProviderError | None = field(default=None, repr=False)

    @property
    def ok(self):
        return self.status in ("created", "deleted")


def classify(error):
    """Map a provider error to the audit status shown in history."""
    if isinstance(error, Conflict):
        return "conflict"
    if isinstance(error, Refused):
        return "refused"
    if isinstance(error, OutcomeUnknown):
        return "unknown"
    return "failed"  # token, configuration or unavailable: nothing reached the provider


SUCCESS_NOTE_EVERY = timedelta(seconds=60)


def _note_config_result(config, error=None, secrets=(), force=False):
    """Keep the last success or error next to the client configuration.

    A success is written when it clears an error, or when the one on record is
    older than SUCCESS_NOTE_EVERY: not one write per device in a busy minute.
    """
    now = timezone.now()
    if error is None:
        last = config.last_success_at
        if force or config.last_error or last is None or now - last >= SUCCESS_NOTE_EVERY:
            OAuthClient.objects.filter(pk=config.pk).update(
                last_success_at=now, last_error="", last_error_at=None
            )
            config.last_success_at, config.last_error, config.last_error_at = now, "", None
    elif isinstance(error, ProviderError) and not isinstance(error, Conflict | Refused):
        message = audit.scrub(error.message, secrets)
        OAuthClient.objects.filter(pk=config.pk).update(last_error=message[:500], last_error_at=now)


def _write_intent(action, *, actor, team, config, target, request, correlation_id):
    try:
        with transaction.atomic():
            audit.record(
                action,
                actor=actor,
                team=team,
                client=config,
                phase=AuditEvent.Phase.INTENT,
                status="pending",
                target=target,
                request=request,
                correlation_id=correlation_id,
            )
            OpenAttempt.objects.create(correlation_id=correlation_id, team_id=team.pk, target=target[:300])
    except DatabaseError as exc:
        logger.exception("audit intent for %s %s could not be written", action, target)
        raise AuditUnavailable(AuditUnavailable.message) from exc


def _write_outcome(action, outcome, *, actor, team, config, target, response, secrets=()):
    try:
        with transaction.atomic():
            audit.record(
                action,
                actor=actor,
                team=team,
                client=config,
                phase=AuditEvent.Phase.OUTCOME,
                status=outcome.status,
                target=target,
                http_status=outcome.http_status,
                latency_ms=outcome.latency_ms,
                message=outcome.message,
                response=response,
                correlation_id=outcome.correlation_id,
                secrets=secrets,
            )
            OpenAttempt.objects.filter(correlation_id=outcome.correlation_id).delete()
    except DatabaseError:
        # The intent row stands, so history shows this attempt as "outcome unknown".
        logger.exception("audit outcome for %s %s could not be written", action, target)


def _perform(action, call, *, actor, team, config, target, request, correlation_id, success_status):
    correlation_id = correlation_id or uuid.uuid4()
    _write_intent(
        action,
        actor=actor,
        team=team,
        config=config,
        target=target,
        request=request,
        correlation_id=correlation_id,
    )
    # A provider may echo a secret of the request in free text: scrubbed from what is kept or shown.
    secrets = audit.secret_values(request)
    started = time.monotonic()
    try:
        result = call(correlation_id)
    except ProviderError as error:
        outcome = Outcome(
            status=classify(error),
            correlation_id=correlation_id,
            http_status=error.http_status,
            latency_ms=int((time.monotonic() - started) * 1000),
            message=audit.scrub(error.message, secrets),
            next_step=error.next_step,
            error=error,
        )
        response = error.details if isinstance(error.details, dict) else None
        _write_outcome(
            action,
            outcome,
            actor=actor,
            team=team,
            config=config,
            target=target,
            response=response,
            secrets=secrets,
        )
        _note_config_result(config, error, secrets)
        return outcome
    outcome = Outcome(
        status=success_status,
        correlation_id=correlation_id,
        http_status=result.status,
        latency_ms=result.latency_ms,
        body=result.body,
    )
    _write_outcome(
        action,
        outcome,
        actor=actor,
        team=team,
        config=config,
        target=target,
        response=result.body,
        secrets=secrets,
    )
    _note_config_result(config)
    return outcome


def request_record(config, method, url, params, body):
    """The request as stored in the audit row (redacted by audit.record)."""
    record = {
        "method": method,
        "url": url,
        "params": params,
        "headers": {"Authorization": "Bearer [redacted]"},
    }
    if body is not None:
        record["body"] = body
    return record


def provision_device(*, actor, team, config, body, auth_scope=None, correlation_id=None, origin=None):
    """Create one device at the provider, with intent and outcome audit rows.

    ``origin``, when given, says where the request came from (a bulk job and its
    line: ``{"bulkJob": "<uuid>", "line": 12}``) and is kept in the intent row's request.
    """
    params = {"authScope": auth_scope} if auth_scope else {}
    request = request_record(config, "POST", client.devices_url(config), params, body)
    if origin:
        request["origin"] = origin
    return _perform(
        "device.provision",
        lambda cid: client.create_device(config, body, auth_scope=auth_scope, correlation_id=cid),
        actor=actor,
        team=team,
        config=config,
        target=body["id"],
        request=request,
        correlation_id=correlation_id,
        success_status="created",
    )


def deprovision_device(*, actor, team, config, device_id, keep_credentials=False, keep_policy=False):
    """Delete one device (and its credentials, thing, policy unless kept), with audit rows."""
    params = {"keepCredentials": keep_credentials, "keepPolicy": keep_policy}
    return _perform(
        "device.deprovision",
        lambda cid: client.delete_device(
            config, device_id, keep_credentials=keep_credentials, keep_policy=keep_policy, correlation_id=cid
        ),
        actor=actor,
        team=team,
        config=config,
        target=device_id,
        request=request_record(config, "DELETE", f"{client.devices_url(config)}/{device_id}", params, None),
        correlation_id=None,
        success_status="deleted",
    )


@dataclass
class ConnectionCheck:
    ok: bool
    message: str = ""
    scope: str = ""
    lifetime: int | None = None
    token_type: str = ""
    claims: dict | None = None  # unverified JWT claims, or None for an opaque token
    latency_ms: int | None = None


def check_connection(*, actor, team, config):
    """Fetch a token now (bypassing the cache) and report what came back; audit the result."""
    started = time.monotonic()
    try:
        token = tokens.fetch_token(config)
    except ProviderError as error:
        latency = int((time.monotonic() - started) * 1000)
        _note_config_result(config, error)
        audit.record(
            "client.test",
            actor=actor,
            team=team,
            client=config,
            status="failed",
            target=config.name,
            http_status=error.http_status,
            latency_ms=latency,
            message=error.message,
        )
        return ConnectionCheck(ok=False, message=error.message, latency_ms=latency)
    latency = int((time.monotonic() - started) * 1000)
    _note_config_result(config, force=True)
    claims = tokens.peek_claims(token.access_token)
    audit.record(
        "client.test",
        actor=actor,
        team=team,
        client=config,
        status="ok",
        target=config.name,
        latency_ms=latency,
        message=f"Token granted for {token.lifetime} s; scope: {token.scope or '(none)'}"[:1000],
    )
    return ConnectionCheck(
        ok=True,
        scope=token.scope,
        lifetime=token.lifetime,
        token_type=token.token_type,
        claims=claims,
        latency_ms=latency,
    )
