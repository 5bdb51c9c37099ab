"""The token provider against a scripted token endpoint over real HTTP."""

import base64
import json
import logging
import time
from urllib.parse import parse_qs

import pytest
from django.core.cache import cache
from werkzeug import Response

from provisioning import tokens
from provisioning.errors import ConfigurationError, TokenError
from tests.provider import TokenIssuer, make_config, token_body, token_requests

pytestmark = pytest.mark.django_db


def form(request):
    return {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}


def test_it_reuses_a_cached_token(team_a, httpserver):
    issuer = TokenIssuer()
    httpserver.expect_request("/token", method="POST").respond_with_handler(issuer)
    config = make_config(team_a, httpserver)

    first = tokens.get_token(config)
    second = tokens.get_token(config)

    assert first.access_token == second.access_token == "tok-1"
    assert issuer.count == 1


def test_it_sends_client_credentials_in_the_form_body(team_a, httpserver):
    httpserver.expect_request("/token", method="POST").respond_with_json(token_body())
    config = make_config(team_a, httpserver, auth_method="client_secret_post", audience="my-aud")

    tokens.get_token(config)

    (request,) = token_requests(httpserver)
    sent = form(request)
    assert sent["grant_type"] == "client_credentials"
    assert sent["client_id"] == "scripted-client"
    assert sent["client_secret"] == "scripted-secret-value"
    assert sent["scope"] == config.scope
    assert sent["audience"] == "my-aud"
    assert "Authorization" not in request.headers


def test_it_sends_http_basic(team_a, httpserver):
    httpserver.expect_request("/token", method="POST").respond_with_json(token_body())
    config = make_config(team_a, httpserver, auth_method="client_secret_basic", secret="s3cret")

    tokens.get_token(config)

    (request,) = token_requests(httpserver)
    scheme, encoded = request.headers["Authorization"].split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == "scripted-client:s3cret"
    assert "client_secret" not in form(request)


def test_it_form_encodes_basic_credentials_when_asked(team_a, httpserver):
    httpserver.expect_request("/token", method="POST").respond_with_json(token_body())
    config = make_config(
        team_a, httpserver, auth_method="client_secret_basic_encoded", client_id="id:1", secret="a+b%c:d é"
    )

    tokens.get_token(config)

    (request,) = token_requests(httpserver)
    encoded = request.headers["Authorization"].split(" ")[1]
    assert base64.b64decode(encoded).decode() == "id%3A1:a%2Bb%25c%3Ad+%C3%A9"


def test_a_new_config_version_gets_a_new_token(team_a, httpserver):
    issuer = TokenIssuer()
    httpserver.expect_request("/token", method="POST").respond_with_handler(issuer)
    config = make_config(team_a, httpserver)
    tokens.get_token(config)

    config.config_version += 1
    config.save()

    assert tokens.get_token(config).access_token == "tok-2"
    assert issuer.count == 2


def test_it_renews_a_token_near_its_expiry(team_a, httpserver):
    issuer = TokenIssuer(expires_in=2)  # renewal margin: min(60, 2/2) = 1 s
    httpserver.expect_request("/token", method="POST").respond_with_handler(issuer)
    config = make_config(team_a, httpserver)

    assert tokens.get_token(config).access_token == "tok-1"
    assert tokens.get_token(config).access_token == "tok-1"
    time.sleep(1.1)

    assert tokens.get_token(config).access_token == "tok-2"
    assert issuer.count == 2


def test_a_token_without_expires_in_lives_five_minutes(team_a, httpserver):
    httpserver.expect_request("/token", method="POST").respond_with_json(token_body(expires_in=None))
    config = make_config(team_a, httpserver)

    token = tokens.get_token(config)

    assert token.lifetime == 300


def test_a_jwt_without_expires_in_lives_until_its_exp(team_a, httpserver):
    claims = {"sub": "x", "exp": int(time.time()) + 1000}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    jwt = f"eyJhbGciOiJIUzI1NiJ9.{payload}.c2ln"
    httpserver.expect_request("/token", method="POST").respond_with_json(token_body(jwt, expires_in=None))
    config = make_config(team_a, httpserver)

    token = tokens.get_token(config)

    assert 995 <= token.lifetime <= 1000


