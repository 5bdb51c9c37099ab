"""What Check at provider and a resumed attempt call "different": the pure comparisons of
provisioning.compare, on the bodies the plan sends and the answers Hono and Ditto give."""

import copy

from provisioning import compare, drift
from provisioning.providers import hono_ditto as hd
from provisioning.providers.read import Found
from tests.hono_ditto_cases import FULL, HONO_DITTO, PASSWORD


def fields(differences):
    return [difference.field for difference in differences]


def plan_bodies(spec=FULL, settings=HONO_DITTO):
    return {step.name: step.body for step in hd.plan(settings, spec, generated_secret="x" * 12)}


# --- Hono device ------------------------------------------------------------------------------


def test_a_device_as_sent_has_no_difference():
    sent = plan_bodies()["device"]
    found = {"enabled": True, "via": ["org.acme:gateway-1"], "status": {"created": "2026-01-01T00:00:00Z"}}
    assert compare.device_differences(sent, found) == []


def test_a_disabled_device_and_a_changed_gateway_differ():
    sent = plan_bodies()["device"]
    found = {"enabled": False, "via": ["org.acme:gateway-2"]}
    differences = compare.device_differences(sent, found)
    assert fields(differences) == ["enabled", "via"]
    assert differences[0].words == "enabled: sent true, found false"


def test_absent_enabled_means_enabled_and_absent_via_means_none():
    assert compare.device_differences({"enabled": True}, {}) == []
    assert fields(compare.device_differences({}, {"via": ["g"]})) == ["via"]


# --- Hono credentials -------------------------------------------------------------------------


def test_credentials_are_compared_by_type_and_auth_id_only():
    sent = plan_bodies()["credentials"]
    found = [{"type": "hashed-password", "auth-id": "org.acme_sensor-1", "secrets": [{"id": "s1"}]}]
    assert compare.credentials_differences(sent, found) == []
    other = [{"type": "psk", "auth-id": "org.acme_sensor-1", "secrets": [{"id": "s1"}]}]
    (difference,) = compare.credentials_differences(sent, other)
    assert difference.as_dict() == {
        "field": "credentials",
        "sent": '["hashed-password org.acme_sensor-1"]',
        "found": '["psk org.acme_sensor-1"]',
    }


def test_a_difference_never_shows_a_secret():
    sent = plan_bodies()["credentials"]
    assert PASSWORD in str(sent)  # the plan carries the secret
    (difference,) = compare.credentials_differences(sent, [])
    assert PASSWORD not in str(difference.as_dict()) and PASSWORD not in difference.words


# --- Ditto thing ------------------------------------------------------------------------------


def thing_found(**changes):
    found = {"thingId": FULL.id, **plan_bodies()["thing"]}
    found.update(changes)
    return found


def test_a_thing_as_sent_has_no_difference_whatever_its_feature_values():
    live = {"temperature": {"properties": {"value": 23.9}}}
    assert compare.thing_differences(plan_bodies()["thing"], thing_found(features=live)) == []


def test_a_changed_attribute_is_named_by_its_path():
    found = thing_found(attributes={"serial": "4711", "location": {"floor": 3}, "added": True})
    differences = compare.thing_differences(plan_bodies()["thing"], found)
    assert [d.words for d in differences] == [
        "attributes.location.floor: sent 2, found 3",
        "attributes.added: sent (none), found true",
    ]


def test_policy_id_definition_and_features_differ():
    found = thing_found(policyId="org.acme:other", definition="org.acme:sensor:2.0.0", features={"x": {}})
    assert fields(compare.thing_differences(plan_bodies()["thing"], found)) == [
        "policyId",
        "definition",
        "features.temperature",
        "features.x",
    ]


def test_a_bosch_thing_without_a_policy_id_is_not_compared_on_it():
    sent = {"attributes": {"a": 1}}
    assert compare.thing_differences(sent, {"policyId": "x:y", "attributes": {"a": 1}, "features": {}}) == []


# --- Ditto policy -----------------------------------------------------------------------------


def filled_policy(subject="nginx:provisioner"):
    """The generated policy as Ditto keeps it: the caller's subject filled in, "importable" added."""
    body = plan_bodies(
        settings=hd.ConnectionSettings(ditto_url="https://d", hono_url="https://h", tenant="t")
    )["policy"]
    entries = {}
    for label, entry in body["entries"].items():
        subjects = {
            (subject if key == compare.REQUEST_SUBJECT else key): value
            for key, value in entry["subjects"].items()
        }
        entries[label] = {**entry, "subjects": subjects, "importable": "implicit"}
    return body, copy.deepcopy({"policyId": FULL.id, "entries": entries})


def test_a_policy_as_sent_matches_with_the_callers_subject_filled_in():
    sent, found = filled_policy()
    assert compare.policy_differences(sent, found) == []


def test_a_policy_with_a_grant_taken_away_or_a_subject_added_differs():
    sent, found = filled_policy()
    found["entries"]["HONO"]["resources"]["message:/"]["grant"] = ["READ"]
    found["entries"]["HONO"]["subjects"]["nginx:intruder"] = {"type": "x"}
    found["entries"]["EXTRA"] = {"subjects": {}, "resources": {}}
    assert fields(compare.policy_differences(sent, found)) == [
        "entries.HONO.subjects",
        "entries.HONO.resources.message:/",
        "entries.EXTRA",
    ]


# --- a part, a check --------------------------------------------------------------------------


def test_judging_a_read():
    sent = plan_bodies()["device"]
    assert drift.judge("device", sent, Found(exists=False, http_status=404)).state == "missing"
    assert drift.judge(
        "device", sent, Found(True, 200, {"enabled": True, "via": ["org.acme:gateway-1"]})
    ).state == ("present")
    different = drift.judge(
        "device", sent, Found(True, 200, {"enabled": False, "via": ["org.acme:gateway-1"]})
    )
    assert different.state == "different" and different.message == "enabled: sent true, found false"
    # Hono keeps an empty credentials set with its device: none is "missing".
    assert drift.judge("credentials", plan_bodies()["credentials"], Found(True, 200, [])).state == "missing"


def test_the_verdict_of_a_check():
    assert compare.verdict(["present", "present"]) == "present"
    assert compare.verdict(["missing", "missing"]) == "missing"
    assert compare.verdict(["present", "different", "missing"]) == "different"
    assert compare.verdict(["present", "missing"]) == "partial"
    assert compare.verdict(["present", "failed"]) == "failed"
    assert compare.verdict([]) == "failed"


def test_the_parts_an_attempt_sent_are_read_from_its_intent_row():
    steps = [
        {"step": "device", "method": "POST", "body": {"enabled": True}},
        {"step": "thing", "method": "PUT"},
    ]
    assert drift.sent_parts({"provider": "hono_ditto", "steps": steps}) == [
        ("device", {"enabled": True}),
        ("thing", None),
    ]
    bosch = {
        "method": "POST",
        "body": {"id": "a:b", "hub": {}, "things": {"thing": {"attributes": {"a": 1}}}},
    }
    assert drift.sent_parts(bosch) == [("thing", {"attributes": {"a": 1}})]
    assert drift.attempt_provider(bosch) == "bosch"
    assert drift.sent_parts("garbage") == [] and drift.sent_parts({"body": "x"}) == []
