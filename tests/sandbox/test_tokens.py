"""The two token endpoints: client authentication, RFC 6749 §5.2 errors, the JWT, lifetimes, the counter."""

import base64
import time

import pytest
import requests
from joserfc import jwt

from provisioning.sandbox import knobs, oauth, seed
from provisioning.sandbox.models import SandboxClient

from .conftest import TIMEOUT, request_token, token_for


def claims_of(token):
    return jwt.decode(token, oauth.signing_key(), algorithms=["HS256"]).claims


@pytest.mark.parametrize("auth", ["post", "basic", "basic-encoded"])
def test_it_accepts_each_client_auth_method(tenant, auth):
    response = request_token(tenant, auth=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "scope"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3599
    assert body["scope"] == tenant["scope"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"].startswith("application/json")


def test_basic_auth_works_with_secrets_that_change_when_urldecoded(sandbox_url):
    # '+' and '%' mean something after form-urldecoding: both spellings must work.
    tenant = seed.create_tenant(sandbox_url, client_id="odd id+1", client_secret="p+a%2Bss:w rd")
    assert request_token(tenant, auth="basic").status_code == 200
    assert request_token(tenant, auth="basic-encoded").status_code == 200
    assert request_token(tenant, auth="post").status_code == 200


def test_the_jwt_carries_the_expected_claims(tenant):
    before = int(time.time())
    body = request_token(tenant, audience="https://example.test/api").json()
    claims = claims_of(body["access_token"])
    assert claims["sub"] == tenant["client_id"]
    assert claims["scope"] == tenant["scope"]
    assert claims["aud"] == "https://example.test/api"
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 3599
    assert len(claims["jti"]) >= 16
    assert claims_of(token_for(tenant))["jti"] != claims["jti"]


def test_nexeed_style_issues_short_tokens_with_audience_and_instances(nexeed_tenant):
    assert nexeed_tenant["token_url"].endswith(
        "/sandbox/iam/access-management/v1/tenants/acme-tenant/openid-connect/token"
    )
    response = request_token(nexeed_tenant)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_in"] == 300
    assert body["token_type"].lower() == "bearer"
    assert body["scope"] == nexeed_tenant["scope"] == f"aud:{nexeed_tenant['audience']} openid"
    claims = claims_of(body["access_token"])
    assert claims["aud"] == nexeed_tenant["audience"]
    assert claims["sbx_instances"] == [nexeed_tenant["service_instance_id"]]


def test_a_nexeed_client_is_unknown_under_another_tenant_and_at_suite_auth(nexeed_tenant, sandbox_url):
    wrong_tenant = {**nexeed_tenant, "token_url": nexeed_tenant["token_url"].replace("acme-tenant", "other")}
    assert request_token(wrong_tenant).json()["error"] == "invalid_client"
    at_suite = {**nexeed_tenant, "token_url": f"{sandbox_url}/token"}
    assert request_token(at_suite).status_code == 401


@pytest.mark.parametrize(
    ("lifetime_knob", "client_lifetime", "expected"),
    [(None, None, 3599), (60, None, 60), (60, 7, 7)],
)
def test_token_lifetime_comes_from_client_then_knob_then_default(
    sandbox_url, lifetime_knob, client_lifetime, expected
):
    knobs.configure(token_lifetime=lifetime_knob)
    tenant = seed.create_tenant(sandbox_url, token_lifetime=client_lifetime)
    body = request_token(tenant).json()
    assert body["expires_in"] == expected
    claims = claims_of(body["access_token"])
    assert claims["exp"] - claims["iat"] == expected


def test_clock_skew_moves_iat_and_exp(tenant):
    knobs.configure(clock_skew_seconds=-3600)
    claims = claims_of(token_for(tenant))
    assert claims["iat"] < time.time() - 3500


def test_it_counts_issued_tokens_only(tenant):
    assert knobs.token_count() == 0
    token_for(tenant)
    token_for(tenant, auth="basic")
    request_token({**tenant, "client_secret": "wrong-secret"})
    assert knobs.token_count() == 2


# Errors (RFC 6749 §5.2, Hydra's extra fields on the Suite Auth style)


def assert_oauth_error(response, status, error):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]
    assert body["status_code"] == status
    assert "error_hint" in body
    return body


def test_wrong_secret_in_body_is_invalid_client_without_www_authenticate(tenant):
    response = request_token({**tenant, "client_secret": "not-the-secret"})
    assert_oauth_error(response, 401, "invalid_client")
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize("auth", ["basic", "basic-encoded"])
def test_wrong_secret_over_basic_is_401_with_www_authenticate(tenant, auth):
    response = request_token({**tenant, "client_secret": "not-the-secret"}, auth=auth)
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_unknown_client_is_invalid_client(tenant):
    assert_oauth_error(request_token({**tenant, "client_id": "nobody"}), 401, "invalid_client")


def test_an_unreadable_basic_header_is_invalid_client(tenant):
    data = {"grant_type": "client_credentials"}
    for value in ("Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode()):
        response = requests.post(
            tenant["token_url"], data=data, headers={"Authorization": value}, timeout=TIMEOUT
        )
        assert_oauth_error(response, 401, "invalid_client")
        assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_missing_credentials_is_invalid_request(tenant):
    response = requests.post(tenant["token_url"], data={"grant_type": "client_credentials"}, timeout=TIMEOUT)
    body = assert_oauth_error(response, 400, "invalid_request")
    assert "missing" in body["error_hint"]


def test_two_auth_methods_at_once_is_invalid_request(tenant):
    data = {"grant_type": "client_credentials", "client_secret": tenant["client_secret"]}
    auth = (tenant["client_id"], tenant["client_secret"])
    response = requests.post(tenant["token_url"], data=data, auth=auth, timeout=TIMEOUT)
    assert_oauth_error(response, 400, "invalid_request")


def test_missing_grant_type_is_invalid_request(tenant):
    assert_oauth_error(request_token(tenant, grant_type=None), 400, "invalid_request")


def test_repeated_parameter_is_invalid_request(tenant):
    data = [("grant_type", "client_credentials"), ("grant_type", "client_credentials")]
    data += [("client_id", tenant["client_id"]), ("client_secret", tenant["client_secret"])]
    response = requests.post(tenant["token_url"], data=data, timeout=TIMEOUT)
    assert_oauth_error(response, 400, "invalid_request")


def test_json_body_is_invalid_request(tenant):
    body = {"grant_type": "client_credentials", "client_id": tenant["client_id"]}
    assert_oauth_error(requests.post(tenant["token_url"], json=body, timeout=TIMEOUT), 400, "invalid_request")


def test_get_is_refused(tenant):
    response = requests.get(tenant["token_url"], timeout=TIMEOUT)
    assert response.status_code == 405
    assert response.json()["error"] == "invalid_request"


def test_other_grant_types_are_unsupported(tenant):
    assert_oauth_error(request_token(tenant, grant_type="password"), 400, "unsupported_grant_type")


def test_a_scope_the_client_may_not_have_is_invalid_scope(tenant):
    scope = tenant["scope"] + " service:iot-things-eu-1:someone-else_things/full-access"
    assert_oauth_error(request_token(tenant, scope=scope), 400, "invalid_scope")


def test_nexeed_errors_have_no_hydra_fields(nexeed_tenant):
    response = request_token({**nexeed_tenant, "client_secret": "wrong"})
    assert response.status_code == 401
    assert set(response.json()) == {"error", "error_description"}


def test_a_large_body_is_refused(tenant):
    response = request_token(tenant, padding="x" * 70_000)
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"


def test_no_scope_gives_a_token_without_scopes(tenant):
    # Like Suite Auth: the token is issued, and the API then refuses it (see test_api_auth).
    body = request_token(tenant, scope="").json()
    assert body["scope"] == ""


def test_a_rotated_secret_replaces_the_old_one(tenant):
    new = seed.rotate_secret(tenant["client_id"])
    assert request_token(tenant).status_code == 401
    assert request_token({**tenant, "client_secret": new}).status_code == 200


def test_client_secrets_are_stored_hashed(tenant):
    stored = SandboxClient.objects.get(client_id=tenant["client_id"]).secret_hash
    assert tenant["client_secret"] not in stored
    assert stored.startswith("sha256$")
