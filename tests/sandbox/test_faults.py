"""Knobs and injected faults, seen from a client over real HTTP."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from provisioning.sandbox import knobs, store
from provisioning.sandbox.models import HubDevice

from .conftest import DEVICE_ID, NAMESPACE, device_body, request_token, validate


def test_latency_slows_every_request(api):
    knobs.configure(latency_ms=300)
    started = time.monotonic()
    assert api.post(device_body()).status_code == 201
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    ("kind", "retry_after", "status", "header"),
    [
        (429, None, 429, "1"),
        (429, 7, 429, "7"),
        (503, None, 503, None),
        (503, 3, 503, "3"),
        (500, None, 500, None),
        (402, None, 402, None),
    ],
)
def test_status_faults_answer_before_acting(api, kind, retry_after, status, header):
    knobs.inject_fault(kind, count=2, retry_after=retry_after)
    for _ in range(2):
        response = api.post(device_body())
        assert response.status_code == status
        assert response.headers.get("Retry-After") == header
        validate(response.json(), "Provisioning400ErrorPayload")
    assert HubDevice.objects.count() == 0
    assert api.post(device_body()).status_code == 201
    assert knobs.pending_faults() == []


def test_a_401_fault_refuses_even_a_good_token(api):
    knobs.inject_fault("401")
    response = api.post(device_body())
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert api.post(device_body()).status_code == 201


def test_faults_are_used_oldest_first_one_per_request(api):
    knobs.inject_fault(503)
    knobs.inject_fault(429, count=2)
    statuses = [api.post(device_body()).status_code for _ in range(4)]
    assert statuses == [503, 429, 429, 201]


def test_concurrent_requests_never_share_a_fault(api):
    knobs.inject_fault(429, count=5)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda n: api.post(device_body(f"{NAMESPACE}:dev-{n}")).status_code, range(12))
        )
    assert statuses.count(429) == 5
    assert statuses.count(201) == 7


def test_slow_sleeps_past_the_read_timeout_then_acts(api, tenant):
    knobs.inject_fault("slow", seconds=1.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post(device_body(), timeout=0.5)
    deadline = time.monotonic() + 5
    while store.get_device(tenant["service_instance_id"], DEVICE_ID) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    # The request was handled after all: a retry now meets a 409.
    assert store.get_device(tenant["service_instance_id"], DEVICE_ID) is not None
    assert api.post(device_body()).status_code == 409


def test_reset_drops_the_connection_without_acting(api):
    knobs.inject_fault("reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.post(device_body())
    assert HubDevice.objects.count() == 0
    assert api.post(device_body()).status_code == 201


def test_garbage_acts_and_answers_a_body_that_is_not_json(api, tenant):
    knobs.inject_fault("garbage")
    response = api.post(device_body())
    assert response.status_code == 201
    with pytest.raises(ValueError):
        response.json()
    assert store.get_device(tenant["service_instance_id"], DEVICE_ID) is not None


def test_delete_gets_faults_too(api):
    api.post(device_body())
    knobs.inject_fault(500)
    assert api.delete(DEVICE_ID).status_code == 500
    assert api.delete(DEVICE_ID).status_code == 200


# The token endpoints have their own queue.


def test_token_faults_leave_the_api_alone(api, tenant):
    knobs.inject_fault(503, retry_after=2, target="token")
    assert api.post(device_body()).status_code == 201
    response = request_token(tenant)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error"] == "temporarily_unavailable"
    assert request_token(tenant).status_code == 200
    assert knobs.token_count() == 2  # the api fixture's token and the last one


@pytest.mark.parametrize(("kind", "status"), [(429, 429), (500, 500), (402, 402), (401, 401)])
def test_token_status_faults(tenant, kind, status):
    knobs.inject_fault(kind, target="token")
    response = request_token(tenant)
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json()["error"]


def test_token_reset_and_garbage(tenant):
    knobs.inject_fault("reset", target="token")
    knobs.inject_fault("garbage", target="token")
    with pytest.raises(requests.exceptions.ConnectionError):
        request_token(tenant)
    response = request_token(tenant)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert request_token(tenant).status_code == 200


def test_slow_token_request(tenant):
    knobs.inject_fault("slow", seconds=1, target="token")
    with pytest.raises(requests.exceptions.ReadTimeout):
        request_token_with_timeout(tenant, 0.3)
    # The sandbox still issues the token once it wakes up; wait for it before the test ends.
    deadline = time.monotonic() + 5
    while knobs.token_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert knobs.token_count() == 1


def request_token_with_timeout(tenant, timeout):
    data = {
        "grant_type": "client_credentials",
        "client_id": tenant["client_id"],
        "client_secret": tenant["client_secret"],
        "scope": tenant["scope"],
    }
    return requests.post(tenant["token_url"], data=data, timeout=timeout)


# The Python API itself


def test_knobs_refuse_unknown_names_and_bad_values():
    with pytest.raises(TypeError):
        knobs.configure(latency=5)
    with pytest.raises(ValueError):
        knobs.configure(latency_ms=-1)
    with pytest.raises(ValueError):
        knobs.configure(token_lifetime=0)
    with pytest.raises(ValueError):
        knobs.inject_fault(418)
    with pytest.raises(ValueError):
        knobs.inject_fault(503, target="everything")
    with pytest.raises(ValueError):
        knobs.inject_fault(503, count=0)


def test_knobs_round_trip_and_reset():
    assert knobs.configure(latency_ms=5, token_lifetime=60, clock_skew_seconds=-30) == {
        "latency_ms": 5,
        "token_lifetime": 60,
        "clock_skew_seconds": -30,
        "tokens_issued": 0,
    }
    knobs.inject_fault(503, count=3)
    assert knobs.pending_faults() == [
        {"target": "api", "kind": "503", "remaining": 3, "retry_after": None, "seconds": None}
    ]
    knobs.reset()
    assert knobs.current()["latency_ms"] == 0
    assert knobs.current()["token_lifetime"] is None
    assert knobs.pending_faults() == []


def test_clear_faults_by_target():
    knobs.inject_fault(503)
    knobs.inject_fault(503, target="token")
    knobs.clear_faults("token")
    assert [fault["target"] for fault in knobs.pending_faults()] == ["api"]


def test_expire_tokens_survives_a_reset(api, tenant):
    knobs.expire_tokens()
    knobs.reset()
    assert api.post(device_body()).status_code == 401
