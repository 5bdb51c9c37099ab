"""The sandbox's Ditto things and policies over real HTTP (provisioning-api.md §11).

Every answer is checked against ditto-api-2.yml by the Ditto client.
"""

import pytest

from provisioning.sandbox import knobs
from provisioning.sandbox.models import DittoPolicy, DittoThing

from .conftest import BASIC_USER, token_for

THING = "org.acme:sensor-1"
ME = f"nginx:{BASIC_USER[0]}"
HONO_SUBJECT = "pre-authenticated:hono-connection-acme"
EVERYTHING = {"grant": ["READ", "WRITE"], "revoke": []}


def policy_body(subject=ME, **resources):
    return {
        "entries": {
            "OWNER": {
                "subjects": {subject: {"type": "owner"}},
                "resources": resources
                or {"thing:/": EVERYTHING, "policy:/": EVERYTHING, "message:/": EVERYTHING},
            },
            "HONO": {
                "subjects": {HONO_SUBJECT: {"type": "connection"}},
                "resources": {"thing:/": EVERYTHING, "message:/": EVERYTHING},
            },
        }
    }


THING_BODY = {
    "definition": "org.acme:sensor:1.0.0",
    "attributes": {"manufacturer": "ACME"},
    "features": {"temperature": {"properties": {"value": 21.5}}},
}


def test_put_creates_a_thing_with_a_default_policy(ditto):
    response = ditto.thing("PUT", THING, json=THING_BODY)
    assert response.status_code == 201
    assert response.headers["ETag"] == '"rev:1"'
    assert response.headers["Location"].endswith(f"/sandbox/api/2/things/{THING}")
    assert response.json() == {"thingId": THING, "policyId": THING, **THING_BODY}
    policy = ditto.policy("GET", THING)
    assert policy.status_code == 200
    [entry] = policy.json()["entries"].values()
    assert entry["subjects"] == {ME: {"type": "the creator"}}
    assert entry["resources"]["policy:/"]["grant"] == ["READ", "WRITE"]


def test_put_on_an_existing_thing_replaces_it_with_204_and_a_new_revision(ditto):
    ditto.thing("PUT", THING, json=THING_BODY)
    response = ditto.thing("PUT", THING, json={"attributes": {"colour": "red"}})
    assert response.status_code == 204
    assert response.headers["ETag"] == '"rev:2"'
    read = ditto.thing("GET", THING)
    assert read.json() == {"thingId": THING, "policyId": THING, "attributes": {"colour": "red"}}
    assert read.headers["ETag"] == '"rev:2"'


def test_if_none_match_star_creates_only(ditto):
    assert ditto.thing("PUT", THING, json={}, headers={"If-None-Match": "*"}).status_code == 201
    again = ditto.thing("PUT", THING, json={"attributes": {"x": 1}}, headers={"If-None-Match": "*"})
    assert again.status_code == 412
    assert again.json()["error"] == "things:precondition.failed"
    assert again.headers["ETag"] == '"rev:1"'
    assert DittoThing.objects.get().data == {}


def test_if_match_guards_put_get_and_delete(ditto):
    assert ditto.thing("PUT", "org.acme:missing", json={}, headers={"If-Match": "*"}).status_code == 412
    assert not DittoThing.objects.exists()
    ditto.thing("PUT", THING, json={})
    assert ditto.thing("PUT", THING, json={}, headers={"If-Match": '"rev:7"'}).status_code == 412
    assert ditto.thing("PUT", THING, json={}, headers={"If-Match": '"rev:1"'}).status_code == 204
    assert ditto.thing("GET", THING, headers={"If-Match": '"rev:1"'}).status_code == 412
    assert ditto.thing("GET", THING, headers={"If-None-Match": '"rev:2"'}).status_code == 304
    assert ditto.thing("DELETE", THING, headers={"If-Match": '"rev:1"'}).status_code == 412
    assert ditto.thing("DELETE", THING, headers={"If-Match": '"rev:2"'}).status_code == 204


@pytest.mark.parametrize(
    "thing_id",
    ["no-namespace", "1org:sensor", "org..acme:sensor", "org.acme:", "org.acme:tab\tname", "a:" + "x" * 255],
)
def test_an_invalid_thing_id_is_a_400_things_id_invalid(ditto, thing_id):
    for method in ("PUT", "GET", "DELETE"):
        response = ditto.thing(method, thing_id, **({"json": {}} if method == "PUT" else {}))
        assert response.status_code == 400
        body = response.json()
        assert body["error"] == "things:id.invalid"
        assert body["message"] == f"Thing ID '{thing_id}' is not valid!"


