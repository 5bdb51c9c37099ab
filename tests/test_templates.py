"""Device templates as a team admin keeps them: made and checked like the builder checks a device,
edited into new versions that never change the old ones, retired when used, deleted when not."""

import pytest
from django.db import IntegrityError, transaction

from provisioning import audit, template_admin
from provisioning.bulk.models import BulkJob
from provisioning.models import AuditEvent, DeviceTemplate, TemplateVersion
from tests.factories import make_template
from tests.views import assert_is_partial

pytestmark = pytest.mark.django_db

TEMPLATES = "/t/team-a/templates/"
NEW = f"{TEMPLATES}new/"


def template_data(**fields):
    """The template form as a browser posts it (a value of None leaves the field out)."""
    data = {
        "action": "save",
        "name": "Boiler",
        "description": "",
        "kind": "bosch",
        "enabled": "on",
        "via": "",
        "credentials_type": "hashed-password",
        "auth_scope": "__default__",
        "definition": "",
        "features": "",
        "policy_mode": "generated",
        "policy_id": "",
        "attr_key": [""],
        "attr_value": [""],
    }
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def edit_data(template, **fields):
    """The edit form of ``template`` as its page shows it (its latest version), with changes."""
    version = template.latest()
    data = template_data(
        name=template.name,
        description=template.description,
        kind=None,  # disabled on the edit page: a browser sends nothing
        enabled="on" if version.enabled else None,
        via=version.via,
        credentials_type=version.credentials_type,
        auth_scope=version.auth_scope,
        definition=version.definition,
        features="",
        policy_mode=version.policy_mode,
        policy_id=version.policy_id,
        attr_key=list(version.attributes) or [""],
        attr_value=list(version.attributes.values()) or [""],
        attr_fixed=[str(i) for i, key in enumerate(version.attributes) if key in version.fixed_attributes],
    )
    data.update({f"{name}_fixed": "on" for name in version.fixed_fields()})
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


# --- making one ---------------------------------------------------------------------------------


def test_an_admin_makes_a_template_with_its_first_version(as_user, cast):
    response = as_user(cast["admin"]).post(
        NEW,
        template_data(
            description="Gas boilers, B7 series",
            definition="com.acme:boiler:1.0.0",
            definition_fixed="on",
            features='{"temperature": {"properties": {"value": 21.5}}}',
            attr_key=["manufacturer", "floor"],
            attr_value=["ACME", "3"],
            attr_fixed=["0"],
        ),
    )
    template = DeviceTemplate.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{TEMPLATES}{template.pk}/"
    assert (template.name, template.kind, template.description) == (
        "Boiler",
        "bosch",
        "Gas boilers, B7 series",
    )
    version = template.latest()
    assert version.number == 1 and version.created_by_name == "alice"
    assert version.definition == "com.acme:boiler:1.0.0" and version.fixed_fields() == {"definition"}
    assert version.features == {"temperature": {"properties": {"value": 21.5}}}
    assert version.attributes == {"manufacturer": "ACME", "floor": "3"}  # as typed: "3" is sent as 3
    assert version.fixed_attributes == ["manufacturer"]
    row = AuditEvent.objects.get(action="template.create")
    assert (row.template_ref, row.template_version, row.template_name, row.actor_name) == (
        template.pk,
        1,
        "Boiler",
        "alice",
    )


