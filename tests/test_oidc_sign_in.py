"""Sign-in with the identity provider, against oauth2-mock-server over HTTP on loopback.

The Django test client plays the browser here: it asks for the sign-in, the provider's
authorization URL is followed with requests (the provider signs in at once), and the callback
URL it sends back goes to the test client. Discovery, the code exchange and the keys cross the
real HTTP boundary. tests/e2e/test_oidc_flows.py runs the same in Chromium.
"""

import logging
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model

from provisioning.models import AuditEvent, ExternalIdentity, GroupMapping, Membership, Role
from provisioning.team_admin import FROM_GROUPS
from tests.idp import CLIENT_ID
from tests.workflow import text

pytestmark = pytest.mark.django_db

CLAIMS = {
    "sub": "f3b6-olga",
    "preferred_username": "olga",
    "email": "olga@example.com",
    "given_name": "Olga",
    "family_name": "Ops",
}


def start(client, path="/accounts/oidc/login/"):
    response = client.get(path)
    assert response.status_code == 302, text(response)[:1000]
    return response["Location"]


def sign_in(client, idp, **claims):
    """The whole round trip; the callback's response."""
    idp.set_claims(**{**CLAIMS, **claims})
    return client.get(idp.authorize(start(client)))


def signed_in_user(client):
    return client.get("/").wsgi_request.user


def test_it_is_off_unless_configured(client, settings):
    assert settings.OIDC_ENABLED is False
    assert client.get("/accounts/oidc/login/").status_code == 404
    assert client.get("/accounts/oidc/callback/?code=x&state=y").status_code == 404
    assert "Sign in with" not in text(client.get("/accounts/login/"))


def test_the_authorization_request_carries_state_nonce_and_pkce(client, idp):
    location = start(client, "/accounts/oidc/login/?next=/t/team-a/history/")
    url = urlsplit(location)
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}" == idp.issuer
    assert query["client_id"] == [CLIENT_ID]
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["openid email profile"]
    assert query["redirect_uri"] == ["http://testserver/accounts/oidc/callback/"]
    assert query["code_challenge_method"] == ["S256"]
    assert all(query[name][0] for name in ("state", "nonce", "code_challenge"))


def test_the_login_page_offers_the_provider(client, idp):
    page = text(client.get("/accounts/login/?next=/t/team-a/"))
    assert "Sign in with Mock IdP" in page
    assert 'href="/accounts/oidc/login/?next=/t/team-a/"' in page


def test_first_sign_in_creates_the_user_and_lands_on_the_mapped_team(client, idp, team_a):
    GroupMapping.objects.create(team=team_a, group="device-ops", role=Role.OPERATOR)
    response = sign_in(client, idp, groups=["device-ops", "unrelated"])
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/")["Location"] == "/t/team-a/"

    user = get_user_model().objects.get(username="olga")
    assert (user.email, user.first_name, user.last_name) == ("olga@example.com", "Olga", "Ops")
    assert not user.has_usable_password()
    assert ExternalIdentity.objects.get(user=user).subject == "f3b6-olga"
    membership = Membership.objects.get(user=user)
    assert (membership.team, membership.role, membership.from_groups) == (team_a, Role.OPERATOR, True)
    row = AuditEvent.objects.get(action="member.add")
    assert (row.target, row.actor_name, row.message, row.request) == (
        "olga",
        "Olga Ops",  # her display name: others see it, not her user name or e-mail address
        FROM_GROUPS,
        {"role": "operator"},
    )
    assert "Team A" in text(client.get("/t/team-a/"))


def test_it_goes_back_to_the_page_asked_for(client, idp, team_a):
    GroupMapping.objects.create(team=team_a, group="device-ops", role=Role.AUDITOR)
    idp.set_claims(**CLAIMS, groups=["device-ops"])
    response = client.get(idp.authorize(start(client, "/accounts/oidc/login/?next=/t/team-a/history/")))
    assert response["Location"] == "/t/team-a/history/"


