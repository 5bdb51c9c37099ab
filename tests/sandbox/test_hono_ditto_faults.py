"""Knobs and faults at the Hono and Ditto endpoints, over real HTTP.

Faults are queued per target ("hono", "ditto"), so one step of a multi-step provisioning
can be refused while the others go through. Every answer is checked against its spec;
a status fault's body is the API's own error shape.
"""

import time

import pytest
import requests

from provisioning.sandbox import knobs
from provisioning.sandbox.models import DittoThing, HonoDevice

from .conftest import HONO_TENANT

DEVICE = "org.acme:sensor-1"


@pytest.mark.parametrize(
    ("kind", "retry_after", "status", "header"),
    [
        (429, None, 429, "1"),
        (429, 7, 429, "7"),
        (503, 3, 503, "3"),
        (503, None, 503, None),
        (500, None, 500, None),
    ],
)
def test_status_faults_refuse_hono_before_acting(hono, kind, retry_after, status, header):
    knobs.inject_fault(kind, count=2, retry_after=retry_after, target="hono")
    for _ in range(2):
        response = hono.device("POST", HONO_TENANT, DEVICE, fault=True)
        assert response.status_code == status
        assert response.headers.get("Retry-After") == header
        assert set(response.json()) == {"error"}
    assert not HonoDevice.objects.exists()
    assert hono.device("POST", HONO_TENANT, DEVICE).status_code == 201


@pytest.mark.parametrize(
    ("kind", "retry_after", "status", "error"),
    [
        (429, 2, 429, "things:thing.toomanymodifyingrequests"),
        (503, 5, 503, "gateway:service.unavailable"),
        (500, None, 500, "gateway:internal.error"),
    ],
)
def test_status_faults_refuse_ditto_before_acting(ditto, kind, retry_after, status, error):
    knobs.inject_fault(kind, retry_after=retry_after, target="ditto")
    response = ditto.thing("PUT", DEVICE, json={}, fault=True)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.headers.get("Retry-After") == (str(retry_after) if retry_after is not None else None)
    assert not DittoThing.objects.exists()
    assert ditto.thing("PUT", DEVICE, json={}).status_code == 201


def test_a_401_fault_refuses_good_credentials_in_each_apis_shape(hono, ditto):
    knobs.inject_fault(401, target="hono")
    knobs.inject_fault(401, target="ditto")
    refused = hono.tenant("GET", HONO_TENANT)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] and refused.content == b""
    refused = ditto.thing("GET", DEVICE)
    assert refused.status_code == 401 and refused.json()["error"] == "gateway:authentication.failed"
    assert hono.tenant("GET", HONO_TENANT).status_code == 200


def test_targets_are_separate(hono, ditto, api):
    """A Ditto fault leaves Hono and the Bosch API alone, and the other way round."""
    knobs.inject_fault(503, target="ditto")
    assert hono.device("POST", HONO_TENANT, DEVICE).status_code == 201
    assert hono.credentials("GET", HONO_TENANT, DEVICE).status_code == 200
    assert ditto.thing("PUT", DEVICE, json={}, fault=True).status_code == 503
    knobs.inject_fault(503, target="api")
    assert hono.device("GET", HONO_TENANT, DEVICE).status_code == 200
    assert ditto.thing("GET", DEVICE).status_code == 404
    assert knobs.pending_faults()[0]["target"] == "api"


def test_latency_slows_hono_and_ditto(hono, ditto):
    knobs.configure(latency_ms=250)
    started = time.monotonic()
    hono.tenant("GET", HONO_TENANT)
    ditto.thing("GET", DEVICE)
    assert time.monotonic() - started >= 0.5


def test_slow_acts_after_the_client_gave_up(hono):
    """The outcome is unknown to the caller, but the device exists: a retry meets a 409."""
    knobs.inject_fault("slow", seconds=1.5, target="hono")
    with pytest.raises(requests.exceptions.ReadTimeout):
        hono.device("POST", HONO_TENANT, DEVICE, timeout=0.5)
    deadline = time.monotonic() + 5
    while not HonoDevice.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert hono.device("POST", HONO_TENANT, DEVICE).status_code == 409


def test_reset_drops_the_connection_and_does_nothing(ditto):
    knobs.inject_fault("reset", target="ditto")
    with pytest.raises(requests.exceptions.ConnectionError):
        ditto.thing("PUT", DEVICE, json={})
    assert not DittoThing.objects.exists()
    assert ditto.thing("PUT", DEVICE, json={}).status_code == 201


def test_garbage_acts_then_answers_a_body_that_is_not_json(hono, ditto):
    knobs.inject_fault("garbage", target="hono")
    knobs.inject_fault("garbage", target="ditto")
    url = f"{hono.base_url}/v1/devices/{HONO_TENANT}/{DEVICE}"
    response = requests.post(url, auth=hono.auth, timeout=10)
    assert response.status_code == 201
    with pytest.raises(ValueError):
        response.json()
    assert HonoDevice.objects.filter(device_id=DEVICE).exists()
    response = requests.put(f"{ditto.base_url}/api/2/things/{DEVICE}", json={}, auth=ditto.auth, timeout=10)
    assert response.status_code == 201
    with pytest.raises(ValueError):
        response.json()
    assert DittoThing.objects.filter(thing_id=DEVICE).exists()


def test_unknown_paths_answer_json_404s_in_each_apis_shape(hono):
    response = requests.get(f"{hono.base_url}/v1/nothing/here", auth=hono.auth, timeout=10)
    assert response.status_code == 404 and set(response.json()) == {"error"}
    response = requests.get(f"{hono.base_url}/api/2/things/org.acme:x/attributes", timeout=10)
    assert response.status_code == 404 and response.json()["status"] == 404


def test_an_unknown_target_is_refused():
    with pytest.raises(ValueError, match="hono"):
        knobs.inject_fault(503, target="everything")