REFUSED = [
    ("bosch", {"via": "gateway 7"}, "via", "Enter the gateway's full device id"),
    ("bosch", {"definition": "boiler"}, "definition", "Use namespace:name:version"),
    ("bosch", {"features": '{"temperature": '}, "features", "This is not valid JSON"),
    ("bosch", {"features": "[1, 2]"}, "features", "Enter a JSON object"),
    ("bosch", {"features": '{"t": {"colour": 1}}'}, "features", "has unknown fields: colour"),
    ("bosch", {"policy_mode": "existing"}, "policy_id", "Enter the id of the existing policy."),
    (
        "ditto",
        {"credentials_type": "hashed-password"},
        "credentials_type",
        "A Ditto connection creates the twin",
    ),
    ("ditto", {"credentials_type": "none", "via": "com.acme:gw-1"}, "via", "A gateway is a Hono setting"),
    ("ditto", {"credentials_type": "none", "enabled": None}, "enabled", "Enabling and disabling is a Hono"),
    ("hono_ditto", {"auth_scope": "subscription"}, "auth_scope", "authScope is a Bosch IoT Suite setting"),
    ("hono_ditto", {"via": "com.acme:gw 1"}, "via", "Gateway 'com.acme:gw 1'"),
    ("bosch", {"attr_key": ["room/3"], "attr_value": ["1"]}, "__all__", "Attribute row 1"),
    ("bosch", {"attr_key": ["a", "a"], "attr_value": ["1", "2"]}, "__all__", "is used twice"),
]


@pytest.mark.parametrize(("kind", "fields", "field", "words"), REFUSED)
def test_a_template_that_could_not_make_a_valid_device_is_refused_at_its_field(
    as_user, cast, kind, fields, field, words
):
    response = as_user(cast["admin"]).post(NEW, template_data(kind=kind, **fields))

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert any(words in error for error in errors.get(field, [])), errors
    assert words in response.content.decode().replace("&#x27;", "'")
    assert not DeviceTemplate.objects.exists() and not AuditEvent.objects.exists()


def test_a_template_for_ditto_without_credentials_is_accepted(as_user, cast):
    response = as_user(cast["admin"]).post(
        NEW, template_data(kind="ditto", credentials_type="none", definition="com.acme:twin:1.0.0")
    )
    assert response.status_code == 302
    assert DeviceTemplate.objects.get().latest().credentials_type == "none"


def test_the_name_is_unique_among_the_templates_in_use_in_any_case(as_user, cast, team_a):
    make_template(team_a, name="Boiler")
    client = as_user(cast["admin"])

    response = client.post(NEW, template_data(name="BOILER"))
    assert response.status_code == 400
    assert response.context["form"].errors["name"] == ["Your team has a template of this name already."]

    DeviceTemplate.objects.update(retired_at="2026-01-01T00:00:00Z")  # retired: its name is free again
    assert client.post(NEW, template_data(name="BOILER")).status_code == 302
    assert DeviceTemplate.objects.count() == 2


def test_the_database_holds_the_name_rule_too(team_a):
    make_template(team_a, name="Boiler")
    with pytest.raises(IntegrityError):
        make_template(team_a, name="boiler")


def test_another_team_may_use_the_same_name(as_user, cast, team_a, team_b):
    make_template(team_b, name="Boiler")
    assert as_user(cast["admin"]).post(NEW, template_data()).status_code == 302


def test_attribute_rows_are_added_and_removed_without_a_save(as_user, cast):
    client = as_user(cast["admin"])
    data = template_data(action="add-attr", attr_key=["a"], attr_value=["1"], attr_fixed=["0"])
    html = assert_is_partial(client.post(NEW, data, HTTP_HX_REQUEST="true"), "attributes")
    assert html.count('name="attr_key"') == 2
    assert 'value="0" id="attr-fixed-0" checked' in html

    data = template_data(action="remove-attr:0", attr_key=["a", "b"], attr_value=["1", "2"], attr_fixed=["1"])
    page = client.post(NEW, data)  # without JavaScript: the whole page, nothing saved, no errors
    html = page.content.decode()
    assert page.status_code == 200 and html.count('name="attr_key"') == 1
    assert 'value="b"' in html and 'id="attr-fixed-0" checked' in html
    assert 'class="error"' not in html
    assert not DeviceTemplate.objects.exists()


# --- versions ----------------------------------------------------------------------------------


@pytest.fixture
def boiler(team_a):
    return make_template(
        team_a,
        definition="com.acme:boiler:1.0.0",
        definition_fixed=True,
        attributes={"manufacturer": "ACME"},
        fixed_attributes=["manufacturer"],
    )


