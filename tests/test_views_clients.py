"""Connections (Bosch IoT Suite, OAuth2 client credentials): list, create with presets, edit, delete."""

import pytest

from provisioning import crypto
from provisioning.forms import NEXEED_TOKEN_URL, SUITE_API_BASE_URL, SUITE_AUTH_TOKEN_URL
from provisioning.models import AuditEvent, Connection, Namespace, Team
from tests.factories import make_config
from tests.views import assert_redirects_to_login, htmx_get, request

pytestmark = pytest.mark.django_db

NEW_SECRET = "Brand-New-Secret-9931"


def form_data(**overrides):
    data = {
        "name": "Suite prod",
        "preset": "suite_auth",
        "nexeed_tenant_id": "",
        "token_url": SUITE_AUTH_TOKEN_URL,
        "client_id": "prod-client",
        "client_secret": NEW_SECRET,
        "scope": "service:iot-manager:1234_things/full-access",
        "audience": "",
        "auth_method": "client_secret_post",
        "api_base_url": SUITE_API_BASE_URL,
        "service_instance_id": "0081db5c-9765-4ffa-8a54-a3a71021dc67",
        "default_auth_scope": "",
    }
    data.update(overrides)
    return data


def edit_data(client, **overrides):
    """The edit form as a browser would send it back: every field, the secret left empty."""
    data = form_data(
        name=client.name,
        preset=client.preset,
        token_url=client.token_url,
        client_id=client.client_id,
        client_secret="",
        scope=client.scope,
        audience=client.audience,
        auth_method=client.auth_method,
        api_base_url=client.api_base_url,
        service_instance_id=client.service_instance_id,
        default_auth_scope=client.default_auth_scope,
    )
    data.update(overrides)
    return data


# --- who may do what --------------------------------------------------------------------

# (url name, method, roles allowed); {pk} is config_a's id.
VIEWS = [
    ("/t/team-a/connections/", "GET", {"admin", "operator", "auditor"}),
    ("/t/team-a/connections/new/", "GET", {"admin"}),
    ("/t/team-a/connections/new/", "POST", {"admin"}),
    ("/t/team-a/connections/{pk}/", "GET", {"admin", "operator", "auditor"}),
    ("/t/team-a/connections/{pk}/", "POST", {"admin"}),
    ("/t/team-a/connections/{pk}/delete/", "GET", {"admin"}),
    ("/t/team-a/connections/{pk}/delete/", "POST", {"admin"}),
]
IDS = [f"{method} {url}" for url, method, _ in VIEWS]


@pytest.mark.parametrize(("url", "method", "roles"), VIEWS, ids=IDS)
def test_it_requires_login(client, config_a, url, method, roles):
    url = url.format(pk=config_a.pk)
    assert_redirects_to_login(request(client, method, url, form_data()), url)
    assert Connection.objects.count() == 1


@pytest.mark.parametrize(("url", "method", "roles"), VIEWS, ids=IDS)
def test_it_refuses_other_team(as_user, cast, config_a, url, method, roles):
    client = as_user(cast["other"])
    assert request(client, method, url.format(pk=config_a.pk), form_data()).status_code == 404
    if "{pk}" in url:
        # Nor through the other admin's own team: the object is looked up within the team.
        own_team_url = url.replace("/t/team-a/", "/t/team-b/").format(pk=config_a.pk)
        assert request(client, method, own_team_url, form_data()).status_code == 404
    config_a.refresh_from_db()
    assert config_a.name == "Suite A" and config_a.config_version == 1
    assert not Connection.objects.filter(team__slug="team-b").exists()


WRONG_ROLES = [
    (url, method, role)
    for url, method, roles in VIEWS
    for role in ("operator", "auditor")
    if role not in roles
]


@pytest.mark.parametrize(
    ("url", "method", "role"), WRONG_ROLES, ids=[f"{r} {m} {u}" for u, m, r in WRONG_ROLES]
)
def test_it_refuses_the_wrong_role(as_user, cast, config_a, url, method, role):
    response = request(as_user(cast[role]), method, url.format(pk=config_a.pk), form_data())
    assert response.status_code == 403
    assert Connection.objects.count() == 1
    config_a.refresh_from_db()
    assert config_a.config_version == 1


