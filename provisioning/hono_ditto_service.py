"""Provisioning and de-provisioning through Eclipse Hono + Ditto or Ditto alone: a plan of
several calls sent as ONE attempt, audited, and never left half-made by a refusal.

The audit rows of one attempt, all under its correlation id:
- one intent row (phase intent, action ``device.provision`` or ``device.deprovision``) with
  every step of the plan as the preview shows it, written with its OpenAttempt marker by
  ``services.begin`` before anything is sent (fail closed; one intent per attempt, as the
  constraint ``audit_one_intent_per_attempt`` wants);
- for each call (a step, an undo, a de-provision step): an event row (action ``device.step``,
  status ``pending``) with the redacted request, its ``step`` name and ``stage``, written
  before the call (if it cannot be written the call is not made), and an event row with its
  answer (status, HTTP status, latency, redacted response), written in the same statement as
  the next call's row before, or with the outcome row after the last call: one write per
  call, not two. (An answer row lost with a crashed process leaves its call "maybe sent",
  which ``resume`` already handles: the call is sent again and its "already" is ours.)
- one outcome row (phase outcome) for the attempt: its status, the message the operator
  reads, and in ``response`` what was created, undone and not undone. ``services.finish``
  writes it and closes the OpenAttempt.

What happens when a step does not go through:
- refused (a definite 4xx; on a fresh attempt an "already" answer too: something else has
  that id): the steps made are undone in reverse (``hono_ditto.undo_plan``), each audited;
- outcome unknown (timeout, 5xx after sending): stop, undo nothing, attempt ``unknown``;
- unavailable (nothing reached the provider: connection refused, still busy after the
  Retry-After waits), or an audit row that cannot be written: stop, undo nothing, attempt
  ``failed``; the steps made are listed and ``resume`` continues.
``resume`` starts a new attempt from the first step an earlier attempt (and the attempts it
resumed) did not confirm; an "already" answer to a step that was sent before without a
definite answer is taken as that earlier call's work.
"""

import logging
import time
import uuid
from dataclasses import dataclass, field

from django.db import DatabaseError
from django.utils import timezone

from provisioning import audit, drift, services
from provisioning.errors import ProviderError
from provisioning.hono_ditto_chain import (
    ALREADY,
    DEPROVISION,
    DONE,
    PENDING,
    PROVISION,
    STEP_ACTION,
    UNDO,
    confirmed_steps,
    removed_steps,
)
from provisioning.models import AuditEvent
from provisioning.providers import hono_ditto as hd
from provisioning.providers.hono_ditto_preview import request_record
from provisioning.providers.hono_ditto_send import Auths, refusal_of_already, send
from provisioning.services import AuditUnavailable, Outcome, classify

logger = logging.getLogger(__name__)

COMPARE = "compare"  # the read of a part answered "already exists" (not a step of the plan)
# What the operator does about a step whose outcome is unknown (the error's own next step
# speaks of one request and its 409).
UNKNOWN_NEXT_STEP = (
    "Nothing was undone. Use Send again on this attempt's history entry: it continues from this "
    "step, and takes Hono's 409 for the device or Ditto's 412 for the policy or thing as this "
    "attempt's work, so nothing is made twice."
)
# The same for a de-provision: deleting again is safe, a part already gone is taken as gone.
UNKNOWN_DEPROVISION_NEXT_STEP = (
    "De-provision the device again: each part already deleted answers 404 and counts as gone, so "
    "nothing is deleted twice; Check at provider shows which parts remain."
)


@dataclass
class StepResult:
    name: str
    stage: str
    status: str  # created, already, deleted, gone, refused, conflict, unknown, failed
    http_status: int | None = None
    message: str = ""

    def as_dict(self):
        return {
            "step": self.name,
            "stage": self.stage,
            "status": self.status,
            "http_status": self.http_status,
        }


@dataclass
class Result:
    """What one attempt did. ``created``: the provisioning steps confirmed (made now or
    before, or found already made); ``undone``: those deleted again after a refusal;
    ``not_undone``: those whose undo did not go through (still at the provider)."""

    status: str  # created, deleted, refused, conflict, unknown, failed
    correlation_id: uuid.UUID
    message: str = ""
    next_step: str = ""
    http_status: int | None = None
    failed_step: str = ""  # the name of the step that stopped the attempt
    created: list = field(default_factory=list)
    undone: list = field(default_factory=list)
    not_undone: list = field(default_factory=list)
    steps: list = field(default_factory=list)  # StepResult of every call, in order
    existing: list = field(default_factory=list)  # drift.PartCheck of each part found already there
    error: ProviderError | None = field(default=None, repr=False)

    @property
    def ok(self):
        return self.status in ("created", "deleted")


