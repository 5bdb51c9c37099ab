"""A device made from a template through a Hono + Ditto connection, against the sandbox over real
HTTP: the template's values reach Hono and Ditto, and the attempt's audit rows (intent, outcome)
and the device's inventory row name the template version; its step rows do not need to."""

import pytest

from provisioning.models import AuditEvent, Device, Namespace
from provisioning.sandbox.models import DittoThing, HonoDevice
from tests.factories import make_template
from tests.test_templates_builder import from_template
from tests.workflow import DEVICE_URL, form_token

DEVICE = "org.acme:boiler-0042"


@pytest.fixture
def namespace(team_a):
    return Namespace.objects.create(team=team_a, name="org.acme")


def test_a_hono_ditto_device_from_a_template_names_its_version(as_user, cast, c2e, namespace, team_a):
    template = make_template(
        team_a,
        kind="hono_ditto",
        definition="org.acme:boiler:1.0.0",
        definition_fixed=True,
        enabled=False,
        attributes={"manufacturer": "ACME"},
        fixed_attributes=["manufacturer"],
    )
    client = as_user(cast["operator"])
    data = from_template(
        c2e, namespace, template.latest(), action="send", form_token=form_token(client), name="boiler-0042"
    )
    response = client.post(DEVICE_URL, data)
    assert response.status_code == 201, response.content.decode()[:2000]

    thing = DittoThing.objects.get(thing_id=DEVICE)
    assert thing.data["definition"] == "org.acme:boiler:1.0.0"
    assert thing.data["attributes"] == {"manufacturer": "ACME"}
    assert HonoDevice.objects.get(device_id=DEVICE).data["enabled"] is False
    attempt = AuditEvent.objects.filter(action="device.provision").order_by("id")
    assert [(row.phase, row.template_ref, row.template_version) for row in attempt] == [
        ("intent", template.pk, 1),
        ("outcome", template.pk, 1),
    ]
    device = Device.objects.get(device_id=DEVICE)
    assert (device.template_ref, device.template_version, device.template_name) == (template.pk, 1, "Boiler")