# --- the list and the detail page -------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "operator", "auditor"])
def test_the_list_shows_the_teams_configurations(as_user, cast, config_a, role):
    response = as_user(cast[role]).get("/t/team-a/connections/")
    assert response.status_code == 200
    assert b"Suite A" in response.content and b"client-a" in response.content
    assert (b"Add a connection" in response.content) is (role == "admin")


def test_the_provider_is_shown_and_the_form_offers_each_kind(as_user, cast, config_a):
    admin = as_user(cast["admin"])
    listed = admin.get("/t/team-a/connections/").content.decode()
    assert '<th scope="col">Provider</th>' in listed and "<td>Bosch IoT Suite</td>" in listed
    detail = admin.get(f"/t/team-a/connections/{config_a.pk}/").content.decode()
    assert "<dt>Provider</dt><dd>Bosch IoT Suite</dd>" in detail
    assert "<dt>Preset</dt><dd>Bosch IoT Suite Auth</dd>" in detail
    form = admin.get("/t/team-a/connections/new/").content.decode()
    for value in ("bosch", "hono_ditto", "ditto"):
        assert f'name="kind" value="{value}"' in form
    assert 'name="kind" value="bosch" required id="id_kind_0" checked' in form
    chosen = admin.get("/t/team-a/connections/new/?kind=ditto").content.decode()
    assert 'name="kind" value="ditto" required id="id_kind_2" checked' in chosen
    assert 'name="preset" value="custom" required id="id_preset_2" checked' in chosen


def test_the_list_does_not_show_another_teams_configurations(as_user, cast, config_a):
    response = as_user(cast["other"]).get("/t/team-b/connections/")
    assert response.status_code == 200
    assert b"Suite A" not in response.content


@pytest.mark.parametrize("role", ["operator", "auditor"])
def test_non_admins_see_the_settings_read_only(as_user, cast, config_a, role):
    response = as_user(cast[role]).get(f"/t/team-a/connections/{config_a.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Only team admins can change connections." in html
    assert config_a.token_url in html
    assert '<form method="post" class="card"' not in html
    assert "client-a-secret-value" not in html


def test_the_secret_is_never_rendered_back(as_user, cast, config_a):
    response = as_user(cast["admin"]).get(f"/t/team-a/connections/{config_a.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "client-a-secret-value" not in html
    assert config_a.secret_sealed not in html
    # It shows when it was set and a short fingerprint instead.
    assert config_a.secret_fingerprint in html
    assert f"{config_a.secret_set_at:%Y-%m-%d %H:%M}" in html
    assert 'name="client_secret"' in html and 'type="password"' in html


def test_a_form_with_errors_does_not_echo_the_secret(as_user, cast):
    response = as_user(cast["admin"]).post(
        "/t/team-a/connections/new/", form_data(token_url="http://x.example/")
    )
    assert response.status_code == 200
    assert NEW_SECRET.encode() not in response.content
    assert b"Use https" in response.content


# --- creating ---------------------------------------------------------------------------


def test_an_admin_creates_a_configuration(as_user, cast):
    response = as_user(cast["admin"]).post("/t/team-a/connections/new/", form_data())

    created = Connection.objects.get(name="Suite prod")
    assert response.status_code == 302 and response["Location"] == f"/t/team-a/connections/{created.pk}/"
    assert created.team.slug == "team-a"
    assert created.get_secret() == NEW_SECRET
    assert NEW_SECRET not in created.secret_sealed
    assert created.secret_fingerprint == crypto.fingerprint(NEW_SECRET)
    assert created.config_version == 1
    event = AuditEvent.objects.get(action="client.create")
    assert event.actor_name == "alice" and event.team_name == "Team A" and event.target == "Suite prod"
    assert "client_secret" in event.request["fields"]
    assert NEW_SECRET not in str(event.request)


def test_a_new_configuration_needs_a_secret(as_user, cast):
    response = as_user(cast["admin"]).post("/t/team-a/connections/new/", form_data(client_secret=""))
    assert response.status_code == 200
    assert response.context["form"].errors["client_secret"] == [
        "Enter the client secret: this connection needs it."
    ]
    assert not Connection.objects.exists()


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("suite_auth", [SUITE_AUTH_TOKEN_URL, SUITE_API_BASE_URL]),
        ("nexeed", ["aud:&lt;target-client-id&gt; openid", SUITE_API_BASE_URL, "Nexeed tenant id"]),
        ("custom", ['name="preset" value="custom"']),
        ("no-such-preset", [SUITE_AUTH_TOKEN_URL]),
    ],
)
def test_the_presets_fill_in_the_form(as_user, cast, preset, expected):
    response = as_user(cast["admin"]).get("/t/team-a/connections/new/", {"preset": preset})
    html = response.content.decode()
    assert response.status_code == 200
    for text in expected:
        assert text in html