@dataclass(frozen=True)
class Sender:
    """Who sends, and through what: the audit rows name ``actor``, ``team`` and ``config``
    (the connection's ``pk`` and ``name``; None while Hono and Ditto connections have no row
    of their own); ``settings`` and ``auths`` reach the provider."""

    actor: object
    team: object
    settings: hd.ConnectionSettings
    auths: Auths
    config: object = None


class AttemptRun:
    """One attempt's audit rows and calls (see the module's docstring)."""

    def __init__(self, sender, *, action, device_id, plan, origin=None, correlation_id=None, template=None):
        self.settings = sender.settings
        self.auths = sender.auths
        self.started = time.monotonic()
        self.secrets = set().union(*(audit.secret_values(step.body) for step in plan))
        request = {"provider": "hono_ditto" if self.settings.has_hono else "ditto"}
        request["steps"] = [request_record(self.settings, step) for step in plan]
        if origin:
            request["origin"] = origin
        self.attempt = services.Attempt(
            action=action,
            call=None,
            actor=sender.actor,
            team=sender.team,
            config=sender.config,
            target=device_id,
            request=request,
            success_status=DONE[PROVISION] if action == "device.provision" else DONE[DEPROVISION],
            correlation_id=correlation_id or uuid.uuid4(),
            template=template,
        )
        self.result = Result(status="", correlation_id=self.attempt.correlation_id)

    @classmethod
    def begun(cls, sender, **fields):
        """A run whose intent row is written; raises AuditUnavailable or AlreadyBegun when it
        cannot be (then nothing may be sent)."""
        run = cls(sender, **fields)
        services.begin([run.attempt])
        return run

    def _row(self, stage, step, status, *, request=None, **fields):
        a = self.attempt
        return audit.build(
            STEP_ACTION,
            actor=a.actor,
            team=a.team,
            config=a.config,
            correlation_id=a.correlation_id,
            target=a.target,
            status=status,
            request={
                **(request or {"step": step.name, "method": step.method, "url": step.url}),
                "stage": stage,
            },
            secrets=self.secrets,
            **fields,
        )

    def call(self, stage, step):
        """Send ``step`` with its two audit rows; the Sent, or raise ProviderError or
        AuditUnavailable (the row before could not be written: nothing was sent)."""
        before = self._row(stage, step, PENDING, request=request_record(self.settings, step))
        try:
            AuditEvent.objects.append([*self.attempt.pending_rows, before])
        except DatabaseError as exc:
            logger.exception("audit row before %s %s could not be written", step.method, step.url)
            raise AuditUnavailable(AuditUnavailable.message) from exc
        self.attempt.pending_rows = []
        try:
            sent = send(step, self.auths, correlation_id=self.attempt.correlation_id)
        except ProviderError as error:
            self._answered(stage, step, classify(error), error.http_status, error.message, error.details)
            raise
        status = ALREADY[stage] if sent.already else DONE[stage]
        self._answered(stage, step, status, sent.status, "", sent.body, latency_ms=sent.latency_ms)
        return sent

    def compare_existing(self, step):
        """Read the part ``step`` found already there and compare it with the step's body; the
        PartCheck, kept on the result and audited (a read: one row, after it)."""
        existing = drift.compare_existing(
            self.settings, self.auths, step, correlation_id=self.attempt.correlation_id
        )
        self.result.existing.append(existing)
        row = self._row(
            COMPARE,
            step,
            existing.state,
            request={"step": step.name, "method": "GET", "url": step.url},
            http_status=existing.http_status,
            message=audit.scrub(existing.message, self.secrets),
            response={"differences": [d.as_dict() for d in existing.differences]},
        )
        # After the call's answer row, with which it is written (see the module's docstring).
        self.attempt.pending_rows.append(row)
        return existing

    def _answered(self, stage, step, status, http_status, message, response, latency_ms=None):
        message = audit.scrub(message, self.secrets)
        self.result.steps.append(StepResult(step.name, stage, status, http_status, message))
        row = self._row(
            stage,
            step,
            status,
            http_status=http_status,
            message=message,
            response=response if isinstance(response, dict) else None,
            latency_ms=latency_ms,
        )
        # Written with the next call's row, or with the outcome row (see the module's docstring).
        self.attempt.pending_rows.append(row)

    def stop(self, status, error=None, *, step=None, message=""):
        """Set the result's status and words from ``error`` (or ``message``)."""
        result = self.result
        result.status = status
        result.error = error
        result.failed_step = step.name if step is not None else ""
        if error is not None:
            result.http_status = error.http_status
            result.message = audit.scrub(error.message, self.secrets)
            result.next_step = error.next_step
        else:
            result.message = message

    def finish(self):
        """The attempt's outcome row (services.finish) and the Result."""
        self.conclude()
        services.finish([self.attempt])
        return self.result

    def conclude(self):
        """Put the Result into the attempt's outcome, for services.finish to write; the Result."""
        result = self.result
        self.attempt.outcome = Outcome(
            status=result.status,
            correlation_id=result.correlation_id,
            http_status=result.http_status,
            latency_ms=int((time.monotonic() - self.started) * 1000),
            message=result.message,
            next_step=result.next_step,
            error=result.error,
        )
        self.attempt.answered_at = timezone.now()
        self.attempt.response = {
            "steps": [step.as_dict() for step in result.steps],
            "created": result.created,
            "undone": result.undone,
            "notUndone": result.not_undone,
        }
        if result.existing:
            self.attempt.response["existing"] = [part.as_dict() for part in result.existing]
        return result


