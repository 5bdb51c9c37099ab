"""What an Eclipse Hono + Ditto attempt, and the attempts it resumed, left at the provider, read
from their step rows in the audit log (hono_ditto_service writes them): what ``resume`` and a
resumed bulk row continue from.
"""

from provisioning import history
from provisioning.models import AuditEvent

STEP_ACTION = history.STEP_ACTION
PROVISION, UNDO, DEPROVISION = "provision", "undo", "deprovision"
PENDING = "pending"
DONE = {PROVISION: "created", UNDO: "deleted", DEPROVISION: "deleted"}
ALREADY = {PROVISION: "already", UNDO: "gone", DEPROVISION: "gone"}
MAX_CHAIN = 20  # attempts followed back through "resolves" when reading what is confirmed


def chain_rows(correlation_id):
    """The step rows of the attempt ``correlation_id`` and of the attempts it resumed, in order."""
    chain = []
    current = correlation_id
    while current is not None and len(chain) < MAX_CHAIN and current not in chain:
        intent = AuditEvent.objects.filter(correlation_id=current, phase=AuditEvent.Phase.INTENT).first()
        if intent is None:
            break
        chain.append(current)
        current = history.resolved_attempt(intent)
    rows = AuditEvent.objects.filter(correlation_id__in=chain, action=STEP_ACTION).order_by(
        "created_at", "id"
    )
    for row in rows:
        request = row.request if isinstance(row.request, dict) else {}
        yield row, request.get("step"), request.get("stage")


def confirmed_steps(correlation_id):
    """What the attempt ``correlation_id`` and the attempts it resumed left at the provider:
    (the provisioning steps confirmed, in order; the steps sent without a definite answer)."""
    confirmed, maybe_sent = [], set()
    for row, name, stage in chain_rows(correlation_id):
        if stage == PROVISION:
            if row.status == PENDING:
                maybe_sent.add(name)
            elif row.status != "unknown":
                maybe_sent.discard(name)
            if row.status in (DONE[PROVISION], ALREADY[PROVISION]) and name not in confirmed:
                confirmed.append(name)
        elif stage == UNDO and row.status in (DONE[UNDO], ALREADY[UNDO]):
            gone = {name, "credentials"} if name == "device" else {name}
            confirmed = [step for step in confirmed if step not in gone]
    return confirmed, maybe_sent


def removed_steps(correlation_id):
    """The de-provisioning steps that the attempt ``correlation_id`` and the attempts it resumed
    confirmed (deleted, or found gone), in order: a resumed de-provision does not send them again."""
    removed = []
    for row, name, stage in chain_rows(correlation_id):
        if stage == DEPROVISION and row.status in (DONE[DEPROVISION], ALREADY[DEPROVISION]):
            removed += [name] if name not in removed else []
    return removed