def test_the_custom_preset_leaves_the_urls_empty(as_user, cast):
    form = as_user(cast["admin"]).get("/t/team-a/connections/new/", {"preset": "custom"}).context["form"]
    assert form["token_url"].value() in (None, "")
    assert form["api_base_url"].value() in (None, "")
    assert form["preset"].value() == "custom"


def test_the_preset_partial_refuses_the_wrong_role(as_user, cast):
    response = htmx_get(as_user(cast["operator"]), "/t/team-a/connections/new/", {"preset": "nexeed"})
    assert response.status_code == 403


def test_the_nexeed_preset_builds_the_token_url_from_the_tenant_id(as_user, cast):
    as_user(cast["admin"]).post(
        "/t/team-a/connections/new/",
        form_data(
            preset="nexeed",
            token_url="",
            nexeed_tenant_id="7311ea8c-5d48-43fe-9e8e-2e5f1c2f5e6a",
            scope="aud:target-client-4711 openid",
        ),
    )
    created = Connection.objects.get()
    assert created.token_url == (
        "https://portal.bosch-nexeed.com/iam/access-management/v1/tenants/"
        "7311ea8c-5d48-43fe-9e8e-2e5f1c2f5e6a/openid-connect/token"
    )
    assert created.token_url == NEXEED_TOKEN_URL.format(tenant="7311ea8c-5d48-43fe-9e8e-2e5f1c2f5e6a")
    assert created.scope == "aud:target-client-4711 openid"


def test_the_nexeed_scope_placeholder_must_be_replaced(as_user, cast):
    response = as_user(cast["admin"]).post(
        "/t/team-a/connections/new/",
        form_data(preset="nexeed", nexeed_tenant_id="t1", scope="aud:<target-client-id> openid"),
    )
    assert "Replace the &lt;placeholder&gt; with your real value." in response.content.decode()
    assert not Connection.objects.exists()


def test_a_tenant_id_with_odd_characters_is_refused(as_user, cast):
    response = as_user(cast["admin"]).post(
        "/t/team-a/connections/new/", form_data(preset="nexeed", nexeed_tenant_id="../../evil")
    )
    assert response.context["form"].errors["nexeed_tenant_id"]
    assert not Connection.objects.exists()


def test_without_a_token_url_or_tenant_it_asks_for_one(as_user, cast):
    response = as_user(cast["admin"]).post("/t/team-a/connections/new/", form_data(token_url=""))
    assert response.context["form"].errors["token_url"] == [
        "Enter the token URL (or, for Nexeed, the tenant id)."
    ]


