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

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from provisioning import audit, tokens
from provisioning.errors import Conflict, OutcomeUnknown, ProviderError, Refused
from provisioning.models import AuditEvent, Connection, OpenAttempt
from provisioning.providers import bosch

logger = logging.getLogger(__name__)


class AuditUnavailable(Exception):
    """The intent row could not be written, so the provider was not called."""

    message = "The audit log could not be written, so nothing was sent to the provider. Try again shortly."


class AlreadyBegun(Exception):
    """An attempt with this correlation id was begun before (a form sent twice): nothing was sent."""

    def __init__(self, correlation_id):
        super().__init__(f"attempt {correlation_id} was begun before")
        self.correlation_id = correlation_id


@dataclass
class Outcome:
    status: str  # created, conflict, refused, failed, unknown
    correlation_id: uuid.UUID
    http_status: int | None = None
    latency_ms: int | None = None
    message: str = ""
    next_step: str = ""
    retries: int = 0  # sent again after the provider asked to wait (Retry-After)
    waited: int = 0  # seconds waited for it
    failed_step: str = ""  # "the token request to <url>" or "the API request to <url>"
    # The provider's raw 201/200 body. It may hold the device password: it is only
    # handed to the show-once panel and is never stored or logged.
    body: dict | None = field(default=None, repr=False)
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


def note_config_result(config, error=None, secrets=(), force=False):
    """Keep the last success or error next to the connection.

    A success is written when it clears an error, or when the one on record is
    older than SUCCESS_NOTE_EVERY: not one write per device in a busy minute.
    """
    now = timezone.now()
    if error is None:
        last = config.last_success_at
        if force or config.last_error or last is None or now - last >= SUCCESS_NOTE_EVERY:
            Connection.objects.filter(pk=config.pk).update(
                last_success_at=now, last_error="", last_error_at=None
            )
            config.last_success_at, config.last_error, config.last_error_at = now, "", None
    elif isinstance(error, ProviderError) and not isinstance(error, Conflict | Refused):
        message = audit.scrub(f"{error.message} Step that failed: {error.failed_step}.", secrets)
        Connection.objects.filter(pk=config.pk).update(last_error=message[:500], last_error_at=now)


@dataclass(eq=False)
class Attempt:
    """One outbound call and its audit rows, in three steps that callers may batch.

    ``begin([...])`` writes the intent rows (nothing may be sent if it fails), ``run()``
    makes the call, ``finish([...])`` writes the outcome rows. A single Send does the three
    for one attempt (``perform``); a bulk job writes the intents of the rows it hands out,
    and the outcomes of the rows that came back, several to a transaction.
    """

    action: str
    call: object = field(repr=False)  # correlation id -> the client's result; raises ProviderError
    actor: object
    team: object
    config: object
    target: str
    request: dict = field(repr=False)
    success_status: str
    correlation_id: uuid.UUID = field(default_factory=uuid.uuid4)
    outcome: Outcome | None = None
    response: dict | None = field(default=None, repr=False)  # what the outcome row keeps (redacted there)

    answered_at: object = None  # when the answer came: the outcome row's time, however late it is written
    # Audit rows of the attempt's calls not written yet (a Hono + Ditto plan's last answer):
    # ``finish`` writes them with the outcome row.
    pending_rows: list = field(default_factory=list, repr=False)
    template: object = None  # the TemplateVersion the device is made from, named on both rows

    def __post_init__(self):
        # A provider may echo a secret of the request in free text: scrubbed from what is kept or shown.
        self.secrets = audit.secret_values(self.request)

    def run(self):
        """Make the call (no database work); return and keep the outcome."""
        started = time.monotonic()
        try:
            result = self.call(self.correlation_id)
        except ProviderError as error:
            self.answered_at = timezone.now()
            self.outcome = Outcome(
                status=classify(error),
                correlation_id=self.correlation_id,
                http_status=error.http_status,
                latency_ms=int((time.monotonic() - started) * 1000),
                message=audit.scrub(error.message, self.secrets),
                next_step=error.next_step,
                failed_step=error.failed_step,
                error=error,
            )
            self.response = error.details if isinstance(error.details, dict) else None
        else:
            self.answered_at = timezone.now()
            self.outcome = Outcome(
                status=self.success_status,
                correlation_id=self.correlation_id,
                http_status=result.status,
                latency_ms=result.latency_ms,
                message=result.note,
                body=result.body,
                retries=result.retries,
                waited=result.waited,
            )
            self.response = result.body
        return self.outcome

    def row(self, phase):
        """The attempt's intent or outcome audit row, unsaved."""
        fields = {"phase": phase, "target": self.target, "correlation_id": self.correlation_id}
        if phase == AuditEvent.Phase.INTENT:
            fields.update(status="pending", request=self.request)
        else:
            outcome = self.outcome
            fields.update(
                status=outcome.status,
                http_status=outcome.http_status,
                latency_ms=outcome.latency_ms,
                message=outcome.message,
                response=self.response,
                secrets=self.secrets,
                at=self.answered_at,
            )
        return audit.build(
            self.action,
            actor=self.actor,
            team=self.team,
            config=self.config,
            template=self.template,
            **fields,
        )


def _named(attempts):
    """For a log line: the first few attempts as "action target"."""
    named = ", ".join(f"{a.action} {a.target}" for a in attempts[:5])
    return named + (f" and {len(attempts) - 5} more" if len(attempts) > 5 else "")


