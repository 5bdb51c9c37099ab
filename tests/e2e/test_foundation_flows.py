"""The first flows in a real browser: log-in, connections, namespaces, accessibility."""

import re

import pytest
from django.contrib.auth import get_user_model

from provisioning import crypto
from provisioning.forms import NEXEED_TOKEN_URL
from provisioning.models import Connection, Invitation, Membership, Namespace, Team
from tests.conftest import PASSWORD
from tests.e2e.conftest import ERROR_STATUS, ROOT, expect, format_violations

pytestmark = pytest.mark.e2e

SECRET = "e2e-very-secret-value-4711"
INSTANCE_ID = "0081db5c-9765-4ffa-8a54-a3a71021dc67"


def field(page, label):
    """The form control labelled ``label``; required fields' labels end in " *"."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}( \*)?$"))


def fill_common_client_fields(page, *, name, secret=SECRET):
    field(page, "Name").fill(name)
    field(page, "Client id").fill("e2e-client")
    field(page, "Client secret").fill(secret)
    field(page, "Service instance id").fill(INSTANCE_ID)


# --- (a) logging in ----------------------------------------------------------------------------


def test_first_login_as_team_admin_lands_on_the_team_page(page, admin_a, shot, browser_errors):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    shot(page, "a-login")

    field(page, "Username").fill("alice")
    field(page, "Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(re.compile(r"/t/team-a/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Team A")
    main_nav = page.get_by_role("navigation", name="Main")
    expect(main_nav.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")
    expect(page.locator(".header-end")).to_contain_text("alice")
    shot(page, "a-team-page")
    assert browser_errors == []


def test_a_wrong_password_shows_an_error(page, admin_a, shot, browser_errors):
    page.goto("/accounts/login/")
    field(page, "Username").fill("alice")
    field(page, "Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(field(page, "Password")).to_have_value("")
    shot(page, "a-login-wrong-password")
    # The error is an HTTP 200 re-render of the form, so Chromium logs nothing.
    assert browser_errors == []


# --- (b) a Bosch IoT Suite Auth connection --------------------------------------------------


def test_admin_adds_a_suite_auth_client_and_sees_only_the_fingerprint(
    page, server, login, admin_a, shot, browser_errors
):
    login(page, admin_a)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connections").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Connections")
    shot(page, "b-clients-empty")
    page.get_by_role("link", name="Add a connection").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("New connection")
    expect(page.get_by_role("radio", name="Bosch IoT Suite Auth")).to_be_checked()
    expect(field(page, "Nexeed tenant id")).to_be_hidden()  # Nexeed's fields are Nexeed's alone
    expect(field(page, "Token URL")).to_have_value("https://access.bosch-iot-suite.com/token")
    shot(page, "b-config-form")

    # Plain http to a host that OUTBOUND_ALLOWED_HOSTS does not list is refused next to the field.
    fill_common_client_fields(page, name="Suite (e2e)")
    field(page, "Token URL").fill("http://example.com/token")
    page.get_by_role("button", name="Save").click()
    token_url_field = page.locator(".field", has=field(page, "Token URL"))
    expect(token_url_field.locator(".error")).to_contain_text("Use https")
    assert SECRET not in page.content()
    expect(field(page, "Client secret")).to_have_value("")
    secret_field = page.locator(".field", has=field(page, "Client secret"))
    expect(secret_field.locator(".error")).to_contain_text("Type the client secret again")
    shot(page, "b-config-form-refused-url")

    # The test settings allow plain http to localhost (the built-in sandbox).
    token_url = f"{server.url}/sandbox/token"
    field(page, "Token URL").fill(token_url)
    field(page, "Client secret").fill(SECRET)
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Suite (e2e)")
    expect(page.get_by_role("status")).to_contain_text("saved")
    client = Connection.objects.get(team__slug="team-a", name="Suite (e2e)")
    assert client.token_url == token_url
    assert client.get_secret() == SECRET
    assert client.secret_fingerprint == crypto.fingerprint(SECRET)
    expect(page.locator(".facts")).to_contain_text(f"fingerprint {client.secret_fingerprint}")
    assert SECRET not in page.content()
    shot(page, "b-client-detail")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connections").click()
    expect(page.get_by_role("row", name=re.compile("Suite \\(e2e\\)"))).to_contain_text("e2e-client")
    assert SECRET not in page.content()
    shot(page, "b-clients-list")
    assert browser_errors == []


# --- (c) a Bosch Nexeed IAM connection ------------------------------------------------------


def test_nexeed_preset_fills_the_token_url_from_the_tenant_id(page, login, admin_a, shot, browser_errors):
    login(page, admin_a)
    page.goto("/t/team-a/connections/new/")
    page.get_by_role("radio", name="Bosch Nexeed IAM").check()  # one control; Nexeed's fields appear

    expect(field(page, "Nexeed tenant id")).to_be_visible()
    shot(page, "c-config-form-nexeed")

    fill_common_client_fields(page, name="Nexeed (e2e)")
    field(page, "Nexeed tenant id").fill("acme-tenant_01")
    field(page, "Target client id").fill("provisioning-api")
    field(page, "Scope").fill("")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Nexeed (e2e)")
    expected = NEXEED_TOKEN_URL.format(tenant="acme-tenant_01")
    expect(field(page, "Token URL")).to_have_value(expected)
    expect(field(page, "Scope")).to_have_value("aud:provisioning-api openid")
    expect(field(page, "Nexeed tenant id")).to_have_value("acme-tenant_01")  # shown again on edit
    expect(page.locator(".facts")).to_contain_text("Bosch Nexeed IAM")
    client = Connection.objects.get(team__slug="team-a", name="Nexeed (e2e)")
    assert (client.preset, client.token_url) == ("nexeed", expected)
    assert SECRET not in page.content()
    shot(page, "c-client-detail-nexeed")
    assert browser_errors == []


# --- (d) namespaces with live validation -----------------------------------------------------


def test_namespace_live_validation_then_submit(page, login, admin_a, shot, browser_errors):
    login(page, admin_a)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Namespaces").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Namespaces")
    posts = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    name_input = field(page, "Namespace")
    check = page.locator("#namespace-check")
    expect(check).to_contain_text("Letters, digits and '_'")

    name_input.fill("1acme.sensors")
    expect(check.locator(".error")).to_have_text("A namespace must start with a letter (a-z, A-Z).")
    name_input.fill("com..acme")
    expect(check.locator(".error")).to_contain_text("After '.' a namespace needs a letter")
    assert posts == []  # validated as typed, nothing submitted
    assert Namespace.objects.count() == 0
    shot(page, "d-namespace-invalid")

    name_input.fill("com.acme.sensors")
    expect(check.locator(".ok")).to_have_text("“com.acme.sensors” is a valid namespace.")
    assert posts == []
    shot(page, "d-namespace-valid")

    page.get_by_role("button", name="Add namespace").click()
    expect(page.get_by_role("status")).to_contain_text("Namespace com.acme.sensors added.")
    expect(page.get_by_role("row", name=re.compile("com.acme.sensors"))).to_be_visible()
    assert len(posts) == 1
    assert list(Namespace.objects.values_list("team__slug", "name")) == [("team-a", "com.acme.sensors")]
    expect(name_input).to_have_value("")
    shot(page, "d-namespace-added")
    assert browser_errors == []


# --- (e) accessibility -----------------------------------------------------------------------

A11Y_PAGES = [
    ("login", "/accounts/login/"),
    ("team", "/t/team-a/"),
    ("clients", "/t/team-a/connections/"),
    ("config-form", "/t/team-a/connections/new/"),
    ("namespaces", "/t/team-a/namespaces/"),
    ("members", "/t/team-a/members/"),
]
# A page answered with an error status makes Chromium log "Failed to load resource"; on the error
# pages checked on purpose below that is expected, and it is no error of the page.
EXPECTED_STATUS = re.compile(
    r"^Failed to load resource: the server responded with a status of (400|403|404|429)"
)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations(
    page, login, admin_a, auditor_a, namespace_a, scheme, shot, axe, browser_errors
):
    """Every page outside the operator's and the bulk flows (test_operator_flows.py has those),
    signed in and not, with errors shown, in the OS's light or dark mode and with the theme chosen
    in the header."""
    page.emulate_media(color_scheme=scheme)
    found = {}

    def check(name):
        expect(page.get_by_role("heading", level=1).first).to_be_visible()
        shot(page, f"e-{scheme}-{name}")
        found[name] = axe(page)

    # Signed out: an invitation (the form, its errors), a used-up link, a lock-out.
    _, token = Invitation.issue(
        team=admin_a.memberships.get().team, email="new@example.com", role="operator", invited_by_name="alice"
    )
    page.goto(f"/invitations/{token}/")
    check("invitation-accept")
    field(page, "Username").fill("newbie")
    field(page, "Password").fill("short")
    field(page, "Password again").fill("short")
    page.get_by_role("button", name="Create account and join").click()
    expect(page.locator(".field .error").first).to_be_visible()
    check("invitation-accept-errors")
    page.goto("/invitations/no-such-token/")
    check("invitation-invalid")
    for _ in range(5):
        page.goto("/accounts/login/")
        field(page, "Username").fill("mallory")
        field(page, "Password").fill("guess")
        page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Too many failed log-ins")
    check("locked-out")
    page.goto("/accounts/login/")
    field(page, "Username").fill("alice")
    field(page, "Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check("login-wrong-password")

    for name, path in A11Y_PAGES:
        if name == "team":  # the first page after logging in
            login(page, admin_a)
        page.goto(path)
        check(name)

    # Forms with their errors shown: a submitted empty client form, a live namespace error.
    page.goto("/t/team-a/connections/new/")
    field(page, "Token URL").fill("http://example.com/token")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field .error").first).to_be_visible()
    check("config-form-errors")

    page.goto("/t/team-a/namespaces/")
    field(page, "Namespace").fill("9lives")
    expect(page.locator("#namespace-check .error")).to_be_visible()
    check("namespace-error")

    page.goto(f"/t/team-a/connections/{namespace_a.client_id}/")
    check("client-detail")
    page.goto(f"/t/team-a/connections/{namespace_a.client_id}/delete/")
    check("client-delete")

    # Members: an invitation link shown once, an open invitation, an error next to the field.
    page.goto("/t/team-a/members/")
    field(page, "Email").fill("someone@example.com")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_label("Invitation link")).to_be_visible()
    check("members-invited")
    field(page, "Email").fill("alice@example.com")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator(".field .error")).to_be_visible()
    check("members-invite-error")

    # The theme chosen in the header, against the OS's setting: the control pressed, the palette forced.
    other = "light" if scheme == "dark" else "dark"
    page.goto("/t/team-a/")
    page.get_by_role("group", name="Theme").get_by_role("button", name=other.title()).click()
    expect(page.locator("html")).to_have_attribute("data-theme", other)
    check(f"team-theme-{other}")
    page.goto("/t/team-a/namespaces/")
    check(f"namespaces-theme-{other}")
    page.get_by_role("group", name="Theme").get_by_role("button", name="System").click()
    expect(page.locator("html")).not_to_have_attribute("data-theme", re.compile(".*"))

    # Two teams: the team switcher, open.
    team_b = Team.objects.create(name="Team B", slug="team-b")
    Membership.objects.create(user=admin_a, team=team_b, role="auditor")
    page.goto("/t/team-a/")
    page.locator(".team-switcher summary").click()
    expect(page.locator(".team-switcher ul")).to_be_visible()
    check("team-switcher-open")

    page.goto("/t/no-such-team/")
    check("not-found")

    # Other people: an auditor refused a page (403); someone who is in no team yet.
    page.get_by_role("button", name="Log out").click()
    login(page, auditor_a)
    page.goto("/t/team-a/devices/new/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    check("forbidden")
    page.get_by_role("button", name="Log out").click()
    get_user_model().objects.create_user("loner", "loner@example.com", PASSWORD)
    page.goto("/accounts/login/")
    field(page, "Username").fill("loner")
    field(page, "Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are not in a team yet")
    check("no-team")

    # The 500 page is static HTML (Django serves it when a view fails): served here at a URL of
    # the live server, so it loads the same stylesheet.
    server_error = (ROOT / "templates" / "500.html").read_text(encoding="utf-8")
    page.route(
        "**/__e2e__/server-error", lambda route: route.fulfill(body=server_error, content_type="text/html")
    )
    page.goto("/__e2e__/server-error")
    check("server-error")

    print(f"axe checked {len(found)} pages ({scheme}): {'; '.join(found)}")
    report = "\n".join(f"{name}:\n{format_violations(v)}" for name, v in found.items() if v)
    assert not report, f"axe found violations ({scheme} mode):\n{report}"
    assert len(found) == 24
    assert [e for e in browser_errors if not ERROR_STATUS.match(e)] == []
