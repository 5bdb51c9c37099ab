"""The device builder's form: validation and the exact body it builds."""

import json

import pytest
from django.http import QueryDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.device_form import DeviceForm, generate_password, generate_psk, is_base64
from provisioning.models import Namespace
from provisioning.providers.bosch import GENERATED
from tests.openapi import errors

pytestmark = pytest.mark.django_db


def data(config, namespace, **fields):
    base = {
        "config": str(config.pk),
        "namespace": str(namespace.pk),
        "name": "boiler-0042",
        "enabled": "on",
        "credentials_type": "hashed-password",
        "policy_mode": "generated",
        "auth_scope": "__default__",
    }
    base.update(fields)
    query = QueryDict(mutable=True)
    for key, value in base.items():
        if isinstance(value, list):
            query.setlist(key, value)
        else:
            query[key] = value
    return query


def valid_form(team, client, namespace, **fields):
    form = DeviceForm(data(client, namespace, **fields), team=team)
    assert form.is_valid(), form.errors
    return form


def test_the_minimal_body_matches_the_docs(team_a, config_a, namespace_a):
    form = valid_form(team_a, config_a, namespace_a, password="S3cure-Pa55-4711")

    assert form.to_body() == {
        "id": "com.acme.sensors:boiler-0042",
        "hub": {
            "device": {},
            "credentials": {"type": "hashed-password", "secrets": [{"password": "S3cure-Pa55-4711"}]},
        },
        "things": {"thing": {}},
    }


def test_a_blank_password_is_a_placeholder_until_send(team_a, config_a, namespace_a):
    form = valid_form(team_a, config_a, namespace_a)

    assert form.needs_generated_secret()
    assert form.to_body()["hub"]["credentials"]["secrets"] == [{"password": GENERATED}]
    assert form.to_body(generated_secret="Gen-1234abcd")["hub"]["credentials"]["secrets"] == [
        {"password": "Gen-1234abcd"}
    ]


def test_everything_optional_lands_where_the_api_wants_it(team_a, config_a, namespace_a):
    form = valid_form(
        team_a,
        config_a,
        namespace_a,
        enabled="",
        via="com.acme.sensors:gateway-1",
        auth_id="serial-4711",
        password="S3cure-Pa55-4711",
        attr_key=["manufacturer", "floor", "tags", ""],
        attr_value=["ACME", "3", '["a", "b"]', ""],
        definition="com.acme:boiler:1.0.0",
        features='{"temperature": {"properties": {"value": 21.5}}}',
        policy_mode="existing",
        policy_id="com.acme.sensors:shared-policy",
    )

    body = form.to_body()

    assert body["hub"]["device"] == {"enabled": False, "via": "com.acme.sensors:gateway-1"}
    assert body["hub"]["credentials"]["authId"] == "serial-4711"
    assert body["things"]["thing"] == {
        "attributes": {"manufacturer": "ACME", "floor": 3, "tags": ["a", "b"]},
        "definition": "com.acme:boiler:1.0.0",
        "features": {"temperature": {"properties": {"value": 21.5}}},
        "policyId": "com.acme.sensors:shared-policy",
    }
    assert errors("ProvisioningRequestPayload", body) == []


def test_the_default_auth_id_is_not_sent(team_a, config_a, namespace_a):
    form = valid_form(team_a, config_a, namespace_a, auth_id="com.acme.sensors_boiler-0042", password="x" * 8)

    assert "authId" not in form.to_body()["hub"]["credentials"]