def begin(attempts):
    """Write the intent rows of ``attempts`` (and their open-attempt markers), all or nothing.

    Raises AuditUnavailable when they cannot be written, and AlreadyBegun when one of them
    was begun before (its correlation id has an intent row): then none of them may be sent.
    """
    try:
        with transaction.atomic():
            AuditEvent.objects.append([a.row(AuditEvent.Phase.INTENT) for a in attempts])
            OpenAttempt.objects.bulk_create(
                [
                    OpenAttempt(correlation_id=a.correlation_id, team_id=a.team.pk, target=a.target[:300])
                    for a in attempts
                ]
            )
    except IntegrityError as exc:
        # The one-intent-per-attempt constraint, or a database refusing the insert for another reason.
        begun = AuditEvent.objects.filter(
            phase=AuditEvent.Phase.INTENT, correlation_id__in=[a.correlation_id for a in attempts]
        ).values_list("correlation_id", flat=True)
        first = next(iter(begun), None)
        if first is not None:
            raise AlreadyBegun(first) from exc
        logger.exception("audit intent for %s could not be written", _named(attempts))
        raise AuditUnavailable(AuditUnavailable.message) from exc
    except DatabaseError as exc:
        logger.exception("audit intent for %s could not be written", _named(attempts))
        raise AuditUnavailable(AuditUnavailable.message) from exc


def finish(attempts):
    """Write the outcome rows of ``attempts`` (which have run), all or nothing, and note each
    connection's last result. If they cannot be written, the intent rows stand and
    history shows those attempts as "outcome unknown"."""
    try:
        with transaction.atomic():
            AuditEvent.objects.append(
                [row for a in attempts for row in (*a.pending_rows, a.row(AuditEvent.Phase.OUTCOME))]
            )
            OpenAttempt.objects.filter(correlation_id__in=[a.correlation_id for a in attempts]).delete()
    except DatabaseError:
        logger.exception("audit outcome for %s could not be written", _named(attempts))
    # The latest result per connection is the one that counts (an attempt may have no Connection row).
    # An outcome that neither succeeded nor carries the provider's error (our own audit row
    # could not be written, so nothing was sent) says nothing about the connection.
    told = [a for a in attempts if a.config is not None and (a.outcome.ok or a.outcome.error is not None)]
    last = {a.config.pk: a for a in told}
    for attempt in last.values():
        note_config_result(attempt.config, attempt.outcome.error, attempt.secrets)


def perform(attempt):
    """Intent, call, outcome: the whole of one attempt. Raises AuditUnavailable (nothing sent)."""
    begin([attempt])
    attempt.run()
    finish([attempt])
    return attempt.outcome


def provision_attempt(
    *, actor, team, config, body, auth_scope=None, correlation_id=None, origin=None, template=None
):
    """The Attempt that creates one device at the provider (see ``provision_device``)."""
    request = bosch.request_record("POST", bosch.devices_url(config), bosch.create_params(auth_scope), body)
    if origin:
        request["origin"] = origin
    return Attempt(
        action="device.provision",
        call=lambda cid: bosch.create_device(config, body, auth_scope=auth_scope, correlation_id=cid),
        actor=actor,
        team=team,
        config=config,
        target=body["id"],
        request=request,
        success_status="created",
        correlation_id=correlation_id or uuid.uuid4(),
        template=template,
    )


def provision_device(
    *, actor, team, config, body, auth_scope=None, correlation_id=None, origin=None, template=None
):
    """Create one device at the provider, with intent and outcome audit rows.

    ``origin``, when given, says where the request came from (a bulk job and its
    line: ``{"bulkJob": "<uuid>", "line": 12}``) and is kept in the intent row's request.
    ``template``: the TemplateVersion the body was made from, named on both audit rows.
    """
    return perform(
        provision_attempt(
            actor=actor,
            team=team,
            config=config,
            body=body,
            auth_scope=auth_scope,
            correlation_id=correlation_id,
            origin=origin,
            template=template,
        )
    )


def deprovision_attempt(
    *,
    actor,
    team,
    config,
    device_id,
    keep_credentials=False,
    keep_policy=False,
    correlation_id=None,
    origin=None,
):
    """The Attempt that deletes one device (and its credentials, thing, policy unless kept). Its
    outcome is "deleted" also when the device was gone already (a 404: the outcome says so)."""
    request = bosch.request_record(
        "DELETE",
        bosch.device_url(config, device_id),
        {"keepCredentials": keep_credentials, "keepPolicy": keep_policy},
    )
    if origin:
        request["origin"] = origin
    return Attempt(
        action="device.deprovision",
        call=lambda cid: bosch.delete_device(
            config,
            device_id,
            keep_credentials=keep_credentials,
            keep_policy=keep_policy,
            correlation_id=cid,
        ),
        actor=actor,
        team=team,
        config=config,
        target=device_id,
        request=request,
        success_status="deleted",
        correlation_id=correlation_id or uuid.uuid4(),
    )


def deprovision_device(*, actor, team, config, device_id, keep_credentials=False, keep_policy=False):
    """Delete one device (and its credentials, thing, policy unless kept), with audit rows."""
    return perform(
        deprovision_attempt(
            actor=actor,
            team=team,
            config=config,
            device_id=device_id,
            keep_credentials=keep_credentials,
            keep_policy=keep_policy,
        )
    )


@dataclass
class ConnectionCheck:
    ok: bool
    message: str = ""
    next_step: str = ""
    failed_step: str = ""
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
        note_config_result(config, error)
        audit.record(
            "client.test",
            actor=actor,
            team=team,
            config=config,
            status="failed",
            target=config.name,
            http_status=error.http_status,
            latency_ms=latency,
            message=error.message,
        )
        return ConnectionCheck(
            ok=False,
            message=error.message,
            next_step=error.next_step,
            failed_step=error.failed_step,
            latency_ms=latency,
        )
    latency = int((time.monotonic() - started) * 1000)
    note_config_result(config, force=True)
    claims = tokens.peek_claims(token.access_token)
    audit.record(
        "client.test",
        actor=actor,
        team=team,
        config=config,
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
