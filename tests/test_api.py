"""The provisioning API client against a scripted provider over real HTTP."""

import json
import logging
import re
import time
import uuid

import pytest
from werkzeug import Response

from provisioning import api
from provisioning.errors import (
    ConfigurationError,
    Conflict,
    OutcomeUnknown,
    Refused,
    Unauthorized,
    Unavailable,
)
from provisioning.providers import bosch
from tests.provider import SID, TokenIssuer, api_requests, make_config, token_requests

pytestmark = pytest.mark.django_db

DEVICES = f"/api/1/{SID}/devices"
BODY = {
    "id": "com.acme:dev-1",
    "hub": {
        "device": {},
        "credentials": {"type": "hashed-password", "secrets": [{"password": "pw-canary-1"}]},
    },
    "things": {"thing": {}},
}
CREATED = {"id": "com.acme:dev-1", "hub": {"device": {"deviceId": "com.acme:dev-1"}}, "things": {"thing": {}}}


@pytest.fixture
def issuer(httpserver):
    issuer = TokenIssuer()
    httpserver.expect_request("/token", method="POST").respond_with_handler(issuer)
    return issuer


@pytest.fixture
def config(team_a, httpserver, issuer):
    return make_config(team_a, httpserver)


def json_response(body, status):
    return Response(json.dumps(body), status=status, content_type="application/json")


def test_it_creates_a_device(httpserver, config):
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(CREATED, status=201)

    result = bosch.create_device(config, BODY, auth_scope="subscription", skip_vorto=True)

    assert result.status == 201
    assert result.body == CREATED
    (request,) = api_requests(httpserver)
    assert request.headers["Authorization"] == "Bearer tok-1"
    assert request.headers["Accept"] == "application/json"
    assert request.args["authScope"] == "subscription"
    assert request.args["skipVorto"] == "true"
    assert json.loads(request.get_data()) == BODY


def test_it_omits_auth_scope_when_none(httpserver, config):
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(CREATED, status=201)

    bosch.create_device(config, BODY)

    (request,) = api_requests(httpserver)
    assert "authScope" not in request.args
    assert "skipVorto" not in request.args


def test_it_deletes_a_device_with_an_encoded_id(httpserver, config):
    httpserver.expect_request(re.compile(f"{DEVICES}/.+"), method="DELETE").respond_with_json(
        {"device": "Device deleted successfully"}, status=200
    )

    result = bosch.delete_device(config, "com.acme:dev 1/x", keep_credentials=True)

    assert result.status == 200
    (request,) = api_requests(httpserver, "DELETE")
    assert request.environ["REQUEST_URI"].startswith(f"{DEVICES}/com.acme:dev%201%2Fx?")
    assert request.args["keepCredentials"] == "true"
    assert request.args["keepPolicy"] == "false"


def test_a_401_fetches_a_fresh_token_and_retries_once(httpserver, config, issuer):
    httpserver.expect_oneshot_request(DEVICES, method="POST").respond_with_json({}, status=401)
    httpserver.expect_oneshot_request(DEVICES, method="POST").respond_with_json(CREATED, status=201)

    result = bosch.create_device(config, BODY)

    assert result.status == 201
    assert result.attempts == 2
    first, second = api_requests(httpserver)
    assert first.headers["Authorization"] == "Bearer tok-1"
    assert second.headers["Authorization"] == "Bearer tok-2"
    assert issuer.count == 2


def test_a_second_401_is_a_clear_error(httpserver, config, issuer):
    httpserver.expect_request(DEVICES, method="POST").respond_with_json({}, status=401)

    with pytest.raises(Unauthorized) as caught:
        bosch.create_device(config, BODY)

    assert "check the client's service scopes" in caught.value.next_step
    assert len(api_requests(httpserver)) == 2
    assert issuer.count == 2


def test_a_409_is_a_conflict(httpserver, config):
    body = {
        "description": "Device 'com.acme:dev-1' has already been provisioned.",
        "errorDetails": {"status": 409, "error": "things:thing.conflict"},
    }
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(body, status=409)

    with pytest.raises(Conflict) as caught:
        bosch.create_device(config, BODY)

    assert "has already been provisioned" in caught.value.message
    assert caught.value.http_status == 409


@pytest.mark.parametrize("status", [400, 402, 403, 404, 413])
def test_a_4xx_is_refused_with_the_providers_words(httpserver, config, status):
    body = {"description": "The namespace is not registered.", "errorDetails": {"message": "ns 'x' unknown"}}
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(body, status=status)

    with pytest.raises(Refused) as caught:
        bosch.create_device(config, BODY)

    assert caught.value.message == "The namespace is not registered. ns 'x' unknown."
    assert caught.value.http_status == status
    assert len(api_requests(httpserver)) == 1


