"""A team's namespaces: list, add (validated live with the Ditto rule), remove."""

import pytest

from provisioning.models import AuditEvent, Namespace
from tests.factories import make_config
from tests.views import assert_is_partial, assert_redirects_to_login, htmx_get, request

pytestmark = pytest.mark.django_db

LIST = "/t/team-a/namespaces/"

# (url, method, roles allowed); {pk} is namespace_a's id.
VIEWS = [
    (LIST, "GET", {"admin", "operator", "auditor"}),
    (LIST, "POST", {"admin"}),
    ("/t/team-a/namespaces/{pk}/delete/", "POST", {"admin"}),
]
IDS = [f"{method} {url}" for url, method, _ in VIEWS]
WRONG_ROLES = [
    (url, method, role)
    for url, method, roles in VIEWS
    for role in ("operator", "auditor")
    if role not in roles
]


def add(client, name, client_config=None, team_slug="team-a"):
    data = {"name": name, "client": client_config.pk if client_config else ""}
    return client.post(f"/t/{team_slug}/namespaces/", data)


@pytest.mark.parametrize(("url", "method", "roles"), VIEWS, ids=IDS)
def test_it_requires_login(client, namespace_a, url, method, roles):
    url = url.format(pk=namespace_a.pk)
    assert_redirects_to_login(request(client, method, url, {"name": "com.new"}), url)
    assert list(Namespace.objects.values_list("name", flat=True)) == ["com.acme.sensors"]


@pytest.mark.parametrize(("url", "method", "roles"), VIEWS, ids=IDS)
def test_it_refuses_other_team(as_user, cast, namespace_a, url, method, roles):
    client = as_user(cast["other"])
    assert request(client, method, url.format(pk=namespace_a.pk), {"name": "com.new"}).status_code == 404
    if "{pk}" in url:
        own_team_url = url.replace("/t/team-a/", "/t/team-b/").format(pk=namespace_a.pk)
        assert request(client, method, own_team_url).status_code == 404
    assert list(Namespace.objects.values_list("name", flat=True)) == ["com.acme.sensors"]


@pytest.mark.parametrize(
    ("url", "method", "role"), WRONG_ROLES, ids=[f"{r} {m} {u}" for u, m, r in WRONG_ROLES]
)
def test_it_refuses_the_wrong_role(as_user, cast, namespace_a, url, method, role):
    response = request(as_user(cast[role]), method, url.format(pk=namespace_a.pk), {"name": "com.new"})
    assert response.status_code == 403
    assert list(Namespace.objects.values_list("name", flat=True)) == ["com.acme.sensors"]


# --- the page ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "operator", "auditor"])
def test_every_role_sees_the_teams_namespaces(as_user, cast, namespace_a, role):
    response = as_user(cast[role]).get(LIST)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<td><code>com.acme.sensors</code></td>" in html and "<td>Suite A</td>" in html
    assert ("Add a namespace" in html) is (role == "admin")


def test_the_page_does_not_show_another_teams_namespaces(as_user, cast, namespace_a):
    response = as_user(cast["other"]).get("/t/team-b/namespaces/")
    assert b"<td><code>com.acme.sensors</code></td>" not in response.content
    assert b"No namespaces yet." in response.content


# --- adding -----------------------------------------------------------------------------


def test_an_admin_adds_a_namespace(as_user, cast, team_a):
    response = add(as_user(cast["admin"]), "com.acme.meters")
    assert response.status_code == 302 and response["Location"] == LIST
    namespace = Namespace.objects.get(name="com.acme.meters")
    assert namespace.team == team_a and namespace.client is None
    event = AuditEvent.objects.get(action="namespace.create")
    assert (event.actor_name, event.team_name, event.target) == ("alice", "Team A", "com.acme.meters")


def test_a_namespace_can_be_tied_to_one_client_configuration(as_user, cast, config_a):
    add(as_user(cast["admin"]), "com.acme.tied", config_a)
    assert Namespace.objects.get(name="com.acme.tied").client == config_a


