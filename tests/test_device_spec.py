"""The provider-neutral device description: from the device builder's data, and how Bosch's
body maps onto it."""

import pytest

from provisioning.providers import bosch
from provisioning.providers import spec as specs
from provisioning.providers.spec import DeviceSpec
from tests.hono_ditto_cases import DEVICE_ID, FULL, PASSWORD, PSK

BUILDER = {
    "id": DEVICE_ID,
    "enabled": False,
    "via": "org.acme:gw",
    "credentials_type": "hashed-password",
    "password": PASSWORD,
    "psk_key": "",
    "auth_id": "serial-1",
    "attributes": {"a": 1},
    "definition": "a:b:1",
    "features": {"f": {}},
    "policy_mode": "existing",
    "policy_id": "org.acme:shared",
}


@pytest.mark.parametrize(
    ("changes", "kind", "secret"),
    [
        ({}, specs.TYPED_PASSWORD, PASSWORD),
        ({"password": ""}, specs.GENERATED_PASSWORD, ""),
        ({"credentials_type": "psk", "psk_key": PSK}, specs.PSK, PSK),
        ({"credentials_type": "none", "password": ""}, specs.NONE, ""),
    ],
)
def test_the_builder_data_and_the_bosch_body_map_onto_one_description(changes, kind, secret):
    data = {**BUILDER, **changes}
    spec = specs.from_device(data)
    assert (spec.credentials, spec.secret) == (kind, secret)
    body = bosch.request_body(data)
    hub, thing = body["hub"], body["things"]["thing"]
    assert body["id"] == spec.id
    assert hub["device"].get("enabled", True) == spec.enabled
    assert (hub["device"]["via"],) == spec.via
    assert thing["policyId"] == spec.policy_id
    assert (thing["attributes"], thing["features"], thing["definition"]) == (
        spec.attributes,
        spec.features,
        spec.definition,
    )
    if spec.has_credentials:
        assert hub["credentials"]["authId"] == spec.effective_auth_id
    else:
        assert "credentials" not in hub


def test_a_generated_policy_in_the_builder_is_a_blank_policy_id():
    spec = specs.from_device({**BUILDER, "policy_mode": "generated"})
    assert spec.generated_policy and spec.effective_policy_id == DEVICE_ID
    assert specs.from_device({**BUILDER, "via": ""}).via == ()


def test_the_description_refuses_an_unknown_kind_and_hides_its_secret():
    with pytest.raises(ValueError):
        DeviceSpec(id=DEVICE_ID, credentials="hashed-password")
    with pytest.raises(TypeError):
        DeviceSpec(id=DEVICE_ID, via="org.acme:gw")
    assert PASSWORD not in repr(FULL)