def test_an_unsafe_next_is_dropped(client, idp, team_a):
    idp.set_claims(**CLAIMS)
    response = client.get(idp.authorize(start(client, "/accounts/oidc/login/?next=https://evil.example/")))
    assert response["Location"] == "/"


def test_later_sign_ins_update_name_and_email(client, idp):
    sign_in(client, idp)
    client.logout()
    sign_in(client, idp, email="olga.new@example.com", family_name="Operator", preferred_username="ignored")
    user = get_user_model().objects.get()
    assert (user.username, user.email, user.last_name) == ("olga", "olga.new@example.com", "Operator")


def test_an_address_the_provider_has_not_verified_is_not_kept(client, idp):
    sign_in(client, idp, email="someone.else@example.com", email_verified=False)
    assert get_user_model().objects.get().email == ""


def test_an_existing_local_account_of_the_same_name_is_not_taken_over(client, idp, admin_a):
    sign_in(client, idp, preferred_username="alice", email="other-alice@example.com")
    user = signed_in_user(client)
    assert user != admin_a
    assert user.username.startswith("alice-")
    admin_a.refresh_from_db()
    assert admin_a.email == "alice@example.com" and admin_a.has_usable_password()


def test_group_changes_between_sign_ins_follow_the_groups(client, idp, team_a, team_b, admin_b):
    GroupMapping.objects.create(team=team_a, group="a-ops", role=Role.OPERATOR)
    GroupMapping.objects.create(team=team_a, group="a-admins", role=Role.ADMIN)
    GroupMapping.objects.create(team=team_b, group="b-auditors", role=Role.AUDITOR)

    sign_in(client, idp, groups=["a-ops"])
    user = signed_in_user(client)
    # Team B's admin adds them by hand; a mapping of team B must not touch that membership.
    Membership.objects.create(user=user, team=team_b, role=Role.OPERATOR)

    client.logout()
    sign_in(client, idp, groups=["a-admins", "b-auditors"])
    roles = dict(Membership.objects.filter(user=user).values_list("team__slug", "role"))
    assert roles == {"team-a": Role.ADMIN, "team-b": Role.OPERATOR}

    client.logout()
    sign_in(client, idp, groups=[])
    roles = dict(Membership.objects.filter(user=user).values_list("team__slug", "role"))
    assert roles == {"team-b": Role.OPERATOR}

    rows = AuditEvent.objects.filter(target=user.username).order_by("pk")
    assert [(r.action, r.team_name, r.request, r.message) for r in rows] == [
        ("member.add", "Team A", {"role": "operator"}, FROM_GROUPS),
        ("member.role", "Team A", {"role": "admin"}, FROM_GROUPS),
        ("member.remove", "Team A", None, FROM_GROUPS),
    ]


def test_the_highest_role_of_several_groups_wins(client, idp, team_a):
    GroupMapping.objects.create(team=team_a, group="readers", role=Role.AUDITOR)
    GroupMapping.objects.create(team=team_a, group="builders", role=Role.OPERATOR)
    sign_in(client, idp, groups=["readers", "builders"])
    assert Membership.objects.get(user=signed_in_user(client)).role == Role.OPERATOR


def test_a_single_group_string_counts_as_one_group(client, idp, team_a):
    GroupMapping.objects.create(team=team_a, group="builders", role=Role.OPERATOR)
    sign_in(client, idp, groups="builders")
    assert Membership.objects.get(user=signed_in_user(client)).team == team_a


def test_the_groups_claim_is_configurable(client, idp, team_a, settings):
    settings.OIDC_GROUPS_CLAIM = "roles"
    GroupMapping.objects.create(team=team_a, group="builders", role=Role.OPERATOR)
    sign_in(client, idp, roles=["builders"], groups=["ignored"])
    assert Membership.objects.get(user=signed_in_user(client)).team == team_a