def test_psk_and_no_credentials(team_a, config_a, namespace_a):
    psk = valid_form(team_a, config_a, namespace_a, credentials_type="psk", psk_key="c2VjcmV0LWtleQ==")
    none = valid_form(team_a, config_a, namespace_a, credentials_type="none", password="ignored-pass")

    assert psk.to_body()["hub"]["credentials"] == {"type": "psk", "secrets": [{"key": "c2VjcmV0LWtleQ=="}]}
    assert "credentials" not in none.to_body()["hub"]
    assert errors("ProvisioningRequestPayload", psk.to_body()) == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "a/b"}, "name", "cannot contain '/'"),
        ({"name": "bad\x01name"}, "name", "control character"),
        ({"name": "*"}, "name", "reserved"),
        ({"name": "x" * 240}, "name", "the limit is 256"),
        ({"password": "short"}, "password", "at least 8"),
        ({"password": "ä" * 40}, "password", "at most 72 bytes"),
        ({"credentials_type": "psk", "psk_key": "not base64!"}, "psk_key", "base64"),
        ({"via": "no-namespace"}, "via", "namespace:name"),
        ({"definition": "only:two"}, "definition", "namespace:name:version"),
        ({"features": "{nope"}, "features", "not valid JSON"),
        ({"features": "[1]"}, "features", "JSON object"),
        ({"features": '{"a/b": {}}'}, "features", "cannot contain '/'"),
        ({"features": '{"f": {"props": {}}}'}, "features", "unknown fields"),
        ({"policy_mode": "existing"}, "policy_id", "Enter the id"),
        ({"auth_id": "me@tenant"}, "auth_id", "'@'"),
    ],
)
def test_bad_input_gets_a_clear_message_on_its_field(team_a, config_a, namespace_a, fields, field, message):
    form = DeviceForm(data(config_a, namespace_a, **fields), team=team_a)

    assert not form.is_valid()
    assert message in " ".join(form.errors[field])


def test_attribute_rows_are_checked_by_line(team_a, config_a, namespace_a):
    form = DeviceForm(
        data(config_a, namespace_a, attr_key=["a", "", "a", "x/y"], attr_value=["1", "orphan", "2", "3"]),
        team=team_a,
    )

    assert not form.is_valid()
    text = " ".join(form.non_field_errors())
    assert "row 2: enter a key" in text
    assert "row 3: the key 'a' is used twice" in text
    assert "row 4: The attribute key cannot contain '/'" in text


def test_it_refuses_another_teams_config_and_namespace(team_a, team_b, config_a, namespace_a):
    form = DeviceForm(data(config_a, namespace_a), team=team_b)

    assert not form.is_valid()
    assert "config" in form.errors and "namespace" in form.errors


def test_a_namespace_reserved_for_another_client_is_refused(team_a, config_a, namespace_a):
    other = Namespace.objects.create(team=team_a, name="com.other", client=None)
    config_b = type(config_a).objects.get(pk=config_a.pk)
    config_b.pk = None
    config_b.name = "Second"
    config_b.public_id = __import__("uuid").uuid4()
    config_b.save()

    form = DeviceForm(data(config_b, namespace_a), team=team_a)
    assert not form.is_valid()
    assert "reserved for" in " ".join(form.errors["namespace"])
    assert DeviceForm(data(config_b, other, password="x" * 8), team=team_a).is_valid()


def test_auth_scope_follows_the_configuration_unless_overridden(team_a, config_a, namespace_a):
    config_a.default_auth_scope = "subscription"
    config_a.save()

    assert valid_form(team_a, config_a, namespace_a).effective_auth_scope() == "subscription"
    assert valid_form(team_a, config_a, namespace_a, auth_scope="none").effective_auth_scope() is None
    assert (
        valid_form(
            team_a, config_a, namespace_a, auth_scope="deviceManagementSubscription"
        ).effective_auth_scope()
        == "deviceManagementSubscription"
    )


def test_generated_secrets_are_strong():
    passwords = {generate_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert 8 <= len(password.encode()) <= 72
        assert any(c.isupper() for c in password) and any(c.isdigit() for c in password)
    assert is_base64(generate_psk())


# Strategies that produce only valid input: every example must be accepted and build a valid body.
safe_chars = st.characters(
    blacklist_categories=("Cs", "Cc"), blacklist_characters="/", min_codepoint=0x20
).filter(lambda c: not 0x7F <= ord(c) <= 0xFF)
names = st.text(alphabet=safe_chars, min_size=1, max_size=60).filter(lambda n: n != "*")
keys = (
    st.text(alphabet=safe_chars, min_size=1, max_size=10)
    .map(str.strip)
    .filter(lambda k: k and k != "*" and not (k.startswith("{{") and k.endswith("}}")))
)
no_nul = st.characters(blacklist_characters="\x00")  # NUL is refused (PostgreSQL cannot store it)
attribute_values = st.one_of(
    st.text(alphabet=no_nul, max_size=30),
    st.integers().map(str),
    st.builds(json.dumps, st.dictionaries(st.text(alphabet=no_nul, max_size=5), st.integers(), max_size=3)),
)
passwords = st.one_of(
    st.just(""),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=8, max_size=40),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=names,
    enabled=st.booleans(),
    kind=st.sampled_from(["hashed-password", "psk", "none"]),
    password=passwords,
    attrs=st.dictionaries(keys, attribute_values, max_size=4),
    definition=st.sampled_from(["", "com.acme:x:1.0.0"]),
    policy=st.sampled_from(["generated", "existing"]),
)
def test_every_valid_form_builds_a_body_the_openapi_accepts(
    team_a, config_a, namespace_a, name, enabled, kind, password, attrs, definition, policy
):
    form = DeviceForm(
        data(
            config_a,
            namespace_a,
            name=name,
            enabled="on" if enabled else "",
            credentials_type=kind,
            password=password,
            attr_key=list(attrs),
            attr_value=list(attrs.values()),
            definition=definition,
            policy_mode=policy,
            policy_id="com.acme.sensors:p1",
        ),
        team=team_a,
    )

    assert form.is_valid(), form.errors
    secret = form.new_secret() if form.needs_generated_secret() else None
    body = form.to_body(generated_secret=secret)
    assert errors("ProvisioningRequestPayload", body) == []
    assert body["id"] == f"com.acme.sensors:{name}"
    assert set(body["things"]["thing"].get("attributes", {})) == set(attrs)


