"""The device builder started from a template: prefilled, fixed values refused when a request
changes them (whatever the browser shows), the preview and Send made with the template's values,
and the template version recorded on the audit rows and the device. Sends cross real HTTP to the
scripted provider."""

import json
import re

import pytest

from provisioning.models import AuditEvent, Device, DeviceTemplate, Namespace
from tests.factories import make_hono_ditto, make_template
from tests.provider import SID, TokenIssuer, api_requests, make_config
from tests.test_templates import edit_data
from tests.test_views_devices import echo_201
from tests.views import assert_is_partial
from tests.workflow import DEVICE_URL, NAMESPACE, device_data, form_token, text

pytestmark = pytest.mark.django_db

DEVICES = f"/api/1/{SID}/devices"
DEFINITION = "com.acme:boiler:1.0.0"
FEATURES = {"temperature": {"properties": {"value": 21.5}}}


@pytest.fixture
def scripted(team_a, httpserver):
    httpserver.expect_request("/token", method="POST").respond_with_handler(TokenIssuer())
    config = make_config(team_a, httpserver)
    namespace = Namespace.objects.create(team=team_a, name=NAMESPACE)
    return config, namespace


@pytest.fixture
def boiler(team_a):
    return make_template(
        team_a,
        definition=DEFINITION,
        definition_fixed=True,
        features=FEATURES,
        features_fixed=True,
        attributes={"manufacturer": "ACME", "floor": "3"},
        fixed_attributes=["manufacturer"],
        enabled=False,
        enabled_fixed=True,
    )


def from_template(config, namespace, version, **fields):
    """The builder as a browser posts it when it started from ``version``: its fixed fields are
    disabled, so they are not sent; the other template values are as the page prefilled them."""
    values = {
        "template_version": str(version.pk),
        "enabled": "on" if version.enabled else None,
        "via": version.via,
        "credentials_type": version.credentials_type,
        "auth_scope": version.auth_scope,
        "definition": version.definition,
        "features": json.dumps(version.features) if version.features else "",
        "policy_mode": version.policy_mode,
        "policy_id": version.policy_id,
        "attr_key": list(version.attributes),
        "attr_value": list(version.attributes.values()),
    }
    for name in version.fixed_fields():
        for field in {"policy": ["policy_mode", "policy_id"]}.get(name, [name]):
            values[field] = None
    values.update(fields)
    data = device_data(config, namespace, **values)
    return {key: value for key, value in data.items() if value is not None}


def sent_bodies(httpserver):
    return [json.loads(request.data) for request in api_requests(httpserver)]


def test_the_page_starts_from_the_chosen_template(as_user, cast, scripted, boiler):
    html = text(as_user(cast["operator"]).get(f"{DEVICE_URL}?template={boiler.pk}"))
    version = boiler.latest()
    assert f'name="template_version" value="{version.pk}"' in html
    assert re.search(rf'name="definition" value="{DEFINITION}"[^>]* disabled', html)
    assert re.search(r'name="enabled"[^>]* disabled', html) and 'id="id_enabled" checked' not in html
    assert re.search(r'name="attr_value" [^>]*value="ACME" readonly', html)  # the fixed attribute
    assert re.search(r'name="attr_value" [^>]*value="3" placeholder', html)  # the free one
    assert "Started from" in html and "Boiler, version 1" in html
    assert (
        "Fixed by it, so not changeable here: Device enabled, Definition, Features, attribute “manufacturer”"
        in html
    )


def test_the_page_offers_only_templates_in_use_of_the_team(as_user, cast, scripted, boiler, team_b):
    make_template(team_b, name="Theirs")
    make_template(boiler.team, name="Old")
    DeviceTemplate.objects.filter(name="Old").update(retired_at="2026-01-01T00:00:00Z")
    html = text(as_user(cast["operator"]).get(DEVICE_URL))
    assert "Boiler (Bosch IoT Suite)" in html and "Theirs" not in html and ">Old" not in html
    retired = DeviceTemplate.objects.get(name="Old")
    assert "Started from" not in text(as_user(cast["operator"]).get(f"{DEVICE_URL}?template={retired.pk}"))


