"""The device inventory: what each team has now, one row per device and connection.

History answers "what happened"; the inventory answers "what do we have". It is derived
from the audit log alone, so it can always be derived again (``rebuild``, the command
``rebuild_inventory``), and it is kept in step with the log as the log grows: every
insert of audit rows (``AuditEvent.objects.append`` and ``save``) sends
``audit_appended`` in its transaction, and ``apply`` updates the rows those audit rows
change. An outcome that cannot be written leaves the inventory as it was, as it leaves
history.

How audit rows change a device (provision and de-provision attempts; a multi-step
attempt's ``device.step`` rows change nothing, its one outcome row does):

- an intent: the device gets a row if it has none (state "" until an answer), and the
  attempt is noted as open on it (a crash leaves it open, and the page shows "outcome
  unknown" after a while, as history does);
- a provisioning outcome ``created``, or ``conflict`` from an attempt sent again to
  resolve an unknown one (the earlier attempt had made it): created, with when, by whom,
  from which bulk job and from which template version (as the attempt's intent row says);
- ``unknown``: outcome unknown, unless the device already was what the attempt would make
  it (created, for a provisioning; de-provisioned, for a de-provisioning). An attempt that
  never got an outcome (a crash) counts as unknown once another attempt on the device begins;
- any other answer (refused, conflict, failed) to a device that never got a state: its
  row goes (nothing of it is ours), unless the attempt left parts of a multi-step device
  behind (``created`` steps not ``undone``): incomplete. A refusal of an attempt sent again
  to resolve an unknown one means nothing of the device is at the provider (a multi-step
  attempt undoes what the earlier one made): gone again, or de-provisioned if it once was
  created;
- a de-provisioning outcome ``deleted``: de-provisioned.

Rows apply in the order they were inserted (their ids); a device's row depends on its own
rows only, which the rebuild replays device by device in that order.
"""

import uuid

from django.db import transaction
from django.db.models import Q
from django.dispatch import receiver

from provisioning.models import AuditEvent, Device, DeviceState, Team, audit_appended

PROVISION, DEPROVISION, CHECK = "device.provision", "device.deprovision", "device.check"
REBUILD_BATCH = 2000
# What the log changes on a device's row: every field but its key (and the namespace, part of its id).
KEY = {"id", "team", "connection_ref", "device_id", "namespace"}
DERIVED = [f.name for f in Device._meta.concrete_fields if f.name not in KEY]


def _key(event):
    return (event.team_id, event.client_ref or 0, event.target)


def _checked(event):
    """The correlation id of the attempt a ``device.check`` row checked, as text ("" if none)."""
    request = event.request if isinstance(event.request, dict) else {}
    return str(request.get("checks") or "")


def _resolution(event):
    """What a ``device.check`` row settled about an unknown attempt: "created", "not created" or ""."""
    response = event.response if isinstance(event.response, dict) else {}
    return response.get("resolution") or ""


def _intents(events):
    """(origin, actor name, template) of the intent of each settling outcome in ``events`` and
    of each attempt a check in them settled, by correlation id (as text). The origin says where
    the attempt came from: a bulk job's row, or "Send again" of an unknown attempt; the template
    is (template_ref, template_version, template_name), all None for none."""
    wanted = {
        str(e.correlation_id)
        for e in events
        if e.phase == AuditEvent.Phase.OUTCOME
        and e.action == PROVISION
        and e.status in ("created", "conflict", "refused")
    }
    wanted |= {_checked(e) for e in events if e.action == CHECK and _resolution(e) == "created"}
    if not wanted:
        return {}
    rows = AuditEvent.objects.filter(phase=AuditEvent.Phase.INTENT, correlation_id__in=wanted)
    values = rows.values_list(
        "correlation_id", "request__origin", "actor_name", "template_ref", "template_version", "template_name"
    )
    return {str(cid): (origin, actor, template) for cid, origin, actor, *template in values}


