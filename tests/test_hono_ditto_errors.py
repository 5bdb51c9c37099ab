"""Hono's and Ditto's error answers in the family of provisioning.errors: plain words, a next
step, the field at fault for a 400, "already exists" and "already gone", and no raise on
any body at all."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.errors import (
    ConfigurationError,
    Conflict,
    OutcomeUnknown,
    ProviderError,
    Refused,
    Unauthorized,
    Unavailable,
)
from provisioning.providers import hono_ditto as hd
from provisioning.providers import spec as specs
from provisioning.providers.hono_ditto_errors import (
    error_for,
    is_already,
    provider_field,
    provider_words,
)
from provisioning.providers.spec import DeviceSpec

CONNECTION = hd.ConnectionSettings(
    hono_url="https://hono.example", tenant="acme", ditto_url="https://ditto.example"
)
DEVICE_ID = "org.acme:sensor-1"
DEVICE, CREDENTIALS, POLICY, THING = hd.plan(
    CONNECTION, DeviceSpec(id=DEVICE_ID, credentials=specs.TYPED_PASSWORD, secret="S3cure-Pa55")
)
THING_UNDER_SHARED = hd.plan(CONNECTION, DeviceSpec(id=DEVICE_ID, policy_id="org.acme:shared"))[-1]
DELETES = hd.deprovision_plan(CONNECTION, DEVICE_ID)
ALL_STEPS = [DEVICE, CREDENTIALS, POLICY, THING, *DELETES]


def ditto(status, code, message, description=None):
    body = {"status": status, "error": code, "message": message}
    if description:
        body["description"] = description
    return json.dumps(body).encode()


def hono(words):
    return json.dumps({"error": words}).encode()


# --- already there, already gone ----------------------------------------------------------------


def test_hono_409_on_the_device_means_it_already_exists():
    error = error_for(DEVICE, 409, hono("device already exists"))
    assert is_already(DEVICE, 409)
    assert type(error) is Conflict
    assert "Hono device already exists" in error.message and "device already exists" in error.message
    assert error.details == {"error": "device already exists"} and error.http_status == 409
    assert error.url == DEVICE.url


@pytest.mark.parametrize("step", [POLICY, THING], ids=["policy", "thing"])
def test_ditto_412_on_a_create_only_put_means_it_already_exists(step):
    body = ditto(
        412, "things:precondition.failed", "The comparison of precondition header 'if-none-match' failed."
    )
    error = error_for(step, 412, body)
    assert is_already(step, 412) and type(error) is Conflict
    assert "already exists at Eclipse Ditto and was left as it is" in error.message
    assert "if-none-match" in error.message


@pytest.mark.parametrize("step", DELETES, ids=[s.name for s in DELETES])
def test_a_404_on_delete_is_already_gone_not_an_error(step):
    assert is_already(step, 404)
    assert error_for(step, 404, ditto(404, "things:thing.notfound", "The Thing could not be found.")) is None
    assert error_for(step, 204, b"") is None


def test_a_success_is_not_an_error():
    assert error_for(DEVICE, 201, b'{"id": "org.acme:sensor-1"}') is None
    assert error_for(CREDENTIALS, 204, b"") is None
    assert not is_already(CREDENTIALS, 409)


# --- Hono's {"error": ...} ----------------------------------------------------------------------


def test_a_taken_auth_id_is_a_conflict_on_the_auth_id():
    error = error_for(CREDENTIALS, 409, hono("credentials (type, auth-id) must be unique for device"))
    assert type(error) is Conflict
    assert provider_field(CREDENTIALS, error.details) == "auth_id"
    assert error.next_step == "Fix the auth id, then send again."


@pytest.mark.parametrize(
    ("step", "words", "field"),
    [
        (DEVICE, 'Unrecognized field "via" (class Device), not marked as ignorable', "via"),
        (DEVICE, "unknown property 'enabled'", "enabled"),
        (CREDENTIALS, 'Unrecognized field "pwd-plain"', "secret"),
        (CREDENTIALS, "auth-id must match pattern ^[a-zA-Z0-9-_=\\.]+$", "auth_id"),
        (DEVICE, "device ID must match pattern", "name"),
        (DEVICE, "request does not contain a valid Device object", None),
    ],
)
def test_a_hono_400_names_the_field_when_it_can_be_told(step, words, field):
    error = error_for(step, 400, hono(words))
    assert type(error) is Refused
    assert words in error.message
    assert provider_field(step, error.details) == field
    if field:
        assert error.next_step.startswith("Fix the ")
    else:
        assert error.next_step == Refused.next_step


def test_an_unknown_tenant_says_to_check_the_tenant():
    error = error_for(DEVICE, 404, hono("tenant not found"))
    assert type(error) is Refused and "tenant" in error.next_step


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (401, b"<html><body><h1>401 Authorization Required</h1></body></html>", Unauthorized, "credentials"),
        (403, hono("forbidden"), Unauthorized, "does not let this connection"),
        (413, hono("request body too large"), Refused, "too large"),
        (429, b"", Unavailable, "busy"),
        (500, hono("internal error"), OutcomeUnknown, "may or may not"),
        (302, b"", ConfigurationError, "redirect"),
    ],
)
def test_hono_statuses_map_into_the_family(status, body, kind, words):
    error = error_for(DEVICE, status, body)
    assert type(error) is kind
    assert words in error.message
    assert "Eclipse Hono" in error.message or "Eclipse Hono" in error.next_step


# --- Ditto's {status, error, message, description} ----------------------------------------------


@pytest.mark.parametrize(
    ("step", "code", "field"),
    [
        (THING, "things:id.invalid", "name"),
        (POLICY, "policies:id.invalid", "name"),  # the generated policy has the device's id
        (THING_UNDER_SHARED, "policies:id.invalid", "policy_id"),
        (THING_UNDER_SHARED, "things:thing.notcreatable", "policy_id"),
        (THING, "things:definition.identifier.invalid", "definition"),
        (THING, "things:namespace.notallowed", "namespace"),
    ],
)
def test_a_ditto_400_names_the_field_from_its_code(step, code, field):
    error = error_for(step, 400, ditto(400, code, "Something is not valid!", "See the docs"))
    assert type(error) is Refused
    assert provider_field(step, error.details) == field
    assert "Something is not valid! See the docs." in error.message
    assert code not in error.message  # a code is not words


def test_an_id_quoted_in_a_ditto_message_does_not_point_at_a_field():
    details = {
        "status": 400,
        "error": "things:some.error",
        "message": "Thing 'org.acme:policy-feature' is bad",
    }
    assert provider_field(THING, details) is None
    details["description"] = "Check the attributes."
    assert provider_field(THING, details) == "attributes"


@pytest.mark.parametrize(
    ("step", "status", "code", "kind", "words"),
    [
        (THING, 401, "gateway:authentication.failed", Unauthorized, "refused this connection's credentials"),
        (POLICY, 403, "policies:policy.notmodifiable", Refused, "lock this connection out"),
        (THING, 403, "things:thing.notmodifiable", Unauthorized, "does not let this connection"),
        (THING, 409, "things:thing.conflict", Conflict, "already exists"),
        (THING, 429, "things:thing.toomanymodifyingrequests", Unavailable, "busy"),
        (THING, 424, "things:thing.unavailable", OutcomeUnknown, "may or may not"),
        (THING, 503, "gateway:service.unavailable", OutcomeUnknown, "may or may not"),
        (POLICY, 504, "gateway:service.timeout", OutcomeUnknown, "may or may not"),
    ],
)
def test_ditto_statuses_map_into_the_family(step, status, code, kind, words):
    error = error_for(step, status, ditto(status, code, "Ditto says so."))
    assert type(error) is kind
    assert words in error.message
    assert "Eclipse Ditto" in error.message


def test_a_503_with_retry_after_was_refused_before_acting():
    error = error_for(THING, 503, b"", retry_after=7)
    assert type(error) is Unavailable and error.retry_after == 7


def test_the_own_subject_is_the_next_step_when_the_policy_would_lock_us_out():
    error = error_for(POLICY, 403, ditto(403, "policies:policy.modificationnotallowed", "Not allowed."))
    assert "own subject" in error.next_step


def test_provider_words_are_shortened():
    words = provider_words({"error": "x" * 1000})
    assert len(words) == 300 and words.endswith("…")


# --- garbage never raises -----------------------------------------------------------------------

GARBAGE = [
    None,
    b"",
    b"   ",
    b"<html><body>502 Bad Gateway</body></html>",
    b"\xff\xfe\x00garbage",
    b"[1, 2, 3]",
    b"null",
    b'"just a string"',
    b'{"error": 5, "message": ["a"], "description": null}',
    b'{"status": "x"}',
    b'{"error": "   "}',
    b'{"errorDetails": {"message": 1}}',
    b'{"error": "cut off',
    "text, not bytes",
    {"message": 3},
]
STATUSES = [300, 400, 401, 402, 403, 404, 405, 409, 412, 413, 415, 424, 429, 500, 502, 503, 504, 599]


@pytest.mark.parametrize("body", GARBAGE)
def test_garbage_bodies_never_raise(body):
    for step in ALL_STEPS:
        for status in STATUSES:
            error = error_for(step, status, body)
            if error is None:
                assert step.method == "DELETE" and status == 404
                continue
            assert isinstance(error, ProviderError)
            assert error.message and error.next_step
            assert error.details is None or isinstance(error.details, dict)
            provider_field(step, error.details)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200) | st.text(max_size=200), status=st.integers(100, 599))
def test_any_body_and_status_give_an_answer(body, status):
    for step in (DEVICE, CREDENTIALS, POLICY, THING, DELETES[0]):
        error = error_for(step, status, body)
        assert error is None or isinstance(error, ProviderError)