def test_the_preview_and_send_use_the_templates_values_and_record_its_version(
    as_user, cast, scripted, boiler, httpserver
):
    config, namespace = scripted
    version = boiler.latest()
    client = as_user(cast["operator"])
    preview = client.post(DEVICE_URL, from_template(config, namespace, version), HTTP_HX_REQUEST="true")
    html = text(preview)
    assert f'"definition": "{DEFINITION}"' in html and '"manufacturer": "ACME"' in html
    assert '"floor": 3' in html and '"value": 21.5' in html and '"enabled": false' in html
    assert DEFINITION in re.search(r'data-copy-source="curl">(.*?)</code>', html, re.S).group(1)

    httpserver.expect_request(DEVICES, method="POST").respond_with_handler(echo_201)
    token = form_token(client, f"{DEVICE_URL}?template={boiler.pk}")
    response = client.post(
        DEVICE_URL, from_template(config, namespace, version, action="send", form_token=token)
    )
    assert response.status_code == 201
    assert "Boiler, version 1</a>" in text(response)  # the result page names it
    (body,) = sent_bodies(httpserver)
    thing = body["things"]["thing"]
    assert thing["definition"] == DEFINITION and thing["features"] == FEATURES
    assert thing["attributes"] == {"manufacturer": "ACME", "floor": 3}
    assert body["hub"]["device"]["enabled"] is False
    rows = AuditEvent.objects.filter(action="device.provision").order_by("id")
    assert [(r.phase, r.template_ref, r.template_version, r.template_name) for r in rows] == [
        ("intent", boiler.pk, 1, "Boiler"),
        ("outcome", boiler.pk, 1, "Boiler"),
    ]
    device = Device.objects.get()
    assert (device.template_ref, device.template_version, device.template_name) == (boiler.pk, 1, "Boiler")


def test_values_the_template_does_not_fix_may_be_changed(as_user, cast, scripted, boiler, httpserver):
    config, namespace = scripted
    httpserver.expect_request(DEVICES, method="POST").respond_with_handler(echo_201)
    client = as_user(cast["operator"])
    data = from_template(
        config,
        namespace,
        boiler.latest(),
        action="send",
        form_token=form_token(client),
        via="com.acme.sensors:gw-1",
        attr_key=["manufacturer", "floor", "room"],
        attr_value=["ACME", "7", "3.14"],
    )
    assert client.post(DEVICE_URL, data).status_code == 201
    (body,) = sent_bodies(httpserver)
    assert body["things"]["thing"]["attributes"] == {"manufacturer": "ACME", "floor": 7, "room": 3.14}
    assert body["hub"]["device"]["via"] == "com.acme.sensors:gw-1"


CHANGES = [
    ("definition", {"definition": "com.acme:boiler:9.9.9"}, "fixes Definition to “com.acme:boiler:1.0.0”"),
    ("enabled", {"enabled": "on"}, "fixes Device enabled to false"),
    ("features", {"features": '{"x": {}}'}, "fixes Features; it cannot be changed here"),
    ("features", {"features": "not JSON"}, "fixes Features; it cannot be changed here"),
]


@pytest.mark.parametrize(("field", "change", "words"), CHANGES)
def test_a_request_that_changes_a_fixed_value_is_refused(
    as_user, cast, scripted, boiler, httpserver, field, change, words
):
    config, namespace = scripted
    client = as_user(cast["operator"])
    data = from_template(config, namespace, boiler.latest(), action="send", form_token=form_token(client))
    data.update(change)  # what no page sends: the field is disabled there
    response = client.post(DEVICE_URL, data)

    assert response.status_code == 400
    assert any(words in error for error in response.context["form"].errors[field])
    assert api_requests(httpserver) == [] and not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("name", "fixed_value", "change"),
    [
        ("credentials_type", "none", {"credentials_type": "hashed-password"}),
        ("auth_scope", "subscription", {"auth_scope": "__default__"}),
        ("via", "com.acme.sensors:gw-1", {"via": ""}),
    ],
)
def test_each_fixable_field_is_refused_when_changed(
    as_user, cast, scripted, team_a, httpserver, name, fixed_value, change
):
    config, namespace = scripted
    template = make_template(team_a, name="Gate", **{name: fixed_value, f"{name}_fixed": True})
    client = as_user(cast["operator"])
    data = from_template(config, namespace, template.latest(), action="send", form_token=form_token(client))
    data.update(change)
    response = client.post(DEVICE_URL, data)
    assert (
        response.status_code == 400
        and "it cannot be changed here" in response.context["form"].errors[name][0]
    )
    assert api_requests(httpserver) == []


