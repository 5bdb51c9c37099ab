# ruff: noqa: F811 - the sandbox fixtures are imported from tests.workflow
"""`provision --template` and `provision_bulk --template`: the page's "Start from a template" from
a shell, against the sandbox over real HTTP (the options override the template's values except
those it fixes; the attempts record the version)."""

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from provisioning.bulk import intake
from provisioning.bulk.models import BulkJob
from provisioning.models import AuditEvent, Device
from provisioning.sandbox import store
from tests.bulk.conftest import csv_bytes
from tests.factories import make_template
from tests.test_provision_command import run
from tests.workflow import NAMESPACE, sandbox_config, sandbox_namespace, tenant  # noqa: F401

pytestmark = pytest.mark.django_db

DEFINITION = "com.acme:boiler:1.0.0"


@pytest.fixture
def boiler(team_a):
    return make_template(
        team_a,
        definition=DEFINITION,
        definition_fixed=True,
        enabled_fixed=True,
        attributes={"manufacturer": "ACME", "floor": "3"},
        fixed_attributes=["manufacturer"],
    )


def test_provision_starts_from_the_template_and_records_its_version(
    cast, sandbox_config, sandbox_namespace, tenant, boiler
):
    code, _, err = run("--template", "BOILER", "--password-generate", "--attribute", "floor=5")

    assert code == 0, err
    thing = store.get_device(tenant["service_instance_id"], f"{NAMESPACE}:cli-1")["thing"]
    assert thing["definition"] == DEFINITION and thing["attributes"] == {"manufacturer": "ACME", "floor": 5}
    assert set(AuditEvent.objects.values_list("template_ref", "template_version")) == {(boiler.pk, 1)}
    assert Device.objects.get().template_version == 1


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--definition", "com.acme:other:1.0.0"], "fixes Definition to “com.acme:boiler:1.0.0”"),
        (["--disabled"], "fixes Device enabled to true"),
        (["--attribute", "manufacturer=OTHER"], "fixes the attribute “manufacturer” to “ACME”"),
    ],
)
def test_provision_refuses_an_option_that_changes_a_fixed_value(
    cast, sandbox_config, sandbox_namespace, tenant, boiler, options, words
):
    code, _, err = run("--template", "Boiler", "--password-generate", *options)
    assert code == 1 and "The device is not valid" in err and words in err
    assert not AuditEvent.objects.exists()


def test_provision_dry_run_shows_the_templates_values(
    cast, sandbox_config, sandbox_namespace, tenant, boiler
):
    code, out, err = run("--template", "Boiler", "--dry-run", "--json")
    assert code == 0, err
    assert json.loads(out)["body"]["things"]["thing"]["definition"] == DEFINITION


def test_provision_names_an_unknown_or_retired_template(cast, sandbox_config, sandbox_namespace, boiler):
    boiler.retired_at = "2026-01-01T00:00:00Z"
    boiler.save()
    for name in ("Boiler", "Nope"):
        code, _, err = run("--template", name, "--password-generate")
        assert code == 1 and f"has no template named '{name}' in use" in err


def bulk(tmp_path, *extra, out=None):
    """provision_bulk --dry-run on two rows, its output written to ``out``."""
    source = tmp_path / "devices.csv"
    source.write_bytes(csv_bytes([["b-1", ""], ["b-2", "OTHER"]], header=["name", "attr.manufacturer"]))
    argv = ["--user", "oscar", "--team", "team-a", "--connection", "Sandbox", "--namespace", NAMESPACE]
    call_command("provision_bulk", *argv, str(source), "--dry-run", *extra, stdout=out or io.StringIO())


def test_provision_bulk_starts_every_row_from_the_template(
    cast, sandbox_config, sandbox_namespace, boiler, tmp_path, monkeypatch
):
    recorded = []
    original = intake.create_draft

    def create_draft(**kwargs):
        recorded.append(kwargs["template"])
        return original(**kwargs)

    monkeypatch.setattr(intake, "create_draft", create_draft)
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_code:  # a line breaks the template: nothing is sent
        bulk(tmp_path, "--template", "Boiler", out=out)
    assert exit_code.value.code == 3 and recorded == [boiler.latest()]
    assert "fixes it to “ACME”" in out.getvalue()
    assert not BulkJob.objects.exists()  # a dry run keeps no job


@pytest.mark.parametrize(
    ("values", "options", "words"),
    [
        ({"credentials_type": "none", "credentials_type_fixed": True}, ["--credentials", "hashed-password"],
         "--credentials: The template “Gate” (version 1) fixes --credentials to “none”"),
        ({"credentials_type": "psk", "credentials_type_fixed": True}, [], "makes pre-shared keys"),
        ({"kind": "ditto", "credentials_type": "none"}, [], "is for Eclipse Ditto connections"),
    ],
)  # fmt: skip
def test_provision_bulk_refuses_options_against_the_template(
    cast, sandbox_config, sandbox_namespace, team_a, tmp_path, values, options, words
):
    make_template(team_a, name="Gate", **values)
    with pytest.raises(CommandError, match=re.escape(words)):
        bulk(tmp_path, "--template", "Gate", *options)
    assert not BulkJob.objects.exists()