def test_a_missing_thing_is_a_404_things_thing_notfound(ditto):
    for method in ("GET", "DELETE"):
        response = ditto.thing(method, THING)
        assert response.status_code == 404
        assert response.json()["error"] == "things:thing.notfound"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"thingId": "org.acme:other"}, "things:id.notsettable"),
        ({"colour": "red"}, "things:thing.invalid"),
        ({"definition": "not a definition"}, "things:definition.identifier.invalid"),
        ({"attributes": "red"}, "things:attributes.invalid"),
        ({"attributes": {"a/b": 1}}, "things:attributes.invalid"),
        ({"features": {"f": {"properties": 1}}}, "things:feature.invalid"),
        ({"_policy": policy_body(), "_copyPolicyFrom": "org.acme:p"}, "things:thing.invalid"),
        ({"policyId": "not-an-id"}, "policies:id.invalid"),
        ([1], "json.invalid"),
    ],
)
def test_a_bad_thing_body_is_a_400(ditto, body, error):
    response = ditto.thing("PUT", THING, json=body)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert not DittoThing.objects.exists() and not DittoPolicy.objects.exists()


def test_a_thing_naming_a_missing_policy_is_a_400_thing_notcreatable(ditto):
    response = ditto.thing("PUT", THING, json={"policyId": "org.acme:no-such-policy"})
    assert response.status_code == 400
    assert response.json()["error"] == "things:thing.notcreatable"
    assert "is not existing" in response.json()["message"]
    assert not DittoThing.objects.exists()


def test_a_thing_with_an_existing_policy_id(ditto):
    assert ditto.policy("PUT", "org.acme:shared", json=policy_body()).status_code == 201
    response = ditto.thing("PUT", THING, json={"policyId": "org.acme:shared", **THING_BODY})
    assert response.status_code == 201
    assert response.json()["policyId"] == "org.acme:shared"
    assert DittoPolicy.objects.count() == 1


def test_an_inline_policy_is_created_with_the_thing(ditto):
    response = ditto.thing("PUT", THING, json={"_policy": policy_body(), **THING_BODY})
    assert response.status_code == 201
    policy = ditto.policy("GET", THING).json()
    assert set(policy["entries"]) == {"OWNER", "HONO"}
    assert policy["entries"]["HONO"]["subjects"] == {HONO_SUBJECT: {"type": "connection"}}


def test_a_placeholder_subject_is_the_caller(ditto):
    body = policy_body(subject="{{ request:subjectId }}")
    assert ditto.policy("PUT", "org.acme:mine", json=body).status_code == 201
    assert ME in DittoPolicy.objects.get().entries["OWNER"]["subjects"]


def test_copy_policy_from_a_policy_or_a_thing(ditto):
    ditto.policy("PUT", "org.acme:template", json=policy_body())
    assert ditto.thing("PUT", THING, json={"_copyPolicyFrom": "org.acme:template"}).status_code == 201
    copied = ditto.thing(
        "PUT", "org.acme:sensor-2", json={"_copyPolicyFrom": "{{ ref:things/org.acme:sensor-1/policyId }}"}
    )
    assert copied.status_code == 201
    assert (
        DittoPolicy.objects.get(policy_id="org.acme:sensor-2").entries
        == DittoPolicy.objects.get(policy_id="org.acme:template").entries
    )
    missing = ditto.thing("PUT", "org.acme:sensor-3", json={"_copyPolicyFrom": "org.acme:gone"})
    assert missing.status_code == 404
    assert missing.json()["error"] == "policies:policy.notfound"


def test_a_thing_whose_policy_locks_the_caller_out_is_a_403(ditto):
    locked = policy_body(subject="nginx:someone-else")
    ditto.policy("PUT", "org.acme:theirs", json=locked, params={"allow-policy-lockout": "true"})
    response = ditto.thing("PUT", THING, json={"policyId": "org.acme:theirs"})
    assert response.status_code == 403
    assert response.json()["error"] == "things:thing.notcreatable"
    assert not DittoThing.objects.exists()