def test_a_rejected_token_is_replaced_once(team_a, httpserver):
    issuer = TokenIssuer()
    httpserver.expect_request("/token", method="POST").respond_with_handler(issuer)
    config = make_config(team_a, httpserver)
    stale = tokens.get_token(config)

    fresh = tokens.get_token(config, reject=stale.access_token)
    again = tokens.get_token(config, reject=stale.access_token)

    assert fresh.access_token == again.access_token == "tok-2"
    assert issuer.count == 2


def test_the_cache_never_holds_a_readable_token(team_a, httpserver):
    httpserver.expect_request("/token", method="POST").respond_with_json(token_body("canary-token-4711"))
    config = make_config(team_a, httpserver)

    tokens.get_token(config)

    raw = cache.get(tokens.cache_key(config))
    assert "canary-token-4711" not in repr(raw)
    assert raw["sealed"].startswith("v1:")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            401,
            {"error": "invalid_client", "error_description": "bad secret"},
            "refused the client id or secret",
        ),
        (400, {"error": "invalid_scope"}, "refused the requested scope"),
        (400, {"error": "unsupported_grant_type"}, "does not support the client-credentials grant"),
        (500, {"error": "server_error"}, "unavailable (HTTP 500)"),
        (503, None, "unavailable (HTTP 503)"),
        (200, None, "not a JSON object"),
        (200, {"token_type": "bearer"}, "without an access token"),
        (403, {"message": "nope"}, "refused the request (HTTP 403)"),
        (302, None, "redirect"),
    ],
)
def test_token_errors_become_plain_messages(team_a, httpserver, caplog, status, body, expected):
    data = json.dumps(body) if body is not None else "<html>gateway says no</html>"
    headers = {"Location": "https://example.com/elsewhere"} if status == 302 else {}
    httpserver.expect_request("/token", method="POST").respond_with_data(
        data, status=status, content_type="application/json", headers=headers
    )
    config = make_config(team_a, httpserver, secret="canary-secret-0815")
    caplog.set_level(logging.DEBUG)

    with pytest.raises(TokenError) as caught:
        tokens.get_token(config)

    assert expected in caught.value.message
    assert "canary-secret-0815" not in caught.value.message
    assert "canary-secret-0815" not in caplog.text
    assert len(token_requests(httpserver)) == 1  # never retried, redirects not followed


def test_a_token_endpoint_timeout_is_unavailable(team_a, httpserver, settings):
    settings.OUTBOUND_READ_TIMEOUT = 1

    def slow(request):
        time.sleep(1.5)
        return Response(json.dumps(token_body()), content_type="application/json")

    httpserver.expect_request("/token", method="POST").respond_with_handler(slow)
    config = make_config(team_a, httpserver)

    with pytest.raises(TokenError, match="did not answer in time"):
        tokens.get_token(config)


def test_an_unreachable_token_endpoint_is_unavailable(team_a, httpserver):
    config = make_config(team_a, httpserver, token_url="http://127.0.0.1:9/token")

    with pytest.raises(TokenError, match="could not be reached"):
        tokens.get_token(config)


@pytest.mark.parametrize(
    "url",
    [
        "http://token.example.com/token",  # plain http to a host not allowed
        "https://169.254.169.254/latest/meta-data",  # metadata address
        "https://metadata.google.internal/token",
        "https://user:pw@access.example.com/token",
    ],
)
def test_unsafe_token_urls_are_never_called(team_a, httpserver, url):
    config = make_config(team_a, httpserver, token_url=url)

    with pytest.raises(ConfigurationError):
        tokens.get_token(config)


def test_an_unreadable_secret_fails_closed(team_a, httpserver):
    httpserver.expect_request("/token", method="POST").respond_with_json(token_body())
    config = make_config(team_a, httpserver)
    config.secret_sealed = config.secret_sealed[:-6] + "AAAAAA"

    with pytest.raises(ConfigurationError, match="secret cannot be read"):
        tokens.get_token(config)
    assert token_requests(httpserver) == []


def test_peek_claims_reads_a_jwt_and_not_an_opaque_token():
    payload = base64.urlsafe_b64encode(b'{"sub":"c","scope":"a b"}').decode().rstrip("=")
    assert tokens.peek_claims(f"eyJhbGciOiJIUzI1NiJ9.{payload}.sig") == {"sub": "c", "scope": "a b"}
    assert tokens.peek_claims("opaque-token") is None