def test_an_edit_makes_a_new_version_and_leaves_the_old_one_as_it_was(as_user, cast, boiler):
    before = TemplateVersion.objects.filter(template=boiler, number=1).values().get()
    response = as_user(cast["admin"]).post(
        f"{TEMPLATES}{boiler.pk}/edit/", edit_data(boiler, definition="com.acme:boiler:1.1.0", via_fixed="on")
    )
    assert response.status_code == 302

    assert list(boiler.versions.values_list("number", flat=True)) == [1, 2]
    assert TemplateVersion.objects.filter(template=boiler, number=1).values().get() == before
    latest = boiler.latest()
    assert latest.definition == "com.acme:boiler:1.1.0" and latest.fixed_fields() == {"definition", "via"}
    assert latest.attributes == {"manufacturer": "ACME"}
    row = AuditEvent.objects.get(action="template.update")
    assert row.template_version == 2 and row.request["fields"] == ["definition", "via_fixed"]


def test_a_new_name_changes_no_version_and_an_unchanged_form_nothing(as_user, cast, boiler):
    client = as_user(cast["admin"])
    client.post(f"{TEMPLATES}{boiler.pk}/edit/", edit_data(boiler, name="Boiler B7"))
    boiler.refresh_from_db()
    assert boiler.name == "Boiler B7" and boiler.versions.count() == 1
    assert AuditEvent.objects.get(action="template.update").request["fields"] == ["name"]

    response = client.post(f"{TEMPLATES}{boiler.pk}/edit/", edit_data(boiler), follow=True)
    assert "Nothing changed; still version 1." in response.content.decode()
    assert boiler.versions.count() == 1 and AuditEvent.objects.filter(action="template.update").count() == 1


def test_an_edit_that_could_not_make_a_valid_device_makes_no_version(as_user, cast, boiler):
    response = as_user(cast["admin"]).post(f"{TEMPLATES}{boiler.pk}/edit/", edit_data(boiler, definition="x"))
    assert response.status_code == 400 and "definition" in response.context["form"].errors
    assert boiler.versions.count() == 1


def test_the_kind_cannot_be_changed_by_an_edit(as_user, cast, boiler):
    as_user(cast["admin"]).post(
        f"{TEMPLATES}{boiler.pk}/edit/", edit_data(boiler, kind="ditto", credentials_type="none")
    )
    boiler.refresh_from_db()
    assert boiler.kind == "bosch"  # a disabled field: the posted value is not read


def test_a_stored_version_can_never_be_changed(boiler):
    version = boiler.latest()
    version.definition = "com.acme:other:9.9.9"
    with pytest.raises(RuntimeError, match="never changed"):
        version.save()
    with pytest.raises(RuntimeError, match="never changed"):
        TemplateVersion.objects.filter(pk=version.pk).update(definition="com.acme:other:9.9.9")
    with pytest.raises(RuntimeError, match="never changed"), transaction.atomic():
        TemplateVersion.objects.bulk_update([version], ["definition"])
    assert TemplateVersion.objects.get(pk=version.pk).definition == "com.acme:boiler:1.0.0"


def test_every_version_stays_readable(as_user, cast, boiler):
    as_user(cast["admin"]).post(
        f"{TEMPLATES}{boiler.pk}/edit/", edit_data(boiler, definition="com.acme:boiler:2.0.0")
    )
    client = as_user(cast["auditor"])

    old = client.get(f"{TEMPLATES}{boiler.pk}/versions/1/").content.decode()
    assert "com.acme:boiler:1.0.0" in old and "This is not the latest version" in old
    versions = client.get(f"{TEMPLATES}{boiler.pk}/versions/").content.decode()
    assert "version 2" in versions and "Definition" in versions and "the first version" in versions
    latest = client.get(f"{TEMPLATES}{boiler.pk}/").content.decode()
    assert "com.acme:boiler:2.0.0" in latest and "Edit" not in latest  # an auditor only reads
    assert client.get(f"{TEMPLATES}{boiler.pk}/versions/3/").status_code == 404


# --- retire or delete ----------------------------------------------------------------------------


