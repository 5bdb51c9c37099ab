"""Operators and auditors see other people's display names (full name, else user name), never
their e-mail addresses; admins still see e-mail addresses where they manage members."""

import pytest
from django.contrib.auth import get_user_model

from provisioning.bulk import jobs
from provisioning.models import ExternalIdentity, Membership, Role
from tests.bulk.conftest import csv_bytes, device_rows, make_draft

pytestmark = pytest.mark.django_db

EMAIL = "dora.diaz@corp.example"


@pytest.fixture
def dora(team_a):
    """An admin the identity provider signed in: her user name is her e-mail address
    (provisioning.identity falls back to it), her name came from the ID token."""
    user = get_user_model().objects.create_user(EMAIL, EMAIL, None, first_name="Dora", last_name="Diaz")
    ExternalIdentity.objects.create(user=user, issuer="https://sso.example", subject="dora")
    Membership.objects.create(user=user, team=team_a, role=Role.ADMIN)
    return user


@pytest.mark.parametrize("viewer", ["operator", "auditor"])
def test_others_see_her_name_not_her_address(as_user, cast, dora, config_a, viewer):
    as_user(dora).post("/t/team-a/namespaces/", {"name": "com.acme.dora"})
    namespace = dora.memberships.get().team.namespaces.get(name="com.acme.dora")
    job = make_draft(namespace.team, dora, config_a, namespace, csv_bytes(device_rows(1)))
    jobs.start(job, dora, run_in_worker=False)
    jobs.cancel(job, dora)

    browser = as_user(cast[viewer])
    pages = {
        "overview": "/t/team-a/",
        "history": "/t/team-a/history/",
        "export": "/t/team-a/history/export/?format=csv",
        "bulk jobs": "/t/team-a/bulk/",
        "bulk job": f"/t/team-a/bulk/{job.pk}/",
    }
    for name, url in pages.items():
        response = browser.get(url)
        assert response.status_code == 200, name
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = body.decode()
        assert "Dora Diaz" in text, name
        assert EMAIL not in text, name


def test_admins_still_see_addresses_where_they_manage_members(as_user, cast, dora):
    html = as_user(cast["admin"]).get("/t/team-a/members/").content.decode()
    assert EMAIL in html and "Dora Diaz" in html


def test_without_a_full_name_the_user_name_is_shown(as_user, cast):
    as_user(cast["admin"]).post("/t/team-a/namespaces/", {"name": "com.acme.alice"})
    assert "<td>alice</td>" in as_user(cast["auditor"]).get("/t/team-a/history/").content.decode()
