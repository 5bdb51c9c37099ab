"""A Send's result for a second submission of the same form (a double click, a re-post).

The browser shows the answer to the last submission it made. When Send is pressed twice,
the first request creates the device and renders its one-time secret into an answer the
browser has already dropped; the second finds the attempt begun (services.AlreadyBegun)
and sends nothing. So the first request holds what its answer shows, sealed with the key
ring, for HOLD_FOR; the second waits for the first attempt's outcome and takes the held
result (deleting it), for the same signed-in user only. A held result is shown by at
most one second submission, and is gone after HOLD_FOR whether or not it was.
"""

import json
import time
from datetime import timedelta

from django.utils import timezone

from provisioning import crypto
from provisioning.models import AuditEvent, HeldResult

HOLD_FOR = timedelta(minutes=5)
POLL = 0.25  # seconds between looks for the first attempt's outcome


def aad(correlation_id, user):
    """What a held result is sealed to: its attempt and its user."""
    return f"held-result:{correlation_id}:{user.pk}"


def hold(correlation_id, user, result):
    """Keep ``result`` (a JSON-able dict that may hold a secret) sealed for HOLD_FOR."""
    now = timezone.now()
    HeldResult.objects.filter(expires_at__lt=now).delete()
    HeldResult.objects.create(
        correlation_id=correlation_id,
        user=user,
        sealed=crypto.seal(json.dumps(result), aad(correlation_id, user)),
        expires_at=now + HOLD_FOR,
    )


def claim(correlation_id, user):
    """The result held for ``user``'s attempt, deleted as it is taken; None when there is none
    (never held, expired, another user's, taken already, or sealed with a key now gone)."""
    held = HeldResult.objects.filter(
        correlation_id=correlation_id, user=user, expires_at__gte=timezone.now()
    ).first()
    if held is None or HeldResult.objects.filter(pk=held.pk).delete()[0] != 1:
        return None  # a third submission took it first
    try:
        return json.loads(crypto.open_sealed(held.sealed, aad(correlation_id, user)))
    except crypto.SecretBoxError:
        return None


def wait_for_outcome(team, correlation_id, timeout):
    """The outcome row of the attempt ``correlation_id``, waiting up to ``timeout`` seconds
    for a Send still in progress; None if it has none by then."""
    deadline = time.monotonic() + timeout
    rows = AuditEvent.objects.filter(
        team_id=team.pk, correlation_id=correlation_id, phase=AuditEvent.Phase.OUTCOME
    )
    while True:
        outcome = rows.first()
        if outcome is not None or time.monotonic() >= deadline:
            return outcome
        time.sleep(POLL)