def test_delete_thing_leaves_its_policy(ditto):
    ditto.thing("PUT", THING, json=THING_BODY)
    assert ditto.thing("DELETE", THING).status_code == 204
    assert ditto.thing("GET", THING).status_code == 404
    assert ditto.policy("GET", THING).status_code == 200
    assert ditto.policy("DELETE", THING).status_code == 204
    assert ditto.policy("GET", THING).status_code == 404


def test_policy_create_modify_and_conditions(ditto):
    created = ditto.policy("PUT", "org.acme:p", json=policy_body(), headers={"If-None-Match": "*"})
    assert created.status_code == 201
    assert created.headers["ETag"] == '"rev:1"'
    assert created.json()["policyId"] == "org.acme:p"
    assert (
        ditto.policy("PUT", "org.acme:p", json=policy_body(), headers={"If-None-Match": "*"}).status_code
        == 412
    )
    assert (
        ditto.policy("PUT", "org.acme:p", json=policy_body(), headers={"If-Match": '"rev:9"'}).status_code
        == 412
    )
    modified = ditto.policy("PUT", "org.acme:p", json=policy_body(), headers={"If-Match": '"rev:1"'})
    assert modified.status_code == 204 and modified.headers["ETag"] == '"rev:2"'


def test_a_policy_that_locks_the_caller_out_is_a_403_unless_allowed(ditto):
    no_policy_write = policy_body(**{"thing:/": EVERYTHING, "policy:/": {"grant": ["READ"], "revoke": []}})
    response = ditto.policy("PUT", "org.acme:p", json=no_policy_write)
    assert response.status_code == 403
    assert response.json()["error"] == "policies:policy.notcreatable"
    revoked = policy_body(**{"policy:/": {"grant": ["READ", "WRITE"], "revoke": ["WRITE"]}})
    assert ditto.policy("PUT", "org.acme:p", json=revoked).status_code == 403
    allowed = ditto.policy("PUT", "org.acme:p", json=no_policy_write, params={"allow-policy-lockout": "true"})
    assert allowed.status_code == 201
    # Now the caller may read but not write the policy.
    assert ditto.policy("PUT", "org.acme:p", json=policy_body()).status_code == 403
    assert ditto.policy("DELETE", "org.acme:p").status_code == 403


def test_what_the_caller_may_not_read_is_a_404(ditto):
    ditto.policy(
        "PUT", "org.acme:p", json=policy_body(subject="nginx:other"), params={"allow-policy-lockout": "true"}
    )
    assert ditto.policy("GET", "org.acme:p").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"entries": {}},
        {"entries": {"A": {"subjects": {ME: {}}}}},
        {"entries": {"A": {"resources": {"file:/": EVERYTHING}}}},
        {"entries": {"A": {"resources": {"thing:/": {"grant": ["EXECUTE"]}}}}},
        {"entries": {"A/B": {}}},
        {"entries": {"A": {"colour": "red"}}},
        {"policyId": "org.acme:other", "entries": {"A": {}}},
    ],
)
def test_a_bad_policy_is_a_400(ditto, body):
    response = ditto.policy("PUT", "org.acme:p", json=body)
    assert response.status_code == 400
    assert not DittoPolicy.objects.exists()


def test_an_invalid_policy_id_is_a_400(ditto):
    response = ditto.policy("PUT", "not-an-id", json=policy_body())
    assert response.status_code == 400
    assert response.json()["error"] == "policies:id.invalid"


def test_bearer_tokens_are_accepted_with_their_own_subject(ditto, tenant):
    bearer = ditto.with_auth(token=token_for(tenant))
    assert bearer.thing("PUT", THING, json={}).status_code == 201
    subjects = DittoPolicy.objects.get().entries["DEFAULT"]["subjects"]
    assert list(subjects) == [f"sandbox:{tenant['client_id']}"]
    # The Basic user is not in that policy: the thing is invisible to it.
    assert ditto.thing("GET", THING).status_code == 404


def test_missing_or_wrong_credentials_are_a_401_in_dittos_shape(ditto, tenant):
    token = token_for(tenant)
    knobs.expire_tokens()
    for caller in (
        ditto.with_auth(),
        ditto.with_auth(auth=("ditto-hono-user", "nope")),
        ditto.with_auth(token=token),
    ):
        response = caller.thing("GET", THING)
        assert response.status_code == 401
        assert response.json()["error"] == "gateway:authentication.failed"
        assert response.headers["WWW-Authenticate"]
