"""Every team URL, present and future, needs a log-in and refuses members of other teams.

The URL list is read from the URLconf, so a new view under /t/<team>/ is covered the
moment it is added: if it forgets its access helper, these tests fail.
"""

import re
import uuid

import pytest

from provisioning.models import AuditEvent, Connection, Membership, Namespace
from tests.views import assert_redirects_to_login, routes

pytestmark = pytest.mark.django_db


# The paths connections had before they were called so: they only redirect (301) to today's
# paths, which are checked below like every other (test_role_matrix.py has their exact answers).
MOVED = {
    "t/<slug:team_slug>/clients/": "t/<slug:team_slug>/connections/",
    "t/<slug:team_slug>/clients/new/": "t/<slug:team_slug>/connections/new/",
    "t/<slug:team_slug>/clients/<int:pk>/": "t/<slug:team_slug>/connections/<int:pk>/",
    "t/<slug:team_slug>/clients/<int:pk>/delete/": "t/<slug:team_slug>/connections/<int:pk>/delete/",
}
TEAM_ROUTES = sorted(route for route in routes() if "<slug:team_slug>" in route and route not in MOVED)


def concrete(route, pk):
    def fill(match):
        converter, name = match.group(1) or "str", match.group(2)
        if name == "team_slug":
            return "team-a"
        return {"int": str(pk), "uuid": str(uuid.uuid4())}.get(converter, "x")

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, route)


def snapshot():
    return (
        list(Connection.objects.order_by("pk").values_list("pk", "name", "config_version")),
        list(Namespace.objects.order_by("pk").values_list("pk", "name")),
        list(Membership.objects.order_by("pk").values_list("pk", "role")),
    )


def test_the_team_routes_are_found():
    assert "t/<slug:team_slug>/connections/<int:pk>/" in TEAM_ROUTES
    assert len(TEAM_ROUTES) >= 11


@pytest.mark.parametrize("route", TEAM_ROUTES)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_team_url_requires_login(client, cast, config_a, route, method):
    url = concrete(route, config_a.pk)
    response = client.get(url) if method == "GET" else client.post(url, {"name": "x"})
    if response.status_code == 405:
        return  # the method is not served at all
    assert_redirects_to_login(response, url)


@pytest.mark.parametrize("route", TEAM_ROUTES)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_team_url_refuses_other_team(as_user, cast, config_a, namespace_a, route, method):
    before = snapshot()
    client = as_user(cast["other"])
    url = concrete(route, config_a.pk)
    response = client.get(url) if method == "GET" else client.post(url, {"name": "x"})
    assert response.status_code in (404, 405), f"{method} {url} -> {response.status_code}"
    assert snapshot() == before
    assert not AuditEvent.objects.filter(team_name="Team A").exists()


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_redirects_permanently_to_a_checked_one(as_user, cast, config_a, old):
    assert old in routes() and MOVED[old] in TEAM_ROUTES
    for client in (as_user(cast["other"]), as_user(cast["admin"])):
        response = client.get(concrete(old, config_a.pk) + "?x=1")
        assert response.status_code == 301
        assert response["Location"] == concrete(MOVED[old], config_a.pk) + "?x=1"


# Routes outside /t/<team>/ that need a signed-in user: they act on the user, never on a team.
# (teams/new/ is for superusers: it makes a team, and this cast has none.)
ACCOUNT_ROUTES = ["", "account/theme/", "accounts/password/", "teams/new/"]
# Routes with their own access rules (public, sign-in with the identity provider, Django admin,
# the sandbox's client credentials).
OWN_RULES = (
    "healthz",
    "accounts/login/",
    "accounts/logout/",
    "accounts/oidc/",
    "accounts/reset/",  # public: an e-mailed password reset link
    "invitations/",
    "admin/",
    "sandbox/",
)


def test_every_route_outside_the_teams_is_listed():
    """A new route that is neither a team route nor listed here must be given an entry."""
    others = sorted(r for r in routes() if "<slug:team_slug>" not in r and not r.startswith(OWN_RULES))
    assert others == sorted(ACCOUNT_ROUTES)


@pytest.mark.parametrize("route", ACCOUNT_ROUTES)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_account_url_requires_login(client, cast, route, method):
    url = "/" + route
    response = client.get(url) if method == "GET" else client.post(url, {"theme": "dark", "next": "/"})
    assert_redirects_to_login(response, url)


@pytest.mark.parametrize("route", ACCOUNT_ROUTES)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_account_urls_touch_nothing_of_another_team(as_user, cast, config_a, namespace_a, route, method):
    before = snapshot()
    client = as_user(cast["other"])
    url = "/" + route
    response = (
        client.get(url) if method == "GET" else client.post(url, {"theme": "dark", "next": "/t/team-a/"})
    )
    # A redirect, a refused method or role, or a form shown again with its errors.
    assert response.status_code in (200, 302, 403, 405), f"{method} {url} -> {response.status_code}"
    assert snapshot() == before
    assert not AuditEvent.objects.filter(team_name="Team A").exists()