def test_a_user_the_mapping_gives_no_team_is_told_whom_to_ask(client, idp, team_a, caplog):
    GroupMapping.objects.create(team=team_a, group="device-ops", role=Role.OPERATOR)
    caplog.set_level(logging.INFO, logger="provisioning")
    response = sign_in(client, idp, groups=["marketing", "all-staff"])
    assert response["Location"] == "/"
    page = text(client.get("/"))
    assert "You are not in a team yet" in page
    assert "all-staff, marketing" in page
    assert "Ask a team admin of the team you should join to map one of your groups" in page
    assert "no group maps to a team" in caplog.text
    assert client.get("/t/team-a/").status_code == 404


def test_a_deactivated_user_is_refused(client, idp):
    sign_in(client, idp)
    get_user_model().objects.filter(username="olga").update(is_active=False)
    client.logout()
    response = sign_in(client, idp)
    assert response.status_code == 403
    assert "deactivated" in text(response)
    assert not signed_in_user(client).is_authenticated


# --- errors -------------------------------------------------------------------------------------


def assert_refused(response, status, words, caplog, idp=None):
    page = text(response)
    assert response.status_code == status, page[:2000]
    assert "Sign-in failed" in page and words in page
    assert not get_user_model().objects.exists()
    if idp is not None:
        token = idp.last()["id_token"]
        assert token and token not in page and token not in caplog.text


def test_provider_unreachable(client, idp, settings, caplog):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"  # the discard port: nothing listens
    assert_refused(client.get("/accounts/oidc/login/"), 502, "could not be reached", caplog)


def test_provider_unreachable_at_the_callback(client, idp, settings, caplog):
    callback = idp.authorize(start(client))
    settings.OIDC_ISSUER = "http://127.0.0.1:9"
    assert_refused(client.get(callback), 502, "could not be reached", caplog)


def test_a_provider_url_the_server_may_not_call(client, idp, settings, caplog):
    settings.OIDC_ISSUER = "http://idp.example.com/realms/acme"
    assert_refused(client.get("/accounts/oidc/login/"), 502, "Use https", caplog)


def test_state_mismatch(client, idp, caplog):
    callback = idp.authorize(start(client))
    forged = callback.replace("state=", "state=forged")
    assert_refused(client.get(forged), 400, "the state does not match", caplog)


def test_a_callback_nobody_started(client, idp, caplog):
    assert_refused(
        client.get("/accounts/oidc/callback/?code=abc&state=xyz"), 400, "the state does not match", caplog
    )


def test_a_callback_used_twice(client, idp, caplog):
    idp.set_claims(**CLAIMS)
    callback = idp.authorize(start(client))
    assert client.get(callback).status_code == 302
    client.logout()
    get_user_model().objects.all().delete()
    assert_refused(client.get(callback), 400, "the state does not match", caplog)


def test_the_provider_refuses(client, idp, caplog):
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    response = client.get(f"/accounts/oidc/callback/?error=access_denied&state={state}")
    assert_refused(response, 400, "did not sign you in: access_denied", caplog)


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        ({"iss": "http://127.0.0.1:1/other-realm"}, "issued by another identity provider"),
        ({"aud": "another-application"}, "issued for another application"),
        # authlib alone would let this one pass (it checks the audience only through azp).
        ({"aud": "another-application", "azp": CLIENT_ID}, "issued for another application"),
        ({"aud": ["another-application", "a-third"]}, "issued for another application"),
        ({"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}, "The ID token has expired"),
        ({"nonce": "not-the-nonce-of-this-sign-in"}, "its nonce does not match"),
    ],
    ids=["wrong-issuer", "wrong-audience", "wrong-audience-right-azp", "audiences", "expired", "wrong-nonce"],
)
def test_an_id_token_that_fails_verification(client, idp, claims, words, caplog):
    caplog.set_level(logging.DEBUG)
    response = sign_in(client, idp, **claims)
    assert_refused(response, 400, words, caplog, idp)
    assert not signed_in_user(client).is_authenticated