def _left_behind(event):
    """True when a multi-step attempt's outcome says some of its parts are still at the provider."""
    response = event.response if isinstance(event.response, dict) else {}
    created, undone = response.get("created") or [], response.get("undone") or []
    return any(part not in undone for part in created)


def _devices(events):
    """The Device rows of the devices ``events`` are about, by key, locked until the transaction ends."""
    wanted = Q()
    by_connection = {}
    for team_id, ref, target in {_key(e) for e in events}:
        by_connection.setdefault((team_id, ref), []).append(target)
    for (team_id, ref), targets in by_connection.items():
        wanted |= Q(team_id=team_id, connection_ref=ref, device_id__in=targets)
    found = Device.objects.select_for_update().filter(wanted)
    return {(d.team_id, d.connection_ref, d.device_id): d for d in found}


def _unknown(device, action, at):
    """An attempt of ``action`` on ``device`` whose outcome is unknown."""
    made = DeviceState.CREATED if action == PROVISION else DeviceState.DEPROVISIONED
    if device.state != made:
        device.state, device.changed_at = DeviceState.UNKNOWN, at


NO_TEMPLATE = (None, None, None)


def _created(device, attempt, at, origin, actor_name, template):
    device.state, device.changed_at = DeviceState.CREATED, at
    device.created_at, device.created_by, device.created_attempt = at, actor_name, attempt
    job = origin.get("bulkJob") if isinstance(origin, dict) else None
    device.bulk_job = job or None
    device.template_ref, device.template_version, device.template_name = template


def _not_there(device, at):
    """Nothing of ``device`` is at the provider (as far as its last unknown attempt goes)."""
    if device.created_at is None:
        device.state = DeviceState.NONE  # it never was: its row goes
    else:
        device.state, device.changed_at = DeviceState.DEPROVISIONED, at


def _checked_now(device, event, intents):
    """Apply a ``device.check`` row: the device's last check, and what it settled."""
    device.checked_at, device.check_result = event.created_at, event.status
    resolution = _resolution(event)
    if resolution == "created" and device.state != DeviceState.CREATED:
        origin, actor_name, template = intents.get(_checked(event), (None, "", NO_TEMPLATE))
        _created(device, uuid.UUID(_checked(event)), event.created_at, origin, actor_name, template)
    elif resolution == "not created" and device.state == DeviceState.UNKNOWN:
        _not_there(device, event.created_at)
    return not (device.state == DeviceState.NONE and device.open_attempt is None)


def _settle(device, event, intent):
    """Apply one outcome row to ``device`` (``intent``: what ``_intents`` read of its attempt's
    intent); False when the device's row is to go."""
    origin, _, template = intent
    if device.open_attempt == event.correlation_id:
        device.open_attempt, device.open_action, device.open_since = None, "", None
    status = event.status
    if status == "unknown":
        _unknown(device, event.action, event.created_at)
        return True
    if event.action == DEPROVISION:
        if status == "deleted":
            device.state, device.changed_at = DeviceState.DEPROVISIONED, event.created_at
        return True
    resolves = isinstance(origin, dict) and bool(origin.get("resolves"))
    if status == "created" or (status == "conflict" and resolves):
        _created(device, event.correlation_id, event.created_at, origin, event.actor_name, template)
    elif device.state == DeviceState.CREATED:
        pass  # an attempt on a device that exists does not undo it
    elif _left_behind(event):
        device.state, device.changed_at = DeviceState.INCOMPLETE, event.created_at
    elif resolves and status == "refused":
        # Sent again and refused, with whatever the earlier attempt had made undone: none of
        # it is at the provider now.
        _not_there(device, event.created_at)
    if device.state == DeviceState.NONE and device.open_attempt is None:
        return False
    return True


def _changes_a_device(event):
    if not (event.team_id and event.target):
        return False
    if event.action == CHECK:
        return event.phase == AuditEvent.Phase.EVENT
    return event.action in (PROVISION, DEPROVISION) and event.phase in (
        AuditEvent.Phase.INTENT,
        AuditEvent.Phase.OUTCOME,
    )


