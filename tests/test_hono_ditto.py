"""The Hono + Ditto and Ditto plans: bodies valid against both specs, ids, policy, headers,
order, undo and de-provision."""

from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.providers import bosch
from provisioning.providers import hono_ditto as hd
from provisioning.providers import spec as specs
from provisioning.providers.bosch import GENERATED
from provisioning.providers.spec import DeviceSpec
from tests.hono_ditto_cases import (
    DEVICE_ID,
    DITTO_ONLY,
    DITTO_SPECS,
    FULL,
    GENERATED_SECRET,
    HONO_DITTO,
    PASSWORD,
    PSK,
    SPECS,
    device,
)
from tests.openapi import errors, parameter_names, request_errors


def spec_path(settings_, step):
    """The step's URL as a path of its spec (Hono's paths are relative to /v1)."""
    path = urlsplit(step.url).path
    return path.removeprefix("/v1") if step.endpoint == hd.HONO else path


def all_cases():
    return [(HONO_DITTO, spec, name) for name, spec in SPECS.items()] + [
        (DITTO_ONLY, spec, f"ditto: {name}") for name, spec in DITTO_SPECS.items()
    ]


@pytest.mark.parametrize(("settings_", "spec", "name"), all_cases(), ids=[c[2] for c in all_cases()])
def test_every_body_validates_against_its_spec(settings_, spec, name):
    for step in hd.plan(settings_, spec, generated_secret=GENERATED_SECRET):
        path = spec_path(settings_, step)
        assert request_errors(step.endpoint, step.method, path, step.body) == [], (step.name, step.body)
        declared = parameter_names(step.endpoint, step.method, path)
        extra = {h.lower() for h in step.headers} - {"content-type"}
        assert extra <= declared, (step.name, extra)


@settings(max_examples=60, deadline=None)
@given(
    name=st.from_regex(r"[a-zA-Z0-9_.-]{1,40}", fullmatch=True),
    attributes=st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True),
        st.one_of(st.integers(), st.text(max_size=10), st.booleans(), st.none()),
        max_size=4,
    ),
    kind=st.sampled_from(specs.CREDENTIAL_KINDS),
    enabled=st.booleans(),
)
def test_generated_bodies_validate_for_any_hono_name(name, attributes, kind, enabled):
    spec = DeviceSpec(
        id=f"org.acme:{name}",
        enabled=enabled,
        credentials=kind,
        secret=PASSWORD if kind == specs.TYPED_PASSWORD else "",
        attributes=attributes,
    )
    for step in hd.plan(HONO_DITTO, spec, generated_secret=GENERATED_SECRET):
        assert request_errors(step.endpoint, step.method, spec_path(HONO_DITTO, step), step.body) == []


def test_the_validator_is_strict_about_what_hono_does_not_know():
    """Not vacuous: Hono's own closed schemas refuse a property it does not define."""
    assert request_errors("hono", "POST", "/devices/t/d", {"enabled": True, "gateway": "x"})
    entry = {"type": "hashed-password", "auth-id": "a", "secrets": [{"pwd-plain": "x", "plain": "y"}]}
    assert request_errors("hono", "PUT", "/credentials/t/d", [entry])
    assert request_errors("hono", "PUT", "/credentials/t/d", [{"type": "psk", "auth-id": "a", "secrets": []}])
    assert request_errors("ditto", "PUT", "/api/2/policies/a:b", {"entries": 5})
    assert request_errors("ditto", "PUT", "/api/2/things/a:b", {"policyId": "a:b", "definition": "no"})


def test_the_bosch_callers_of_the_validator_are_unchanged():
    body = bosch.request_body(
        {
            "id": DEVICE_ID,
            "enabled": True,
            "via": "",
            "credentials_type": "hashed-password",
            "password": PASSWORD,
            "psk_key": "",
            "auth_id": "",
            "attributes": {},
            "definition": "",
            "features": {},
            "policy_mode": "generated",
            "policy_id": "",
        }
    )
    assert errors("ProvisioningRequestPayload", body) == []
    assert errors("ProvisioningRequestPayload", {"id": DEVICE_ID}) != []


# --- order, ids, URLs ---------------------------------------------------------------------------


def test_hono_and_ditto_is_device_credentials_policy_thing_in_that_order():
    steps = hd.plan(HONO_DITTO, FULL)
    assert [(s.name, s.method, s.endpoint) for s in steps] == [
        ("device", "POST", hd.HONO),
        ("credentials", "PUT", hd.HONO),
        ("policy", "PUT", hd.DITTO),
        ("thing", "PUT", hd.DITTO),
    ]
    assert [s.url for s in steps] == [
        "https://hono.example:28443/v1/devices/acme-tenant/org.acme:sensor-1",
        "https://hono.example:28443/v1/credentials/acme-tenant/org.acme:sensor-1",
        "https://ditto.example/api/2/policies/org.acme:sensor-1",
        "https://ditto.example/api/2/things/org.acme:sensor-1",
    ]