def test_a_429_with_retry_after_is_retried(httpserver, config):
    httpserver.expect_oneshot_request(DEVICES, method="POST").respond_with_json(
        {}, status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_oneshot_request(DEVICES, method="POST").respond_with_json(CREATED, status=201)
    started = time.monotonic()

    result = bosch.create_device(config, BODY)

    assert result.status == 201
    assert result.attempts == 2
    assert time.monotonic() - started >= 1.0


def test_a_503_with_retry_after_is_retried(httpserver, config):
    httpserver.expect_oneshot_request(DEVICES, method="POST").respond_with_json(
        {}, status=503, headers={"Retry-After": "0"}
    )
    httpserver.expect_oneshot_request(DEVICES, method="POST").respond_with_json(CREATED, status=201)

    assert bosch.create_device(config, BODY).attempts == 2


def test_retries_are_bounded(httpserver, config):
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(
        {}, status=429, headers={"Retry-After": "0"}
    )

    with pytest.raises(Unavailable) as caught:
        bosch.create_device(config, BODY)

    assert len(api_requests(httpserver)) == api.MAX_RETRIES + 1
    assert caught.value.retry_after == 0


def test_the_waits_of_one_call_are_bounded_in_total_and_said_while_they_last(httpserver, config, monkeypatch):
    monkeypatch.setattr(api, "MAX_TOTAL_WAIT", 2)
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(
        {}, status=429, headers={"Retry-After": "1"}
    )
    correlation_id = uuid.uuid4()
    started = time.monotonic()

    with pytest.raises(Unavailable) as caught:
        bosch.create_device(config, BODY, correlation_id=correlation_id)

    # Two waits of 1 s fit in 2 s; a third would not: handed back after three requests.
    assert len(api_requests(httpserver)) == 3
    assert 2 <= time.monotonic() - started < 3
    assert "Try again in a moment" in caught.value.message
    assert api.progress(correlation_id) == (
        "The provider answered 429 and asked to wait 1 s; sending again then, attempt 3 of 4."
    )
    assert api.progress(uuid.uuid4()) == ""


def test_a_call_that_waited_says_so(httpserver, config):
    httpserver.expect_oneshot_request(DEVICES, method="POST").respond_with_json(
        {}, status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_oneshot_request(DEVICES, method="POST").respond_with_json(CREATED, status=201)

    result = bosch.create_device(config, BODY)

    assert (result.retries, result.waited) == (1, 1)


def test_a_long_retry_after_is_handed_back(httpserver, config):
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(
        {}, status=429, headers={"Retry-After": "120"}
    )

    with pytest.raises(Unavailable) as caught:
        bosch.create_device(config, BODY)

    assert caught.value.retry_after == 120
    assert len(api_requests(httpserver)) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_is_outcome_unknown_and_not_retried(httpserver, config, status):
    httpserver.expect_request(DEVICES, method="POST").respond_with_data("upstream broke", status=status)

    with pytest.raises(OutcomeUnknown):
        bosch.create_device(config, BODY)

    assert len(api_requests(httpserver)) == 1


def test_a_read_timeout_is_outcome_unknown(httpserver, config, settings):
    settings.OUTBOUND_READ_TIMEOUT = 1

    def slow(request):
        time.sleep(1.5)
        return json_response(CREATED, 201)

    httpserver.expect_request(DEVICES, method="POST").respond_with_handler(slow)

    with pytest.raises(OutcomeUnknown, match="did not answer in time"):
        bosch.create_device(config, BODY)
    time.sleep(0.8)  # the server logs the request once its slow handler returns
    assert len(api_requests(httpserver)) == 1


def test_garbage_in_a_201_is_outcome_unknown(httpserver, config):
    httpserver.expect_request(DEVICES, method="POST").respond_with_data("<html>ok</html>", status=201)

    with pytest.raises(OutcomeUnknown, match="probably succeeded"):
        bosch.create_device(config, BODY)


def test_an_unreachable_api_is_unavailable(team_a, httpserver, issuer):
    config = make_config(team_a, httpserver, api_base_url="http://127.0.0.1:9/api/1")

    with pytest.raises(Unavailable, match="could not be reached"):
        bosch.create_device(config, BODY)


def test_redirects_are_not_followed(httpserver, config):
    httpserver.expect_request(DEVICES, method="POST").respond_with_data(
        "", status=307, headers={"Location": httpserver.url_for("/elsewhere")}
    )

    with pytest.raises(ConfigurationError, match="redirect"):
        bosch.create_device(config, BODY)

    assert [r.path for r, _ in httpserver.log if r.path == "/elsewhere"] == []


def test_a_huge_error_body_is_capped(httpserver, config):
    httpserver.expect_request(DEVICES, method="POST").respond_with_data("x" * 5_000_000, status=400)

    with pytest.raises(Refused) as caught:
        bosch.create_device(config, BODY)

    assert caught.value.message == "HTTP 400 without an explanation"


def test_a_long_provider_message_is_shortened(httpserver, config):
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(
        {"description": "y" * 2000}, status=400
    )

    with pytest.raises(Refused) as caught:
        bosch.create_device(config, BODY)

    assert len(caught.value.message) == api.MAX_MESSAGE


@pytest.mark.parametrize(
    "base",
    ["http://api.example.com/api/1", "https://169.254.169.254/api/1", "https://u:p@api.example.com/api/1"],
)
def test_unsafe_api_urls_are_never_called(team_a, httpserver, issuer, base):
    config = make_config(team_a, httpserver, api_base_url=base)

    with pytest.raises(ConfigurationError):
        bosch.create_device(config, BODY)
    assert issuer.count == 0


def test_no_secret_reaches_the_log(httpserver, config, caplog):
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request(DEVICES, method="POST").respond_with_json(
        {**CREATED, "hub": {"credentials": {"secrets": [{"password": "pw-canary-1"}]}}}, status=201
    )

    bosch.create_device(config, BODY)

    assert "pw-canary-1" not in caplog.text
    assert "tok-1" not in caplog.text
    assert "scripted-secret-value" not in caplog.text
    assert token_requests(httpserver)