def test_a_fixed_policy_is_refused_when_changed(as_user, cast, scripted, team_a, httpserver):
    config, namespace = scripted
    template = make_template(
        team_a, name="Shared", policy_mode="existing", policy_id="com.acme:shared", policy_fixed=True
    )
    client = as_user(cast["operator"])
    data = from_template(config, namespace, template.latest(), action="send", form_token=form_token(client))
    data.update(policy_mode="generated", policy_id="")
    response = client.post(DEVICE_URL, data)
    errors = response.context["form"].errors
    assert response.status_code == 400 and "policy_mode" in errors and "policy_id" in errors
    assert api_requests(httpserver) == []


@pytest.mark.parametrize(
    "rows",
    [
        {"attr_key": ["manufacturer", "floor"], "attr_value": ["OTHER", "3"]},  # changed
        {"attr_key": ["floor"], "attr_value": ["3"]},  # left out
        {"attr_key": ["manufacturer"], "attr_value": ["ACME "]},  # text is sent as typed
    ],
)
def test_a_fixed_attribute_changed_or_left_out_is_refused(as_user, cast, scripted, boiler, httpserver, rows):
    config, namespace = scripted
    client = as_user(cast["operator"])
    data = from_template(
        config, namespace, boiler.latest(), action="send", form_token=form_token(client), **rows
    )
    response = client.post(DEVICE_URL, data)
    assert response.status_code == 400
    assert "fixes the attribute “manufacturer” to “ACME”" in " ".join(
        response.context["form"].non_field_errors()
    )
    assert api_requests(httpserver) == []


def test_a_template_for_another_kind_of_connection_is_refused(as_user, cast, scripted, team_a, httpserver):
    config, namespace = scripted
    twin = make_template(team_a, name="Twin", kind="ditto", credentials_type="none")
    client = as_user(cast["operator"])
    data = from_template(config, namespace, twin.latest(), action="send", form_token=form_token(client))
    response = client.post(DEVICE_URL, data)
    assert response.status_code == 400
    assert "is for Eclipse Ditto connections" in response.context["form"].errors["config"][0]
    assert api_requests(httpserver) == []


def test_a_retired_or_foreign_template_cannot_be_sent_with(
    as_user, cast, scripted, boiler, team_b, httpserver
):
    config, namespace = scripted
    client = as_user(cast["operator"])
    theirs = make_template(team_b, name="Theirs").latest()
    for version in (theirs, boiler.latest()):
        if version == boiler.latest():
            DeviceTemplate.objects.filter(pk=boiler.pk).update(retired_at="2026-01-01T00:00:00Z")
        data = from_template(config, namespace, version, action="send", form_token=form_token(client))
        response = client.post(DEVICE_URL, data)
        assert response.status_code == 400
        assert "was retired or deleted" in " ".join(response.context["form"].non_field_errors())
    assert api_requests(httpserver) == [] and not AuditEvent.objects.exists()