def test_steps_that_are_not_needed_are_left_out():
    steps = hd.plan(HONO_DITTO, device(policy_id="org.acme:shared"))
    assert [s.name for s in steps] == ["device", "thing"]
    assert steps[1].body == {"policyId": "org.acme:shared"}
    assert [s.name for s in hd.plan(DITTO_ONLY, device())] == ["policy", "thing"]
    assert [s.name for s in hd.plan(DITTO_ONLY, device(policy_id="org.acme:shared"))] == ["thing"]


def test_the_device_id_is_the_thing_id_and_the_default_auth_id_has_no_colon():
    device_step, credentials, _policy, thing = hd.plan(HONO_DITTO, FULL)
    assert device_step.url.endswith("/org.acme:sensor-1") and thing.url.endswith("/org.acme:sensor-1")
    assert credentials.body[0]["auth-id"] == "org.acme_sensor-1"
    assert thing.body["policyId"] == DEVICE_ID
    assert device_step.body == {"enabled": True, "via": ["org.acme:gateway-1"]}


def test_a_typed_auth_id_is_kept():
    steps = hd.plan(
        HONO_DITTO, device(credentials=specs.TYPED_PASSWORD, secret=PASSWORD, auth_id="serial-4711")
    )
    assert steps[1].body[0]["auth-id"] == "serial-4711"


def test_password_is_pwd_plain_and_psk_is_a_base64_key():
    password = hd.plan(HONO_DITTO, FULL)[1].body
    assert password == [
        {"type": "hashed-password", "auth-id": "org.acme_sensor-1", "secrets": [{"pwd-plain": PASSWORD}]}
    ]
    psk = hd.plan(HONO_DITTO, SPECS["psk"])[1].body
    assert psk == [{"type": "psk", "auth-id": "psk-identity-1", "secrets": [{"key": PSK}]}]


def test_a_generated_secret_is_a_placeholder_until_send():
    spec = SPECS["generated password"]
    assert spec.generates_secret and SPECS["generated psk"].generates_secret
    assert hd.plan(HONO_DITTO, spec)[1].body[0]["secrets"] == [{"pwd-plain": GENERATED}]
    sent = hd.plan(HONO_DITTO, spec, generated_secret=GENERATED_SECRET)
    assert sent[1].body[0]["secrets"] == [{"pwd-plain": GENERATED_SECRET}]


@pytest.mark.parametrize(
    ("auth_id", "field"),
    [
        ("", None),
        ("serial=4711.a_b-c", None),
        ("has:colon", "auth_id"),
        ("user@x", "auth_id"),
        ("a b", "auth_id"),
    ],
)
def test_auth_ids_follow_hono_rule(auth_id, field):
    spec = device(credentials=specs.TYPED_PASSWORD, secret=PASSWORD, auth_id=auth_id)
    assert list(hd.problems(HONO_DITTO, spec)) == ([field] if field else [])


def test_a_name_hono_refuses_is_named_and_nothing_is_planned():
    spec = device(id="org.acme:sensor 1", credentials=specs.GENERATED_PASSWORD)
    found = hd.problems(HONO_DITTO, spec)
    assert "device id" in found["name"]
    assert "default auth id 'org.acme_sensor 1'" in found["auth_id"]
    with pytest.raises(hd.NotHonoured) as caught:
        hd.plan(HONO_DITTO, spec)
    assert caught.value.problems == found


def test_ditto_alone_takes_what_hono_refuses_and_encodes_it():
    steps = hd.plan(DITTO_ONLY, device(id="org.acme:sensor 1?#%Ω"))
    assert steps[1].url == "https://ditto.example/api/2/things/org.acme:sensor%201%3F%23%25%CE%A9"
    assert steps[0].url == "https://ditto.example/api/2/policies/org.acme:sensor%201%3F%23%25%CE%A9"


def test_tenant_and_ids_are_percent_encoded_in_hono_urls():
    settings_ = hd.ConnectionSettings(hono_url="https://h/v1/", tenant="t.1_a-b", ditto_url="https://d/api/2")
    assert hd.hono_device_url(settings_, "a.b:c=d") == "https://h/v1/devices/t.1_a-b/a.b:c%3Dd"
    assert hd.thing_url(settings_, "a:b") == "https://d/api/2/things/a:b"
    assert hd.policy_url(settings_, "a:b/c") == "https://d/api/2/policies/a:b%2Fc"


def test_ditto_alone_explains_each_hono_field_instead_of_dropping_it():
    spec = device(credentials=specs.PSK, via=("org.acme:gw",), enabled=False)
    found = hd.problems(DITTO_ONLY, spec)
    assert set(found) == {"credentials_type", "via", "enabled"}
    assert "Hono" in found["credentials_type"]
    with pytest.raises(hd.NotHonoured):
        hd.plan(DITTO_ONLY, spec)


