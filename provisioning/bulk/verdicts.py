"""What a row's attempt means for the row and for the job: the row's new fields and a Verdict.

A Bosch row is one call (services.Attempt: its Outcome); a Hono + Ditto or Ditto row is a plan
of several calls sent as one attempt (hono_ditto_service.PlannedAttempt: its Result); a check
row is the reads of a drift.Check. All come down to the same row states and the same verdicts,
so the executor treats them alike: a provider that is busy makes the job wait, token or
connection trouble stops it for the operator, and a de-provision answered 404 is "already gone".
"""

from dataclasses import dataclass

from django.db.models import F
from django.utils import timezone

from provisioning.bulk.models import RowState, secret_to_keep
from provisioning.errors import ConfigurationError, TokenError, Unauthorized, Unavailable

MAX_BUSY_RETRIES = 5
AUDIT_PAUSE = 5  # seconds to wait when the audit log could not be written


@dataclass
class Verdict:
    """What sending a row meant for the job: done (the row is settled), busy (wait, then send it
    again), stop (pause the job for the operator), error (an unexpected exception), or lost (not
    sent: another executor holds the lease)."""

    kind: str
    state: str = ""
    wait: float = 0
    message: str = ""


def settled(row, state, outcome=None, *, message=None):
    """The fields that settle ``row`` in ``state``."""
    return {
        "state": state,
        "done_at": timezone.now(),
        "message": (outcome.message if message is None and outcome else message or "")[:1000],
        "http_status": outcome.http_status if outcome else None,
        "secret_sealed": secret_to_keep(state, row.secret_origin, row.secret_sealed),
    }


def back_to_pending(*, busy=False, resumes=None):
    """The fields of a row to be sent again; ``resumes``: the attempt whose steps it continues."""
    fields = {"state": RowState.PENDING, "correlation_id": None, "resumes": resumes}
    if busy:
        fields["busy_retries"] = F("busy_retries") + 1
    return fields


def busy_failure(message):
    return f"The provider stayed busy after {MAX_BUSY_RETRIES} tries. {message}".strip()


def of_outcome(row, outcome, *, deprovision=False):
    """(Verdict, the row's fields) for a Bosch call's services.Outcome: a provisioning's, or
    with ``deprovision`` a de-provisioning's (whose "deleted" answered 404: gone already)."""
    if outcome.status == "created":
        state, message = RowState.CREATED, ""
    elif outcome.status == "conflict" and not deprovision:
        state, message = (RowState.EXISTS if row.resend else RowState.CONFLICT), None
    elif outcome.status == "deleted":
        state, message = (RowState.GONE if outcome.http_status == 404 else RowState.DELETED), None
    elif outcome.status == "unknown":
        state, message = RowState.UNKNOWN, None
    else:
        return not_done(row, outcome, deprovision=deprovision)
    fields = settled(row, state, outcome, message=message)
    return Verdict("done", state=state, message=fields["message"]), fields


def not_done(row, outcome, *, deprovision=False):
    """(Verdict, the row's fields) for an Outcome that neither made nor removed anything."""
    error = outcome.error
    nothing = "Nothing was deleted." if deprovision else "Nothing was created."
    if isinstance(error, Unavailable) and row.busy_retries + 1 < MAX_BUSY_RETRIES:
        busy = Verdict("busy", wait=error.retry_after or 0, message=outcome.message)
        return busy, back_to_pending(busy=True)
    if isinstance(error, Unavailable):
        state, message = RowState.FAILED, f"{busy_failure(nothing)} {outcome.message}"
    elif isinstance(error, TokenError | ConfigurationError | Unauthorized):
        words = f"{outcome.message} Step that failed: {outcome.failed_step}. {error.next_step}"
        return Verdict("stop", message=words.strip()), back_to_pending()
    else:
        state, message = RowState.FAILED, None
    fields = settled(row, state, outcome, message=message)
    return Verdict("done", state=state, message=fields["message"]), fields