def _undo(run, made):
    """Undo ``made`` (Steps, in the order they were made) in reverse; each undo audited."""
    for step in hd.undo_plan(made):
        covered = [
            s.name for s in made if s.undo is step or (step.name == "device" and s.endpoint == hd.HONO)
        ]
        try:
            run.call(UNDO, step)
        except (ProviderError, AuditUnavailable) as error:
            run.result.not_undone += [name for name in covered if name not in run.result.not_undone]
            logger.warning("undo of %s failed: %s", step.url, getattr(error, "message", error))
        else:
            run.result.undone += [name for name in covered if name not in run.result.undone]


def _words_after_undo(result):
    parts = [result.message]
    if result.undone:
        parts.append(f"Undone: {', '.join(result.undone)}.")
    if result.not_undone:
        parts.append(
            f"Could not be undone and still exist at the provider: {', '.join(result.not_undone)}; "
            "de-provision the device to remove them."
        )
    return " ".join(parts)


def _provision(run, plan, *, confirmed=(), maybe_sent=frozenset()):
    _send_plan(run, plan, confirmed=confirmed, maybe_sent=maybe_sent)
    return run.finish()


def _send_plan(run, plan, *, confirmed, maybe_sent):
    """Send the steps of ``plan`` not in ``confirmed``, each with its step rows; on a refusal,
    undo what was made. Sets the run's Result (its outcome row is not written here)."""
    made = [step for step in plan if step.name in confirmed]
    run.result.created = [step.name for step in made]
    for step in plan:
        if step.name in confirmed:
            continue
        try:
            sent = run.call(PROVISION, step)
            if sent.already:
                existing = run.compare_existing(step)
                if step.name not in maybe_sent:  # something else has this id: a refusal
                    error = refusal_of_already(step, sent)
                    error.message = f"{error.message} {drift.existing_words(existing)}".strip()
                    raise error
        except AuditUnavailable as error:
            run.stop("failed", step=step, message=error.message)
            run.result.next_step = (
                "Send again when the audit log can be written: it continues from this step."
            )
            return
        except ProviderError as error:
            status = classify(error)
            run.stop(status, error, step=step)
            if status in ("refused", "conflict"):
                _undo(run, made)
                run.result.message = _words_after_undo(run.result)
            else:
                if status == "unknown":
                    run.result.next_step = UNKNOWN_NEXT_STEP
                if made:
                    run.result.message += f" Made before it: {', '.join(s.name for s in made)}."
            return
        made.append(step)
        run.result.created.append(step.name)
    words = [f"Made: {', '.join(run.result.created)}."]
    for existing in run.result.existing:
        # Taken as an earlier call's work; say so plainly when it is not what this attempt sends.
        if existing.state != drift.PRESENT:
            words.append(f"{existing.title} already existed. {drift.existing_words(existing)}")
    run.stop("created", message=" ".join(words))