def used(template, team, actor):
    """An attempt made from ``template``'s latest version, as the services write it."""
    audit.record(
        "device.provision",
        actor=actor,
        team=team,
        phase=AuditEvent.Phase.INTENT,
        status="pending",
        target="com.acme:boiler-1",
        template=template.latest(),
    )


def test_an_unused_template_is_deleted_with_its_versions(as_user, cast, boiler):
    client = as_user(cast["admin"])
    assert "Delete the template" in client.get(f"{TEMPLATES}{boiler.pk}/delete/").content.decode()
    response = client.post(f"{TEMPLATES}{boiler.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == TEMPLATES
    assert not DeviceTemplate.objects.exists() and not TemplateVersion.objects.exists()
    assert AuditEvent.objects.get(action="template.delete").target == "Boiler"


def test_a_used_template_cannot_be_deleted_only_retired(as_user, cast, team_a, boiler):
    used(boiler, team_a, cast["operator"])
    client = as_user(cast["admin"])

    page = client.get(f"{TEMPLATES}{boiler.pk}/delete/").content.decode()
    assert "cannot be deleted" in page and "Retire it" in page
    response = client.post(f"{TEMPLATES}{boiler.pk}/delete/")
    assert response.status_code == 409
    assert DeviceTemplate.objects.filter(pk=boiler.pk).exists() and boiler.versions.count() == 1
    assert "Delete" not in client.get(f"{TEMPLATES}{boiler.pk}/").content.decode().split("<h2>")[0]
    with pytest.raises(template_admin.TemplateProblem, match="Retire it instead"):
        template_admin.delete_template(boiler, actor=cast["admin"], team=team_a)

    assert client.post(f"{TEMPLATES}{boiler.pk}/retire/").status_code == 302
    boiler.refresh_from_db()
    assert boiler.is_retired and boiler.retired_by_name == "alice"
    assert AuditEvent.objects.filter(action="template.retire", template_ref=boiler.pk).exists()
    assert client.get(f"{TEMPLATES}{boiler.pk}/versions/1/").status_code == 200


def test_a_template_a_bulk_job_uses_is_not_deleted(as_user, cast, team_a, boiler, config_a, namespace_a):
    BulkJob.objects.create(
        team=team_a,
        client=config_a,
        client_name="c",
        namespace=namespace_a,
        namespace_name="n",
        template_version=boiler.latest(),
    )
    assert as_user(cast["admin"]).post(f"{TEMPLATES}{boiler.pk}/delete/").status_code == 409
    assert DeviceTemplate.objects.filter(pk=boiler.pk).exists()


def test_a_retired_template_is_listed_apart_and_can_be_restored(as_user, cast, team_a, boiler):
    client = as_user(cast["admin"])
    client.post(f"{TEMPLATES}{boiler.pk}/retire/")
    listing = client.get(TEMPLATES).content.decode()
    assert "This team has no template in use." in listing and "Retired" in listing

    edit = client.get(f"{TEMPLATES}{boiler.pk}/edit/")
    assert edit.status_code == 302  # a retired template is not edited

    make_template(team_a, name="boiler")  # its name taken meanwhile
    client.post(f"{TEMPLATES}{boiler.pk}/restore/")
    boiler.refresh_from_db()
    assert boiler.is_retired
    DeviceTemplate.objects.filter(name="boiler").delete()
    client.post(f"{TEMPLATES}{boiler.pk}/restore/")
    boiler.refresh_from_db()
    assert not boiler.is_retired
    assert AuditEvent.objects.filter(action="template.restore").count() == 1


def test_templates_of_another_team_are_not_reachable(as_user, cast, team_b):
    theirs = make_template(team_b)
    client = as_user(cast["admin"])
    for path in ("", "edit/", "versions/", "versions/1/", "retire/", "delete/"):
        assert client.get(f"{TEMPLATES}{theirs.pk}/{path}").status_code == 404
    assert client.post(f"{TEMPLATES}{theirs.pk}/delete/").status_code == 404
    assert DeviceTemplate.objects.filter(pk=theirs.pk).exists()
    assert "Boiler" not in client.get(TEMPLATES).content.decode()