def test_a_fixed_client_and_namespace_validate_without_queries(
    team_a, config_a, namespace_a, django_assert_num_queries
):
    query = data(config_a, namespace_a, password="S3cure-Pa55-4711")
    del query["config"], query["namespace"]

    with django_assert_num_queries(0):
        form = DeviceForm(query, team=team_a, config=config_a, namespace=namespace_a)
        assert form.is_valid(), form.errors
        body = form.to_body()

    assert body["id"] == "com.acme.sensors:boiler-0042"
    assert "config" not in form.fields


def test_a_fixed_client_of_another_team_is_refused(team_a, team_b, config_a, namespace_a):
    with pytest.raises(ValueError):
        DeviceForm({}, team=team_b, config=config_a, namespace=namespace_a)


@pytest.mark.parametrize("depth", [33, 200, 5000])
def test_json_nested_too_deeply_is_a_clear_error_not_a_crash(team_a, config_a, namespace_a, depth):
    deep = "[" * depth + "]" * depth
    form = DeviceForm(
        data(
            config_a,
            namespace_a,
            attr_key=["site"],
            attr_value=[deep],
            features=f'{{"f": {{"properties": {{"v": {deep}}}}}}}',
        ),
        team=team_a,
    )

    assert not form.is_valid()
    assert form.errors["features"] == [
        "The features nests objects and lists more than 32 levels deep; flatten it."
    ]
    assert (
        "Attribute row 1: the value nests objects and lists more than 32 levels deep; flatten it."
        in form.non_field_errors()
    )


def test_json_up_to_the_depth_limit_is_sent_as_json(team_a, config_a, namespace_a):
    nested = "[" * 32 + "1" + "]" * 32
    form = valid_form(team_a, config_a, namespace_a, attr_key=["site"], attr_value=[nested])

    assert form.to_body()["things"]["thing"]["attributes"]["site"] == json.loads(nested)


@pytest.mark.parametrize(
    ("kind", "field", "typed"),
    [("hashed-password", "password", "Typed-Pa55-word-0001"), ("psk", "psk_key", "a" * 44)],
)
def test_a_secret_typed_before_a_full_page_is_asked_for_again_never_generated(
    team_a, config_a, namespace_a, kind, field, typed
):
    """A full page does not carry a typed secret back: Send needs it again or a choice."""
    asked = DeviceForm(data(config_a, namespace_a, credentials_type=kind, secret_was_typed="on"), team=team_a)
    assert not asked.is_valid()
    assert "again" in asked.errors[field][0] and "Generate one instead" in asked.errors[field][0]

    retyped = DeviceForm(
        data(config_a, namespace_a, credentials_type=kind, secret_was_typed="on", **{field: typed}),
        team=team_a,
    )
    assert retyped.is_valid(), retyped.errors
    assert not retyped.needs_generated_secret()

    chosen = DeviceForm(
        data(config_a, namespace_a, credentials_type=kind, secret_was_typed="on", generate_instead="on"),
        team=team_a,
    )
    assert chosen.is_valid(), chosen.errors
    assert chosen.needs_generated_secret()