@pytest.mark.parametrize(
    ("field", "url", "message"),
    [
        ("token_url", "http://access.bosch-iot-suite.com/token", "Use https"),
        ("api_base_url", "http://deviceprovisioning.eu-1.bosch-iot-suite.com/api/1", "Use https"),
        ("token_url", "https://user:pw@access.bosch-iot-suite.com/token", "user name or password"),
        ("token_url", "https://169.254.169.254/latest/meta-data/", "never called"),
        ("api_base_url", "https://[fe80::1]/api/1", "never called"),
        ("token_url", "https://metadata.google.internal/token", "never called"),
        ("token_url", "ftp://example.com/token", "starting with https://"),
    ],
)
def test_unsafe_urls_are_refused_next_to_their_field(as_user, cast, field, url, message):
    response = as_user(cast["admin"]).post("/t/team-a/connections/new/", form_data(**{field: url}))
    assert response.status_code == 200
    errors = response.context["form"].errors[field]
    assert any(message in error for error in errors), errors
    assert f'id="id_{field}_error"' in response.content.decode()
    assert not Connection.objects.exists()


def test_metadata_addresses_are_refused_even_when_allowed(settings, as_user, cast):
    settings.OUTBOUND_ALLOWED_HOSTS = ["169.254.169.254"]
    response = as_user(cast["admin"]).post(
        "/t/team-a/connections/new/", form_data(token_url="http://169.254.169.254/token")
    )
    assert "never called" in response.context["form"].errors["token_url"][0]


def test_http_is_allowed_for_hosts_in_outbound_allowed_hosts(settings, as_user, cast):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    as_user(cast["admin"]).post(
        "/t/team-a/connections/new/",
        form_data(
            token_url="http://127.0.0.1:8000/sandbox/token", api_base_url="http://127.0.0.1:8000/api/1/"
        ),
    )
    created = Connection.objects.get()
    assert created.token_url == "http://127.0.0.1:8000/sandbox/token"
    assert created.api_base_url == "http://127.0.0.1:8000/api/1"  # the trailing slash is dropped


def test_a_url_typed_without_a_scheme_means_https(as_user, cast):
    as_user(cast["admin"]).post(
        "/t/team-a/connections/new/", form_data(token_url="access.bosch-iot-suite.com/token")
    )
    assert Connection.objects.get().token_url == SUITE_AUTH_TOKEN_URL


def test_names_are_unique_within_a_team(as_user, cast, config_a):
    response = as_user(cast["admin"]).post("/t/team-a/connections/new/", form_data(name="suite a"))
    assert response.context["form"].errors["name"] == ["Your team already has a connection with this name."]
    # Another team may use the same name.
    response = as_user(cast["other"]).post("/t/team-b/connections/new/", form_data(name="Suite A"))
    assert response.status_code == 302
    assert Connection.objects.filter(name="Suite A").count() == 2


@pytest.mark.parametrize("value", ["abc/def", "abc def", "a?b", "", "abc#1"])
def test_a_bad_service_instance_id_is_refused(as_user, cast, value):
    response = as_user(cast["admin"]).post("/t/team-a/connections/new/", form_data(service_instance_id=value))
    assert response.context["form"].errors["service_instance_id"]
    assert not Connection.objects.exists()


def test_control_characters_in_the_secret_are_refused(as_user, cast):
    response = as_user(cast["admin"]).post(
        "/t/team-a/connections/new/", form_data(client_secret="abc\x00def")
    )
    assert response.context["form"].errors["client_secret"]
    assert not Connection.objects.exists()


# --- editing ----------------------------------------------------------------------------


def test_an_empty_secret_field_keeps_the_secret(as_user, cast, config_a):
    sealed, fingerprint = config_a.secret_sealed, config_a.secret_fingerprint
    response = as_user(cast["admin"]).post(
        f"/t/team-a/connections/{config_a.pk}/", edit_data(config_a, scope="new-scope")
    )
    assert response.status_code == 302
    config_a.refresh_from_db()
    assert config_a.scope == "new-scope"
    assert config_a.secret_sealed == sealed and config_a.secret_fingerprint == fingerprint
    assert config_a.get_secret() == "client-a-secret-value"


