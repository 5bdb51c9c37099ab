"""The inventory follows multi-step attempts through Hono + Ditto (the sandbox, over HTTP):
one row per device whatever the number of calls, incomplete when an undo was refused,
unknown until "Send again" completes it, de-provisioned at the end."""

from provisioning.models import Device, DeviceState

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