@pytest.mark.parametrize(
    ("settings_", "words"),
    [
        (hd.ConnectionSettings(ditto_url=""), "Ditto base URL"),
        (hd.ConnectionSettings(ditto_url="https://d", hono_url="https://h"), "tenant"),
        (hd.ConnectionSettings(ditto_url="https://d", hono_url="https://h", tenant="a/b"), "tenant"),
    ],
)
def test_unusable_settings_are_named(settings_, words):
    assert words in hd.problems(settings_, device())["config"]


# --- the policy ---------------------------------------------------------------------------------


def test_the_generated_policy_grants_the_connection_all_and_hono_read_write():
    policy = hd.plan(HONO_DITTO, FULL)[2].body
    assert set(policy["entries"]) == {"DEFAULT", "HONO"}
    own = policy["entries"]["DEFAULT"]
    assert list(own["subjects"]) == ["nginx:provisioner"]
    assert own["resources"] == {
        r: {"grant": ["READ", "WRITE"], "revoke": []} for r in ("thing:/", "policy:/", "message:/")
    }
    hono = policy["entries"]["HONO"]
    assert list(hono["subjects"]) == ["pre-authenticated:hono-connection-acme-tenant"]
    assert hono["resources"] == {
        r: {"grant": ["READ", "WRITE"], "revoke": []} for r in ("thing:/", "message:/")
    }


def test_the_hono_subject_and_own_subject_are_settings():
    settings_ = hd.ConnectionSettings(
        hono_url="https://h", tenant="t", ditto_url="https://d", hono_subject="integration:hono-t"
    )
    entries = hd.plan(settings_, device())[1].body["entries"]
    assert list(entries["HONO"]["subjects"]) == ["integration:hono-t"]
    assert list(entries["DEFAULT"]["subjects"]) == [hd.REQUEST_SUBJECT]


def test_ditto_alone_generates_a_policy_for_the_connection_only():
    policy = hd.plan(DITTO_ONLY, device())[0].body
    assert list(policy["entries"]) == ["DEFAULT"]


# --- headers ------------------------------------------------------------------------------------


def test_policy_and_thing_are_create_only_and_hono_calls_are_plain_json():
    steps = {s.name: s for s in hd.plan(HONO_DITTO, FULL)}
    for name in ("policy", "thing"):
        assert steps[name].headers == {"Content-Type": "application/json", "If-None-Match": "*"}
        assert steps[name].already == 412
    for name in ("device", "credentials"):
        assert steps[name].headers == {"Content-Type": "application/json"}
    assert steps["device"].already == 409
    assert steps["credentials"].already is None
    assert not any("authorization" in {h.lower() for h in s.headers} for s in steps.values())


# --- undo and de-provision ----------------------------------------------------------------------


def test_each_step_says_how_it_is_undone():
    device_step, credentials, policy, thing = hd.plan(HONO_DITTO, FULL)
    assert (device_step.undo.method, device_step.undo.url) == ("DELETE", device_step.url)
    assert credentials.undo is None and "with the device" in credentials.undo_note
    assert (policy.undo.method, policy.undo.url) == ("DELETE", policy.url)
    assert thing.undo is None and "last step" in thing.undo_note
    assert hd.plan(HONO_DITTO, device(policy_id="org.acme:shared"))[-1].undo is None


def test_undo_runs_in_reverse_and_never_touches_a_shared_policy():
    steps = hd.plan(HONO_DITTO, FULL)
    assert [(u.name, u.method) for u in hd.undo_plan(steps[:3])] == [
        ("policy", "DELETE"),
        ("device", "DELETE"),
    ]
    shared = hd.plan(HONO_DITTO, device(policy_id="org.acme:shared"))
    assert [u.name for u in hd.undo_plan(shared[:1])] == ["device"]


def test_deprovision_is_thing_policy_device_and_404_means_gone():
    steps = hd.deprovision_plan(HONO_DITTO, DEVICE_ID)
    assert [(s.name, s.method) for s in steps] == [
        ("thing", "DELETE"),
        ("policy", "DELETE"),
        ("device", "DELETE"),
    ]
    assert [s.url for s in steps] == [
        "https://ditto.example/api/2/things/org.acme:sensor-1",
        "https://ditto.example/api/2/policies/org.acme:sensor-1",
        "https://hono.example:28443/v1/devices/acme-tenant/org.acme:sensor-1",
    ]
    assert all(s.already == 404 and s.body is None for s in steps)
    assert [s.name for s in hd.deprovision_plan(HONO_DITTO, DEVICE_ID, keep_policy=True)] == [
        "thing",
        "device",
    ]
    assert [s.name for s in hd.deprovision_plan(DITTO_ONLY, DEVICE_ID)] == ["thing", "policy"]
    assert "Hono" in hd.KEEP_CREDENTIALS_NOTE and "credentials" in hd.KEEP_CREDENTIALS_NOTE