def apply(events, *, fresh=False):
    """Bring the inventory in step with ``events``, audit rows just inserted (in order), in
    the caller's transaction. ``fresh``: none of their devices has a row yet (``rebuild``)."""
    events = [e for e in events if _changes_a_device(e)]
    if not events:
        return
    devices = {} if fresh else _devices(events)
    loaded = {key: _derived(device) for key, device in devices.items()}
    intents = _intents(events)
    new, changed, gone = {}, {}, set()
    for event in events:
        key = _key(event)
        device = devices.get(key)
        if event.phase == AuditEvent.Phase.INTENT:
            if device is None:
                device = devices[key] = new[key] = Device(
                    team_id=event.team_id,
                    connection_ref=key[1],
                    device_id=event.target,
                    namespace=event.namespace,
                    changed_at=event.created_at,
                )
            elif device.open_attempt is not None:  # begun before and never answered
                _unknown(device, device.open_action, event.created_at)
            device.open_attempt, device.open_action = event.correlation_id, event.action
            device.open_since = event.created_at
            device.last_attempt = event.correlation_id
            kept = True
        elif device is None:
            continue  # its attempt's intent is not in the log (written before the inventory was)
        elif event.action == CHECK:
            kept = _checked_now(device, event, intents)
        else:
            kept = _settle(device, event, intents.get(str(event.correlation_id), (None, "", NO_TEMPLATE)))
        if not kept:
            del devices[key]
            if new.pop(key, None) is None:
                changed.pop(key, None)
                gone.add(device.pk)
            continue
        device.connection_name = event.client_name
        if key not in new:
            changed[key] = device
    if gone:
        Device.objects.filter(pk__in=gone).delete()
    Device.objects.bulk_create(new.values())
    # One UPDATE per device of the fields that changed: a batch holds a few devices, and
    # bulk_update's CASE per field and row cost a bulk job more CPU than its calls did
    # (tests/bench/bench_bulk.py --action deprovision).
    for key, device in changed.items():
        fields = {name: value for name, value in _derived(device).items() if loaded[key][name] != value}
        if fields:
            Device.objects.filter(pk=device.pk).update(**fields)


def _derived(device):
    return {name: getattr(device, name) for name in DERIVED}


@receiver(audit_appended, dispatch_uid="provisioning.inventory")
def audit_rows_inserted(sender, events, **kwargs):
    apply(events)


def fill_after_migrate(**kwargs):
    """After ``migrate``: derive the inventory once when the log has devices and the inventory
    has none (the upgrade that brings the inventory to an existing install)."""
    if not Device.objects.exists() and AuditEvent.objects.filter(action=PROVISION).exists():
        rebuild()


def _by_device(log):
    """``log`` (ordered by device, then insertion) in batches of about REBUILD_BATCH rows that
    never split one device's rows."""
    batch = []
    for event in log:
        if len(batch) >= REBUILD_BATCH and _key(event) != _key(batch[-1]):
            yield batch
            batch = []
        batch.append(event)
    if batch:
        yield batch


def rebuild(teams=None):
    """Derive the inventory of ``teams`` (a Team queryset; all teams by default) again from
    the whole audit log; the number of device rows it now holds.

    A device's row depends on its own audit rows only, in the order they were inserted, so
    the log is read device by device (and each device's rows by id): every batch holds whole
    devices, none of which has a row yet.
    """
    teams = Team.objects.all() if teams is None else teams
    team_ids = list(teams.values_list("pk", flat=True))
    log = (
        AuditEvent.objects.filter(team_id__in=team_ids, action__in=[PROVISION, DEPROVISION, CHECK])
        .order_by("team_id", "client_ref", "target", "id")
        .iterator(chunk_size=REBUILD_BATCH)
    )
    with transaction.atomic():
        Device.objects.filter(team_id__in=team_ids).delete()
        for batch in _by_device(log):
            apply(batch, fresh=True)
    return Device.objects.filter(team_id__in=team_ids).count()