# hono_ditto_service.Result.status -> the row's state, for a settled attempt.
PLAN_STATES = {
    "created": RowState.CREATED,
    "conflict": RowState.CONFLICT,  # undone; on a resumed row an "already" is taken as ours before
    "refused": RowState.FAILED,  # undone
    "unknown": RowState.UNKNOWN,
    "deleted": RowState.DELETED,
}


def of_result(row, result, *, resumed=False):
    """(Verdict, the row's fields) for a Hono + Ditto or Ditto attempt's Result.

    A row that stops without a definite answer to its plan (the provider busy, a token or
    connection problem, the audit log unwritable) goes back to ``pending`` resuming this
    attempt, so the steps it made (or deleted) are not sent again. A de-provision whose every
    part answered 404, and that ``resumed`` no earlier attempt, found the device gone."""
    error = result.error
    state = PLAN_STATES.get(result.status)
    if state == RowState.CONFLICT and result.steps and result.steps[-1].stage == "deprovision":
        state = RowState.FAILED  # a DELETE refused with a conflict: nothing to undo
    if state == RowState.DELETED and not resumed and all(step.status == "gone" for step in result.steps):
        state = RowState.GONE
    message = result.message
    if state is None and error is None:  # a step's audit row could not be written: nothing sent
        busy = Verdict("busy", wait=AUDIT_PAUSE, message=result.message)
        return busy, back_to_pending(resumes=result.correlation_id)
    if state is None and isinstance(error, Unavailable):
        if row.busy_retries + 1 < MAX_BUSY_RETRIES:
            busy = Verdict("busy", wait=error.retry_after or 0, message=result.message)
            return busy, back_to_pending(busy=True, resumes=result.correlation_id)
        state, message = RowState.FAILED, busy_failure(result.message)
    elif state is None and isinstance(error, TokenError | ConfigurationError | Unauthorized):
        step = f" Step that stopped: {result.failed_step}." if result.failed_step else ""
        words = f"{result.message}{step} {error.next_step}"
        return Verdict("stop", message=words.strip()), back_to_pending(resumes=result.correlation_id)
    elif state is None:
        state = RowState.FAILED
    fields = {
        "state": state,
        "done_at": timezone.now(),
        "message": message[:1000],
        "http_status": result.http_status,
        "secret_sealed": secret_to_keep(state, row.secret_origin, row.secret_sealed),
    }
    return Verdict("done", state=state, message=fields["message"]), fields


# drift.Check.verdict -> the row's state, for a check that read every part.
CHECK_STATES = {
    "present": RowState.PRESENT,
    "different": RowState.DIFFERENT,
    "partial": RowState.PARTIAL,
    "missing": RowState.MISSING,
}
STOPS = ("token", "configuration", "unauthorized")  # ProviderError kinds of the connection's own trouble


def of_check(row, check):
    """(Verdict, the row's fields) for a drift.Check of the row's device. A read the provider
    refused while busy is made again later (the job waits); one refused for the connection's
    credentials stops the job for the operator; any other failed read fails the row."""
    state = CHECK_STATES.get(check.verdict)
    message = check.message
    if state is None:
        failed = [part for part in check.parts if part.state == "failed"]
        busy = next((part for part in failed if part.failure_kind == "unavailable"), None)
        stop = next((part for part in failed if part.failure_kind in STOPS), None)
        if busy is not None and row.busy_retries + 1 < MAX_BUSY_RETRIES:
            return Verdict("busy", wait=busy.retry_after or 0, message=check.message), back_to_pending(
                busy=True
            )
        if stop is not None:
            words = f"{stop.message} {stop.next_step}".strip()
            return Verdict("stop", message=words), back_to_pending()
        state = RowState.FAILED
        message = busy_failure(check.message) if busy is not None else f"{message} {check.next_step}".strip()
    fields = settled(row, state, message=message)
    return Verdict("done", state=state, message=fields["message"]), fields