def test_a_namespace_cannot_be_tied_to_another_teams_configuration(as_user, cast, team_b):
    other_config = make_config(
        team_b,
        name="B config",
        secret=None,
    )
    response = add(as_user(cast["admin"]), "com.acme.stolen", other_config)
    assert response.status_code == 200
    assert "Select a valid choice" in response.context["form"].errors["client"][0]
    assert not Namespace.objects.filter(name="com.acme.stolen").exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("1acme", "A namespace must start with a letter"),
        ("com..acme", "After &#x27;.&#x27; a namespace needs a letter"),
        ("com.acme.", "cannot end with"),
        ("com acme", "may only hold letters"),
        ("", "This field is required."),
    ],
)
def test_an_invalid_namespace_is_refused_with_a_clear_message(as_user, cast, team_a, name, message):
    response = add(as_user(cast["admin"]), name)
    html = response.content.decode()
    assert response.status_code == 200
    assert message in html
    assert not Namespace.objects.exists()


def test_a_namespace_is_unique_within_a_team(as_user, cast, namespace_a):
    response = add(as_user(cast["admin"]), "com.acme.sensors")
    assert "Your team already has this namespace." in response.content.decode()
    assert Namespace.objects.count() == 1
    # Another team may register the same one.
    assert add(as_user(cast["other"]), "com.acme.sensors", team_slug="team-b").status_code == 302
    assert Namespace.objects.count() == 2


def test_surrounding_spaces_are_dropped(as_user, cast, team_a):
    add(as_user(cast["admin"]), "  com.acme.spaced  ")
    assert Namespace.objects.filter(name="com.acme.spaced").exists()


# --- live validation (htmx) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("com.acme.new", "“com.acme.new” is a valid namespace."),
        ("com.", "A namespace cannot end with"),
        ("9lives", "A namespace must start with a letter"),
        ("com.acme.sensors", "Your team already has this namespace."),
        ("", "Letters, digits and"),
    ],
)
def test_the_live_check_renders_its_partial(as_user, cast, namespace_a, typed, expected):
    response = htmx_get(as_user(cast["admin"]), LIST, {"name": typed})
    html = assert_is_partial(response, "namespace-check")
    assert expected in html
    assert Namespace.objects.count() == 1  # checking saves nothing


def test_the_live_check_escapes_what_was_typed(as_user, cast, team_a):
    response = htmx_get(as_user(cast["admin"]), LIST, {"name": "<b>x"})
    assert b"<b>" not in response.content


@pytest.mark.parametrize("role", ["operator", "auditor"])
def test_the_live_check_refuses_the_wrong_role(as_user, cast, team_a, role):
    assert htmx_get(as_user(cast[role]), LIST, {"name": "com.x"}).status_code == 403


def test_the_live_check_refuses_other_team(as_user, cast, team_a):
    assert htmx_get(as_user(cast["other"]), LIST, {"name": "com.x"}).status_code == 404


def test_the_name_field_is_wired_for_live_checking(as_user, cast, team_a):
    html = as_user(cast["admin"]).get(LIST).content.decode()
    assert f'hx-get="{LIST}"' in html
    assert 'hx-target="#namespace-check"' in html
    assert 'id="namespace-check"' in html


# --- removing ---------------------------------------------------------------------------


def test_an_admin_removes_a_namespace(as_user, cast, namespace_a):
    response = as_user(cast["admin"]).post(f"/t/team-a/namespaces/{namespace_a.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == LIST
    assert not Namespace.objects.exists()
    assert AuditEvent.objects.get(action="namespace.delete").target == "com.acme.sensors"


def test_removing_asks_for_confirmation_first(as_user, cast, namespace_a):
    """The list links to a confirmation page (no JavaScript needed); only its POST removes."""
    client = as_user(cast["admin"])
    url = f"/t/team-a/namespaces/{namespace_a.pk}/delete/"
    assert f'href="{url}"' in client.get(LIST).content.decode()

    confirm = client.get(url)
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "Remove the namespace <code>com.acme.sensors</code>?" in html
    assert '<button type="submit" class="danger">Remove com.acme.sensors</button>' in html
    assert Namespace.objects.exists()
    assert not AuditEvent.objects.filter(action="namespace.delete").exists()


def test_only_admins_see_the_confirmation(as_user, cast, namespace_a):
    url = f"/t/team-a/namespaces/{namespace_a.pk}/delete/"
    assert as_user(cast["operator"]).get(url).status_code == 403
    assert as_user(cast["auditor"]).get(url).status_code == 403
    assert as_user(cast["other"]).get(url).status_code == 404