def provision(sender, plan, *, device_id, correlation_id=None, origin=None, template=None):
    """Send ``plan`` (``hono_ditto.plan``) as one attempt; the Result. Raises AuditUnavailable
    or AlreadyBegun when the attempt's intent row cannot be written: nothing was sent.
    ``origin``: where the request came from, kept in the intent row (a bulk job's line);
    ``template``: the TemplateVersion the device is made from, named on the attempt's rows."""
    run = AttemptRun.begun(
        sender,
        action="device.provision",
        device_id=device_id,
        plan=plan,
        origin=origin,
        correlation_id=correlation_id,
        template=template,
    )
    return _provision(run, plan)


def resume(sender, plan, *, device_id, resolves, correlation_id=None, template=None):
    """Send ``plan`` again as a new attempt that resolves the attempt ``resolves``: from the
    first step not confirmed by it (or by the attempts it resumed); the Result."""
    confirmed, maybe_sent = confirmed_steps(resolves)
    run = AttemptRun.begun(
        sender,
        action="device.provision",
        device_id=device_id,
        plan=plan,
        origin={"resolves": str(resolves)},
        correlation_id=correlation_id,
        template=template,
    )
    return _provision(run, plan, confirmed=confirmed, maybe_sent=maybe_sent)


class PlannedAttempt:
    """A provisioning attempt (``provision``, or ``resume`` when ``resolves`` is given), or with
    ``action="device.deprovision"`` a de-provisioning one (continuing ``resolves`` from its
    first step not confirmed), in the three parts a bulk job batches, as services.Attempt has
    them: the caller writes the intent row (``services.begin([planned.attempt, ...])``, several
    rows in one transaction), then ``run()`` sends the steps, each with its step rows before and
    after the call (a provisioning attempt undoing on a refusal), and returns the Result; the
    caller writes the outcome row (``services.finish([planned.attempt, ...])``). Reading what
    ``resolves`` confirmed is done here, before the intent is written."""

    def __init__(
        self,
        sender,
        plan,
        *,
        device_id,
        correlation_id,
        origin=None,
        resolves=None,
        action=None,
        template=None,
    ):
        action = action or "device.provision"
        self.plan = plan
        self.deprovisions = action == "device.deprovision"
        self.confirmed, self.maybe_sent = (), frozenset()
        if resolves:
            origin = {**(origin or {}), "resolves": str(resolves)}
            if self.deprovisions:
                self.confirmed = removed_steps(resolves)
            else:
                self.confirmed, self.maybe_sent = confirmed_steps(resolves)
        self.attempt_run = AttemptRun(
            sender,
            action=action,
            device_id=device_id,
            plan=plan,
            origin=origin,
            correlation_id=correlation_id,
            template=template,
        )
        self.attempt = self.attempt_run.attempt

    def run(self):
        if self.deprovisions:
            _send_deprovision(self.attempt_run, self.plan, removed_before=self.confirmed)
        else:
            _send_plan(self.attempt_run, self.plan, confirmed=self.confirmed, maybe_sent=self.maybe_sent)
        return self.attempt_run.conclude()


def _send_deprovision(run, plan, *, removed_before=()):
    """Send the steps of ``plan`` (``hono_ditto.deprovision_plan``) not in ``removed_before``, in
    order; a part already gone (404) is not an error. Stops at the first step that does not go
    through. Sets the run's Result (its outcome row is not written here)."""
    removed, gone = [], []
    for step in plan:
        if step.name in removed_before:
            continue
        try:
            sent = run.call(DEPROVISION, step)
        except (AuditUnavailable, ProviderError) as error:
            if isinstance(error, AuditUnavailable):
                run.stop("failed", step=step, message=error.message)
            else:
                status = classify(error)
                run.stop(status, error, step=step)
                if status == "unknown":
                    run.result.next_step = UNKNOWN_DEPROVISION_NEXT_STEP
            if removed or removed_before:
                run.result.message += f" Deleted before it: {', '.join([*removed_before, *removed])}."
            return
        (gone if sent.already else removed).append(step.name)
    words = [
        f"Deleted before: {', '.join(removed_before)}." if removed_before else "",
        f"Deleted: {', '.join(removed)}." if removed else "",
        f"Already gone: {', '.join(gone)}." if gone else "",
    ]
    run.stop("deleted", message=" ".join(word for word in words if word))


def deprovision(sender, plan, *, device_id, correlation_id=None):
    """Send ``plan`` (``hono_ditto.deprovision_plan``) in order as one attempt; a part already
    gone (404) is not an error. Stops at the first step that does not go through."""
    run = AttemptRun.begun(
        sender, action="device.deprovision", device_id=device_id, plan=plan, correlation_id=correlation_id
    )
    _send_deprovision(run, plan)
    return run.finish()
