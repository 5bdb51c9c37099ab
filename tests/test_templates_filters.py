"""History and the Devices page by template and version: filters, chips, what a row and an entry
show, and the exports."""

import csv
import io
import uuid

import pytest

from provisioning import audit
from provisioning.models import AuditEvent, Device, DeviceTemplate, TemplateVersion
from tests.factories import make_template
from tests.workflow import text

pytestmark = pytest.mark.django_db

HISTORY = "/t/team-a/history/"
DEVICES = "/t/team-a/devices/"


def created(team, actor, target, version=None):
    """A device attempt's intent and outcome rows, as the services write them (the inventory follows)."""
    correlation = uuid.uuid4()
    for phase, status in ((AuditEvent.Phase.INTENT, "pending"), (AuditEvent.Phase.OUTCOME, "created")):
        audit.record(
            "device.provision",
            actor=actor,
            team=team,
            phase=phase,
            status=status,
            target=target,
            correlation_id=correlation,
            template=version,
        )


@pytest.fixture
def made(team_a, operator_a):
    boiler = make_template(team_a, name="Boiler")
    v2 = TemplateVersion.objects.create(template=boiler, number=2, definition="com.acme:boiler:2.0.0")
    created(team_a, operator_a, "com.acme:one", boiler.versions.get(number=1))
    created(team_a, operator_a, "com.acme:two", v2)
    created(team_a, operator_a, "com.acme:three")
    return boiler


def targets(html, ids=("com.acme:one", "com.acme:two", "com.acme:three")):
    return sorted(device for device in ids if device in html)


def test_history_by_template_and_by_version(as_user, cast, made):
    client = as_user(cast["auditor"])
    html = text(client.get(HISTORY, {"template": made.pk}))
    assert targets(html) == ["com.acme:one", "com.acme:two"]
    assert "Template: <strong>Boiler</strong>" in html
    assert "template Boiler, version 2" in html

    html = text(client.get(HISTORY, {"template": made.pk, "template_version": 2}))
    assert targets(html) == ["com.acme:two"]
    assert "Template version: <strong>2</strong>" in html
    assert "1 entry matches these filters" in html


def test_the_devices_page_by_template_and_by_version(as_user, cast, made):
    client = as_user(cast["auditor"])
    html = text(client.get(DEVICES, {"template": made.pk}))
    assert targets(html) == ["com.acme:one", "com.acme:two"]
    assert f'href="/t/team-a/templates/{made.pk}/versions/1/">Boiler, version 1</a>' in html
    html = text(client.get(DEVICES, {"template": made.pk, "template_version": 1}))
    assert targets(html) == ["com.acme:one"]


@pytest.mark.parametrize("page", [HISTORY, DEVICES])
def test_a_version_without_its_template_lists_nothing_and_says_why(as_user, cast, made, page):
    html = text(as_user(cast["auditor"]).get(page, {"template_version": 1}))
    assert "Choose the template of this version too." in html and targets(html) == []


@pytest.mark.parametrize("page", [HISTORY, DEVICES])
def test_another_teams_template_is_no_filter_here(as_user, cast, made, team_b, page):
    theirs = make_template(team_b, name="Theirs")
    html = text(as_user(cast["auditor"]).get(page, {"template": theirs.pk}))
    assert "Select a valid choice" in html and targets(html) == []
    assert "Theirs" not in html


def test_a_retired_template_stays_a_filter(as_user, cast, made):
    DeviceTemplate.objects.filter(pk=made.pk).update(retired_at="2026-01-01T00:00:00Z")
    html = text(as_user(cast["auditor"]).get(DEVICES, {"template": made.pk}))
    assert "Boiler (retired)" in html and targets(html) == ["com.acme:one", "com.acme:two"]


def test_a_history_entry_names_its_template_version_and_links_it(as_user, cast, made):
    entry = AuditEvent.objects.get(target="com.acme:two", phase="outcome")
    html = text(as_user(cast["auditor"]).get(f"{HISTORY}{entry.pk}/"))
    assert f'<a href="/t/team-a/templates/{made.pk}/versions/2/">Boiler, version 2</a>' in html


def test_an_entry_of_a_deleted_template_still_names_it(as_user, cast, team_a, operator_a):
    gone = make_template(team_a, name="Gone")
    created(team_a, operator_a, "com.acme:four", gone.latest())
    DeviceTemplate.objects.filter(pk=gone.pk).delete()  # only with its team, or a race with a delete
    entry = AuditEvent.objects.get(target="com.acme:four", phase="outcome")
    html = text(as_user(cast["auditor"]).get(f"{HISTORY}{entry.pk}/"))
    assert "Gone, version 1 (template deleted)" in html
    assert "Gone, version 1 (template deleted)" in text(as_user(cast["auditor"]).get(DEVICES))


def test_the_exports_carry_the_template_and_its_version(as_user, cast, made):
    client = as_user(cast["auditor"])
    rows = list(csv.DictReader(io.StringIO(text(client.get(f"{DEVICES}export/", {"template": made.pk})))))
    assert sorted((r["device_id"], r["template"], r["template_version"]) for r in rows) == [
        ("com.acme:one", "Boiler", "1"),
        ("com.acme:two", "Boiler", "2"),
    ]
    rows = list(csv.DictReader(io.StringIO(text(client.get(f"{HISTORY}export/", {"template": made.pk})))))
    assert sorted((r["target"], r["template"], r["template_version"]) for r in rows) == [
        ("com.acme:one", "Boiler", "1"),
        ("com.acme:two", "Boiler", "2"),
    ]
    assert Device.objects.filter(template_ref=made.pk).count() == 2