def test_a_new_secret_replaces_the_old_one(as_user, cast, config_a):
    old_fingerprint = config_a.secret_fingerprint
    as_user(cast["admin"]).post(
        f"/t/team-a/connections/{config_a.pk}/", edit_data(config_a, client_secret=NEW_SECRET)
    )
    config_a.refresh_from_db()
    assert config_a.get_secret() == NEW_SECRET
    assert config_a.secret_fingerprint != old_fingerprint
    event = AuditEvent.objects.get(action="client.update")
    assert event.request["fields"] == ["client_secret"]
    assert NEW_SECRET not in str(event.request) + event.message


def test_every_change_bumps_the_config_version(as_user, cast, config_a):
    client = as_user(cast["admin"])
    url = f"/t/team-a/connections/{config_a.pk}/"

    client.post(url, edit_data(config_a, scope="scope-2"))
    config_a.refresh_from_db()
    assert config_a.config_version == 2

    client.post(url, edit_data(config_a, client_secret="another-secret"))
    config_a.refresh_from_db()
    assert config_a.config_version == 3

    client.post(url, edit_data(config_a, token_url="https://access.bosch-iot-suite.com/token2"))
    config_a.refresh_from_db()
    assert config_a.config_version == 4


def test_saving_without_changes_keeps_the_version(as_user, cast, config_a):
    response = as_user(cast["admin"]).post(
        f"/t/team-a/connections/{config_a.pk}/", edit_data(config_a), follow=True
    )
    config_a.refresh_from_db()
    assert config_a.config_version == 1
    assert b"Nothing changed." in response.content
    assert not AuditEvent.objects.filter(action="client.update").exists()


def test_an_invalid_edit_changes_nothing(as_user, cast, config_a):
    response = as_user(cast["admin"]).post(
        f"/t/team-a/connections/{config_a.pk}/", edit_data(config_a, token_url="http://plain.example/")
    )
    assert response.status_code == 200
    config_a.refresh_from_db()
    assert config_a.token_url == SUITE_AUTH_TOKEN_URL and config_a.config_version == 1


def test_renaming_to_another_configurations_name_is_refused(as_user, cast, config_a):
    other = make_config(
        config_a.team,
        name="Second",
        secret=None,
    )
    response = as_user(cast["admin"]).post(
        f"/t/team-a/connections/{other.pk}/", edit_data(other, name="SUITE A")
    )
    assert response.context["form"].errors["name"]


# --- deleting ---------------------------------------------------------------------------


def test_an_admin_is_asked_before_deleting(as_user, cast, config_a):
    response = as_user(cast["admin"]).get(f"/t/team-a/connections/{config_a.pk}/delete/")
    assert response.status_code == 200
    assert "Delete “Suite A”?" in response.content.decode()
    assert Connection.objects.filter(pk=config_a.pk).exists()


def test_an_admin_deletes_a_configuration(as_user, cast, config_a, namespace_a):
    client = as_user(cast["admin"])
    # A namespace is reserved for it: deleting asks what becomes of it, and widens nothing unasked.
    asked = client.post(f"/t/team-a/connections/{config_a.pk}/delete/")
    assert asked.status_code == 400 and "Choose what becomes of the namespaces" in asked.content.decode()
    assert "com.acme.sensors" in asked.content.decode()
    assert Connection.objects.filter(pk=config_a.pk).exists()
    assert Namespace.objects.get(pk=namespace_a.pk).client_id == config_a.pk

    response = client.post(f"/t/team-a/connections/{config_a.pk}/delete/", {"namespaces": "release"})
    assert response.status_code == 302 and response["Location"] == "/t/team-a/connections/"
    assert not Connection.objects.filter(pk=config_a.pk).exists()
    # Its namespace stays, usable by any configuration, as chosen; the audit rows keep the names.
    assert Namespace.objects.get(pk=namespace_a.pk).client is None
    assert AuditEvent.objects.get(action="namespace.update").target == "com.acme.sensors"
    event = AuditEvent.objects.get(action="client.delete")
    assert event.client_name == "Suite A" and event.actor_name == "alice"


# --- Nexeed fields, a typed secret after an error, deleting with reserved namespaces ---------------

TENANT = "7311ea8c-5d48-43fe-9e8e-2e5f1c2f5e6a"


