"""Sign-in with the identity provider in Chromium, against oauth2-mock-server on loopback.

The provider signs the browser in at once (it has no log-in form); the claims of its ID tokens
are set per test (tests/idp.py). The flow: the log-in page's button, the provider, the team the
groups map to with the mapped role, and sign-out through the provider's end-session endpoint.
"""

import re

import pytest
from django.contrib.auth import get_user_model

from provisioning.models import GroupMapping, Membership, Preference, Role
from tests.e2e.conftest import ERROR_STATUS, expect, format_violations

pytestmark = pytest.mark.e2e

OLGA = {
    "sub": "e2e-olga",
    "preferred_username": "olga",
    "email": "olga@example.com",
    "groups": ["device-ops"],
}
NOBODY = {"sub": "e2e-nobody", "preferred_username": "nobody", "groups": ["marketing"]}


@pytest.fixture
def mapped(team_a):
    return GroupMapping.objects.create(team=team_a, group="device-ops", role=Role.OPERATOR)


def navigations(page):
    """The URLs the page navigates to, as they happen (the provider's pages included)."""
    seen = []
    page.on("request", lambda request: seen.append(request.url) if request.is_navigation_request() else None)
    return seen


def sign_in_with_provider(page):
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Mock IdP").click()
    page.wait_for_url(lambda url: "/accounts/" not in url)


def test_sign_in_lands_on_the_mapped_team_with_the_mapped_role_and_sign_out_ends_both_sessions(
    page, idp, mapped, shot, browser_errors
):
    idp.set_claims(**OLGA)
    seen = navigations(page)
    page.goto("/t/team-a/history/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/t/team-a/history/$"))
    expect(page.get_by_role("link", name="Sign in with Mock IdP")).to_be_visible()
    shot(page, "oidc-login")

    page.get_by_role("link", name="Sign in with Mock IdP").click()
    expect(page).to_have_url(re.compile(r"/t/team-a/history/$"))
    assert any(url.startswith(f"{idp.issuer}/authorize?") for url in seen)
    expect(page.locator(".header-end")).to_contain_text("olga")
    expect(page.locator(".team-name")).to_have_text("Team A (operator)")
    main_nav = page.get_by_role("navigation", name="Main")
    expect(main_nav.get_by_role("link", name="Provision")).to_be_visible()
    expect(main_nav.get_by_role("link", name="Members")).to_have_count(0)
    shot(page, "oidc-signed-in")
    membership = Membership.objects.get(user__username="olga")
    assert (membership.role, membership.from_groups) == (Role.OPERATOR, True)

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/\?state="))
    assert any(url.startswith(f"{idp.issuer}/endsession?") for url in seen)
    page.goto("/t/team-a/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/t/team-a/$"))
    assert browser_errors == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations_on_the_sign_in_pages(
    page, idp, login, admin_a, operator_a, mapped, scheme, shot, axe, browser_errors
):
    """The log-in page with the provider's button, a failed sign-in, the no-team page of someone
    whose groups map to no team, the group mappings page (with an error) and the members page
    with a membership from groups: in the OS's light or dark mode, and in the theme chosen."""
    page.emulate_media(color_scheme=scheme)
    other = "light" if scheme == "dark" else "dark"
    found = {}

    def check(name):
        expect(page.get_by_role("heading", level=1).first).to_be_visible()
        shot(page, f"oidc-{scheme}-{name}")
        found[name] = axe(page)

    page.goto("/accounts/login/")
    check("login-with-provider")
    page.goto("/accounts/oidc/callback/?code=nobody-started-this&state=forged")
    expect(page.get_by_role("alert")).to_contain_text("the state does not match")
    check("sign-in-failed")

    idp.set_claims(**NOBODY)
    sign_in_with_provider(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("You are not in a team yet")
    expect(page.locator("main")).to_contain_text("your groups: marketing")
    check("no-team")
    Preference.objects.create(user=get_user_model().objects.get(username="nobody"), theme=other)
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", other)
    check(f"no-team-theme-{other}")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    Membership.objects.filter(user=operator_a).update(from_groups=True)
    login(page, admin_a)
    page.goto("/t/team-a/groups/")
    check("groups")
    page.get_by_role("button", name="Map group").click()
    expect(page.locator(".field .error")).to_have_text("This field is required.")
    check("groups-error")
    page.goto("/t/team-a/members/")
    expect(page.locator(".badge")).to_have_text("from groups")
    check("members-from-groups")
    page.goto("/t/team-a/groups/")
    page.get_by_role("group", name="Theme").get_by_role("button", name=other.title()).click()
    expect(page.locator("html")).to_have_attribute("data-theme", other)
    check(f"groups-theme-{other}")

    print(f"axe checked {len(found)} pages ({scheme}): {'; '.join(found)}")
    report = "\n".join(f"{name}:\n{format_violations(v)}" for name, v in found.items() if v)
    assert not report, f"axe found violations ({scheme} mode):\n{report}"
    assert len(found) == 8
    assert [e for e in browser_errors if not ERROR_STATUS.match(e)] == []