def test_choosing_a_template_keeps_what_was_typed(as_user, cast, scripted, boiler):
    config, namespace = scripted
    client = as_user(cast["operator"])
    data = device_data(config, namespace, action="template", template=str(boiler.pk), name="boiler-7")
    data.update(attr_key=["room"], attr_value=["12"], definition="com.acme:other:1.0.0")
    html = assert_is_partial(client.post(DEVICE_URL, data, HTTP_HX_REQUEST="true"), "builder-area")
    assert 'name="name" value="boiler-7"' in html
    assert re.search(rf'name="definition" value="{DEFINITION}"[^>]* disabled', html)  # the template's now
    assert 'value="room"' in html and 'value="ACME"' in html  # its attributes added to the typed ones
    assert f'name="template_version" value="{boiler.latest().pk}"' in html
    assert 'hx-trigger="load, ' in html  # the preview follows at once

    data = from_template(config, namespace, boiler.latest(), action="template", template="", name="boiler-7")
    html = assert_is_partial(client.post(DEVICE_URL, data, HTTP_HX_REQUEST="true"), "builder-area")
    assert re.search(rf'name="definition" value="{DEFINITION}"', html)  # kept, and no longer fixed
    assert not re.search(r'name="definition"[^>]* disabled', html)
    assert 'name="template_version"' in html and "Started from" not in html


def test_choosing_a_template_picks_a_connection_of_its_kind(as_user, cast, scripted, team_a):
    config, namespace = scripted
    hono = make_hono_ditto(team_a)
    template = make_template(team_a, name="Hono boiler", kind="hono_ditto")
    data = device_data(config, namespace, action="template", template=str(template.pk))
    html = text(as_user(cast["operator"]).post(DEVICE_URL, data))
    assert re.search(rf'<option value="{hono.pk}" selected data-kind="hono_ditto">', html)


def test_an_edit_never_changes_the_version_a_device_was_made_from(
    as_user, cast, scripted, boiler, httpserver
):
    config, namespace = scripted
    httpserver.expect_request(DEVICES, method="POST").respond_with_handler(echo_201)
    operator = as_user(cast["operator"])
    v1 = boiler.latest()
    open_form = form_token(operator)  # a builder opened with version 1, sent after the edit
    data = from_template(config, namespace, v1, action="send", form_token=form_token(operator), name="b-1")
    assert operator.post(DEVICE_URL, data).status_code == 201

    admin = as_user(cast["admin"])
    admin.post(
        f"/t/team-a/templates/{boiler.pk}/edit/", edit_data(boiler, definition="com.acme:boiler:2.0.0")
    )
    assert boiler.versions.count() == 2
    first = Device.objects.get(device_id=f"{NAMESPACE}:b-1")
    assert first.template_version == 1
    assert set(
        AuditEvent.objects.filter(target=first.device_id).values_list("template_version", flat=True)
    ) == {1}

    operator = as_user(cast["operator"])
    data = from_template(config, namespace, v1, action="send", form_token=open_form, name="b-2")
    assert operator.post(DEVICE_URL, data).status_code == 201  # the version the page showed
    v2 = boiler.latest()
    data = from_template(config, namespace, v2, action="send", form_token=form_token(operator), name="b-3")
    assert operator.post(DEVICE_URL, data).status_code == 201
    made = dict(Device.objects.values_list("device_id", "template_version"))
    assert made == {f"{NAMESPACE}:b-1": 1, f"{NAMESPACE}:b-2": 1, f"{NAMESPACE}:b-3": 2}
    definitions = [body["things"]["thing"]["definition"] for body in sent_bodies(httpserver)]
    assert definitions == [DEFINITION, DEFINITION, "com.acme:boiler:2.0.0"]
    assert Device.objects.get(device_id=f"{NAMESPACE}:b-1").template_version == 1


def test_send_again_starts_from_the_template_of_the_unknown_attempt(
    as_user, cast, scripted, boiler, httpserver
):
    config, namespace = scripted
    httpserver.expect_oneshot_request(DEVICES, method="POST").respond_with_data("busy", status=502)
    client = as_user(cast["operator"])
    data = from_template(config, namespace, boiler.latest(), action="send", form_token=form_token(client))
    assert "Outcome unknown" in text(client.post(DEVICE_URL, data))
    unknown = AuditEvent.objects.get(phase="outcome")
    assert unknown.status == "unknown" and unknown.template_version == 1

    html = text(client.get(f"{DEVICE_URL}?again={unknown.correlation_id}"))
    assert f'name="template_version" value="{boiler.latest().pk}"' in html and "Sending again" in html