def test_nexeed_builds_token_url_and_scope_stores_both_and_shows_them_on_edit(as_user, cast):
    client = as_user(cast["admin"])
    response = client.post(
        "/t/team-a/connections/new/",
        form_data(preset="nexeed", nexeed_tenant_id=TENANT, nexeed_target_client_id="target-4711", scope=""),
    )
    assert response.status_code == 302
    created = Connection.objects.get()
    assert created.token_url == NEXEED_TOKEN_URL.format(tenant=TENANT)
    assert created.scope == "aud:target-4711 openid"
    page = client.get(f"/t/team-a/connections/{created.pk}/").content.decode()
    assert f'value="{TENANT}"' in page and 'value="target-4711"' in page
    assert created.token_url in page

    # A new tenant id rebuilds what was built from the old one.
    client.post(
        f"/t/team-a/connections/{created.pk}/",
        edit_data(created, nexeed_tenant_id="tenant-2", nexeed_target_client_id="target-4711"),
    )
    created.refresh_from_db()
    assert created.token_url == NEXEED_TOKEN_URL.format(tenant="tenant-2")


def test_a_token_url_typed_by_hand_is_never_silently_replaced_by_the_tenants(as_user, cast):
    response = as_user(cast["admin"]).post(
        "/t/team-a/connections/new/",
        form_data(preset="nexeed", nexeed_tenant_id=TENANT, token_url="https://sso.example.com/token"),
    )
    errors = response.context["form"].errors["token_url"]
    assert "is not what the nexeed tenant id gives" in errors[0] and TENANT in errors[0]
    assert not Connection.objects.exists()


def test_another_preset_keeps_no_nexeed_fields(as_user, cast):
    as_user(cast["admin"]).post(
        "/t/team-a/connections/new/", form_data(preset="suite_auth", nexeed_tenant_id=TENANT)
    )
    created = Connection.objects.get()
    assert created.nexeed_tenant_id == "" and created.token_url == SUITE_AUTH_TOKEN_URL


def test_a_typed_secret_is_asked_for_again_after_an_error_never_dropped_silently(as_user, cast):
    client = as_user(cast["admin"])
    new_page = client.get("/t/team-a/connections/new/").content.decode()
    assert "Leave empty to keep" not in new_page  # there is no current one to keep
    response = client.post("/t/team-a/connections/new/", form_data(api_base_url="not a url"))
    page = response.content.decode()
    assert response.context["form"].errors["client_secret"] == [
        "Type the client secret again: it is never sent back to your browser."
    ]
    assert NEW_SECRET not in page
    assert not Connection.objects.exists()


def test_deleting_with_its_namespaces_deletes_them_and_says_so_in_history(
    as_user, cast, config_a, namespace_a
):
    response = as_user(cast["admin"]).post(
        f"/t/team-a/connections/{config_a.pk}/delete/", {"namespaces": "delete"}
    )
    assert response.status_code == 302
    assert not Namespace.objects.filter(pk=namespace_a.pk).exists()
    event = AuditEvent.objects.get(action="namespace.delete")
    assert event.target == "com.acme.sensors" and "Deleted with connection" in event.message


def test_saved_nexeed_configurations_get_their_tenant_and_target_back():
    import importlib
    from types import SimpleNamespace

    from django.apps import apps

    migration = importlib.import_module("provisioning.migrations.0012_nexeed_fields")
    team = Team.objects.create(name="Old", slug="old")
    old = make_config(
        team,
        name="Nexeed before",
        preset="nexeed",
        token_url=NEXEED_TOKEN_URL.format(tenant="tenant-9"),
        scope="aud:target-9 openid",
    )
    # The function names the model as it was called then; today it is Connection (migration 0013).
    renamed = SimpleNamespace(get_model=lambda app, name: apps.get_model(app, "Connection"))
    migration.read_back_nexeed_fields(renamed, None)
    old.refresh_from_db()
    assert (old.nexeed_tenant_id, old.nexeed_target_client_id) == ("tenant-9", "target-9")
