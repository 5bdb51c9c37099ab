"""Home, the team overview and switching teams in the header."""

import re

import pytest

from provisioning import audit
from provisioning.models import Membership, Role
from tests.views import assert_redirects_to_login

pytestmark = pytest.mark.django_db


def without_csrf_tokens(response):
    """The page with its CSRF tokens blanked (they are masked differently on every response)."""
    return re.sub(
        r'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]+', r"\1", response.content.decode()
    )


def test_home_requires_login(client):
    assert_redirects_to_login(client.get("/"), "/")


def test_home_goes_to_the_only_team(as_user, admin_a):
    response = as_user(admin_a).get("/")
    assert response.status_code == 302 and response["Location"] == "/t/team-a/"


def test_home_without_a_team_says_what_to_do(as_user, django_user_model):
    user = django_user_model.objects.create_user("nobody", "nobody@example.com", "x")
    response = as_user(user).get("/")
    assert response.status_code == 200
    assert b"You are not in a team yet" in response.content
    assert b"/admin/" not in response.content  # only superusers are pointed at the admin site


@pytest.mark.parametrize("role", ["admin", "operator", "auditor"])
def test_the_team_page_works_for_every_role(as_user, cast, config_a, namespace_a, role):
    audit.record("client.create", actor=cast["admin"], team=config_a.team, target="Suite A", status="ok")
    response = as_user(cast[role]).get("/t/team-a/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Team A" in html and "Suite A" in html and "com.acme.sensors" in html
    assert "client.create" in html  # recent activity
    assert ("Members</a>" in html) is (role == "admin")


def test_the_team_page_requires_login(client, team_a):
    assert_redirects_to_login(client.get("/t/team-a/"), "/t/team-a/")


def test_the_team_page_refuses_other_team(as_user, cast):
    response = as_user(cast["other"]).get("/t/team-a/")
    assert response.status_code == 404
    assert b"belongs to a team you are not in" in response.content


def test_it_does_not_reveal_whether_a_team_exists(as_user, cast):
    other_team = as_user(cast["other"]).get("/t/team-a/")
    no_team = as_user(cast["other"]).get("/t/no-such-team/")
    assert other_team.status_code == no_team.status_code == 404
    assert without_csrf_tokens(other_team) == without_csrf_tokens(no_team)


def test_the_team_page_does_not_show_another_teams_activity(as_user, cast, team_b):
    audit.record("client.create", actor=cast["other"], team=team_b, target="Secret B config", status="ok")
    response = as_user(cast["admin"]).get("/t/team-a/")
    assert b"Secret B config" not in response.content


def test_a_member_of_two_teams_switches_in_the_header(as_user, cast, team_b):
    Membership.objects.create(user=cast["operator"], team=team_b, role=Role.AUDITOR)
    client = as_user(cast["operator"])

    page = client.get("/t/team-a/").content.decode()
    assert 'class="team-switcher"' in page
    assert 'href="/t/team-a/"' in page and 'href="/t/team-b/"' in page
    assert "(auditor)" in page and "(operator)" in page

    switched = client.get("/t/team-b/")
    assert switched.status_code == 200
    assert switched.context["membership"].role == Role.AUDITOR
    # Home now remembers the team last used.
    assert client.get("/")["Location"] == "/t/team-b/"


def test_a_member_of_one_team_sees_no_switcher(as_user, cast):
    page = as_user(cast["admin"]).get("/t/team-a/").content.decode()
    assert 'class="team-switcher"' not in page
    assert "Team A" in page


def test_the_page_for_a_wrong_role_is_a_plain_403(as_user, cast):
    response = as_user(cast["auditor"]).get("/t/team-a/members/")
    assert response.status_code == 403
    assert b"Auditor" in response.content  # says which role cannot do this


def test_browsing_a_team_writes_the_session_only_when_something_changed(as_user, cast, team_b, admin_a):
    """A session write is a committed transaction on every page: it is skipped when nothing changed."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Membership.objects.create(user=admin_a, team=team_b, role=Role.OPERATOR)
    browser = as_user(admin_a)
    browser.get("/t/team-a/history/")  # remembers team A (and the time last seen)

    def session_writes(url):
        with CaptureQueriesContext(connection) as queries:
            assert browser.get(url).status_code == 200
        sql = [q["sql"] for q in queries if "django_session" in q["sql"]]
        return [statement for statement in sql if not statement.startswith("SELECT")]

    assert session_writes("/t/team-a/history/") == []
    assert session_writes("/t/team-a/") == []
    assert len(session_writes("/t/team-b/")) == 1  # the team switch is remembered
    assert browser.get("/").headers["Location"] == "/t/team-b/"


def test_recent_activity_shows_one_line_per_attempt_each_opening_its_entry(as_user, cast, team_a):
    from tests.test_views_history import T0, attempt

    _, outcome = attempt(team_a, "com.acme:dev-1", "created", at=T0)
    page = as_user(cast["auditor"]).get("/t/team-a/").content.decode()

    recent = page.split("Recent activity", 1)[1]
    assert recent.count("com.acme:dev-1") == 1 and "pending" not in recent
    assert f'href="/t/team-a/history/{outcome.pk}/"' in recent and "status-created" in recent
