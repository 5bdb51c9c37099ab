"""The inventory follows multi-step attempts through Hono + Ditto (the sandbox, over HTTP):
one row per device whatever the number of calls, incomplete when an undo was refused,
unknown until "Send again" completes it, de-provisioned at the end."""

from django.core.management import call_command
from django.test import override_settings

from provisioning.models import AuditEvent, Device, DeviceState

from .test_drift import check, wait_for
from .test_drift import send as drift_send
from .test_hono_ditto_send import DEVICE, connection, deprovision, faulty, provision, resume, who  # noqa: F401


def state():
    return list(Device.objects.filter(device_id=DEVICE).values_list("state", flat=True))


def test_a_device_made_in_four_calls_is_one_row_created_then_deprovisioned(who, connection):  # noqa: F811
    made = provision(who, connection)
    assert state() == [DeviceState.CREATED]
    assert Device.objects.get().created_attempt == made.correlation_id
    deprovision(who, connection)
    assert state() == [DeviceState.DEPROVISIONED]


def test_a_refused_step_with_everything_undone_leaves_no_row(who, connection):  # noqa: F811
    provision(who, connection, auths=faulty(connection, "thing", 402))
    assert state() == []


def test_an_undo_that_was_refused_leaves_the_device_incomplete(who, connection):  # noqa: F811
    result = provision(who, connection, auths=faulty(connection, "thing", 402, count=2))
    assert result.not_undone == ["policy"]
    assert state() == [DeviceState.INCOMPLETE]


def test_an_unknown_step_then_send_again_makes_it_created(who, connection):  # noqa: F811
    first = provision(who, connection, auths=faulty(connection, "credentials", 500))
    assert state() == [DeviceState.UNKNOWN]
    resume(who, connection, first.correlation_id)
    assert state() == [DeviceState.CREATED]


def test_send_again_refused_and_undone_leaves_nothing(who, connection):  # noqa: F811
    first = provision(who, connection, auths=faulty(connection, "policy", 500))
    again = resume(who, connection, first.correlation_id, auths=faulty(connection, "policy", 402))
    assert again.undone == ["device", "credentials"]
    assert state() == []


# --- Check at provider -------------------------------------------------------------------------


def test_a_check_is_noted_on_the_device(c2e, operator_a):
    result = drift_send(c2e, operator_a)
    found = check(c2e, operator_a, result)
    device = Device.objects.get(device_id=DEVICE)
    assert device.check_result == found.verdict == "present"
    assert device.checked_at == AuditEvent.objects.get(correlation_id=found.correlation_id).created_at


def test_a_check_that_settles_an_unknown_attempt_as_not_created_removes_the_row(c2e, operator_a):
    result = drift_send(c2e, operator_a, fault=("device", 500, {}))
    assert state() == [DeviceState.UNKNOWN]
    assert check(c2e, operator_a, result).resolution == "not created"
    assert state() == []


def test_a_check_that_settles_an_unknown_attempt_as_created_makes_it_created(c2e, operator_a):
    with override_settings(OUTBOUND_READ_TIMEOUT=1):
        result = drift_send(c2e, operator_a, fault=("thing", "slow", {"seconds": 2}))
    wait_for("thing")
    assert check(c2e, operator_a, result).resolution == "created"
    device = Device.objects.get(device_id=DEVICE)
    assert device.state == DeviceState.CREATED and device.created_attempt == result.correlation_id
    assert (
        device.created_by
        == AuditEvent.objects.get(correlation_id=result.correlation_id, phase="intent").actor_name
    )
    call_command("rebuild_inventory", "--check")