# --- signing out --------------------------------------------------------------------------------


def test_sign_out_ends_the_providers_session_too(client, idp):
    sign_in(client, idp)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{idp.issuer}/endsession"
    query = parse_qs(url.query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["post_logout_redirect_uri"] == ["http://testserver/accounts/login/"]
    assert "id_token_hint" not in query  # no ID token is kept
    assert not signed_in_user(client).is_authenticated
    # The provider sends the browser back to the log-in page.
    assert idp.authorize(response["Location"]).startswith("/accounts/login/?state=")


def test_sign_out_of_a_password_account_stays_here(client, idp, admin_a):
    client.force_login(admin_a)
    response = client.post("/accounts/logout/")
    assert response["Location"] == "/accounts/login/"


def test_sign_out_when_the_provider_is_down(client, idp, settings):
    sign_in(client, idp)
    settings.OIDC_ISSUER = "http://127.0.0.1:9"
    response = client.post("/accounts/logout/", follow=True)
    assert response.redirect_chain == [("/accounts/login/", 302)]
    assert "You are signed out here" in text(response)
    assert not signed_in_user(client).is_authenticated


# --- the provider's URLs, as every outbound URL ------------------------------------------------


def test_the_providers_redirects_are_not_followed(client, idp, settings, httpserver, caplog):
    httpserver.expect_request("/.well-known/openid-configuration").respond_with_data(
        "", status=302, headers={"Location": f"{idp.issuer}/.well-known/openid-configuration"}
    )
    settings.OIDC_ISSUER = httpserver.url_for("").rstrip("/")
    assert_refused(client.get("/accounts/oidc/login/"), 502, "could not be reached", caplog)
    assert len(httpserver.log) == 1


def test_a_discovery_document_pointing_at_a_metadata_address_is_refused(
    client, idp, settings, httpserver, caplog
):
    issuer = httpserver.url_for("").rstrip("/")
    document = requests.get(f"{idp.issuer}/.well-known/openid-configuration", timeout=5).json()
    document.update(issuer=issuer, jwks_uri="http://169.254.169.254/latest/meta-data/keys")
    httpserver.expect_request("/.well-known/openid-configuration").respond_with_json(document)
    settings.OIDC_ISSUER = issuer
    assert_refused(client.get("/accounts/oidc/login/"), 502, "Link-local and metadata addresses", caplog)


def test_a_discovery_document_without_keys_is_refused(client, idp, settings, httpserver, caplog):
    issuer = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/.well-known/openid-configuration").respond_with_json(
        {"issuer": issuer, "authorization_endpoint": f"{issuer}/authorize", "token_endpoint": f"{issuer}/t"}
    )
    settings.OIDC_ISSUER = issuer
    assert_refused(client.get("/accounts/oidc/login/"), 502, "names no jwks_uri", caplog)


def test_an_audience_list_that_holds_this_client_is_accepted(client, idp):
    response = sign_in(client, idp, aud=[CLIENT_ID, "another-application"], azp=CLIENT_ID)
    assert response.status_code == 302
    assert signed_in_user(client).username == "olga"


def test_a_discovery_document_that_is_not_an_object_is_refused(client, idp, settings, httpserver, caplog):
    httpserver.expect_request("/.well-known/openid-configuration").respond_with_json(["not", "an", "object"])
    settings.OIDC_ISSUER = httpserver.url_for("").rstrip("/")
    assert_refused(client.get("/accounts/oidc/login/"), 502, "could not be reached", caplog)


def test_an_error_code_with_a_line_break_stays_on_one_log_line(client, idp, caplog):
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    response = client.get(f"/accounts/oidc/callback/?error=denied%0AFAKE+entry&state={state}")
    assert_refused(response, 400, "did not sign you in: deniedFAKE entry", caplog)
    assert not any(line.startswith("FAKE") for line in caplog.text.splitlines())
